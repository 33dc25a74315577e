//! Soak: many claims by honest and dishonest players, watched by three
//! `verdict watch` processes, under chaos: watchdogs killed with SIGKILL at
//! random moments and restarted, a proxy that fails or delays 10 % of the
//! agents' node requests, the node stopped and resumed from its dumped
//! state. The node is `verdict devnet` in its own process: anvil 1.7.1
//! resumed from a dump of a chain this long answers with another block 0,
//! which the agents rightly take for a reset chain and stop on. At the end every false claim must be rejected, every true
//! claim final, no honest party poorer than before but for gas, every bond
//! accounted for, and the watchdogs' memory bounded.
//!
//! `cargo test --workspace --test soak` runs the short mode (16 claims);
//! `VERDICT_SOAK_CLAIMS=200` runs the long one, whose figures
//! benches/README.md records.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256, hex};
use alloy_sol_types::SolEvent;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use verdict_challenger::agent::{Agent, AgentConfig};
use verdict_challenger::chain::Chain;
use verdict_challenger::demo::ether;
use verdict_challenger::deployment::Deployment;
use verdict_challenger::model::ModelInfo;
use verdict_challenger::strategy::Falsify;
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::protocol::Config;
use verdict_contracts::rules::{ClaimStatus, GameStatus};
use verdict_dnn::package::Package;

mod common;
use common::node::{self, Node};
use common::proxy::{Fault, Proxy};
use common::spoofed;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// What a claim should end as, by who posted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A true claim by an honest submitter: finalized.
    True,
    /// A claim of the spoofed model (true of it): finalized, and left
    /// alone by the watchdogs, which do not run that model.
    Spoofed,
    /// A false claim: rejected.
    False,
    /// A false claim its claimant also challenges from a second account,
    /// never moving there: rejected, the honest challengers paid.
    SelfChallenged,
}

/// A `verdict watch` process, restarted after each kill.
struct Watchdog {
    name: String,
    key: String,
    dir: PathBuf,
    child: Option<Child>,
    /// The highest peak resident set of any of its processes, in KiB.
    peak_rss_kib: u64,
    kills: u32,
}

impl Watchdog {
    fn start(&mut self, url: &str, package: &Path, deployment: &Path) {
        let log = |ext: &str| {
            File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{}.{ext}", self.name)))
                .unwrap()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args(["watch", "--json", "--model"])
            .arg(package)
            .arg("--deployment")
            .arg(deployment)
            .arg("--data-dir")
            .arg(self.dir.join(&self.name))
            .args(["--rpc-url", url])
            .env("VERDICT_PRIVATE_KEY", &self.key)
            .env_remove("VERDICT_KEYSTORE")
            .env_remove("VERDICT_CONFIG")
            .env("RUST_LOG", "verdict=info,verdict_challenger=info")
            .stdout(log("jsonl"))
            .stderr(log("log"))
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn read_peak(&mut self) {
        let Some(child) = &self.child else { return };
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        let peak = status
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        self.peak_rss_kib = self.peak_rss_kib.max(peak);
    }

    /// SIGKILL, wherever it is.
    fn kill(&mut self) {
        self.read_peak();
        if let Some(mut child) = self.child.take() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{} exited by itself: {status}", self.name);
            }
            child.kill().unwrap();
            child.wait().unwrap();
            self.kills += 1;
        }
    }

    /// Its challenges and moves over all its lives, from its logs (a
    /// process killed after a send and before its next good tick never
    /// printed the event; its log line was written at the send).
    fn moves(&self) -> usize {
        let log = std::fs::read_to_string(self.dir.join(format!("{}.log", self.name)));
        log.unwrap_or_default()
            .lines()
            .filter(|l| l.contains("agent: moved") || l.contains("agent: challenged"))
            .count()
    }
}

impl Drop for Watchdog {
    /// A failing soak leaves no process behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A submitter: account `account`, posting claims of `model`, false ones
/// if `falsify`.
#[derive(Clone)]
struct Submitter {
    account: usize,
    model: Arc<ModelInfo>,
    falsify: bool,
}

impl Submitter {
    fn agent(&self, chain: Chain, deployment: &Deployment, dir: &Path) -> Agent {
        let dir = dir.join(format!("agent-{}", self.account));
        let mut config = AgentConfig::new(dir, ether() / U256::from(2));
        config.poll = Duration::from_millis(100);
        if self.falsify {
            config.strategy = Arc::new(Falsify {
                index: 3,
                delta: 1.0,
            });
        }
        Agent::new(chain, deployment.clone(), config, vec![self.model.clone()]).unwrap()
    }
}

/// Wei the account paid for gas in blocks `from..=to`.
async fn gas_paid(chain: &Chain, account: Address, from: u64, to: u64) -> U256 {
    let provider = chain.provider();
    let mut paid = U256::ZERO;
    for n in from..=to {
        let block = provider.get_block_by_number(n.into()).await.unwrap();
        for hash in block.expect("a mined block").transactions.hashes() {
            let r = provider
                .get_transaction_receipt(hash)
                .await
                .unwrap()
                .expect("a mined transaction's receipt");
            if r.from == account {
                paid += U256::from(r.gas_used) * U256::from(r.effective_gas_price);
            }
        }
    }
    paid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let claims: usize = std::env::var("VERDICT_SOAK_CLAIMS").map_or(16, |v| v.parse().unwrap());
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("verdict-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(claims as u64);

    // The node, and the proxy the agents reach it through.
    let devnet = Arc::new(Mutex::new(Node::with_state(
        node::Kind::Devnet,
        dir.join("chain.json"),
    )));
    let url = devnet.lock().unwrap().url();
    let faults = Arc::new(AtomicBool::new(true));
    let on = faults.clone();
    let chaos_rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(7));
    let (proxy, _hung) = Proxy::start(&url, move |_, _| {
        if !on.load(Ordering::Relaxed) {
            return Fault::Pass;
        }
        let mut rng = chaos_rng.lock().unwrap();
        match rng.gen_range(0..20) {
            0 => Fault::Fail,
            1 => Fault::Delay(Duration::from_millis(rng.gen_range(50..400))),
            _ => Fault::Pass,
        }
    })
    .await;
    let keys: Vec<PrivateKeySigner> = verdict_devnet::dev_accounts(10)
        .unwrap()
        .iter()
        .map(|a| a.signer().unwrap())
        .collect();
    let direct = |i: usize| Chain::connect(&url, keys[i].clone()).unwrap();
    let admin = direct(0);
    let first_block = admin.block_number().await.unwrap();

    // The protocol, the real model, a spoofed registration of its package
    // hash, and a package whose program is not its model's.
    let deployment = Deployment::deploy(&admin, &Config::default())
        .await
        .unwrap();
    let deployment_file = dir.join("deployment.json");
    deployment.save(&deployment_file).unwrap();
    let (_, inputs) = verdict_challenger::demo::bundled(&models()).unwrap();
    let converted = verdict_converter::convert_file(
        &models().join("digits_mlp.onnx"),
        &verdict_converter::Inputs::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let package = dir.join("digits.dnn");
    Package::build(converted.model)
        .unwrap()
        .save(&package)
        .unwrap();
    let model = Arc::new(ModelInfo::load(&package).unwrap());
    let spoof = spoofed(&model);
    for m in [&model, &spoof] {
        admin
            .send(deployment.registry, &m.register_call(), U256::ZERO)
            .await
            .unwrap();
    }
    let mut bad = Package::from_bytes(&std::fs::read(&package).unwrap()).unwrap();
    bad.program.boundaries[1] += 1;
    let bad_package = dir.join("bad.dnn");
    bad.save(&bad_package).unwrap();
    let bad_info = ModelInfo::new(bad);
    admin
        .send(deployment.registry, &bad_info.register_call(), U256::ZERO)
        .await
        .unwrap();

    // Three watchdogs: two funded, one with less than a challenge bond until
    // it is refunded halfway. A fourth, given the bad package, is refused.
    let poor = PrivateKeySigner::random();
    admin
        .send_calldata(
            "transfer",
            poor.address(),
            Bytes::new(),
            ether() / U256::from(10),
        )
        .await
        .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["watch", "--model"])
        .arg(&bad_package)
        .arg("--deployment")
        .arg(&deployment_file)
        .args(["--rpc-url", &url])
        .env(
            "VERDICT_PRIVATE_KEY",
            hex::encode_prefixed(keys[9].to_bytes()),
        )
        .env("VERDICT_DATA_DIR", dir.join("refused"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not match its model"), "{stderr}");

    let watchdog_keys = [keys[7].clone(), keys[8].clone(), poor.clone()];
    let watchdogs: Vec<Watchdog> = watchdog_keys
        .iter()
        .enumerate()
        .map(|(i, k)| Watchdog {
            name: format!("watchdog-{i}"),
            key: hex::encode_prefixed(k.to_bytes()),
            dir: dir.clone(),
            child: None,
            peak_rss_kib: 0,
            kills: 0,
        })
        .collect();
    let watchdogs = Arc::new(Mutex::new(watchdogs));
    for w in watchdogs.lock().unwrap().iter_mut() {
        w.start(&proxy.url, &package, &deployment_file);
    }

    // Honest accounts and what they hold before; the poor watchdog's refund
    // counts as held.
    let honest: Vec<Address> = [1, 2, 7, 8]
        .iter()
        .map(|&i| keys[i].address())
        .chain([poor.address()])
        .collect();
    let mut before = BTreeMap::new();
    for &a in &honest {
        before.insert(a, admin.balance(a).await.unwrap());
    }

    // Chaos for the watchdogs from now on: a SIGKILL at a random moment
    // every second or two, the restart a moment later.
    let chaos = Arc::new(AtomicBool::new(true));
    let killer = {
        let (chaos, watchdogs) = (chaos.clone(), watchdogs.clone());
        let (url, package, deployment_file) =
            (proxy.url.clone(), package.clone(), deployment_file.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            while chaos.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(500..2000))).await;
                let i = rng.gen_range(0..3);
                watchdogs.lock().unwrap()[i].kill();
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..500))).await;
                watchdogs.lock().unwrap()[i].start(&url, &package, &deployment_file);
            }
        })
    };

    // The claims, posted straight to the node (their ids must be known).
    let mut posted: Vec<(u64, Kind)> = vec![];
    let players = [
        (1, &model, false),
        (2, &model, false),
        (3, &model, true),
        (4, &model, true),
        (6, &spoof, false),
    ]
    .map(|(account, model, falsify)| Submitter {
        account,
        model: model.clone(),
        falsify,
    });
    let mut submitters: Vec<Agent> = players
        .iter()
        .map(|p| p.agent(direct(p.account), &deployment, &dir))
        .collect();
    let sybil = direct(5);
    for i in 0..claims {
        let kind = match i % 8 {
            1 | 5 => Kind::False,
            3 => Kind::Spoofed,
            6 if i % 16 == 6 => Kind::SelfChallenged,
            _ => Kind::True,
        };
        let input: Vec<f32> = inputs[i % 2]
            .iter()
            .map(|v| v * (1.0 + i as f32 / 256.0))
            .collect();
        let (who, m) = match kind {
            Kind::True => (i % 2, &model),
            Kind::False => (2, &model),
            Kind::SelfChallenged => (3, &model),
            Kind::Spoofed => (4, &spoof),
        };
        let (id, _, _) = submitters[who].submit(m, &input, ether()).await.unwrap();
        if kind == Kind::SelfChallenged {
            sybil
                .send(
                    deployment.manager,
                    &ClaimManager::challengeCall {
                        claimId: U256::from(id),
                        finalStateHash: B256::repeat_byte(0x5b),
                    },
                    ether() * U256::from(5),
                )
                .await
                .unwrap();
        }
        posted.push((id, kind));
        if i == claims / 2 {
            admin
                .send_calldata(
                    "transfer",
                    poor.address(),
                    Bytes::new(),
                    ether() * U256::from(5),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
    }
    let received = ether() * U256::from(5);

    // The submitters defend and finalize through the proxy from now on.
    let (stop, stopped) = watch::channel(false);
    drop(submitters);
    let start = {
        let (keys, deployment, dir, url) = (
            keys.clone(),
            deployment.clone(),
            dir.clone(),
            proxy.url.clone(),
        );
        move |p: &Submitter| {
            let chain = Chain::connect(&url, keys[p.account].clone()).unwrap();
            let agent = p.agent(chain, &deployment, &dir);
            Some(tokio::spawn(agent.run(stopped.clone(), None, |_| false)))
        }
    };
    let running = Arc::new(Mutex::new(players.iter().map(&start).collect::<Vec<_>>()));
    // Chaos for the submitters too while the games go on: one of them
    // aborted (its task dropped wherever it is, its record on disk all
    // that stays) every 1 to 3 s, and restarted a moment later.
    let submitter_killer = {
        let (chaos, running, players) = (chaos.clone(), running.clone(), players.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(13);
            let mut kills = 0;
            while chaos.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..3000))).await;
                let i = rng.gen_range(0..players.len());
                let task = running.lock().unwrap()[i].take().expect("running");
                task.abort();
                assert!(
                    task.await.is_err_and(|e| e.is_cancelled()),
                    "submitter {i} stopped by itself"
                );
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..300))).await;
                running.lock().unwrap()[i] = start(&players[i]);
                kills += 1;
            }
            kills
        })
    };

    // The node stopped and resumed from its dumped state, twice, while the
    // games go on.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let devnet = devnet.clone();
        tokio::task::spawn_blocking(move || {
            devnet.lock().unwrap().restart(Duration::from_millis(500))
        })
        .await
        .unwrap();
    }

    // Every false claim rejected while the clock runs at its own pace.
    let limit = Duration::from_secs(60 + claims as u64 * 3);
    let status = |id: u64| {
        let admin = admin.clone();
        async move {
            let c = admin
                .view(
                    deployment.manager,
                    &ClaimManager::getClaimCall {
                        claimId: U256::from(id),
                    },
                )
                .await;
            c.map(|c| c.status).unwrap_or(0)
        }
    };
    let deadline = Instant::now() + limit;
    for &(id, kind) in &posted {
        if matches!(kind, Kind::False | Kind::SelfChallenged) {
            while status(id).await != u8::from(ClaimStatus::Rejected) {
                if killer.is_finished() {
                    // It stopped early: a watchdog exited by itself.
                    killer.await.unwrap();
                    unreachable!("the killer runs until told to stop");
                }
                assert!(
                    Instant::now() < deadline,
                    "false claim {id} ({kind:?}) never rejected"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // Games end; then the clock moves past every window and the true claims
    // are finalized by their submitters.
    chaos.store(false, Ordering::SeqCst);
    killer.await.unwrap();
    let submitter_kills = submitter_killer.await.unwrap();
    let games = |admin: Chain| async move {
        let count = admin
            .view(deployment.manager, &ClaimManager::gameCountCall {})
            .await
            .unwrap()
            .to::<u64>();
        let mut games = vec![];
        for g in 1..=count {
            games.push(
                admin
                    .view(
                        deployment.manager,
                        &ClaimManager::getGameCall {
                            gameId: U256::from(g),
                        },
                    )
                    .await
                    .unwrap(),
            );
        }
        games
    };
    let sybil_game = |g: &ClaimManager::Game| g.challenger == sybil.account();
    while games(admin.clone())
        .await
        .iter()
        .any(|g| g.status == u8::from(GameStatus::Open) && !sybil_game(g))
    {
        assert!(Instant::now() < deadline, "games still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last_deadline = {
        let mut last = 0;
        for &(id, _) in &posted {
            let c = admin
                .view(
                    deployment.manager,
                    &ClaimManager::getClaimCall {
                        claimId: U256::from(id),
                    },
                )
                .await
                .unwrap();
            last = last.max(c.challengeDeadline);
        }
        last
    };
    admin.advance_past(last_deadline).await.unwrap();
    for &(id, kind) in &posted {
        if matches!(kind, Kind::True | Kind::Spoofed) {
            while status(id).await != u8::from(ClaimStatus::Finalized) {
                assert!(
                    Instant::now() < deadline,
                    "true claim {id} ({kind:?}) never final"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // The honest parties' credits withdrawn, then everyone stops.
    let credit = |a: Address| {
        let admin = admin.clone();
        async move {
            admin
                .view(deployment.manager, &ClaimManager::creditCall { account: a })
                .await
                .unwrap()
        }
    };
    for &a in &honest {
        while credit(a).await > U256::ZERO {
            assert!(Instant::now() < deadline, "{a} never withdrew");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    faults.store(false, Ordering::SeqCst);
    stop.send(true).unwrap();
    let running = std::mem::take(&mut *running.lock().unwrap());
    for r in running.into_iter().flatten() {
        r.await.unwrap().unwrap();
    }
    let mut watchdogs = std::mem::take(&mut *watchdogs.lock().unwrap());
    for w in &mut watchdogs {
        w.kill();
    }
    // The sybil collects its game's share so that nothing stays locked.
    let all_games = games(admin.clone()).await;
    for (i, g) in all_games.iter().enumerate() {
        if sybil_game(g) && g.status == u8::from(GameStatus::Open) {
            sybil
                .send(
                    deployment.manager,
                    &ClaimManager::refundCall {
                        gameId: U256::from(i + 1),
                    },
                    U256::ZERO,
                )
                .await
                .unwrap();
        }
    }

    // Invariants.
    let last_block = admin.block_number().await.unwrap();
    let mut honest_won = 0;
    for g in games(admin.clone()).await {
        let status = GameStatus::try_from(g.status).unwrap();
        if [7, 8].iter().any(|&i| keys[i].address() == g.challenger)
            || g.challenger == poor.address()
        {
            assert!(
                matches!(status, GameStatus::ChallengerWon | GameStatus::Refunded),
                "an honest challenger's game ended {status}"
            );
            honest_won += 1;
        }
        assert_ne!(status, GameStatus::Open, "a game left open");
    }
    for &a in &honest {
        let gas = gas_paid(&admin, a, first_block, last_block).await;
        let now = admin.balance(a).await.unwrap() + credit(a).await;
        let mut had = before[&a];
        if a == poor.address() {
            had += received;
        }
        assert!(now + gas >= had, "{a}: {now} + gas {gas} < {had}");
    }
    let mut credits = U256::ZERO;
    for a in keys.iter().map(|k| k.address()).chain([poor.address()]) {
        credits += credit(a).await;
    }
    let burned = admin
        .view(deployment.manager, &ClaimManager::burnedCall {})
        .await
        .unwrap();
    let held = admin.balance(deployment.manager).await.unwrap();
    assert_eq!(
        held,
        credits + burned,
        "the manager holds credits and burns, nothing else"
    );

    let games_started = admin
        .provider()
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(deployment.manager)
                .event_signature(ClaimManager::GameStarted::SIGNATURE_HASH)
                .from_block(first_block),
        )
        .await
        .unwrap()
        .len();
    eprintln!(
        "soak: {claims} claims, {games_started} games ({honest_won} by honest watchdogs), {} watchdog moves, {} watchdog kills, {submitter_kills} submitter kills, 2 node restarts, {:.1} s",
        watchdogs.iter().map(Watchdog::moves).sum::<usize>(),
        watchdogs.iter().map(|w| w.kills).sum::<u32>(),
        started.elapsed().as_secs_f64()
    );
    for w in &watchdogs {
        eprintln!(
            "soak: {} peak RSS {} MiB, killed {} times",
            w.name,
            w.peak_rss_kib / 1024,
            w.kills
        );
        assert!(
            w.peak_rss_kib < 512 * 1024,
            "{}: {} KiB",
            w.name,
            w.peak_rss_kib
        );
    }
}
