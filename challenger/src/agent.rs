//! The agent: follows the contracts' events, defends the claims its account
//! posted, challenges the claims its own runs refute, plays every game it is
//! in to the end, finalizes, refunds and withdraws. One loop serves the
//! submitter and the watchdog; what differs is [`AgentConfig`].
//!
//! A node ([`AgentConfig::serve`]) also answers the inference requests for
//! its models: it posts the claim of the true result, defends it, and
//! fulfils the request once the claim is final, which pays it the fee.
//!
//! Each [`Agent::tick`] reads the events since its cursor, records them,
//! saves the record, then acts on the chain's current state. Because every
//! action is decided from the chain (the game's position, whose turn it is),
//! an agent killed at any point and restarted from its record carries on
//! where it was: nothing is done twice, nothing is skipped.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolEventInterface};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use verdict_contracts::bindings::ClaimManager::{self, ClaimManagerEvents as Ev};
use verdict_contracts::bindings::ModelRegistry::{self, ModelRegistryEvents};
use verdict_contracts::rules::{self, Party};

use crate::chain::{Chain, ChainError, Tx};
use crate::deployment::{Deployment, WrongChain};
use crate::game;
use crate::metrics::Metrics;
use crate::model::{EngineError, ModelInfo};
use crate::records::GameMove;
use crate::store::{
    AgentState, ClaimRecord, ClaimStatus, GameRecord, GameStatus, RequestRecord, RequestStatus,
    Role, Store, StoreError, Verdict,
};
use crate::strategy::{Challenge, Honest, Strategy};
use crate::trace::{ClaimData, Trace};

/// How an agent plays.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Where its record lives.
    pub data_dir: PathBuf,
    /// Challenge the claims its own runs refute (the watchdog).
    pub watch: bool,
    /// The bond it posts with a challenge, in wei.
    pub challenge_bond: U256,
    /// Its choices: what it claims, which claims it challenges, which
    /// parts it disputes ([`Honest`] unless a drill, demo or test says).
    pub strategy: Arc<dyn Strategy>,
    /// Time between ticks.
    pub poll: Duration,
    /// How deep a block must be before its events are read: a reorg
    /// shallower than this cannot unsay an event the agent acted on. 0 on
    /// development chains; [`LIVE_CONFIRMATIONS`] is the default elsewhere.
    pub confirmations: u64,
    /// The most blocks one `eth_getLogs` spans; halved, down to one block,
    /// while the node refuses a range (hosted providers cap ranges and
    /// result counts).
    pub log_range: u64,
    /// Serve the inference requests for the agent's models (a node).
    pub serve: Option<Serve>,
}

/// How a node serves inference requests.
#[derive(Clone, Debug)]
pub struct Serve {
    /// Requests paying a smaller fee, in wei, are declined.
    pub min_fee: U256,
    /// The bond posted with each claim that answers a request, in wei.
    pub claim_bond: U256,
}

/// Confirmations the command line asks for on chains other than
/// development chains: deeper than the reorgs seen on Ethereum since the
/// merge, and still minutes under any challenge window worth having.
pub const LIVE_CONFIRMATIONS: u64 = 12;

/// Blocks one `eth_getLogs` spans by default: under the caps of common
/// hosted providers.
pub const LOG_RANGE: u64 = 2_000;

/// Game moves a follower that lags may fall behind by before it loses the
/// oldest.
const MOVES_KEPT: usize = 1024;

impl AgentConfig {
    /// An honest agent recording in `data_dir`.
    pub fn new(data_dir: PathBuf, challenge_bond: U256) -> AgentConfig {
        AgentConfig {
            data_dir,
            watch: false,
            challenge_bond,
            strategy: Arc::new(Honest),
            poll: Duration::from_millis(100),
            confirmations: 0,
            log_range: LOG_RANGE,
            serve: None,
        }
    }
}

/// Something the agent did: one line of `--json` output, tagged by
/// `event` (docs/agents.md gives the schema). Amounts are wei as decimal
/// strings, hashes and addresses 0x-prefixed hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Activity {
    /// Posted a claim.
    Submitted {
        /// The claim.
        claim_id: u64,
        /// Its transaction.
        tx: Tx,
    },
    /// Challenged a claim.
    Challenged {
        /// The claim.
        claim_id: u64,
        /// The game it opened.
        game_id: u64,
        /// Its transaction.
        tx: Tx,
    },
    /// Made a move.
    Moved {
        /// The game.
        game_id: u64,
        /// The function.
        name: &'static str,
        /// Its transaction.
        tx: Tx,
    },
    /// A game it played ended.
    GameEnded {
        /// The game.
        game_id: u64,
        /// How.
        status: GameStatus,
    },
    /// Finalized a claim.
    Finalized {
        /// The claim.
        claim_id: u64,
        /// Its transaction.
        tx: Tx,
    },
    /// Withdrew its credit.
    Withdrew {
        /// Wei.
        #[serde(with = "decimal")]
        amount: U256,
        /// Its transaction.
        tx: Tx,
    },
    /// Its balance fell below the bonds of the challenges it owes: until it
    /// is funded, false claims it found may finalize.
    Underfunded {
        /// Its balance, in wei.
        #[serde(with = "decimal")]
        balance: U256,
        /// The bonds it needs, in wei.
        #[serde(with = "decimal")]
        needed: U256,
    },
    /// Posted a claim answering a request.
    Answered {
        /// The request.
        request_id: u64,
        /// The claim.
        claim_id: u64,
        /// Its transaction.
        tx: Tx,
    },
    /// Fulfilled a request with its final claim: the fee is credited to it.
    Fulfilled {
        /// The request.
        request_id: u64,
        /// The claim.
        claim_id: u64,
        /// Wei.
        #[serde(with = "decimal")]
        fee: U256,
        /// Its transaction.
        tx: Tx,
    },
    /// Left a request for one of its models unanswered: its fee is below
    /// the node's minimum.
    Declined {
        /// The request.
        request_id: u64,
        /// Wei.
        #[serde(with = "decimal")]
        fee: U256,
    },
    /// Ignored a registration that names one of its packages by hash but
    /// records another model (another image, regions or boundary table):
    /// judging that model's claims with the package would lose games.
    SpoofedRegistration {
        /// The registered model's id.
        model_id: B256,
        /// The package hash it names.
        package_hash: B256,
    },
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activity::Submitted { claim_id, tx } => write!(f, "posted claim {claim_id} ({tx})"),
            Activity::Challenged {
                claim_id,
                game_id,
                tx,
            } => write!(f, "challenged claim {claim_id}: game {game_id} ({tx})"),
            Activity::Moved { game_id, name, tx } => write!(f, "game {game_id}: {name} ({tx})"),
            Activity::GameEnded { game_id, status } => {
                write!(
                    f,
                    "game {game_id}: {}",
                    format!("{status:?}").to_lowercase()
                )
            }
            Activity::Finalized { claim_id, tx } => write!(f, "finalized claim {claim_id} ({tx})"),
            Activity::Withdrew { amount, tx } => write!(f, "withdrew {amount} wei ({tx})"),
            Activity::Answered {
                request_id,
                claim_id,
                tx,
            } => write!(f, "request {request_id}: posted claim {claim_id} ({tx})"),
            Activity::Fulfilled {
                request_id,
                claim_id,
                fee,
                tx,
            } => write!(
                f,
                "request {request_id}: fulfilled with claim {claim_id}, fee {fee} wei ({tx})"
            ),
            Activity::Declined { request_id, fee } => write!(
                f,
                "request {request_id}: declined, its fee of {fee} wei is below the minimum"
            ),
            Activity::Underfunded { balance, needed } => write!(
                f,
                "underfunded: balance {balance} wei, the challenges owed need {needed} wei"
            ),
            Activity::SpoofedRegistration {
                model_id,
                package_hash,
            } => write!(
                f,
                "ignored model {model_id}: it names package {package_hash} with another record"
            ),
        }
    }
}

/// Serializes wei as a decimal string: JSON numbers lose precision past
/// 2^53 in most readers, and hex is not what people read amounts in.
mod decimal {
    use alloy_primitives::U256;

    pub(super) fn serialize<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// Posts `claim` with `bond` to the manager at `manager` from `chain`'s
/// account: the claim's event and transaction.
///
/// # Errors
///
/// As [`Chain::send`]; [`ChainError::Decode`] if no `ClaimSubmitted` was
/// logged.
pub async fn post_claim(
    chain: &Chain,
    manager: alloy_primitives::Address,
    claim: &ClaimData,
    bond: U256,
) -> Result<(ClaimManager::ClaimSubmitted, Tx), ChainError> {
    let sent = chain.send(manager, &claim.call, bond).await?;
    let event = sent
        .logs()
        .find_map(|l| match Ev::decode_log(l).map(|l| l.data) {
            Ok(Ev::ClaimSubmitted(e)) => Some(e),
            _ => None,
        })
        .ok_or(ChainError::Decode { function: "submit" })?;
    Ok((event, sent.tx()))
}

/// Why an agent stopped or a tick failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The record could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A model could not run on a claim's input.
    #[error("claim {claim_id}: {source}")]
    Run {
        /// The claim.
        claim_id: u64,
        /// Why.
        source: EngineError,
    },
    /// A claim's model is not one the agent has.
    #[error("claim {0}: the agent has no package for its model")]
    UnknownModel(u64),
    /// The node is not on the deployment's chain (or the chain was reset):
    /// nothing is sent, and the agent stops.
    #[error(transparent)]
    WrongChain(#[from] WrongChain),
}

impl AgentError {
    /// Whether ticking again cannot help: the agent stops.
    pub fn is_fatal(&self) -> bool {
        matches!(self, AgentError::WrongChain(e) if !matches!(e, WrongChain::Chain(_)))
    }
}

/// An agent on one account.
#[derive(Debug)]
pub struct Agent {
    chain: Chain,
    deployment: Deployment,
    config: AgentConfig,
    /// Packages by the model id derived from each package's own record:
    /// the only models whose claims the agent judges.
    packages: HashMap<B256, Arc<ModelInfo>>,
    store: Store,
    /// True runs by claim id, built from the record when a game of the
    /// claim needs one and dropped when no game of it is open: a pending
    /// claim costs its recorded input and output, not a trace.
    traces: HashMap<u64, Trace>,
    /// The cause of the last failed send of each action still to do, so
    /// that a failure is logged when it starts or changes, not every tick.
    failing: HashMap<String, String>,
    /// Transactions refused or failed since the agent started.
    sends_failed: u64,
    /// Requests whose model failed on their input: not run again until
    /// the agent restarts.
    unrunnable: HashSet<u64>,
    /// What ticks that then failed did (a challenge sent before the node
    /// failed is done all the same): reported by the next tick that works.
    unreported: Vec<Activity>,
    /// Whether the last balance check found too little for the bonds owed.
    underfunded: bool,
    /// Whether the node was found on the deployment's chain.
    checked: bool,
    /// Blocks the next `eth_getLogs` spans.
    log_range: u64,
    /// The chain's time as the next block will see it.
    clock: ChainClock,
    /// What the operator sees.
    metrics: Arc<Metrics>,
    /// When the balance was last read for the metrics.
    balance_read: Option<Instant>,
    /// Where the record is published after each tick, once subscribed to.
    published: Option<watch::Sender<Option<Arc<AgentState>>>>,
    /// Where the moves of the games it plays are told, once asked for.
    moves: Option<broadcast::Sender<GameMove>>,
}

/// The time a block mined now would get: the latest block's timestamp plus
/// the wall-clock time since that block was first seen. Deciding deadlines
/// on it (not on the latest block's timestamp alone) lets an agent send a
/// timeout or a finalize on a quiet chain, where no one else's transaction
/// would bring a block past the deadline. If it runs ahead of the node's
/// clock, the send is refused by the gas estimate and tried again.
#[derive(Debug, Default)]
struct ChainClock {
    /// The latest timestamp seen and when it was first seen.
    seen: Option<(u64, Instant)>,
}

impl ChainClock {
    fn next_block(&mut self, latest: u64) -> u64 {
        match self.seen {
            Some((timestamp, at)) if timestamp == latest => latest + at.elapsed().as_secs(),
            _ => {
                self.seen = Some((latest, Instant::now()));
                latest
            }
        }
    }
}

impl Agent {
    /// An agent with `models`, resuming from its record if there is one.
    ///
    /// # Errors
    ///
    /// [`AgentError::Store`] if the record cannot be read.
    pub fn new(
        chain: Chain,
        deployment: Deployment,
        config: AgentConfig,
        models: Vec<Arc<ModelInfo>>,
    ) -> Result<Agent, AgentError> {
        let store = Store::open(&config.data_dir, deployment.start_block)?;
        let packages = models.into_iter().map(|m| (m.model_id(), m)).collect();
        let log_range = config.log_range.max(1);
        Ok(Agent {
            chain,
            deployment,
            config,
            checked: false,
            log_range,
            clock: ChainClock::default(),
            metrics: Arc::default(),
            balance_read: None,
            packages,
            store,
            traces: HashMap::new(),
            failing: HashMap::new(),
            sends_failed: 0,
            unreported: vec![],
            unrunnable: HashSet::new(),
            underfunded: false,
            published: None,
            moves: None,
        })
    }

    /// The chain access.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// What the agent has recorded.
    pub fn state(&self) -> &AgentState {
        &self.store.state
    }

    /// Transactions refused or failed since the agent started.
    pub fn sends_failed(&self) -> u64 {
        self.sends_failed
    }

    /// Its metrics, for `/metrics` and `/healthz`.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Notes a send of `action` that failed with a non-transient `error`:
    /// counted, and logged when the action starts failing or fails for
    /// another cause. The action is decided again from the chain next tick.
    fn send_failed(&mut self, action: String, error: &ChainError) {
        self.sends_failed += 1;
        self.metrics.send_failed(error);
        let cause = error.to_string();
        if self.failing.get(&action) != Some(&cause) {
            tracing::warn!(%action, %cause, "send failed; retrying next tick");
            self.failing.insert(action, cause);
        } else {
            tracing::debug!(%action, %cause, "send failed again");
        }
    }

    /// Notes that `action` went through.
    fn send_succeeded(&mut self, action: &str) {
        if self.failing.remove(action).is_some() {
            tracing::info!(%action, "sent after failing");
        }
    }

    /// Warns once when the balance falls short of `needed`, the bonds of the
    /// challenges the agent owes, and once when it is enough again.
    async fn check_funds(
        &mut self,
        needed: U256,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let balance = self.chain.balance(self.chain.account()).await?;
        self.metrics.balance(balance);
        let short = balance < needed;
        if short && !self.underfunded {
            tracing::warn!(
                account = %self.chain.account(),
                %balance,
                %needed,
                "balance below the bonds of the challenges owed: false claims may finalize until it is funded"
            );
            done.push(Activity::Underfunded { balance, needed });
        } else if !short && self.underfunded {
            tracing::info!(%balance, %needed, "funded again");
        }
        self.underfunded = short;
        Ok(())
    }

    fn model(&self, model_id: &B256) -> Option<Arc<ModelInfo>> {
        self.packages.get(model_id).cloned()
    }

    /// This account's pending claim of `model_id` on `input` (compared bit
    /// for bit) among the claims recorded, if it is the claim the strategy
    /// would post now, with its output. Ticks read a claim posted before a
    /// crash from the chain's events, even into an empty record.
    ///
    /// # Errors
    ///
    /// [`AgentError`] if the claim's run fails.
    pub fn pending_claim(
        &mut self,
        model_id: B256,
        input: &[f32],
    ) -> Result<Option<(u64, ClaimData)>, AgentError> {
        let me = self.chain.account();
        let posted = self
            .model(&model_id)
            .and_then(|m| m.encode_input(input).ok());
        let found: Vec<(u64, B256)> = self
            .store
            .state
            .claims
            .iter()
            .filter(|(_, c)| {
                c.submitter == me
                    && c.status == ClaimStatus::Pending
                    && c.model_id == model_id
                    && posted.as_deref() == Some(&c.input[..])
            })
            .map(|(&id, c)| (id, c.final_hash))
            .collect();
        let strategy = self.config.strategy.clone();
        for (claim_id, final_hash) in found {
            let claim = self
                .trace(claim_id)?
                .claim(model_id, |out| strategy.claim_output(out));
            if claim.final_hash == final_hash {
                return Ok(Some((claim_id, claim)));
            }
        }
        Ok(None)
    }

    /// Posts the claim of `model` on `input`, its output as the strategy
    /// states it, with `bond`, and records it (from its receipt, before
    /// its event is confirmed) so that the agent defends it and does not
    /// post it twice.
    ///
    /// # Errors
    ///
    /// [`AgentError`] if the run or the transaction fails.
    pub async fn submit(
        &mut self,
        model: &Arc<ModelInfo>,
        input: &[f32],
        bond: U256,
    ) -> Result<(u64, ClaimData, Tx), AgentError> {
        let trace = Trace::new(model.clone(), input).map_err(|source| AgentError::Run {
            claim_id: 0,
            source,
        })?;
        let claim = trace.claim(model.model_id(), |out| {
            self.config.strategy.claim_output(out)
        });
        let (event, tx) = post_claim(&self.chain, self.deployment.manager, &claim, bond).await?;
        let claim_id = event.claimId.to::<u64>();
        let verdict = if claim.final_hash == trace.final_hash() {
            Verdict::True
        } else {
            Verdict::False
        };
        self.metrics.claim_seen(verdict);
        let state = &mut self.store.state;
        state.models.insert(model.model_id(), model.package_hash);
        state.claims.insert(
            claim_id,
            ClaimRecord::submitted(&event, Some(tx.hash), verdict),
        );
        self.store.save()?;
        Ok((claim_id, claim, tx))
    }

    /// The record as of the agent's last tick, for readers beside the
    /// agent (the gateway): `None` until its first tick.
    pub fn subscribe(&mut self) -> watch::Receiver<Option<Arc<AgentState>>> {
        self.published
            .get_or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// Where the moves of the games the agent plays are told as its ticks
    /// read them (a receiver that lags loses the oldest).
    pub fn game_moves(&mut self) -> broadcast::Sender<GameMove> {
        self.moves
            .get_or_insert_with(|| broadcast::channel(MOVES_KEPT).0)
            .clone()
    }

    /// The packages the agent judges, by model id.
    pub fn models(&self) -> &HashMap<B256, Arc<ModelInfo>> {
        &self.packages
    }

    /// Reads the events since the cursor, then acts. Returns what it did,
    /// with what failed ticks did before they failed.
    ///
    /// # Errors
    ///
    /// [`AgentError`]; a transient chain error leaves the record as it was
    /// before the tick, to be retried.
    pub async fn tick(&mut self) -> Result<Vec<Activity>, AgentError> {
        let mut done = std::mem::take(&mut self.unreported);
        match self.tick_into(&mut done).await {
            Ok(()) => Ok(done),
            Err(e) => {
                self.unreported = done;
                Err(e)
            }
        }
    }

    async fn tick_into(&mut self, done: &mut Vec<Activity>) -> Result<(), AgentError> {
        let latest = self.chain.block_number().await?;
        self.metrics.block(latest);
        // Before the first send, and whenever the chain falls behind the
        // record (a reset node looks like that), the node must be on the
        // deployment's chain.
        if !self.checked || latest < self.store.state.cursor.saturating_sub(1) {
            self.deployment.check(&self.chain).await?;
            self.checked = true;
        }
        let head = latest.saturating_sub(self.config.confirmations);
        let mut ticked = self.read_logs(head, done).await;
        if ticked.is_ok() {
            ticked = self.act(done).await;
        }
        if let Err(AgentError::Chain(ChainError::Decode { .. })) = &ticked {
            // Undecodable return data: most often no contract there any
            // more, which the check names.
            self.deployment.check(&self.chain).await?;
        }
        ticked?;
        self.store.save()?;
        if let Some(tx) = &self.published
            && tx.borrow().as_deref() != Some(&self.store.state)
        {
            tx.send_replace(Some(Arc::new(self.store.state.clone())));
        }
        self.report().await?;
        self.metrics.progressed();
        Ok(())
    }

    /// Brings the metrics that the events do not move up to date: the open
    /// games and their bonds, and every 10 s the balance.
    async fn report(&mut self) -> Result<(), AgentError> {
        let open: Vec<u64> = self.open_games().map(|(id, _)| id).collect();
        let challenging = self
            .open_games()
            .filter(|(_, g)| g.role == Role::Challenger)
            .count();
        self.metrics
            .games(&open, self.config.challenge_bond * U256::from(challenging));
        self.metrics.traces(self.traces.len());
        if self
            .balance_read
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            let balance = self.chain.balance(self.chain.account()).await?;
            self.metrics.balance(balance);
            self.balance_read = Some(Instant::now());
        }
        Ok(())
    }

    /// Records the events of the blocks from the cursor to `head`, in
    /// ranges of at most `log_range` blocks, saving after each.
    async fn read_logs(&mut self, head: u64, done: &mut Vec<Activity>) -> Result<(), AgentError> {
        let addresses = vec![self.deployment.registry, self.deployment.manager];
        while self.store.state.cursor <= head {
            let from = self.store.state.cursor;
            let to = head.min(from.saturating_add(self.log_range - 1));
            let logs = match self.chain.logs(addresses.clone(), from, to).await {
                Ok(logs) => logs,
                Err(e) if !e.is_transient() && self.log_range > 1 => {
                    self.log_range /= 2;
                    tracing::warn!(from, to, cause = %e, log_range = self.log_range, "logs refused; asking for fewer blocks at a time");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for log in logs {
                self.apply(&log, done)?;
            }
            self.store.state.cursor = to + 1;
            self.store.save()?;
        }
        Ok(())
    }

    /// Records one event.
    fn apply(
        &mut self,
        seen: &alloy::rpc::types::Log,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let log = &seen.inner;
        let me = self.chain.account();
        if log.address == self.deployment.registry {
            if let Ok(ModelRegistryEvents::ModelRegistered(e)) =
                ModelRegistry::ModelRegistryEvents::decode_log(log).map(|l| l.data)
            {
                self.registered(e.modelId, e.packageHash, done);
            }
            return Ok(());
        }
        let Ok(event) = ClaimManager::ClaimManagerEvents::decode_log(log).map(|l| l.data) else {
            return Ok(());
        };
        let state = &mut self.store.state;
        match &event {
            Ev::ClaimSubmitted(e) => {
                let claim_id = e.claimId.to::<u64>();
                // Recorded from its receipt when this agent posted it.
                if state.claims.get(&claim_id).is_some_and(|c| c.is_of(e)) {
                    return Ok(());
                }
                let mine = e.submitter == me;
                // Judged by the final state alone: the trace is built
                // only if a game starts.
                let verdict = match self.model(&e.modelId) {
                    Some(model) if self.config.watch || mine => {
                        let run = model
                            .decode_input(&e.input)
                            .map_err(EngineError::from)
                            .and_then(|x| model.final_hash(&x));
                        match run {
                            Ok(hash) if hash == e.finalStateHash => Verdict::True,
                            Ok(_) => Verdict::False,
                            // Failing the event would fail every later tick
                            // on it, and every other claim with it.
                            Err(source) => {
                                tracing::error!(claim_id, cause = %source, "cannot run this claim: left unjudged");
                                Verdict::Unknown
                            }
                        }
                    }
                    _ => Verdict::Unknown,
                };
                self.metrics.claim_seen(verdict);
                self.store.state.claims.insert(
                    claim_id,
                    ClaimRecord::submitted(e, seen.transaction_hash, verdict),
                );
            }
            Ev::Requested(e) => self.requested(e, done),
            Ev::RequestFulfilled(e) => {
                if let Some(r) = state.requests.get_mut(&e.requestId.to::<u64>()) {
                    r.status = RequestStatus::Fulfilled;
                    r.claim_id = Some(e.claimId.to::<u64>());
                }
            }
            Ev::RequestCancelled(e) => {
                if let Some(r) = state.requests.get_mut(&e.requestId.to::<u64>()) {
                    r.status = RequestStatus::Cancelled;
                }
            }
            Ev::GameStarted(e) => {
                let claim_id = e.claimId.to::<u64>();
                let Some(claim) = state.claims.get_mut(&claim_id) else {
                    return Ok(());
                };
                let role = if e.challenger == me {
                    claim.challenged = true;
                    Role::Challenger
                } else if claim.submitter == me {
                    Role::Defender
                } else {
                    return Ok(());
                };
                state
                    .games
                    .entry(e.gameId.to::<u64>())
                    .or_insert(GameRecord {
                        claim_id,
                        role,
                        posted: vec![],
                        status: GameStatus::Open,
                        moves: 0,
                        gas: 0,
                    });
            }
            Ev::Bisected(e) => {
                if let Some(g) = state.games.get_mut(&e.gameId.to::<u64>()) {
                    g.posted.clone_from(&e.hashes);
                }
            }
            Ev::GameResolved(e) => {
                let game_id = e.gameId.to::<u64>();
                if let Some(g) = state.games.get_mut(&game_id)
                    && g.status == GameStatus::Open
                {
                    g.status = if e.winner == u8::from(g.role.party()) {
                        GameStatus::Won
                    } else {
                        GameStatus::Lost
                    };
                    done.push(Activity::GameEnded {
                        game_id,
                        status: g.status,
                    });
                }
            }
            Ev::GameRefunded(e) => {
                let game_id = e.gameId.to::<u64>();
                if let Some(g) = state.games.get_mut(&game_id)
                    && g.status == GameStatus::Open
                {
                    g.status = GameStatus::Refunded;
                    done.push(Activity::GameEnded {
                        game_id,
                        status: g.status,
                    });
                }
            }
            Ev::ClaimRejectedBy(e) => {
                if let Some(c) = state.claims.get_mut(&e.claimId.to::<u64>()) {
                    c.status = ClaimStatus::Rejected;
                }
            }
            Ev::ClaimFinalized(e) => {
                if let Some(c) = state.claims.get_mut(&e.claimId.to::<u64>()) {
                    c.status = ClaimStatus::Finalized;
                }
            }
            _ => {}
        }
        if let Some(moves) = &self.moves {
            let games = &self.store.state.games;
            let claim_of = |game| games.get(&game).map(|g| g.claim_id);
            let at = (seen.block_number, seen.transaction_hash);
            if let Some(game_move) = GameMove::of(&event, claim_of, at) {
                // No one following is no error.
                let _ = moves.send(game_move);
            }
        }
        Ok(())
    }

    /// Records a registration of `model_id` naming `package_hash`: one of
    /// the agent's models if the id is the one its package derives, a spoof
    /// (reported, never linked) if the hash is one of its packages' but the
    /// id is not.
    fn registered(&mut self, model_id: B256, package_hash: B256, done: &mut Vec<Activity>) {
        if self.packages.contains_key(&model_id) {
            self.store.state.models.insert(model_id, package_hash);
        } else if self
            .packages
            .values()
            .any(|m| m.package_hash == package_hash)
        {
            tracing::warn!(
                %model_id,
                %package_hash,
                "ignoring a registration that names a package of this agent with another model record"
            );
            self.store.state.spoofed.insert(model_id, package_hash);
            done.push(Activity::SpoofedRegistration {
                model_id,
                package_hash,
            });
        }
    }

    /// Records a request if the agent serves its model; one whose fee is
    /// below the minimum is recorded too (a restart with a lower minimum
    /// serves it), and reported as declined.
    fn requested(&mut self, e: &ClaimManager::Requested, done: &mut Vec<Activity>) {
        let Some(serve) = &self.config.serve else {
            return;
        };
        if !self.packages.contains_key(&e.modelId) {
            return;
        }
        let request_id = e.requestId.to::<u64>();
        if e.fee < serve.min_fee {
            tracing::info!(request_id, fee = %e.fee, min_fee = %serve.min_fee, "request declined: fee below the minimum");
            done.push(Activity::Declined {
                request_id,
                fee: e.fee,
            });
        }
        self.store
            .state
            .requests
            .entry(request_id)
            .or_insert_with(|| RequestRecord {
                model_id: e.modelId,
                input: e.input.clone(),
                fee: e.fee,
                expiry: e.expiry,
                answer: None,
                status: RequestStatus::Open,
                claim_id: None,
            });
    }

    /// The games recorded as open, by id.
    fn open_games(&self) -> impl Iterator<Item = (u64, &GameRecord)> {
        self.store
            .state
            .games
            .iter()
            .filter(|(_, g)| g.status == GameStatus::Open)
            .map(|(&id, g)| (id, g))
    }

    /// The true runs held in memory: one per claim with a game open.
    pub fn traces_held(&self) -> usize {
        self.traces.len()
    }

    /// The true run of claim `claim_id`, built from the record if needed.
    fn trace(&mut self, claim_id: u64) -> Result<&mut Trace, AgentError> {
        if !self.traces.contains_key(&claim_id) {
            let claim = &self.store.state.claims[&claim_id];
            let model = self
                .model(&claim.model_id)
                .ok_or(AgentError::UnknownModel(claim_id))?;
            let trace = model
                .decode_input(&claim.input)
                .map_err(EngineError::from)
                .and_then(|x| Trace::new(model, &x))
                .map_err(|source| AgentError::Run { claim_id, source })?;
            self.traces.insert(claim_id, trace);
        }
        Ok(self.traces.get_mut(&claim_id).expect("inserted"))
    }

    /// Acts on the chain's current state.
    async fn act(&mut self, done: &mut Vec<Activity>) -> Result<(), AgentError> {
        let now = self.clock.next_block(self.chain.timestamp().await?);
        tracing::trace!(now, account = %self.chain.account(), "act");
        let me = self.chain.account();
        // Each with the final state to challenge it with; the true run's is
        // rebuilt from the recorded input after a restart.
        let to_challenge: Vec<(u64, Challenge)> = self
            .store
            .state
            .claims
            .iter()
            .filter(|(_, c)| c.status == ClaimStatus::Pending && !c.challenged && now < c.deadline)
            .filter(|(_, c)| c.submitter != me && self.config.watch)
            .filter_map(|(&id, c)| {
                let with = self.config.strategy.challenge(id, c.verdict)?;
                Some((id, with))
            })
            .collect();
        if !to_challenge.is_empty() {
            let needed = self.config.challenge_bond * U256::from(to_challenge.len());
            self.check_funds(needed, done).await?;
        }
        for (claim_id, with) in to_challenge {
            let final_hash = match with {
                Challenge::FinalState(hash) => hash,
                Challenge::TrueFinalState => match self.trace(claim_id) {
                    Ok(trace) => trace.final_hash(),
                    Err(e) => {
                        tracing::warn!(claim_id, cause = %e, "cannot challenge this claim");
                        continue;
                    }
                },
            };
            self.challenge(claim_id, final_hash, done).await?;
        }
        let open: Vec<u64> = self.open_games().map(|(id, _)| id).collect();
        for game_id in open {
            // A game whose claim cannot be run (its package is no longer
            // given, the engine failed) must not hold up every other game.
            match self.play(game_id, now, done).await {
                Err(e @ (AgentError::Run { .. } | AgentError::UnknownModel(_))) => {
                    let claim_id = self.store.state.games[&game_id].claim_id;
                    tracing::warn!(game_id, claim_id, cause = %e, "cannot play this game");
                }
                played => played?,
            }
        }
        self.serve_requests(now, done).await?;
        self.finalize_mine(now, done).await?;
        let playing: HashSet<u64> = self.open_games().map(|(_, g)| g.claim_id).collect();
        self.traces.retain(|claim_id, _| playing.contains(claim_id));
        // Another account's claim that no one can challenge any more and
        // that has no game of this agent's open is never run again: its
        // input goes. Otherwise a watchdog would hold every input it ever
        // judged, and write them all into its record at every save (a
        // ResNet50 claim's is 150 KB).
        for (claim_id, c) in &mut self.store.state.claims {
            let settled = c.status != ClaimStatus::Pending || now >= c.deadline;
            if c.submitter != me && settled && !playing.contains(claim_id) {
                c.forget_input();
            }
        }
        let credit = self
            .chain
            .view(
                self.deployment.manager,
                &ClaimManager::creditCall { account: me },
            )
            .await?;
        if credit > U256::ZERO {
            match self
                .chain
                .send(
                    self.deployment.manager,
                    &ClaimManager::withdrawCall {},
                    U256::ZERO,
                )
                .await
            {
                Ok(sent) => {
                    self.send_succeeded("withdraw");
                    done.push(Activity::Withdrew {
                        amount: credit,
                        tx: sent.tx(),
                    });
                }
                Err(e) if !e.is_transient() => self.send_failed("withdraw".into(), &e),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn challenge(
        &mut self,
        claim_id: u64,
        final_hash: B256,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let call = ClaimManager::challengeCall {
            claimId: U256::from(claim_id),
            finalStateHash: final_hash,
        };
        let action = format!("challenge claim {claim_id}");
        let sent = match self
            .chain
            .send(self.deployment.manager, &call, self.config.challenge_bond)
            .await
        {
            Ok(sent) => sent,
            // Not recorded as challenged: only the chain's `GameStarted`
            // says so, and until then every tick tries again.
            Err(e) if !e.is_transient() => {
                self.send_failed(action, &e);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.send_succeeded(&action);
        let claim = self.store.state.claims.get_mut(&claim_id).expect("known");
        claim.challenged = true;
        for log in sent.logs() {
            if let Ok(Ev::GameStarted(e)) = Ev::decode_log(log).map(|l| l.data) {
                let game_id = e.gameId.to::<u64>();
                self.store.state.games.insert(
                    game_id,
                    GameRecord {
                        claim_id,
                        role: Role::Challenger,
                        posted: vec![],
                        status: GameStatus::Open,
                        moves: 1,
                        gas: sent.gas_used(),
                    },
                );
                tracing::info!(claim_id, game_id, "challenged");
                done.push(Activity::Challenged {
                    claim_id,
                    game_id,
                    tx: sent.tx(),
                });
            }
        }
        self.store.save()?;
        Ok(())
    }

    /// Makes this agent's move in `game_id` if it is its turn, or claims the
    /// win if the other side ran out of time.
    async fn play(
        &mut self,
        game_id: u64,
        now: u64,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let manager = self.deployment.manager;
        let g = self
            .chain
            .view(
                manager,
                &ClaimManager::getGameCall {
                    gameId: U256::from(game_id),
                },
            )
            .await?;
        let record = self.store.state.games[&game_id].clone();
        if g.status != u8::from(rules::GameStatus::Open) {
            return Ok(());
        }
        let claim = self.store.state.claims[&record.claim_id].clone();
        let ours = u8::from(record.role.party());
        let id = U256::from(game_id);
        let movers = if g.turn == u8::from(Party::Defender) {
            g.defenderClock
        } else {
            g.challengerClock
        };
        self.metrics.game_clock(
            game_id,
            movers.saturating_sub(now.saturating_sub(g.lastMoveAt)),
        );
        if claim.status == ClaimStatus::Rejected {
            if record.role == Role::Challenger {
                self.send_move(
                    game_id,
                    "refund",
                    ClaimManager::refundCall { gameId: id }.abi_encode().into(),
                    done,
                )
                .await?;
            }
            return Ok(());
        }
        if g.turn != ours {
            if now.saturating_sub(g.lastMoveAt) > movers {
                self.send_move(
                    game_id,
                    "timeout",
                    ClaimManager::timeoutCall { gameId: id }.abi_encode().into(),
                    done,
                )
                .await?;
            }
            return Ok(());
        }
        let strategy = self.config.strategy.clone();
        let trace = self.trace(record.claim_id)?;
        let mv = match record.role {
            Role::Defender => game::defend(id, &g, trace, claim.final_hash, &*strategy),
            Role::Challenger => {
                let commitment =
                    keccak256(record.posted.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
                if commitment != g.dissection {
                    // The defender's dissection is not read yet: next tick.
                    return Ok(());
                }
                game::challenge(id, &g, record.posted.clone(), trace, &*strategy)
            }
        };
        self.send_move(game_id, mv.name(), mv.calldata(), done)
            .await
    }

    async fn send_move(
        &mut self,
        game_id: u64,
        name: &'static str,
        data: Bytes,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let manager = self.deployment.manager;
        let action = format!("{name} in game {game_id}");
        match self
            .chain
            .send_calldata(name, manager, data, U256::ZERO)
            .await
        {
            Ok(sent) => {
                self.send_succeeded(&action);
                let g = self.store.state.games.get_mut(&game_id).expect("known");
                g.moves += 1;
                g.gas += sent.gas_used();
                tracing::info!(game_id, name, gas = sent.gas_used(), "moved");
                done.push(Activity::Moved {
                    game_id,
                    name,
                    tx: sent.tx(),
                });
                self.store.save()?;
                Ok(())
            }
            Err(e) if !e.is_transient() => {
                // The position moved under us (another move landed first),
                // or the account cannot pay: the next tick decides again
                // from the chain.
                self.send_failed(action, &e);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Answers the open requests the node serves: posts the claim of the
    /// true result unless a standing claim of it exists, and fulfils the
    /// request with this account's claim once it is final. A claim of the
    /// true result posted first by another account takes the fee: the node
    /// leaves that request alone (a copy would earn nothing).
    async fn serve_requests(
        &mut self,
        now: u64,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let Some(serve) = self.config.serve.clone() else {
            return Ok(());
        };
        let me = self.chain.account();
        let open: Vec<u64> = self
            .store
            .state
            .requests
            .iter()
            .filter(|(_, r)| r.status == RequestStatus::Open)
            .map(|(&id, _)| id)
            .collect();
        self.metrics.requests(open.len());
        for request_id in open {
            let r = self.store.state.requests[&request_id].clone();
            if r.fee < serve.min_fee || self.unrunnable.contains(&request_id) {
                continue;
            }
            let Some(model) = self.model(&r.model_id) else {
                continue;
            };
            let answer = match r.answer {
                Some(answer) => answer,
                None => match model
                    .decode_input(&r.input)
                    .map_err(EngineError::from)
                    .and_then(|x| model.final_hash(&x))
                {
                    Ok(answer) => {
                        let r = self
                            .store
                            .state
                            .requests
                            .get_mut(&request_id)
                            .expect("known");
                        r.answer = Some(answer);
                        answer
                    }
                    Err(e) => {
                        tracing::error!(request_id, cause = %e, "cannot run this request: left unanswered");
                        self.unrunnable.insert(request_id);
                        continue;
                    }
                },
            };
            // The earliest standing claim of the true result: the one
            // `fulfil` takes once it is final.
            let first = self
                .store
                .state
                .claims
                .iter()
                .find(|(_, c)| {
                    c.model_id == r.model_id
                        && c.input == r.input
                        && c.final_hash == answer
                        && c.status != ClaimStatus::Rejected
                })
                .map(|(&id, c)| (id, c.clone()));
            match first {
                None if now < r.expiry => {
                    let action = format!("answer request {request_id}");
                    // Decoded above, when the answer was computed.
                    let input = model.decode_input(&r.input).unwrap_or_default();
                    match self.submit(&model, &input, serve.claim_bond).await {
                        Ok((claim_id, _, tx)) => {
                            self.send_succeeded(&action);
                            tracing::info!(request_id, claim_id, "answered");
                            done.push(Activity::Answered {
                                request_id,
                                claim_id,
                                tx,
                            });
                        }
                        Err(AgentError::Chain(e)) if !e.is_transient() => {
                            self.send_failed(action, &e);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Some((claim_id, c))
                    if c.submitter == me
                        && (c.status == ClaimStatus::Finalized || now >= c.deadline) =>
                {
                    self.fulfil(request_id, claim_id, r.fee, done).await?;
                }
                // Expired before it was answered (the requester may cancel
                // it at any time), another account's claim, or this one's
                // still in its window.
                _ => {}
            }
        }
        Ok(())
    }

    /// Fulfils `request_id` with this account's claim `claim_id` if the
    /// chain finds the claim final (no game open, window passed).
    async fn fulfil(
        &mut self,
        request_id: u64,
        claim_id: u64,
        fee: U256,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let manager = self.deployment.manager;
        let id = U256::from(claim_id);
        if !self
            .chain
            .view(manager, &ClaimManager::isFinalCall { claimId: id })
            .await?
        {
            return Ok(());
        }
        let call = ClaimManager::fulfilCall {
            requestId: U256::from(request_id),
            claimId: id,
        };
        let action = format!("fulfil request {request_id}");
        match self.chain.send(manager, &call, U256::ZERO).await {
            Ok(sent) => {
                self.send_succeeded(&action);
                self.metrics.fulfilled(fee);
                let r = self
                    .store
                    .state
                    .requests
                    .get_mut(&request_id)
                    .expect("known");
                r.status = RequestStatus::Fulfilled;
                r.claim_id = Some(claim_id);
                tracing::info!(request_id, claim_id, "fulfilled");
                done.push(Activity::Fulfilled {
                    request_id,
                    claim_id,
                    fee,
                    tx: sent.tx(),
                });
            }
            Err(e) if !e.is_transient() => self.send_failed(action, &e),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Finalizes this account's claims whose window has passed with no game open.
    async fn finalize_mine(
        &mut self,
        now: u64,
        done: &mut Vec<Activity>,
    ) -> Result<(), AgentError> {
        let me = self.chain.account();
        let ripe: Vec<u64> = self
            .store
            .state
            .claims
            .iter()
            .filter(|(_, c)| {
                c.submitter == me && c.status == ClaimStatus::Pending && now >= c.deadline
            })
            .map(|(&id, _)| id)
            .collect();
        for claim_id in ripe {
            let c = self
                .chain
                .view(
                    self.deployment.manager,
                    &ClaimManager::getClaimCall {
                        claimId: U256::from(claim_id),
                    },
                )
                .await?;
            tracing::debug!(
                claim_id,
                open_games = c.openGames,
                status = c.status,
                "ripe claim"
            );
            if c.openGames > 0 || c.status != u8::from(rules::ClaimStatus::Pending) {
                continue;
            }
            let call = ClaimManager::finalizeCall {
                claimId: U256::from(claim_id),
            };
            let action = format!("finalize claim {claim_id}");
            match self
                .chain
                .send(self.deployment.manager, &call, U256::ZERO)
                .await
            {
                Ok(sent) => {
                    self.send_succeeded(&action);
                    done.push(Activity::Finalized {
                        claim_id,
                        tx: sent.tx(),
                    });
                }
                Err(e) if !e.is_transient() => self.send_failed(action, &e),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Runs ticks until `stop` turns true (or its sender is dropped) or
    /// `until` holds of the record,
    /// sending what it does to `activity`; a failing node is retried with
    /// backoff (up to 5 s), the record kept.
    ///
    /// # Errors
    ///
    /// A [fatal](AgentError::is_fatal) error: the node is not on the
    /// deployment's chain.
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        activity: Option<mpsc::UnboundedSender<Activity>>,
        until: impl Fn(&AgentState) -> bool + Send,
    ) -> Result<Agent, AgentError> {
        let mut backoff = self.config.poll;
        loop {
            match self.tick().await {
                Ok(done) => {
                    backoff = self.config.poll;
                    if let Some(tx) = &activity {
                        for a in done {
                            let _ = tx.send(a);
                        }
                    }
                }
                Err(e) if e.is_fatal() => {
                    tracing::error!("stopping: {e}");
                    return Err(e);
                }
                Err(e) => {
                    self.metrics.rpc_error();
                    tracing::warn!("tick failed, retrying in {backoff:?}: {e}");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            if until(&self.store.state) {
                return Ok(self);
            }
            // A dropped sender stops the agent too: `changed` would return
            // at once from then on, and the loop would spin.
            let stopped = tokio::select! {
                () = tokio::time::sleep(backoff) => false,
                changed = stop.changed() => changed.is_err(),
            };
            if stopped || *stop.borrow() {
                return Ok(self);
            }
        }
    }
}
