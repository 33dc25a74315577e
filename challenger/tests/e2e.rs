//! End to end: the agents against the embedded devnet and against anvil,
//! with the bundled digits model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolEvent;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;
use verdict_challenger::agent::{Activity, Agent, AgentConfig, AgentError, Serve};
use verdict_challenger::chain::{Chain, ChainError};
use verdict_challenger::demo::{self, DemoConfig, ether};
use verdict_challenger::deployment::{Deployment, WrongChain};
use verdict_challenger::gateway::{self, GatewayConfig};
use verdict_challenger::model::ModelInfo;
use verdict_challenger::store::{ClaimStatus, GameStatus, RequestStatus, Role, Verdict};
use verdict_challenger::strategy::{Challenge, Falsify, Strategy};
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::protocol::Config;
use verdict_contracts::rules;
use verdict_devnet::{self as devnet, Devnet, DevnetConfig, DevnetHandle};

alloy_sol_types::sol!(
    #[allow(missing_docs)]
    #[derive(Debug)]
    TestConsumer,
    "../contracts/out/TestConsumer.json"
);

mod common;
use common::node::{Kind, Node};
use common::proxy::{Fault, Proxy};
use common::spoofed;

/// Logs to the test's output (`RUST_LOG` picks what).
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn scratch(name: &str) -> PathBuf {
    logs();
    let dir = std::env::temp_dir().join(format!("verdict-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn keys(devnet: &DevnetHandle, n: usize) -> Vec<PrivateKeySigner> {
    devnet.accounts()[..n]
        .iter()
        .map(|a| a.signer().unwrap())
        .collect()
}

fn demo_config(url: String, keys: Vec<PrivateKeySigner>, name: &str) -> DemoConfig {
    let (model, inputs) = demo::bundled(&models()).unwrap();
    DemoConfig {
        rpc_url: url,
        keys: keys.try_into().unwrap(),
        model,
        inputs,
        fraud_at: demo::FraudAt::LastStep,
        prelude: vec![],
        data_dir: scratch(name),
        phase_timeout: Duration::from_secs(30),
    }
}

fn check_demo(report: &demo::DemoReport) {
    assert!(report.ok, "demo failures: {:?}", report.failures);
    assert_eq!(report.games.len(), 2);
    assert_eq!(report.honest_claim.1, "Finalized");
    assert_eq!(report.fraudulent_claim.1, "Rejected");
    assert!(
        report.challenge_latency_ms.is_some(),
        "the watchdog challenged the fraudulent claim"
    );
    for g in &report.games {
        // At least challenge, bisect, chooseOp, proveStep; at most
        // 2 + 2·(⌈log16 5⌉ + ⌈log16 L2⌉) = 12 for the digits MLP's 4 ops
        // and 9,754 steps (L2 < 16^4).
        assert!(
            (4..=12).contains(&g.moves),
            "game {} took {} moves",
            g.game_id,
            g.moves
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_on_devnet() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let config = demo_config(devnet.url(), keys(&devnet, 5), "demo-devnet");
    let report = demo::run(config, &|line| eprintln!("{line}"))
        .await
        .unwrap();
    check_demo(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_on_anvil_twice() {
    let anvil = Node::start(Kind::Anvil);
    let url = anvil.url();
    let keys: Vec<PrivateKeySigner> = devnet::dev_accounts(5)
        .unwrap()
        .iter()
        .map(|a| a.signer().unwrap())
        .collect();
    // The second run is on a chain whose dev accounts were used before.
    for run in ["demo-anvil", "demo-anvil-again"] {
        let config = demo_config(url.clone(), keys.clone(), run);
        let report = demo::run(config, &|line| eprintln!("{line}"))
            .await
            .unwrap();
        check_demo(&report);
    }
}

/// A deployed protocol with the digits model registered, on a devnet.
struct Setup {
    devnet: Option<DevnetHandle>,
    chains: Vec<Chain>,
    deployment: Deployment,
    model: Arc<ModelInfo>,
    inputs: [Vec<f32>; 2],
}

async fn setup(accounts: usize) -> Setup {
    setup_on(DevnetConfig::default(), Config::default(), accounts).await
}

/// [`setup`] on a devnet and with a protocol configured as given.
async fn setup_on(devnet: DevnetConfig, config: Config, accounts: usize) -> Setup {
    let devnet = Devnet::start(devnet).await.unwrap();
    let mut s = setup_at(&devnet.url(), keys(&devnet, accounts), config).await;
    s.devnet = Some(devnet);
    s
}

/// [`setup`] on `anvil`, with 3 of its dev accounts.
async fn setup_on_anvil(anvil: &Node) -> Setup {
    let keys = devnet::dev_accounts(3)
        .unwrap()
        .iter()
        .map(|a| a.signer().unwrap())
        .collect();
    setup_at(&anvil.url(), keys, Config::default()).await
}

/// [`setup`] on the node at `url`, with accounts `keys`.
async fn setup_at(url: &str, keys: Vec<PrivateKeySigner>, config: Config) -> Setup {
    let bundled = demo::bundled(&models()).unwrap();
    setup_model(url, keys, config, bundled).await
}

/// [`setup_at`] with `model` (and two inputs of it) in place of the
/// digits model.
async fn setup_model(
    url: &str,
    keys: Vec<PrivateKeySigner>,
    config: Config,
    (model, inputs): (Arc<ModelInfo>, [Vec<f32>; 2]),
) -> Setup {
    let chains: Vec<Chain> = keys
        .into_iter()
        .map(|k| Chain::connect(url, k).unwrap())
        .collect();
    let deployment = Deployment::deploy(&chains[0], &config).await.unwrap();
    chains[0]
        .send(deployment.registry, &model.register_call(), U256::ZERO)
        .await
        .unwrap();
    Setup {
        devnet: None,
        chains,
        deployment,
        model,
        inputs,
    }
}

/// An agent's settings, recording in `dir`, bonds of 0.5 ether.
fn config(dir: PathBuf, watch: bool) -> AgentConfig {
    let mut c = AgentConfig::new(dir, ether() / U256::from(2));
    c.watch = watch;
    c.poll = Duration::from_millis(30);
    c
}

/// The wrong claims posted in these tests: one output value off by one.
const FALSIFY: Falsify = Falsify {
    index: 3,
    delta: 1.0,
};

impl Setup {
    fn agent(&self, i: usize, dir: &Path, watch: bool) -> Agent {
        self.agent_with(i, dir, watch, self.model.clone())
    }

    /// Account `i`'s agent with `model` as its one package.
    fn agent_with(&self, i: usize, dir: &Path, watch: bool, model: Arc<ModelInfo>) -> Agent {
        let dir = dir.join(format!("agent-{i}"));
        self.agent_on(self.chains[i].clone(), dir, watch, model)
    }

    /// An agent on `chain` recording in `dir`.
    fn agent_on(&self, chain: Chain, dir: PathBuf, watch: bool, model: Arc<ModelInfo>) -> Agent {
        Agent::new(
            chain,
            self.deployment.clone(),
            config(dir, watch),
            vec![model],
        )
        .unwrap()
    }

    /// Account 1 running [`ChallengeAll`], recording in `dir`.
    fn griefer(&self, dir: &Path) -> Running {
        let mut c = config(dir.join("griefer"), true);
        c.strategy = Arc::new(ChallengeAll);
        let griefer = Agent::new(
            self.chains[1].clone(),
            self.deployment.clone(),
            c,
            vec![self.model.clone()],
        );
        spawn(griefer.unwrap())
    }

    /// Account `i`'s agent posting wrong claims of `model` ([`FALSIFY`]).
    fn falsifier(&self, i: usize, dir: &Path, model: Arc<ModelInfo>) -> Agent {
        let mut c = config(dir.join(format!("agent-{i}")), false);
        c.strategy = Arc::new(FALSIFY);
        Agent::new(
            self.chains[i].clone(),
            self.deployment.clone(),
            c,
            vec![model],
        )
        .unwrap()
    }

    /// Account 2's watchdog, recording in `dir`, reaching the devnet through
    /// a proxy that applies `policy` to its requests.
    async fn watchdog_behind(
        &self,
        dir: &Path,
        policy: impl Fn(u64, &str) -> Fault + Send + Sync + 'static,
    ) -> (Proxy, Agent) {
        let devnet = self.devnet.as_ref().unwrap();
        let (proxy, _) = Proxy::start(&devnet.url(), policy).await;
        let chain = Chain::connect(&proxy.url, keys(devnet, 3).remove(2)).unwrap();
        let walter = self.agent_on(chain, dir.join("walter"), true, self.model.clone());
        (proxy, walter)
    }

    /// Sends `value` wei from account 0 to `to`.
    async fn pay(&self, to: Address, value: U256) {
        self.chains[0]
            .send_calldata("transfer", to, Bytes::new(), value)
            .await
            .unwrap();
    }

    async fn claim_status(&self, id: u64) -> u8 {
        self.chains[0]
            .view(
                self.deployment.manager,
                &ClaimManager::getClaimCall {
                    claimId: U256::from(id),
                },
            )
            .await
            .unwrap()
            .status
    }

    async fn wait_status(&self, id: u64, status: u8, within: Duration) {
        let deadline = Instant::now() + within;
        while self.claim_status(id).await != status {
            assert!(
                Instant::now() < deadline,
                "claim {id} never reached status {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

type Running = (
    watch::Sender<bool>,
    tokio::task::JoinHandle<Agent>,
    mpsc::UnboundedReceiver<Activity>,
);

fn spawn(agent: Agent) -> Running {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, rx) = mpsc::unbounded_channel();
    (
        stop_tx,
        tokio::spawn(
            async move {
                let agent = agent.run(stop_rx, Some(tx), |_| false).await;
                agent.expect("the agent's chain is its deployment's")
            }
            .in_current_span(),
        ),
        rx,
    )
}

/// Waits until the agent has made `n` moves, a challenge counting as one.
async fn wait_moves(rx: &mut mpsc::UnboundedReceiver<Activity>, n: usize) {
    let mut moves = 0;
    while moves < n {
        let a = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the agent keeps moving")
            .expect("the agent runs");
        if matches!(a, Activity::Moved { .. } | Activity::Challenged { .. }) {
            moves += 1;
        }
    }
}

/// A fraudulent claim by account 1, defended by its running agent.
async fn fraud(s: &Setup, dir: &Path) -> (u64, Running) {
    let mut mallory = s.falsifier(1, dir, s.model.clone());
    let (fraud, _, _) = mallory
        .submit(&s.model, &s.inputs[1], ether())
        .await
        .unwrap();
    (fraud, spawn(mallory))
}

/// A fraudulent claim as [`fraud`] posts it, and a watchdog account with
/// 0.1 ether, less than the 0.5 ether bond its challenge needs.
async fn fraud_and_poor_watchdog(s: &Setup, dir: &Path) -> (u64, Running, Chain) {
    let (fraud, mallory) = fraud(s, dir).await;
    let url = s.devnet.as_ref().unwrap().url();
    let poor = Chain::connect(&url, PrivateKeySigner::random()).unwrap();
    s.pay(poor.account(), ether() / U256::from(10)).await;
    (fraud, mallory, poor)
}

/// A fraudulent claim by account 1, defended by its agent, and the watchdog
/// (account 2) running once it has challenged it.
async fn fraud_under_challenge(s: &Setup, dir: &Path) -> (u64, Running, Running) {
    let (fraud, mallory) = fraud(s, dir).await;
    let (stop, task, mut rx) = spawn(s.agent(2, dir, true));
    wait_moves(&mut rx, 1).await;
    (fraud, mallory, (stop, task, rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchdog_killed_mid_game_resumes_and_wins() {
    let s = setup(3).await;
    let dir = scratch("kill");
    let (fraud, _mallory, (_stop, task, _rx)) = fraud_under_challenge(&s, &dir).await;
    // As kill -9: the task dies wherever it is; only the record on disk stays.
    task.abort();
    let _ = task.await;
    let before = s.claim_status(fraud).await;
    assert_eq!(before, 1, "the game is still on when the watchdog dies");
    let restarted = s.agent(2, &dir, true);
    assert!(
        !restarted.state().games.is_empty(),
        "the record holds the game"
    );
    let (stop2, task2, _rx2) = spawn(restarted);
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    stop2.send(true).unwrap();
    let mut agent = task2.await.unwrap();
    // The game may have ended after its last tick: one more reads that.
    agent.tick().await.unwrap();
    let won = agent
        .state()
        .games
        .values()
        .filter(|g| g.status == GameStatus::Won)
        .count();
    assert_eq!(won, 1, "the restarted watchdog won its game");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_restarted_mid_game() {
    let mut s = setup(3).await;
    let dir = scratch("node");
    let (fraud, _mallory, _watchdog) = fraud_under_challenge(&s, &dir).await;
    let devnet = s.devnet.take().unwrap();
    let addr = devnet.addr();
    let chain = devnet.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.devnet = Some(Devnet::resume(chain, addr).await.unwrap());
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_claims_all_end_correctly() {
    let s = setup(5).await;
    let dir = scratch("fifty");
    let mut submitters = vec![
        s.agent(1, &dir, false),
        s.agent(2, &dir, false),
        s.falsifier(4, &dir, s.model.clone()),
    ];
    let mut claims = vec![];
    for i in 0..50 {
        let fraudulent = i % 4 == 1;
        let input: Vec<f32> = s.inputs[i % 2]
            .iter()
            .map(|v| v * (1.0 + i as f32 / 64.0))
            .collect();
        let agent = &mut submitters[if fraudulent { 2 } else { i % 2 }];
        let (id, _, _) = agent.submit(&s.model, &input, ether()).await.unwrap();
        claims.push((id, fraudulent));
    }
    let mut running: Vec<Running> = submitters.into_iter().map(spawn).collect();
    running.push(spawn(s.agent(3, &dir, true)));
    for &(id, fraudulent) in &claims {
        if fraudulent {
            s.wait_status(id, 2, Duration::from_secs(300)).await;
        }
    }
    s.pass_window(claims.last().unwrap().0).await;
    for &(id, fraudulent) in &claims {
        if !fraudulent {
            s.wait_status(id, 3, Duration::from_secs(120)).await;
        }
    }
    for (stop, task, _) in running {
        stop.send(true).unwrap();
        let mut agent = task.await.unwrap();
        // One more tick reads the events since its last one.
        agent.tick().await.unwrap();
        assert_eq!(agent.state().claims.len(), claims.len());
        let me = agent.chain().account();
        for (id, c) in &agent.state().claims {
            // All settled: only an agent's own claims keep their inputs.
            assert_eq!(c.input.is_empty(), c.submitter != me, "claim {id}");
            let fraudulent = claims.iter().any(|&(i, f)| i == *id && f);
            let want = if fraudulent {
                ClaimStatus::Rejected
            } else {
                ClaimStatus::Finalized
            };
            assert_eq!(c.status, want, "claim {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spoofed_registration_is_reported_and_its_claims_left_alone() {
    let s = setup(3).await;
    let dir = scratch("spoof");
    let spoof = spoofed(&s.model);
    assert_ne!(spoof.model_id(), s.model.model_id());
    s.chains[1]
        .send(s.deployment.registry, &spoof.register_call(), U256::ZERO)
        .await
        .unwrap();
    // A true claim of the spoofed model: the real package's run disagrees.
    let mut alice = s.agent_with(1, &dir, false, spoof.clone());
    let (claim_id, _, _) = alice.submit(&spoof, &s.inputs[0], ether()).await.unwrap();

    let mut walter = s.agent(2, &dir, true);
    let mut done = vec![];
    for _ in 0..5 {
        done.extend(walter.tick().await.unwrap());
    }
    assert_eq!(
        done,
        vec![Activity::SpoofedRegistration {
            model_id: spoof.model_id(),
            package_hash: s.model.package_hash,
        }],
        "reported once, never challenged"
    );
    let state = walter.state();
    assert_eq!(
        state.spoofed.get(&spoof.model_id()),
        Some(&s.model.package_hash)
    );
    assert!(!state.models.contains_key(&spoof.model_id()));
    assert!(state.models.contains_key(&s.model.model_id()));
    assert_eq!(state.claims[&claim_id].verdict, Verdict::Unknown);
    assert!(state.games.is_empty());

    let claim = s.chains[0]
        .view(
            s.deployment.manager,
            &ClaimManager::getClaimCall {
                claimId: U256::from(claim_id),
            },
        )
        .await
        .unwrap();
    assert_eq!(claim.openGames, 0);
    s.chains[0]
        .advance_past(claim.challengeDeadline)
        .await
        .unwrap();
    alice.tick().await.unwrap();
    assert_eq!(s.claim_status(claim_id).await, 3, "the true claim is final");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_underfunded_watchdog_challenges_once_funded() {
    let s = setup(2).await;
    let dir = scratch("funds");
    let (fraud, _mallory, poor) = fraud_and_poor_watchdog(&s, &dir).await;
    let mut walter = s.agent_on(poor.clone(), dir.join("walter"), true, s.model.clone());
    let mut done = vec![];
    for _ in 0..3 {
        done.extend(walter.tick().await.unwrap());
    }
    let underfunded: Vec<_> = done
        .iter()
        .filter(|a| matches!(a, Activity::Underfunded { .. }))
        .collect();
    assert_eq!(
        underfunded,
        [&Activity::Underfunded {
            balance: ether() / U256::from(10),
            needed: ether() / U256::from(2),
        }],
        "one warning while it lasts"
    );
    assert!(
        !done
            .iter()
            .any(|a| matches!(a, Activity::Challenged { .. }))
    );
    assert_eq!(walter.sends_failed(), 3, "one refused challenge a tick");
    assert!(!walter.state().claims[&fraud].challenged);

    s.pay(poor.account(), ether() * U256::from(2)).await;
    let (stop, task, _rx) = spawn(walter);
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    let mut walter = task.await.unwrap();
    walter.tick().await.unwrap();
    let games: Vec<_> = walter.state().games.values().map(|g| g.status).collect();
    assert_eq!(games, [GameStatus::Won]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_spends_no_nonce() {
    use alloy::providers::Provider;
    let s = setup(2).await;
    let chain = &s.chains[1];
    let me = chain.account();
    let to = Address::repeat_byte(0x42);
    chain
        .send_calldata("transfer", to, Bytes::new(), U256::from(1))
        .await
        .unwrap();
    for _ in 0..3 {
        // No such claim: refused when the node estimates its gas.
        let call = ClaimManager::challengeCall {
            claimId: U256::from(99),
            finalStateHash: B256::ZERO,
        };
        let refused = chain
            .send(s.deployment.manager, &call, ether())
            .await
            .unwrap_err();
        assert!(matches!(refused, ChainError::Revert { .. }), "{refused}");
    }
    let sent = chain
        .send_calldata("transfer", to, Bytes::new(), U256::from(1))
        .await
        .expect("the next send has the chain's next nonce");
    assert!(sent.receipt.status());
    let count = chain.provider().get_transaction_count(me).await.unwrap();
    assert_eq!(count, 2, "the refused sends took no nonce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_game_it_cannot_play_does_not_hold_up_the_others() {
    let s = setup(4).await;
    let dir = scratch("unplayable");
    let (_, _mallory, (_stop, task, _rx)) = fraud_under_challenge(&s, &dir).await;
    task.abort();
    let _ = task.await;
    // Restarted with another package only: its game on the first model
    // cannot be played any more.
    let other = spoofed(&s.model);
    s.chains[3]
        .send(s.deployment.registry, &other.register_call(), U256::ZERO)
        .await
        .unwrap();
    let mut eve = s.falsifier(3, &dir, other.clone());
    let (fraud, _, _) = eve.submit(&other, &s.inputs[0], ether()).await.unwrap();
    let _eve = spawn(eve);
    let walter = s.agent_with(2, &dir, true, other);
    assert_eq!(walter.state().games.len(), 1);
    let (stop, task, _rx) = spawn(walter);
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    let walter = task.await.unwrap();
    let games: Vec<_> = walter
        .state()
        .games
        .values()
        .map(|g| (g.claim_id, g.status))
        .collect();
    assert_eq!(games[0], (1, GameStatus::Open), "{games:?}");
    assert_eq!(games[1].0, fraud, "{games:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_false_claim_recorded_before_a_restart_is_challenged_after_it() {
    let s = setup(2).await;
    let dir = scratch("restart-unchallenged");
    // Too poor to challenge: the false claim is recorded, not challenged.
    let (fraud, _mallory, poor) = fraud_and_poor_watchdog(&s, &dir).await;
    let record = dir.join("walter");
    let mut walter = s.agent_on(poor.clone(), record.clone(), true, s.model.clone());
    walter.tick().await.unwrap();
    let claim = &walter.state().claims[&fraud];
    assert_eq!((claim.verdict, claim.challenged), (Verdict::False, false));
    drop(walter);

    s.pay(poor.account(), ether() * U256::from(2)).await;
    let (stop, task, _rx) = spawn(s.agent_on(poor, record, true, s.model.clone()));
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    let walter = task.await.unwrap();
    assert!(walter.state().claims[&fraud].challenged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_true_run_is_held_only_while_a_game_of_its_claim_is_open() {
    let s = setup(4).await;
    let dir = scratch("traces");
    let mut honest = s.agent(3, &dir, false);
    for input in &s.inputs {
        honest.submit(&s.model, input, ether()).await.unwrap();
    }
    let (fraud, _mallory) = fraud(&s, &dir).await;
    let mut walter = s.agent(2, &dir, true);
    walter.tick().await.unwrap();
    // Three claims judged, the false one challenged: one run held, for the
    // game; the true claims cost their records only.
    let verdicts: Vec<Verdict> = walter.state().claims.values().map(|c| c.verdict).collect();
    assert_eq!(verdicts, [Verdict::True, Verdict::True, Verdict::False]);
    assert!(walter.state().claims[&fraud].challenged);
    assert_eq!(walter.traces_held(), 1);
    honest.tick().await.unwrap();
    assert_eq!(
        honest.traces_held(),
        0,
        "a submitter holds no run while unchallenged"
    );

    let (stop, task, _rx) = spawn(walter);
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    let mut walter = task.await.unwrap();
    walter.tick().await.unwrap();
    assert_eq!(
        walter.traces_held(),
        0,
        "the run is dropped when the game ends"
    );
    // So is the refuted claim's input; the true claims, open to challenge
    // until their window ends, keep theirs.
    for (id, c) in &walter.state().claims {
        assert_eq!(c.input.is_empty(), *id == fraud, "claim {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_are_read_in_ranges_the_node_accepts() {
    // A node that, like hosted providers, refuses wide eth_getLogs ranges.
    let capped = DevnetConfig {
        max_log_range: Some(2),
        ..DevnetConfig::default()
    };
    let s = setup_on(capped, Config::default(), 3).await;
    let dir = scratch("log-range");
    let (fraud, _mallory) = fraud(&s, &dir).await;
    let mut config = config(dir.join("walter"), true);
    config.log_range = 1_000;
    let walter = Agent::new(
        s.chains[2].clone(),
        s.deployment.clone(),
        config,
        vec![s.model.clone()],
    )
    .unwrap();
    let (stop, task, _rx) = spawn(walter);
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    stop.send(true).unwrap();
    assert!(task.await.unwrap().state().claims[&fraud].challenged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_acted_on_once_confirmed() {
    let s = setup(3).await;
    let dir = scratch("confirmations");
    let (fraud, _mallory) = fraud(&s, &dir).await;
    let mut config = config(dir.join("walter"), true);
    config.confirmations = 3;
    let mut walter = Agent::new(
        s.chains[2].clone(),
        s.deployment.clone(),
        config,
        vec![s.model.clone()],
    )
    .unwrap();
    walter.tick().await.unwrap();
    assert!(
        !walter.state().claims.contains_key(&fraud),
        "the claim's block is not 3 deep yet"
    );
    // Blocks on top of it (the defender's agent may add its own).
    for _ in 0..3 {
        s.pay(Address::repeat_byte(7), U256::from(1)).await;
    }
    let done = walter.tick().await.unwrap();
    assert!(
        done.iter()
            .any(|a| matches!(a, Activity::Challenged { claim_id, .. } if *claim_id == fraud)),
        "{done:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_on_another_chain_stops_the_agent_before_it_sends() {
    let mut s = setup(2).await;
    let dir = scratch("wrong-chain");
    let mut elsewhere = s.deployment.clone();
    elsewhere.chain_id = 1;
    let mut agent = Agent::new(
        s.chains[1].clone(),
        elsewhere,
        config(dir.join("a"), true),
        vec![s.model.clone()],
    )
    .unwrap();
    let e = agent.tick().await.unwrap_err();
    assert!(
        matches!(
            e,
            AgentError::WrongChain(WrongChain::ChainId {
                deployment: 1,
                node: 31337
            })
        ),
        "{e}"
    );
    assert!(e.is_fatal());

    // The node restarted on a fresh chain at the same address: the
    // contracts are gone, and the running agent says so and stops.
    let agent = s.agent(1, &dir, true);
    let (_stop, task, _rx) = {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::unbounded_channel();
        (
            stop_tx,
            tokio::spawn(agent.run(stop_rx, Some(tx), |_| false)),
            rx,
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let devnet = s.devnet.take().unwrap();
    let addr = devnet.addr();
    let _ = devnet.stop().await;
    let fresh = Devnet::start(DevnetConfig {
        addr,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the agent stops")
        .unwrap();
    let e = stopped.unwrap_err();
    assert!(
        matches!(
            e,
            AgentError::WrongChain(WrongChain::Genesis { .. } | WrongChain::Missing { .. })
        ),
        "{e}"
    );
    drop(fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_quiet_chain_the_watchdog_claims_its_timeout() {
    let quick = Config {
        clock_budget: 2,
        ..Config::default()
    };
    let s = setup_on(DevnetConfig::default(), quick, 3).await;
    let dir = scratch("quiet");
    // Mallory posts a false claim and never defends it, and no one else
    // sends a transaction: after the challenge no block comes on its own.
    let mut mallory = s.falsifier(1, &dir, s.model.clone());
    let (fraud, _, _) = mallory
        .submit(&s.model, &s.inputs[1], ether())
        .await
        .unwrap();
    drop(mallory);
    let (stop, task, _rx) = spawn(s.agent(2, &dir, true));
    s.wait_status(fraud, 2, Duration::from_secs(30)).await;
    stop.send(true).unwrap();
    let mut walter = task.await.unwrap();
    walter.tick().await.unwrap();
    let games: Vec<_> = walter
        .state()
        .games
        .values()
        .map(|g| (g.moves, g.status))
        .collect();
    assert_eq!(
        games,
        [(2, GameStatus::Won)],
        "the challenge, then the timeout"
    );
}

/// Where [`killed_at`] kills the honest agent: at its request `n`, or at
/// its `n`th transaction after the node has it.
#[derive(Clone, Copy, Debug)]
enum Kill {
    Never,
    Request(u64),
    AfterSend(u64),
}

/// Challenges every claim with a made-up final state.
#[derive(Debug)]
struct ChallengeAll;

impl Strategy for ChallengeAll {
    fn challenge(&self, _: u64, _: Verdict) -> Option<Challenge> {
        Some(Challenge::FinalState(B256::repeat_byte(0x0b)))
    }
}

/// One game between an honest agent (account 2) playing `role` and a
/// dishonest one (account 1): a false claim it challenges, or its true
/// claim challenged with a made-up final state. The honest agent's node
/// requests go through a proxy that kills it where `kill` says (the task
/// aborted as by `kill -9`, its record on disk all that stays), and it is
/// restarted. Asserts that it wins its game and is paid for it; returns
/// its requests and transactions up to then.
async fn killed_at(role: Role, kill: Kill) -> (u64, u64) {
    let s = setup(3).await;
    let dir = scratch(&format!("{role:?}-{kill:?}"));
    let record = dir.join("honest");
    let (claim, _dishonest) = match role {
        Role::Challenger => fraud(&s, &dir).await,
        Role::Defender => {
            let mut alice = s.agent_on(s.chains[2].clone(), record.clone(), false, s.model.clone());
            let (claim, _, _) = alice.submit(&s.model, &s.inputs[0], ether()).await.unwrap();
            (claim, s.griefer(&dir))
        }
    };
    let sends = Arc::new(AtomicU64::new(0));
    let armed = Arc::new(AtomicBool::new(true));
    let (counted, on) = (sends.clone(), armed.clone());
    let (proxy, mut hung) = Proxy::start(&s.devnet.as_ref().unwrap().url(), move |n, method| {
        if !on.load(Ordering::SeqCst) {
            return Fault::Pass;
        }
        let send = method == "eth_sendRawTransaction";
        let k = if send {
            counted.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        match kill {
            Kill::Request(at) if at == n => Fault::Hang,
            Kill::AfterSend(at) if send && at == k => Fault::PassThenHang,
            _ => Fault::Pass,
        }
    })
    .await;
    let key = keys(s.devnet.as_ref().unwrap(), 3).remove(2);
    let honest = || {
        let chain = Chain::connect(&proxy.url, key.clone()).unwrap();
        s.agent_on(
            chain,
            record.clone(),
            role == Role::Challenger,
            s.model.clone(),
        )
    };
    let me = s.chains[2].account();
    let before = s.chains[0].balance(me).await.unwrap();
    let (mut _stop, mut task, _rx) = spawn(honest());
    let paid = async {
        while s.chains[0].balance(me).await.unwrap() <= before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::pin!(paid);
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some((n, method)) = hung.recv() => {
                tracing::debug!(n, method, "killed");
                task.abort();
                let _ = task.await;
                (_stop, task, _) = spawn(honest());
            }
            () = &mut paid => break,
            () = &mut deadline => panic!("{role:?}, {kill:?}: never paid"),
        }
    }
    let seen = (proxy.requests(), sends.load(Ordering::SeqCst));
    // Killed once more, wherever it is (it may be hung on a kill point it
    // reached after being paid), and its record read by a last tick.
    armed.store(false, Ordering::SeqCst);
    task.abort();
    let _ = task.await;
    let mut agent = honest();
    agent.tick().await.unwrap();
    let games: Vec<_> = agent.state().games.values().map(|g| g.status).collect();
    assert_eq!(games, [GameStatus::Won], "{role:?}, {kill:?}");
    if role == Role::Challenger {
        assert_eq!(
            s.claim_status(claim).await,
            2,
            "{kill:?}: the false claim is rejected"
        );
    }
    seen
}

/// Kills the honest `role` at each of its node requests of a whole game in
/// turn (so between every two writes of its record), and after each of its
/// transactions reaches the node; each time the restarted agent wins.
async fn killed_at_every_point(role: Role) {
    let (requests, sends) = killed_at(role, Kill::Never).await;
    assert!(
        sends >= 3,
        "{role:?}: a move, a proof or a timeout, a withdrawal: {sends}"
    );
    let kills = (1..=requests)
        .map(Kill::Request)
        .chain((1..=sends).map(Kill::AfterSend));
    let mut runs = tokio::task::JoinSet::new();
    for kill in kills {
        if runs.len() == 4 {
            runs.join_next().await.unwrap().unwrap();
        }
        runs.spawn(killed_at(role, kill).instrument(tracing::info_span!("kill", ?role, ?kill)));
    }
    while let Some(run) = runs.join_next().await {
        run.unwrap();
    }
}

/// Issue: a crash between recording a false claim and challenging it lost
/// the challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watchdog_killed_at_any_point_of_a_game_restarts_and_wins() {
    killed_at_every_point(Role::Challenger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_submitter_killed_at_any_point_of_a_game_restarts_and_wins() {
    killed_at_every_point(Role::Defender).await;
}

/// Mines `n` empty blocks (anvil's and the devnet's `evm_mine`).
async fn mine(chain: &Chain, n: usize) {
    use alloy::providers::Provider;
    for _ in 0..n {
        let _: serde_json::Value = chain
            .provider()
            .raw_request("evm_mine".into(), ())
            .await
            .unwrap();
    }
}

/// Issue: logs were read up to the latest block, so an event that a reorg
/// unsays could be acted on. On anvil, a false claim's block is replaced by
/// a reorg before it is `confirmations` deep: the watchdog never records
/// it. A claim that stays is challenged once it is that deep.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_reorged_out_before_it_is_confirmed_is_never_acted_on() {
    use alloy::providers::Provider;
    let anvil = Node::start(Kind::Anvil);
    let s = setup_on_anvil(&anvil).await;
    let dir = scratch("reorg");
    let mut c = config(dir.join("walter"), true);
    c.confirmations = 3;
    let mut walter = Agent::new(
        s.chains[2].clone(),
        s.deployment.clone(),
        c,
        vec![s.model.clone()],
    )
    .unwrap();
    let mut mallory = s.falsifier(1, &dir, s.model.clone());
    let (gone, _, _) = mallory
        .submit(&s.model, &s.inputs[1], ether())
        .await
        .unwrap();
    mine(&s.chains[0], 1).await;
    walter.tick().await.unwrap();
    assert!(
        walter.state().claims.is_empty(),
        "two blocks deep: unconfirmed"
    );

    let _: serde_json::Value = s.chains[0]
        .provider()
        .raw_request("anvil_reorg".into(), (2, Vec::<()>::new()))
        .await
        .unwrap();
    assert_eq!(s.claim_status(gone).await, 0, "the reorg unsaid the claim");
    mine(&s.chains[0], 5).await;
    walter.tick().await.unwrap();
    assert!(
        walter.state().claims.is_empty(),
        "{:?}",
        walter.state().claims
    );
    assert!(walter.state().games.is_empty());

    let (kept, _, _) = mallory
        .submit(&s.model, &s.inputs[0], ether())
        .await
        .unwrap();
    assert_eq!(kept, gone, "the claim id is free again");
    walter.tick().await.unwrap();
    assert!(walter.state().claims.is_empty(), "not yet confirmed");
    mine(&s.chains[0], 3).await;
    walter.tick().await.unwrap();
    let claim = &walter.state().claims[&kept];
    assert_eq!((claim.verdict, claim.challenged), (Verdict::False, true));
}

/// A node (or provider) answering 503 or 429 now and then: the request is
/// sent again, and the tick goes through instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_answered_503_are_sent_again() {
    let s = setup(3).await;
    let dir = scratch("retry");
    let (fraud, _mallory) = fraud(&s, &dir).await;
    let (proxy, mut walter) = s
        .watchdog_behind(
            &dir,
            |n, _| {
                if n % 2 == 1 { Fault::Fail } else { Fault::Pass }
            },
        )
        .await;
    walter
        .tick()
        .await
        .expect("every other request fails, every one is sent again");
    assert!(walter.state().claims[&fraud].challenged);
    assert!(proxy.requests() >= 10, "{} requests", proxy.requests());
}

/// A tick that fails after it challenged (the node fails the next calls)
/// loses nothing: the next tick that works reports the challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_a_failed_tick_did_is_reported_by_the_next() {
    let s = setup(3).await;
    let dir = scratch("unreported");
    let (fraud, _mallory) = fraud(&s, &dir).await;
    let sent = Arc::new(AtomicBool::new(false));
    let calls_after = Arc::new(AtomicU64::new(0));
    let (_proxy, mut walter) = s
        .watchdog_behind(&dir, move |_, method| {
            if method == "eth_sendRawTransaction" {
                sent.store(true, Ordering::SeqCst);
            }
            // Every try of the first `eth_call` after the challenge fails.
            let failing = method == "eth_call"
                && sent.load(Ordering::SeqCst)
                && calls_after.fetch_add(1, Ordering::SeqCst) < 5;
            if failing { Fault::Fail } else { Fault::Pass }
        })
        .await;
    walter
        .tick()
        .await
        .expect_err("the node fails the call after the challenge");
    assert!(walter.state().claims[&fraud].challenged);
    let done = walter.tick().await.unwrap();
    assert!(
        done.iter()
            .any(|a| matches!(a, Activity::Challenged { claim_id, .. } if *claim_id == fraud)),
        "{done:?}"
    );
}

impl Setup {
    /// Account `i`'s node: a watchdog answering requests that pay at
    /// least `min_fee`, with claim bonds of 1 ether.
    fn node(&self, i: usize, dir: &Path, min_fee: U256) -> Agent {
        let mut c = config(dir.join(format!("node-{i}")), true);
        c.serve = Some(Serve {
            min_fee,
            claim_bond: ether(),
        });
        Agent::new(
            self.chains[i].clone(),
            self.deployment.clone(),
            c,
            vec![self.model.clone()],
        )
        .unwrap()
    }

    /// Account `i` asks for the model on `input`, paying `fee`, with
    /// `callback` called when it is fulfilled. Returns the request id.
    async fn request(&self, i: usize, input: &[f32], fee: U256, callback: Address) -> u64 {
        let call = ClaimManager::requestCall {
            modelId: self.model.model_id(),
            input: self.model.encode_input(input).unwrap().into(),
            callback,
        };
        let sent = self.chains[i]
            .send(self.deployment.manager, &call, fee)
            .await
            .unwrap();
        sent.logs()
            .find_map(|l| ClaimManager::Requested::decode_log(l).ok())
            .expect("a Requested event")
            .requestId
            .to::<u64>()
    }

    async fn request_status(&self, id: u64) -> rules::RequestStatus {
        let r = self.chains[0]
            .view(
                self.deployment.manager,
                &ClaimManager::getRequestCall {
                    requestId: U256::from(id),
                },
            )
            .await
            .unwrap();
        rules::RequestStatus::try_from(r.status).unwrap()
    }

    async fn claim_count(&self) -> u64 {
        self.chains[0]
            .view(self.deployment.manager, &ClaimManager::claimCountCall {})
            .await
            .unwrap()
            .to::<u64>()
    }

    /// Moves the chain's clock past claim `id`'s challenge window.
    async fn pass_window(&self, id: u64) {
        let deadline = self.chains[0]
            .view(
                self.deployment.manager,
                &ClaimManager::getClaimCall {
                    claimId: U256::from(id),
                },
            )
            .await
            .unwrap()
            .challengeDeadline;
        self.chains[0].advance_past(deadline).await.unwrap();
    }
}

/// The first activity `pick` turns into a value, within a minute.
async fn wait_for<T>(
    rx: &mut mpsc::UnboundedReceiver<Activity>,
    mut pick: impl FnMut(Activity) -> Option<T>,
) -> T {
    loop {
        let a = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the agent acts within a minute")
            .expect("the agent runs");
        if let Some(v) = pick(a) {
            return v;
        }
    }
}

/// A request answered by a node that is killed once it posted its claim:
/// restarted from its record, it fulfils the request with that claim once
/// final (no second claim), the consumer is called back with the output,
/// and the node withdraws its bond and the fee.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_answers_a_request_and_fulfils_it_once_final() {
    node_answers_and_fulfils(&setup(3).await, &scratch("node")).await;
}

/// The same on anvil, a node of the kind operators run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_answers_a_request_and_fulfils_it_once_final_on_anvil() {
    let anvil = Node::start(Kind::Anvil);
    let s = setup_on_anvil(&anvil).await;
    node_answers_and_fulfils(&s, &scratch("node-anvil")).await;
}

async fn node_answers_and_fulfils(s: &Setup, dir: &Path) {
    let consumer = s.chains[0]
        .deploy(TestConsumer::BYTECODE.clone())
        .await
        .unwrap();
    let fee = ether() / U256::from(10);
    let request = s.request(1, &s.inputs[0], fee, consumer).await;

    let (_stop, task, mut rx) = spawn(s.node(2, dir, fee));
    let claim = wait_for(&mut rx, |a| match a {
        Activity::Answered {
            request_id,
            claim_id,
            ..
        } if request_id == request => Some(claim_id),
        _ => None,
    })
    .await;
    task.abort();
    let _ = task.await;

    s.pass_window(claim).await;
    let (stop, task, mut rx) = spawn(s.node(2, dir, fee));
    let fulfilled = wait_for(&mut rx, |a| match a {
        Activity::Fulfilled {
            request_id,
            claim_id,
            fee: paid,
            ..
        } if request_id == request => Some((claim_id, paid)),
        _ => None,
    })
    .await;
    assert_eq!(fulfilled, (claim, fee));
    let mut withdrawn = U256::ZERO;
    while withdrawn < ether() + fee {
        withdrawn += wait_for(&mut rx, |a| match a {
            Activity::Withdrew { amount, .. } => Some(amount),
            _ => None,
        })
        .await;
    }
    assert_eq!(withdrawn, ether() + fee, "the claim bond back and the fee");
    stop.send(true).unwrap();
    let node = task.await.unwrap();

    assert_eq!(s.claim_count().await, 1, "one claim, though restarted");
    assert_eq!(s.claim_status(claim).await, 3);
    assert_eq!(
        s.request_status(request).await,
        rules::RequestStatus::Fulfilled
    );
    let r = &node.state().requests[&request];
    assert_eq!(
        (r.status, r.claim_id),
        (RequestStatus::Fulfilled, Some(claim))
    );
    let consumer_calls = s.chains[0]
        .view(consumer, &TestConsumer::callsCall {})
        .await
        .unwrap();
    assert_eq!(consumer_calls, U256::from(1));
    let output = s.chains[0]
        .view(consumer, &TestConsumer::lastOutputCall {})
        .await
        .unwrap();
    let claimed = s.chains[0]
        .view(
            s.deployment.manager,
            &ClaimManager::getClaimCall {
                claimId: U256::from(claim),
            },
        )
        .await
        .unwrap()
        .output;
    assert_eq!(output, claimed);
}

/// A false claim of a requested result posted first: the node refutes it
/// as a watchdog, answers with its own claim, and that claim fulfils the
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_false_claim_on_a_request_is_refuted_and_the_nodes_claim_fulfils_it() {
    let s = setup(3).await;
    let dir = scratch("node-fraud");
    let (fraud, _mallory) = fraud(&s, &dir).await;
    let fee = ether() / U256::from(10);
    let request = s.request(0, &s.inputs[1], fee, Address::ZERO).await;
    let (_stop, _task, mut rx) = spawn(s.node(2, &dir, U256::ZERO));
    let claim = wait_for(&mut rx, |a| match a {
        Activity::Answered { claim_id, .. } => Some(claim_id),
        _ => None,
    })
    .await;
    s.wait_status(fraud, 2, Duration::from_secs(60)).await;
    s.pass_window(claim).await;
    let fulfilled = wait_for(&mut rx, |a| match a {
        Activity::Fulfilled {
            request_id,
            claim_id,
            ..
        } => Some((request_id, claim_id)),
        _ => None,
    })
    .await;
    assert_eq!(fulfilled, (request, claim));
    assert_eq!(
        s.request_status(request).await,
        rules::RequestStatus::Fulfilled
    );
}

/// A request whose true result another account claimed first is left to
/// that claim (a copy would earn nothing), and one paying less than the
/// node's minimum fee is declined: the node posts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_posts_no_copy_of_a_claim_and_declines_small_fees() {
    let s = setup(3).await;
    let dir = scratch("node-skip");
    let mut alice = s.agent(1, &dir, false);
    alice.submit(&s.model, &s.inputs[0], ether()).await.unwrap();
    let min_fee = ether() / U256::from(100);
    let taken = s.request(0, &s.inputs[0], min_fee, Address::ZERO).await;
    let small = s
        .request(0, &s.inputs[1], min_fee - U256::from(1), Address::ZERO)
        .await;
    let mut node = s.node(2, &dir, min_fee);
    let mut done = vec![];
    for _ in 0..3 {
        done.extend(node.tick().await.unwrap());
    }
    assert_eq!(
        done,
        [Activity::Declined {
            request_id: small,
            fee: min_fee - U256::from(1)
        }]
    );
    assert_eq!(s.claim_count().await, 1);
    let requests = &node.state().requests;
    assert_eq!(requests.len(), 2);
    assert!(requests[&taken].answer.is_some(), "the request was run");
    assert!(
        requests[&small].answer.is_none(),
        "the declined one was not"
    );
}

/// A node with the gateway's API over it, on a free port.
struct Served {
    url: String,
    node: Running,
    server: tokio::task::JoinHandle<()>,
}

impl Setup {
    /// Account 2's node recording in `dir`, serving the API with tokens
    /// `a` and `b`, `per_minute` posts a minute each.
    async fn serve(&self, dir: &Path, per_minute: u32) -> Served {
        let mut node = self.node(2, dir, U256::ZERO);
        let config = GatewayConfig {
            tokens: vec!["a".into(), "b".into()],
            per_minute,
            claim_bond: ether(),
            health_timeout: Duration::from_secs(60),
            max_event_streams: 1,
        };
        let app = gateway::router(&mut node, self.deployment.manager, config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Served {
            url,
            node: spawn(node),
            server,
        }
    }
}

/// `bytes` in base64.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `.npy` file of `data` in `shape`, in base64.
fn npy(shape: Vec<usize>, data: Vec<f32>) -> String {
    base64(&verdict_converter::npy::write(
        &verdict_converter::npy::Array { shape, data },
    ))
}

/// An HTTP answer: its status and its body as JSON.
async fn http(
    request: alloy::transports::http::reqwest::RequestBuilder,
) -> (u16, serde_json::Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// Server-sent events read from an HTTP answer as they come.
struct Events {
    response: alloy::transports::http::reqwest::Response,
    text: String,
}

impl Events {
    /// The events `request` answers with (status 200).
    async fn of(request: alloy::transports::http::reqwest::RequestBuilder) -> Events {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        Events {
            response,
            text: String::new(),
        }
    }

    /// The next event's name and JSON data (keep-alive comments skipped);
    /// `None` once the stream ends.
    async fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let event: String = self.text.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue; // a keep-alive comment
                };
                let name = event.lines().find_map(|l| l.strip_prefix("event: "));
                let data = serde_json::from_str(data).unwrap();
                return Some((name.unwrap_or("message").to_owned(), data));
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// An application that knows only HTTP: it lists the models, posts an
/// input (bad ones are refused with the field named and nothing sent),
/// gets the claim and the provisional output at once, asks again (after
/// a restart of the gateway too) without a second claim, and sees the
/// inference final after the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_gets_a_verified_result_over_http() {
    application_over_http(&setup(3).await, &scratch("gateway")).await;
}

/// The same on anvil.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_gets_a_verified_result_over_http_on_anvil() {
    let anvil = Node::start(Kind::Anvil);
    let s = setup_on_anvil(&anvil).await;
    application_over_http(&s, &scratch("gateway-anvil")).await;
}

async fn application_over_http(s: &Setup, dir: &Path) {
    let served = s.serve(dir, 2).await;
    let client = alloy::transports::http::reqwest::Client::new();
    let url = served.url.clone();

    let (status, doc) = http(client.get(format!("{url}/openapi.json"))).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    let routes = [
        "/",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/v1/completions",
        "/v1/inferences",
        "/v1/inferences/{id}",
        "/v1/inferences/{id}/events",
        "/v1/models",
        "/v1/status",
    ];
    assert_eq!(paths, routes);
    for path in routes {
        let (status, body) = http(client.get(format!("{url}{path}").replace("{id}", "0x12"))).await;
        assert_ne!(status, 404, "{path} is served: {body}");
    }
    let post = &doc["paths"]["/v1/inferences"]["post"];
    assert_eq!(post["security"][0]["bearer"], serde_json::json!([]));
    let view = &doc["components"]["schemas"]["InferenceView"]["properties"];
    for field in [
        "id",
        "model",
        "claim_id",
        "status",
        "output",
        "challenge_deadline",
        "open_games",
        "tx",
    ] {
        assert!(view.get(field).is_some(), "InferenceView.{field} in {view}");
    }

    let (status, models) = http(client.get(format!("{url}/v1/models"))).await;
    assert_eq!(status, 200);
    let model = &models[0];
    assert_eq!(model["model_id"], s.model.model_id().to_string());
    assert_eq!(model["input"]["dtype"], "float32");
    let shape: Vec<usize> = serde_json::from_value(model["input"]["shape"].clone()).unwrap();
    assert_eq!(shape.iter().product::<usize>(), s.inputs[0].len());

    let post = |token: &str, body: String| {
        client
            .post(format!("{url}/v1/inferences"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
    };
    let good = serde_json::json!({ "model": s.model.model_id(), "input": s.inputs[0] }).to_string();
    let refused = [
        (post("nope", good.clone()), 401, None),
        (post("b", "{not json".into()), 400, None),
        (
            post(
                "b",
                serde_json::json!({ "model": "0x12", "input": [] }).to_string(),
            ),
            400,
            Some("model"),
        ),
        (
            post(
                "b",
                serde_json::json!({ "model": B256::ZERO, "input": [] }).to_string(),
            ),
            404,
            Some("model"),
        ),
        (
            post(
                "b",
                serde_json::json!({ "model": s.model.model_id(), "input": [1.0, 2.0] }).to_string(),
            ),
            422,
            Some("input"),
        ),
        (post("b", "x".repeat(gateway::BODY_LIMIT + 1)), 413, None),
        (
            post("b", serde_json::json!({ "model": s.model.model_id(), "input": { "npy": "!" } }).to_string()),
            400,
            Some("input"),
        ),
        (
            post("b", serde_json::json!({ "model": s.model.model_id(), "input": { "jpg": "" } }).to_string()),
            400,
            Some("input"),
        ),
        (
            post("b", serde_json::json!({ "model": s.model.model_id(), "input": { "png": base64(b"not a png") } }).to_string()),
            422,
            Some("input"),
        ),
        (
            post("b", serde_json::json!({ "model": s.model.model_id(), "input": { "npy": npy(vec![2], vec![1.0, 2.0]) } }).to_string()),
            422,
            Some("input"),
        ),
    ];
    for (request, want, field) in refused {
        let (status, body) = http(request).await;
        assert_eq!(status, want, "{body}");
        if status != 413 {
            assert!(
                body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{body}"
            );
        }
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{body}");
        }
    }
    assert_eq!(s.claim_count().await, 0, "nothing sent for a bad request");

    // Until the node has read the chain, posts are refused with 503.
    let (mut status, mut posted) = http(post("a", good.clone())).await;
    while status == 503 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (status, posted) = http(post("a", good.clone())).await;
    }
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["status"], "pending");
    let truth = verdict_challenger::trace::Trace::new(s.model.clone(), &s.inputs[0])
        .unwrap()
        .output();
    let output: Vec<f32> = serde_json::from_value(posted["output"].clone()).unwrap();
    assert_eq!(output, truth);
    let claim = posted["claim_id"].as_u64().unwrap();
    let id = posted["id"].as_str().unwrap().to_owned();

    let (status, again) = http(post("a", good.clone())).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (&again["id"], &again["claim_id"]),
        (&posted["id"], &posted["claim_id"])
    );
    let (status, _) = http(post("a", good.clone())).await;
    assert_eq!(status, 429, "2 posts a minute for token a");
    assert_eq!(s.claim_count().await, 1);

    let (status, got) = http(client.get(format!("{url}/v1/inferences/{id}"))).await;
    assert_eq!((status, &got["status"]), (200, &"pending".into()), "{got}");
    let (status, _) = http(client.get(format!("{url}/v1/inferences/{}", B256::ZERO))).await;
    assert_eq!(status, 404);

    // Restarted (as after kill -9), it finds the claim in the node's record.
    let (_, node, _) = served.node;
    node.abort();
    let _ = node.await;
    served.server.abort();
    let _ = served.server.await;
    let served = s.serve(dir, 2).await;
    let url = served.url.clone();
    let post = |token: &str, body: String| {
        client
            .post(format!("{url}/v1/inferences"))
            .bearer_auth(token)
            .body(body)
    };
    // Asked again as a .npy file: the same values, the same inference.
    let shape = vec![1, s.inputs[0].len()];
    let as_npy = serde_json::json!({
        "model": s.model.model_id(),
        "input": { "npy": npy(shape, s.inputs[0].clone()) },
    })
    .to_string();
    let (mut status, mut again) = http(post("b", as_npy.clone())).await;
    while status == 503 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (status, again) = http(post("b", as_npy.clone())).await;
    }
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], posted["id"]);
    assert_eq!(again["claim_id"], claim);
    assert_eq!(s.claim_count().await, 1, "no second claim after a restart");

    // Its events: pending at once, then final once the window passed,
    // and the stream ends.
    let mut events = Events::of(client.get(format!("{url}/v1/inferences/{id}/events"))).await;
    let mut statuses = vec![];
    while let Some((name, view)) = events.next().await {
        assert_eq!(name, "inference", "{view}");
        assert_eq!(
            (&view["id"], &view["claim_id"]),
            (&posted["id"], &posted["claim_id"])
        );
        statuses.push(view["status"].as_str().unwrap().to_owned());
        if statuses.len() == 1 {
            s.pass_window(claim).await;
        }
    }
    assert_eq!(statuses, ["pending", "final"]);
    let (status, got) = http(client.get(format!("{url}/v1/inferences/{id}"))).await;
    assert_eq!((status, &got["status"]), (200, &"final".into()), "{got}");
    assert_eq!(
        got["claim_tx"], posted["tx"]["hash"],
        "read back from the chain"
    );
    s.wait_status(claim, 3, Duration::from_secs(60)).await;
    let (status, health) = http(client.get(format!("{url}/healthz"))).await;
    assert_eq!(status, 200, "{health}");
    let (status, metrics) = http(client.get(format!("{url}/metrics"))).await;
    assert_eq!(status, 200);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("verdict_claims_seen_total")
    );
}

/// The sampled tiny GPT-2 generation package, carrying the word-level
/// tokenizer of `models/transformers`, and two prompts of it.
fn text_model() -> (Arc<ModelInfo>, [Vec<f32>; 2]) {
    let tokenizer = std::fs::read_to_string(models().join("transformers/tokenizer.json")).unwrap();
    let generate = verdict_converter::generate::Generate {
        prompt_len: 8,
        max_new_tokens: 8,
        sampled: true,
        tokenizer: Some(tokenizer),
        ..Default::default()
    };
    let info = Arc::new(ModelInfo::new(common::tiny_gpt2(&generate)));
    let prompt = |first: f32| -> Vec<f32> {
        let mut v = vec![first, 139.0, 124.0, 368.0, 263.0, 313.0, 491.0, 341.0];
        v.extend([0.0, 0.0, 1000.0, 0.0, 10000.0]);
        v
    };
    (info, [prompt(845.0), prompt(846.0)])
}

/// The tokens the package makes for `prompt` with `seed` and top-k 20,
/// computed here.
fn tokens_of(model: &ModelInfo, prompt: &[f32], seed: u32) -> Vec<u32> {
    let ir = &model.compiled.model;
    let sampling = verdict_dnn::generation::Sampling {
        seed,
        top_k: 20,
        ..Default::default()
    };
    let g = ir.generation.as_ref().unwrap();
    let input = g.input(ir, &prompt[..8], Some(sampling)).unwrap();
    let output = model.compiled.infer(&input).unwrap();
    output.iter().map(|&t| t as u32).collect()
}

/// An application completes text through `POST /v1/completions` as it
/// would through OpenAI's API: the text prompt read by the package's own
/// tokenizer, the sampled tokens equal to a local run's, each answer
/// carrying its claim; the same question again finds the same claim (with
/// fewer tokens shown); streamed, each token comes as an event before the
/// claim; bad prompts and parameters are refused naming the field, and
/// nothing is sent for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_completes_text_over_http() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let keys = keys(&devnet, 3);
    let mut s = setup_model(&devnet.url(), keys, Config::default(), text_model()).await;
    s.devnet = Some(devnet);
    let served = s.serve(&scratch("completions"), 100).await;
    let client = alloy::transports::http::reqwest::Client::new();
    let url = served.url.clone();
    let model_id = s.model.model_id();

    let (_, doc) = http(client.get(format!("{url}/openapi.json"))).await;
    for schema in ["Completion", "Chunk", "CompletionRequest"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
    let (status, models) = http(client.get(format!("{url}/v1/models"))).await;
    assert_eq!(status, 200);
    let g = &models[0]["generation"];
    assert_eq!(
        (
            &g["prompt_len"],
            &g["max_new_tokens"],
            &g["sampled"],
            &g["tokenizer"]
        ),
        (&8.into(), &8.into(), &true.into(), &true.into()),
        "{models}"
    );

    let post = |body: serde_json::Value| {
        client
            .post(format!("{url}/v1/completions"))
            .bearer_auth("a")
            .json(&body)
    };
    let text = "w845 w139 w124 w368 w263 w313 w491 w341";
    let refused = [
        (
            serde_json::json!({"model": model_id, "prompt": "w1 w2"}),
            422,
            "prompt",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": [1, 2, 3, 4, 5, 6, 7, 4000]}),
            422,
            "prompt",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": "w1 w2", "n": 2}),
            422,
            "n",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": text, "top_p": 2}),
            422,
            "top_p",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": text, "seed": -1}),
            422,
            "seed",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": text, "max_tokens": 9}),
            422,
            "max_tokens",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": text, "stream": "yes"}),
            422,
            "stream",
        ),
        (
            serde_json::json!({"model": model_id, "prompt": "w1 ".repeat(30_000)}),
            422,
            "prompt",
        ),
        (serde_json::json!({"model": model_id}), 400, "prompt"),
        (
            serde_json::json!({"model": B256::ZERO, "prompt": text}),
            404,
            "model",
        ),
    ];
    for (body, want, field) in refused {
        let (status, answer) = http(post(body.clone())).await;
        assert_eq!(
            (status, &answer["field"]),
            (want, &field.into()),
            "{body}: {answer}"
        );
    }
    let (status, _) = http(
        client
            .post(format!("{url}/v1/completions"))
            .json(&serde_json::json!({})),
    )
    .await;
    assert_eq!(status, 401);
    // A long text is refused before it is tokenized.
    let long = serde_json::json!({"model": model_id, "prompt": "w1 ".repeat(30_000)});
    let (status, answer) = http(post(long)).await;
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("at most 65536 bytes"), "{error}");
    assert_eq!(s.claim_count().await, 0, "nothing sent for a bad request");

    let asked = serde_json::json!({"model": model_id, "prompt": text, "seed": 5, "top_k": 20});
    let (mut status, mut answer) = http(post(asked.clone())).await;
    while status == 503 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (status, answer) = http(post(asked.clone())).await;
    }
    assert_eq!(status, 201, "{answer}");
    let want = tokens_of(&s.model, &s.inputs[0], 5);
    let words = |tokens: &[u32]| {
        tokens
            .iter()
            .map(|t| format!("w{t}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(answer["object"], "text_completion");
    assert_eq!(answer["tokens"], serde_json::json!(want));
    assert_eq!(answer["choices"][0]["text"], words(&want));
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(answer["usage"]["total_tokens"], 16);
    assert_eq!(answer["inference"]["status"], "pending");
    let claim = answer["claim_id"].as_u64().unwrap();

    // The same prompt as ids, three tokens shown: the same claim.
    let ids = serde_json::json!([845, 139, 124, 368, 263, 313, 491, 341]);
    let (status, again) = http(post(serde_json::json!({
        "model": model_id, "prompt": [ids], "seed": 5, "top_k": 20, "max_tokens": 3, "n": 1,
    })))
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (&again["claim_id"], &again["id"]),
        (&claim.into(), &answer["id"])
    );
    assert_eq!(again["tokens"], serde_json::json!(want[..3]));
    assert_eq!(again["choices"][0]["text"], words(&want[..3]));

    // Streamed: a chunk per token, then the completion, then [DONE].
    let (status, events) = http(post(serde_json::json!({
        "model": model_id, "prompt": text, "seed": 6, "top_k": 20, "stream": true,
    })))
    .await;
    assert_eq!(status, 200);
    let data: Vec<&str> = events
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.len(), 10, "{events}");
    assert_eq!(data[9], "[DONE]");
    let chunks: Vec<serde_json::Value> = data[..9]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let want = tokens_of(&s.model, &s.inputs[0], 6);
    let streamed: Vec<u32> = chunks[..8]
        .iter()
        .map(|c| c["token"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(streamed, want);
    let pieces: String = chunks[..8]
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(pieces.trim_start(), words(&want));
    let last = &chunks[8];
    assert_eq!(last["tokens"], serde_json::json!(want));
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["claim_id"], claim + 1);
    assert_eq!(s.claim_count().await, 2);
}

/// The headless browser the status page is tested in: `VERDICT_BROWSER`,
/// else Debian's `chromium-headless-shell` (scripts/test installs it) or
/// `chromium` from the path.
fn browser() -> PathBuf {
    if let Some(path) = std::env::var_os("VERDICT_BROWSER") {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium-headless-shell", "chromium"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .expect("no headless chromium: install Debian's chromium-headless-shell (scripts/test does) or set VERDICT_BROWSER")
}

/// The DOM of the page at `url` once its scripts have run, as headless
/// chromium renders it.
async fn rendered(url: String) -> String {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(browser())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .args(["--virtual-time-budget=5000", "--dump-dom", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The answer of the gateway at `url` to its first post of the setup's
/// first input, once its node has read the chain: a new claim.
async fn claimed_over_http(s: &Setup, url: &str) -> serde_json::Value {
    let client = alloy::transports::http::reqwest::Client::new();
    let body = serde_json::json!({ "model": s.model.model_id(), "input": s.inputs[0] }).to_string();
    let post = || {
        client
            .post(format!("{url}/v1/inferences"))
            .bearer_auth("a")
            .header("content-type", "application/json")
            .body(body.clone())
    };
    let (mut status, mut posted) = http(post()).await;
    while status == 503 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        (status, posted) = http(post()).await;
    }
    assert_eq!(status, 201, "{posted}");
    posted
}

/// The gateway's status page, rendered by a real headless browser, shows
/// the node's account and model, its claim, and the game a challenger
/// opened against it with its bisection and clocks, as `/v1/status` has
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_shows_the_node_in_a_browser() {
    let s = setup(3).await;
    let served = s.serve(&scratch("status"), 10).await;
    let client = alloy::transports::http::reqwest::Client::new();
    let url = served.url.clone();
    let posted = claimed_over_http(&s, &url).await;
    let claim = posted["claim_id"].as_u64().unwrap();

    // Another account challenges the claim and never moves: the node
    // defends, and the game waits on the challenger's clock.
    let challenge = ClaimManager::challengeCall {
        claimId: U256::from(claim),
        finalStateHash: B256::repeat_byte(7),
    };
    s.chains[1]
        .send(s.deployment.manager, &challenge, ether())
        .await
        .unwrap();
    let start = Instant::now();
    let status = loop {
        let (code, status) = http(client.get(format!("{url}/v1/status"))).await;
        assert_eq!(code, 200, "{status}");
        if status["games"][0]["moves"].as_u64() >= Some(1) {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let game = &status["games"][0];
    assert_eq!(
        (
            &game["role"],
            &game["status"],
            &game["turn"],
            &game["claim_id"]
        ),
        (
            &"defender".into(),
            &"Open".into(),
            &"challenger".into(),
            &claim.into()
        ),
        "{status}"
    );

    let dom = rendered(format!("{url}/")).await;
    assert!(
        dom.contains(r#"data-loaded="true""#),
        "the script ran: {dom}"
    );
    let account = status["account"].as_str().unwrap();
    assert!(dom.contains(account), "{dom}");
    assert!(dom.contains(&s.model.model_id().to_string()), "{dom}");
    let claim_row = format!(r#"<tr><td>{claim}</td><td class="Pending">Pending</td>"#);
    assert!(dom.contains(&claim_row), "{dom}");
    let game_row = format!(
        r#"<tr><td>{}</td><td>{claim}</td><td>defender</td><td class="Open">Open</td><td><span>level 1, [{}, {}] "#,
        game["game_id"], game["lo"], game["hi"]
    );
    assert!(dom.contains(&game_row), "{game_row} in {dom}");
    assert!(
        dom.contains("challenger ("),
        "the clock of the party to move: {dom}"
    );
}

/// A game against an inference is streamed as it is played: a `move` event
/// for each move read from the chain, in order, as the bisection narrows to
/// the node's win; `game` events of its positions; the inference's events
/// (one game open, then none) until it is final.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_game_against_an_inference_is_streamed_move_by_move() {
    let s = setup(3).await;
    let dir = scratch("game-events");
    let served = s.serve(&dir, 10).await;
    let client = alloy::transports::http::reqwest::Client::new();
    let url = served.url.clone();
    let posted = claimed_over_http(&s, &url).await;
    let claim = posted["claim_id"].as_u64().unwrap();
    let id = posted["id"].as_str().unwrap().to_owned();
    let follow = || client.get(format!("{url}/v1/inferences/{id}/events"));
    let mut events = Events::of(follow()).await;
    // Reading needs no token, so open streams are capped (here at one).
    let (status, refused) = http(follow()).await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("event streams are open")
    );
    let _griefer = s.griefer(&dir);

    let mut games: Vec<serde_json::Value> = vec![];
    let mut moves: Vec<serde_json::Value> = vec![];
    let mut inferences: Vec<serde_json::Value> = vec![];
    let read = async {
        while let Some((name, value)) = events.next().await {
            match name.as_str() {
                "game" => {
                    assert_eq!(value["claim_id"], claim, "{value}");
                    if value["status"] == "DefenderWon" {
                        s.pass_window(claim).await;
                    }
                    games.push(value);
                }
                "move" => {
                    assert_eq!(value["claim_id"], claim, "{value}");
                    moves.push(value);
                }
                _ => {
                    assert_eq!(name, "inference", "{value}");
                    inferences.push(value);
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the stream ends once the inference is final");
    // Every move, in order: the challenge, the defender's dissection, the
    // challenger's choice of an op (a made-up final state disagrees at the
    // last step, so one dissection finds it), the step proven, the end.
    let kinds: Vec<&str> = moves.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "started",
            "bisected",
            "op_chosen",
            "step_proven",
            "resolved"
        ]
    );
    let op = &moves[2];
    assert_eq!(
        (&op["level"], &op["party"]),
        (&2.into(), &"challenger".into())
    );
    assert!(op["lo"].as_u64() < op["hi"].as_u64(), "{op}");
    assert_eq!(
        moves[3]["lo"],
        op["hi"].as_u64().unwrap() - 1,
        "the last step"
    );
    assert_eq!(moves[4]["party"], "defender");
    assert!(
        moves.iter().all(|m| m["tx"].as_str().is_some()),
        "{moves:?}"
    );
    assert!(games.len() >= 2, "the game's positions: {games:?}");
    assert_eq!(games[0]["status"], "Open");
    assert_eq!(games.last().unwrap()["status"], "DefenderWon");
    for pair in games.windows(2) {
        assert_ne!(pair[0], pair[1], "each event a new position");
    }
    let open: Vec<u64> = inferences
        .iter()
        .map(|v| v["open_games"].as_u64().unwrap())
        .collect();
    assert!(open.contains(&1), "{inferences:?}");
    assert_eq!(inferences.last().unwrap()["status"], "final");
    assert_eq!(*open.last().unwrap(), 0);
    // The stream ended, its place is free.
    let mut again = Events::of(follow()).await;
    let mut last = None;
    while let Some(event) = again.next().await {
        last = Some(event);
    }
    let (name, last) = last.unwrap();
    assert_eq!(
        (name.as_str(), &last["status"]),
        ("inference", &"final".into())
    );
}

/// A model whose package carries a schema: `/v1/models` shows it, an input
/// outside its range is refused naming the field (nothing sent), and an
/// answer names the top classes with their labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_checks_inputs_against_the_schema_and_names_classes() {
    let (bundled, inputs) = demo::bundled(&models()).unwrap();
    let model = common::labelled(bundled.compiled.model.clone());
    let package = verdict_dnn::package::Package::build(model).unwrap();
    let info = Arc::new(ModelInfo::new(package));
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let keys = keys(&devnet, 3);
    let mut s = setup_model(&devnet.url(), keys, Config::default(), (info, inputs)).await;
    s.devnet = Some(devnet);
    let served = s.serve(&scratch("schema"), 10).await;
    let client = alloy::transports::http::reqwest::Client::new();
    let url = served.url.clone();

    let (_, models) = http(client.get(format!("{url}/v1/models"))).await;
    assert_eq!(
        models[0]["schema"]["outputs"][0]["labels"][3],
        common::DIGITS[3]
    );
    let mut bad = s.inputs[0].clone();
    bad[5] = 2.0;
    let body = serde_json::json!({ "model": s.model.model_id(), "input": bad });
    let (status, refused) = http(
        client
            .post(format!("{url}/v1/inferences"))
            .bearer_auth("a")
            .json(&body),
    )
    .await;
    assert_eq!(
        (status, &refused["field"]),
        (422, &"input".into()),
        "{refused}"
    );
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("value 5 is 2, outside its range [0, 1]"),
        "{error}"
    );
    assert_eq!(s.claim_count().await, 0);

    let posted = claimed_over_http(&s, &url).await;
    let output: Vec<f32> = serde_json::from_value(posted["output"].clone()).unwrap();
    let best = common::DIGITS[common::best(&output)];
    assert_eq!(posted["classes"][0]["label"], best, "{posted}");
    assert_eq!(posted["classes"].as_array().unwrap().len(), 5);
}

/// Until its node has read the chain (a gateway just restarted), the
/// gateway answers an inference it cannot find yet with 503, not 404: the
/// claim may be on the chain, not yet read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inference_asked_before_the_node_read_the_chain_is_not_missing() {
    let s = setup(3).await;
    let mut node = s.node(2, &scratch("unread"), U256::ZERO);
    let config = GatewayConfig {
        tokens: vec!["a".into()],
        per_minute: 1,
        claim_bond: ether(),
        health_timeout: Duration::from_secs(60),
        max_event_streams: 4,
    };
    // The node never ticks.
    let app = gateway::router(&mut node, s.deployment.manager, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = alloy::transports::http::reqwest::Client::new();
    let id = B256::repeat_byte(1);
    for path in [
        format!("/v1/inferences/{id}"),
        format!("/v1/inferences/{id}/events"),
    ] {
        let (status, body) = http(client.get(format!("{url}{path}"))).await;
        assert_eq!(status, 503, "{path}: {body}");
    }
}
