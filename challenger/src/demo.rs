//! The end-to-end demonstration (`verdict demo`): on a chain (the embedded
//! devnet unless told otherwise), deploy, register a model (the bundled
//! digits model unless told otherwise), post an honest claim that
//! finalizes, a fraudulent claim that the watchdog refutes, and have a
//! dishonest challenger lose against the honest claim; then account for
//! every bond. Every expectation is checked, the step where the fraudulent
//! claim's dispute ends included; a failed one makes the report's `ok`
//! false.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, U256, keccak256};
use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::protocol::Config;
use verdict_contracts::rules::{ClaimStatus, LEVEL_STEPS};
use verdict_converter::InputShape;
use verdict_dnn::generation::Sampling;
use verdict_dnn::ir::ValueKind;
use verdict_dnn::ops::decode::Encoding;

use crate::agent::{Activity, Agent, AgentConfig, AgentError};
use crate::chain::{Chain, Tx};
use crate::deployment::Deployment;
use crate::model::ModelInfo;
use crate::store::Verdict;
use crate::strategy::{Challenge, Deviate, Falsify, Honest, Strategy};

/// One ether, in wei.
pub fn ether() -> U256 {
    U256::from(10u64).pow(U256::from(18u64))
}

/// What the demonstration runs on.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// JSON-RPC URL of the chain.
    pub rpc_url: String,
    /// Keys of the five parties: deployer, honest submitter, fraudulent
    /// submitter, watchdog, dishonest challenger.
    pub keys: [PrivateKeySigner; 5],
    /// The model package.
    pub model: Arc<ModelInfo>,
    /// Two inputs: the honest claim's and the fraudulent claim's.
    pub inputs: [Vec<f32>; 2],
    /// Where the fraudulent claim's dispute is to end.
    pub fraud_at: FraudAt,
    /// Phases done before [`run`] (loading or converting the model),
    /// reported first.
    pub prelude: Vec<Phase>,
    /// Where the agents keep their records.
    pub data_dir: PathBuf,
    /// Give up waiting for a phase after this long.
    pub phase_timeout: Duration,
}

/// Where the fraudulent submitter's posted states first go wrong, and so
/// the one step its dispute ends at. Written as `first-op`, `middle-op`,
/// `last-step`, `largest-op` or `op:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FraudAt {
    /// The middle step of the first op.
    FirstOp,
    /// The middle step of op n/2.
    MiddleOp,
    /// The final step (the `halt`): every state but the final one true.
    LastStep,
    /// The middle step of the op of the most VM steps.
    LargestOp,
    /// The middle step of op `N` (counting from 0): an op of interest, such
    /// as a transformer's first attention product.
    Op(usize),
}

impl FraudAt {
    /// The first step whose posted state is false: the dispute ends at the
    /// step from the one before it to it. `None` for an op the model does
    /// not have.
    pub fn step(self, model: &ModelInfo) -> Option<u64> {
        // The op table's own entries, whether or not every op is a level-1
        // point: `b[ops]` starts the `halt`.
        let ops = model.compiled.model.nodes.len();
        let b = &model.compiled.program.boundaries;
        let op = match self {
            FraudAt::LastStep => return Some(model.total_steps()),
            FraudAt::FirstOp => 0,
            FraudAt::MiddleOp => ops / 2,
            FraudAt::LargestOp => (0..ops)
                .max_by_key(|&k| (b[k + 1] - b[k], std::cmp::Reverse(k)))
                .unwrap_or(0),
            FraudAt::Op(op) if op < ops => op,
            FraudAt::Op(_) => return None,
        };
        Some(b[op] + (b[op + 1] - b[op]).div_ceil(2))
    }
}

impl std::str::FromStr for FraudAt {
    type Err = String;

    fn from_str(s: &str) -> Result<FraudAt, String> {
        Ok(match s {
            "first-op" => FraudAt::FirstOp,
            "middle-op" => FraudAt::MiddleOp,
            "last-step" => FraudAt::LastStep,
            "largest-op" => FraudAt::LargestOp,
            _ => match s.strip_prefix("op:").map(str::parse) {
                Some(Ok(op)) => FraudAt::Op(op),
                _ => {
                    return Err(format!(
                        "`{s}`: expected first-op, middle-op, last-step, largest-op or op:N"
                    ));
                }
            },
        })
    }
}

impl fmt::Display for FraudAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FraudAt::FirstOp => f.write_str("first-op"),
            FraudAt::MiddleOp => f.write_str("middle-op"),
            FraudAt::LastStep => f.write_str("last-step"),
            FraudAt::LargestOp => f.write_str("largest-op"),
            FraudAt::Op(op) => write!(f, "op:{op}"),
        }
    }
}

impl Serialize for FraudAt {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The op whose run holds the step that ends at `step` (the op count for
/// the final `halt`), and its steps.
pub fn op_of_step(model: &ModelInfo, step: u64) -> (u64, u64) {
    let p = &model.compiled.program;
    let op = p
        .boundaries
        .partition_point(|&b| b < step)
        .saturating_sub(1);
    let end = p.boundaries.get(op + 1).copied().unwrap_or(p.total_steps);
    (op as u64, end - p.boundaries[op])
}

/// What a phase was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// The model converted from ONNX, in process.
    Convert,
    /// The model package read and checked.
    Load,
    /// The contracts deployed.
    Deploy,
    /// The model registered.
    Register,
    /// The honest claim posted and mined.
    HonestClaim,
    /// The fraudulent claim posted and mined.
    FraudulentClaim,
    /// Both games played to their end.
    Games,
    /// The challenge window passed, the honest claim finalized and every
    /// credit withdrawn.
    Resolution,
}

/// A phase, how long it took and the process's peak memory at its end.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    /// What it was.
    pub kind: PhaseKind,
    /// What happened, in words.
    pub name: String,
    /// Seconds.
    pub seconds: f64,
    /// The peak resident set of this whole process so far, in KiB: every
    /// agent of the demo runs in it, so this is their total, not one
    /// agent's. `None` where the system does not say.
    pub process_peak_rss_kib: Option<u64>,
}

impl Phase {
    /// The phase `kind`, started at `start`, ending now.
    pub fn ended(kind: PhaseKind, name: String, start: Instant) -> Phase {
        Phase {
            kind,
            name,
            seconds: start.elapsed().as_secs_f64(),
            process_peak_rss_kib: process_peak_rss_kib(),
        }
    }
}

/// This process's peak resident set so far, in KiB (`VmHWM` of
/// `/proc/self/status`); `None` without procfs.
pub fn process_peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One game, as played.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GameSummary {
    /// The game.
    pub game_id: u64,
    /// The claim disputed.
    pub claim_id: u64,
    /// Moves of both sides, the challenge included.
    pub moves: u32,
    /// Gas of those moves.
    pub gas: u64,
    /// The winner's name.
    pub winner: String,
    /// The level of the game's last position (1: ops, 2: steps).
    pub level: u8,
    /// The start of its last range.
    pub lo: u64,
    /// The end of its last range: at level 2 with `hi = lo + 1`, the step
    /// the contract ran.
    pub hi: u64,
}

/// Where the fraudulent claim's dispute was set to end.
#[derive(Clone, Debug, Serialize)]
pub struct FraudPlacement {
    /// As chosen.
    pub at: FraudAt,
    /// The first step whose posted state is false: the game ends at the
    /// step from `step - 1` to `step`.
    pub step: u64,
    /// The op that step is in (the op count for the final `halt`).
    pub op: u64,
    /// That op's node name (`halt` for the final step).
    pub op_name: String,
    /// The op's VM steps.
    pub op_steps: u64,
}

/// Where one party's bonds went.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// The party.
    pub name: String,
    /// Its address.
    pub address: Address,
    /// Change of its balance, in wei (signed, as a decimal string).
    pub balance_change: String,
    /// Of which transaction fees paid, in wei.
    pub fees: String,
}

/// What the demonstration did and whether everything happened as it should.
#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    /// Every expectation held.
    pub ok: bool,
    /// Expectations that failed.
    pub failures: Vec<String>,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// The games.
    pub games: Vec<GameSummary>,
    /// Each party's account.
    pub accounts: Vec<Account>,
    /// Wei burned by the manager.
    pub burned: String,
    /// The honest claim's id and final status.
    pub honest_claim: (u64, String),
    /// The fraudulent claim's id and final status.
    pub fraudulent_claim: (u64, String),
    /// Where its dispute was set to end.
    pub fraud: FraudPlacement,
    /// Milliseconds from the fraudulent claim's transaction to the
    /// watchdog's challenge transaction, both mined.
    pub challenge_latency_ms: Option<f64>,
    /// Seconds in all, the prelude's included.
    pub seconds: f64,
}

/// Grace's play: she challenges every true claim with a made-up final
/// state and disputes parts picked pseudo-randomly from a seed, and loses.
#[derive(Debug)]
struct Griefer {
    seed: u64,
}

impl Strategy for Griefer {
    fn challenge(&self, claim_id: u64, verdict: Verdict) -> Option<Challenge> {
        (verdict == Verdict::True).then(|| {
            let made_up = keccak256([b"grief".as_slice(), &claim_id.to_be_bytes()].concat());
            Challenge::FinalState(made_up)
        })
    }

    fn pick(&self, lo: u64, parts: usize, _first_false: usize) -> usize {
        let r = keccak256([self.seed.to_be_bytes(), lo.to_be_bytes()].concat());
        usize::from(r[0]) % parts
    }
}

const NAMES: [&str; 5] = [
    "deployer",
    "alice (honest submitter)",
    "mallory (fraudulent submitter)",
    "walter (watchdog)",
    "grace (dishonest challenger)",
];

/// Runs the demonstration, calling `say` with each line of progress.
///
/// # Errors
///
/// Any chain or agent failure; an expectation that fails is not an error but
/// a failure in the report.
pub async fn run(config: DemoConfig, say: &(dyn Fn(String) + Sync)) -> anyhow::Result<DemoReport> {
    let start = Instant::now();
    let mut failures = vec![];
    let show = |p: &Phase| {
        let rss = p
            .process_peak_rss_kib
            .map(|k| format!(", process peak RSS {} MiB", k / 1024))
            .unwrap_or_default();
        say(format!("✓ {} ({:.2} s{rss})", p.name, p.seconds));
    };
    config.prelude.iter().for_each(show);
    let mut phases = config.prelude.clone();
    let phase = |kind: PhaseKind, name: String, t: Instant, phases: &mut Vec<Phase>| {
        let p = Phase::ended(kind, name, t);
        show(&p);
        phases.push(p);
    };
    let chains = config
        .keys
        .iter()
        .map(|k| Chain::connect(&config.rpc_url, k.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let addresses: Vec<Address> = chains.iter().map(Chain::account).collect();
    // Balances now, and fees from the next block on: on a chain used before
    // (`--external`) the parties' earlier transactions are not the demo's.
    let mut before = vec![];
    for a in &addresses {
        before.push(chains[0].balance(*a).await?);
    }
    let first_block = chains[0].block_number().await? + 1;

    let t = Instant::now();
    let protocol = Config::default();
    let deployment = Deployment::deploy(&chains[0], &protocol)
        .await
        .context("deploying")?;
    phase(
        PhaseKind::Deploy,
        format!(
            "deployed VerdictVM {}, ModelRegistry {}, ClaimManager {}",
            deployment.verifier, deployment.registry, deployment.manager
        ),
        t,
        &mut phases,
    );

    let t = Instant::now();
    let model = config.model.clone();
    let sent = chains[0]
        .send(deployment.registry, &model.register_call(), U256::ZERO)
        .await
        .context("registering the model")?;
    phase(
        PhaseKind::Register,
        format!(
            "registered model {} ({} ops, {} VM steps, {} gas)",
            model.model_id(),
            model.ops(),
            model.total_steps(),
            sent.gas_used()
        ),
        t,
        &mut phases,
    );

    let (activity_tx, mut activity_rx) = mpsc::unbounded_channel::<(usize, Instant, Activity)>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let make = |i: usize, watch: bool, strategy: Arc<dyn Strategy>| -> anyhow::Result<Agent> {
        let mut c = AgentConfig::new(
            config.data_dir.join(format!("agent-{i}")),
            protocol.min_challenge_bond,
        );
        c.watch = watch;
        c.strategy = strategy;
        c.poll = Duration::from_millis(50);
        Ok(Agent::new(
            chains[i].clone(),
            deployment.clone(),
            c,
            vec![model.clone()],
        )?)
    };

    let watchers = [
        spawn_agent(3, make(3, true, Arc::new(Honest))?, &activity_tx, &stop_rx),
        spawn_agent(
            4,
            make(4, true, Arc::new(Griefer { seed: 7 }))?,
            &activity_tx,
            &stop_rx,
        ),
    ];
    say("  watchdog walter and dishonest challenger grace are watching".into());

    let t = Instant::now();
    let mut alice = make(1, false, Arc::new(Honest))?;
    let (honest_id, honest, tx) = alice.submit(&model, &config.inputs[0], ether()).await?;
    let label = answer(&model, &honest.output);
    phase(
        PhaseKind::HonestClaim,
        format!(
            "alice claimed model(input 0) = {label} (claim {honest_id}, bond 1 ETH, {} input bytes, {} gas)",
            honest.call.input.len(),
            tx.gas
        ),
        t,
        &mut phases,
    );
    let t = Instant::now();
    let truth = crate::trace::Trace::new(model.clone(), &config.inputs[1])?;
    let true_label = argmax(&truth.output());
    let falsify = Falsify {
        index: true_label + 1,
        delta: 100.0,
    };
    let fraud_step = config.fraud_at.step(&model).ok_or_else(|| {
        anyhow::anyhow!(
            "--fraud-at {}: the model has {} ops",
            config.fraud_at,
            model.compiled.model.nodes.len()
        )
    })?;
    let strategy: Arc<dyn Strategy> = match config.fraud_at {
        FraudAt::LastStep => Arc::new(falsify),
        _ => Arc::new(Deviate {
            falsify,
            from_step: fraud_step,
        }),
    };
    let placement = placement(&model, config.fraud_at, fraud_step);
    let mut mallory = make(2, false, strategy)?;
    let (fraud_id, fraud, _) = mallory.submit(&model, &config.inputs[1], ether()).await?;
    let fraud_posted = Instant::now();
    phase(
        PhaseKind::FraudulentClaim,
        format!(
            "mallory claimed model(input 1) = {} (claim {fraud_id}, bond 1 ETH); the truth is {}; her states go wrong at step {fraud_step}, in op {} ({}, {} steps)",
            answer(&model, &fraud.output),
            answer(&model, &truth.output()),
            placement.op,
            placement.op_name,
            placement.op_steps
        ),
        t,
        &mut phases,
    );

    let mut tasks = vec![
        spawn_agent(1, alice, &activity_tx, &stop_rx),
        spawn_agent(2, mallory, &activity_tx, &stop_rx),
    ];
    tasks.extend(watchers);

    let mut games: BTreeMap<u64, GameSummary> = BTreeMap::new();
    let manager = deployment.manager;
    let viewer = &chains[0];
    let claim_status = |id: u64| async move {
        viewer
            .view(
                manager,
                &ClaimManager::getClaimCall {
                    claimId: U256::from(id),
                },
            )
            .await
            .map(|c| ClaimStatus::try_from(c.status).unwrap_or(ClaimStatus::None))
    };
    let mut latency = None;
    let mut drain = |rx: &mut mpsc::UnboundedReceiver<(usize, Instant, Activity)>,
                     games: &mut BTreeMap<u64, GameSummary>| {
        while let Ok((i, at, a)) = rx.try_recv() {
            match a {
                Activity::Challenged {
                    claim_id,
                    game_id,
                    tx: Tx { gas, .. },
                } => {
                    say(format!(
                        "  {} challenged claim {claim_id}: game {game_id} ({gas} gas)",
                        NAMES[i]
                    ));
                    if claim_id == fraud_id {
                        let ms = at.duration_since(fraud_posted).as_secs_f64() * 1e3;
                        say(format!(
                            "  (the challenge landed {ms:.0} ms after the claim)"
                        ));
                        latency = Some(ms);
                    }
                    let g = games.entry(game_id).or_default();
                    g.game_id = game_id;
                    g.claim_id = claim_id;
                    g.moves += 1;
                    g.gas += gas;
                }
                Activity::Moved {
                    game_id,
                    name,
                    tx: Tx { gas, .. },
                } => {
                    say(format!("  game {game_id}: {} {name} ({gas} gas)", short(i)));
                    let g = games.entry(game_id).or_default();
                    g.moves += 1;
                    g.gas += gas;
                }
                Activity::GameEnded { game_id, status } => {
                    say(format!("  game {game_id}: {} {status:?}", short(i)));
                    if status == crate::store::GameStatus::Won {
                        games.entry(game_id).or_default().winner = NAMES[i].into();
                    }
                }
                Activity::Finalized { claim_id, .. } => {
                    say(format!("  {} finalized claim {claim_id}", short(i)))
                }
                Activity::Withdrew { amount, .. } => {
                    say(format!("  {} withdrew {} ETH", short(i), fmt_eth(amount)))
                }
                Activity::Underfunded { balance, needed } => say(format!(
                    "  {} has {} ETH, needs {} ETH for its challenges",
                    NAMES[i],
                    fmt_eth(balance),
                    fmt_eth(needed)
                )),
                Activity::SpoofedRegistration { model_id, .. } => say(format!(
                    "  {} ignored model {model_id}: it names our package with another record",
                    NAMES[i]
                )),
                Activity::Submitted { .. }
                | Activity::Answered { .. }
                | Activity::Fulfilled { .. }
                | Activity::Declined { .. } => {}
            }
        }
    };

    let t = Instant::now();
    let deadline = Instant::now() + config.phase_timeout;
    loop {
        drain(&mut activity_rx, &mut games);
        // A game counts as decided once its winner has said so: the chain
        // may reject the claim a tick before the watchdog reads its win,
        // and the agents stop after this phase.
        let decided = |claim| {
            games
                .values()
                .any(|g| g.claim_id == claim && !g.winner.is_empty())
        };
        let fraud_done =
            decided(fraud_id) && claim_status(fraud_id).await? == ClaimStatus::Rejected;
        let griefed = decided(honest_id);
        if fraud_done && griefed {
            break;
        }
        if Instant::now() > deadline {
            failures.push(format!("games did not end within {:?} (fraud rejected and its game decided: {fraud_done}, grief game decided: {griefed})", config.phase_timeout));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase(
        PhaseKind::Games,
        "games played to the end".into(),
        t,
        &mut phases,
    );

    let t = Instant::now();
    let window_end = chains[0]
        .view(
            manager,
            &ClaimManager::getClaimCall {
                claimId: U256::from(honest_id),
            },
        )
        .await?
        .challengeDeadline;
    chains[0].advance_past(window_end).await?;
    let deadline = Instant::now() + config.phase_timeout;
    loop {
        drain(&mut activity_rx, &mut games);
        let credits = {
            let mut any = false;
            for a in &addresses[1..] {
                any |= chains[0]
                    .view(manager, &ClaimManager::creditCall { account: *a })
                    .await?
                    > U256::ZERO;
            }
            any
        };
        if claim_status(honest_id).await? == ClaimStatus::Finalized && !credits {
            break;
        }
        if Instant::now() > deadline {
            failures
                .push("the honest claim did not finalize, or credits were not withdrawn".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase(
        PhaseKind::Resolution,
        format!("challenge window passed; claim {honest_id} finalized, every credit withdrawn"),
        t,
        &mut phases,
    );
    stop_tx.send(true)?;
    for task in tasks {
        task.await??;
    }
    drain(&mut activity_rx, &mut games);

    let honest_status = claim_status(honest_id).await?;
    let fraud_status = claim_status(fraud_id).await?;
    if honest_status != ClaimStatus::Finalized {
        failures.push(format!(
            "honest claim {honest_id} is not finalized (status {honest_status})"
        ));
    }
    if fraud_status != ClaimStatus::Rejected {
        failures.push(format!(
            "fraudulent claim {fraud_id} is not rejected (status {fraud_status})"
        ));
    }
    for g in games.values_mut() {
        let end = chains[0]
            .view(
                manager,
                &ClaimManager::getGameCall {
                    gameId: U256::from(g.game_id),
                },
            )
            .await?;
        (g.level, g.lo, g.hi) = (end.level, end.lo, end.hi);
        let at_fraud = (LEVEL_STEPS, fraud_step - 1, fraud_step);
        if g.claim_id == fraud_id && (g.level, g.lo, g.hi) != at_fraud {
            failures.push(format!(
                "game {} ended at level {} over [{}, {}], expected level {} over [{}, {}]",
                g.game_id, g.level, g.lo, g.hi, at_fraud.0, at_fraud.1, at_fraud.2
            ));
        }
        let expected = if g.claim_id == fraud_id {
            NAMES[3]
        } else {
            NAMES[1]
        };
        if g.winner != expected {
            failures.push(format!(
                "game {} on claim {} won by {:?}, expected {expected}",
                g.game_id, g.claim_id, g.winner
            ));
        }
    }
    if games.len() != 2 {
        failures.push(format!("{} games were played, expected 2", games.len()));
    }

    let burned = chains[0]
        .view(manager, &ClaimManager::burnedCall {})
        .await?;
    let mut accounts = vec![];
    for (i, a) in addresses.iter().enumerate() {
        let after = chains[0].balance(*a).await?;
        let fees = fees_paid(&chains[0], *a, first_block).await?;
        let change = signed(after, before[i]);
        accounts.push(Account {
            name: NAMES[i].into(),
            address: *a,
            balance_change: change.clone(),
            fees: fees.to_string(),
        });
        // Bond flows net of fees: alice +0.25 (half grace's bond), mallory −1,
        // walter +0.5 (half mallory's bond), grace −0.5.
        let net = signed(after + fees, before[i]);
        let want = [
            "0",
            "250000000000000000",
            "-1000000000000000000",
            "500000000000000000",
            "-500000000000000000",
        ][i];
        if net != want {
            failures.push(format!(
                "{}: bonds moved {net} wei, expected {want}",
                NAMES[i]
            ));
        }
    }
    let want_burned = ether() / U256::from(2) + ether() / U256::from(4);
    if burned != want_burned {
        failures.push(format!("burned {burned} wei, expected {want_burned}"));
    }
    Ok(DemoReport {
        ok: failures.is_empty(),
        failures,
        phases,
        games: games.into_values().collect(),
        accounts,
        burned: burned.to_string(),
        honest_claim: (honest_id, honest_status.to_string()),
        fraudulent_claim: (fraud_id, fraud_status.to_string()),
        fraud: placement,
        challenge_latency_ms: latency,
        seconds: config.prelude.iter().map(|p| p.seconds).sum::<f64>()
            + start.elapsed().as_secs_f64(),
    })
}

/// Where a fraud placed `at`, first false at `step`, lies in `model`.
fn placement(model: &ModelInfo, at: FraudAt, step: u64) -> FraudPlacement {
    let (op, op_steps) = op_of_step(model, step);
    let nodes = &model.compiled.model.nodes;
    FraudPlacement {
        at,
        step,
        op,
        op_name: nodes
            .get(op as usize)
            .map_or_else(|| "halt".to_owned(), |n| n.name.clone()),
        op_steps,
    }
}

/// Runs `agent` (party `i`) until `stop`, forwarding what it does, stamped
/// with when it arrived, to `activity`.
fn spawn_agent(
    i: usize,
    agent: Agent,
    activity: &mpsc::UnboundedSender<(usize, Instant, Activity)>,
    stop: &watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<Agent, AgentError>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let activity = activity.clone();
    tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            let _ = activity.send((i, Instant::now(), a));
        }
    });
    tokio::spawn(agent.run(stop.clone(), Some(tx), |_| false))
}

/// Wei `account` paid in fees from block `first` on: the sum over its
/// transactions of gas used times the effective gas price.
async fn fees_paid(chain: &Chain, account: Address, first: u64) -> anyhow::Result<U256> {
    use alloy::providers::Provider;
    let latest = chain.block_number().await?;
    let mut fees = U256::ZERO;
    for n in first..=latest {
        let Some(block) = chain
            .provider()
            .get_block_by_number(n.into())
            .full()
            .await?
        else {
            continue;
        };
        for tx in block.transactions.txns() {
            if tx.inner.signer() != account {
                continue;
            }
            if let Some(r) = chain
                .provider()
                .get_transaction_receipt(*tx.inner.tx_hash())
                .await?
            {
                fees += U256::from(r.gas_used) * U256::from(r.effective_gas_price);
            }
        }
    }
    Ok(fees)
}

fn signed(after: U256, before: U256) -> String {
    if after >= before {
        (after - before).to_string()
    } else {
        format!("-{}", before - after)
    }
}

fn short(i: usize) -> &'static str {
    NAMES[i].split(' ').next().unwrap_or(NAMES[i])
}

/// `wei` in ether with up to 6 decimals.
pub fn fmt_eth(wei: U256) -> String {
    let micro = wei / U256::from(1_000_000_000_000u64);
    let micro: u128 = micro.to();
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// An output in words: a generation's tokens, the value of a one-value
/// output (a token id), else the class, the index of the largest value.
fn answer(model: &ModelInfo, output: &[f32]) -> String {
    match output {
        _ if model.compiled.model.generation.is_some() => {
            let ids: Vec<String> = output.iter().map(f32::to_string).collect();
            format!("tokens [{}]", ids.join(", "))
        }
        [one] => format!("value {one}"),
        _ => format!("class {}", argmax(output)),
    }
}

/// The index of the largest value.
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// The bundled demo model in the repository's `models/` folder.
pub const BUNDLED_MODEL: &str = "digits_mlp.onnx";

/// The bundled demo model and two of its sample inputs, from the repository's
/// `models/` folder: the digits MLP converted from ONNX.
///
/// # Errors
///
/// If the files are missing or do not convert.
pub fn bundled(models: &Path) -> anyhow::Result<(Arc<ModelInfo>, [Vec<f32>; 2])> {
    let (model, _) = load_model(&models.join(BUNDLED_MODEL), &[])?;
    Ok((Arc::new(model), samples(models)?))
}

/// The bundled model's first two sample inputs, from `samples.json` in
/// `models`.
///
/// # Errors
///
/// If the file is missing or holds no such samples.
pub fn samples(models: &Path) -> anyhow::Result<[Vec<f32>; 2]> {
    let samples: serde_json::Value = serde_json::from_slice(
        &std::fs::read(models.join("samples.json"))
            .with_context(|| format!("reading {}", models.join("samples.json").display()))?,
    )?;
    let input = |i: usize| -> anyhow::Result<Vec<f32>> {
        let Some(values) = samples["samples"][i]["input"].as_array() else {
            bail!("samples.json: no sample {i}");
        };
        values
            .iter()
            .map(|v| {
                v.as_f64()
                    .map(|x| x as f32)
                    .context("samples.json: a non-number input value")
            })
            .collect()
    };
    Ok([input(0)?, input(1)?])
}

/// The model at `path`, and the phase that made it: a `.dnn` package, read
/// and checked, or any other file converted in process as ONNX, with
/// `shapes` fixing its input shapes as `dnnc convert --input-shape` does.
///
/// # Errors
///
/// If the file is missing, is not a package or does not convert, naming
/// it; or if `shapes` are given for a package, whose shapes are fixed.
pub fn load_model(path: &Path, shapes: &[InputShape]) -> anyhow::Result<(ModelInfo, Phase)> {
    let start = Instant::now();
    let (model, kind, done) = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dnn"))
    {
        if !shapes.is_empty() {
            bail!(
                "{}: a package's input shape is fixed; --input-shape is for an ONNX model",
                path.display()
            );
        }
        let model = ModelInfo::load(path).with_context(|| format!("loading {}", path.display()))?;
        (model, PhaseKind::Load, "loaded")
    } else {
        let converted =
            verdict_converter::convert_file(path, &shapes.to_vec().into(), &mut |_, _| {})?;
        let package = verdict_dnn::package::Package::build(converted.model)
            .with_context(|| format!("compiling {}", path.display()))?;
        (ModelInfo::new(package), PhaseKind::Convert, "converted")
    };
    let name = format!(
        "{done} {} ({} ops, {} VM steps)",
        path.display(),
        model.ops(),
        model.total_steps()
    );
    Ok((model, Phase::ended(kind, name, start)))
}

/// A pseudo-random input for `model` drawn from `seed`: floats in `[0, 1)`;
/// integer and boolean parts (token ids, masks) 0 or 1, values every such
/// input takes; any byte for an input posted as bytes (an image); any
/// token of the vocabulary for a generation package's prompt.
pub fn random_input(model: &ModelInfo, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ir = &model.compiled.model;
    if let Some(g) = &ir.generation {
        let ids: Vec<f32> = (0..g.prompt_len(ir))
            .map(|_| rng.gen_range(0..g.vocab) as f32)
            .collect();
        let sampling = g.sampled.then(|| Sampling {
            seed: rng.r#gen(),
            ..Sampling::default()
        });
        return g
            .input(ir, &ids, sampling)
            .expect("a prompt of the vocabulary");
    }
    if ir.input_encoding == Some(Encoding::U8) {
        let n: usize = ir.tensors[ir.input].shape.iter().product();
        return (0..n).map(|_| f32::from(rng.r#gen::<u8>())).collect();
    }
    let ports = model.compiled.model.input_ports();
    ports
        .iter()
        .flat_map(|p| {
            let n: usize = p.shape.iter().product();
            let kind = p.kind;
            (0..n)
                .map(|_| {
                    let u: f32 = rng.r#gen();
                    match kind {
                        ValueKind::Float => u,
                        ValueKind::Integer | ValueKind::Boolean => u.round(),
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
