//! The manager's records as `claim status`, `claim list`, `game status`,
//! `game list`, `request status`, `request list` and the gateway's status
//! page show them: one typed view per record, printed as a line of text or
//! as JSON.

use std::fmt;

use crate::chain::Chain;
use crate::demo::fmt_eth;
use alloy_primitives::{Address, B256, Bytes, U256};
use anyhow::bail;
use serde::Serialize;
use utoipa::ToSchema;
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::rules::{self, Party};

/// A claim as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClaimView {
    claim_id: u64,
    /// `Pending`, `Rejected` or `Finalized`.
    pub status: String,
    #[schema(value_type = String)]
    model_id: B256,
    /// Who posted it.
    #[schema(value_type = String)]
    pub submitter: Address,
    #[schema(value_type = String)]
    final_state_hash: B256,
    challenge_deadline: u64,
    /// Seconds from the latest block to the deadline (0 once passed).
    seconds_left: u64,
    /// Wei, as a decimal string.
    bond: String,
    open_games: u32,
    #[schema(value_type = String)]
    output: Bytes,
}

impl fmt::Display for ClaimView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "claim {}: {}, model {}, submitter {}, bond {} ETH, {} game(s) open, window {}",
            self.claim_id,
            self.status,
            self.model_id,
            self.submitter,
            fmt_eth(self.bond.parse().unwrap_or_default()),
            self.open_games,
            countdown(self.seconds_left),
        )
    }
}

/// A game as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GameView {
    game_id: u64,
    /// `Open`, `DefenderWon` or `ChallengerWon`.
    status: String,
    /// The claim disputed.
    pub claim_id: u64,
    #[schema(value_type = String)]
    challenger: Address,
    level: u8,
    lo: u64,
    hi: u64,
    /// `defender` or `challenger`.
    turn: &'static str,
    defender_clock: u64,
    challenger_clock: u64,
    /// Seconds left on the clock of the party on the move (0 if run out).
    seconds_left: u64,
    #[schema(value_type = String)]
    lo_hash: B256,
    #[schema(value_type = String)]
    hi_hash: B256,
}

impl GameView {
    /// Where the game stands: its status, and the range, level and party
    /// on the move, which change at every move.
    pub fn position(&self) -> (String, u8, u64, u64, &'static str) {
        (self.status.clone(), self.level, self.lo, self.hi, self.turn)
    }
}

impl fmt::Display for GameView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "game {}: {}, claim {}, challenger {}, level {} over [{}, {}], {} to move, {} on its clock",
            self.game_id,
            self.status,
            self.claim_id,
            self.challenger,
            self.level,
            self.lo,
            self.hi,
            self.turn,
            countdown(self.seconds_left),
        )
    }
}

/// A request as shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RequestView {
    request_id: u64,
    /// `Open`, `Fulfilled` or `Cancelled`.
    pub status: String,
    #[schema(value_type = String)]
    model_id: B256,
    #[schema(value_type = String)]
    requester: Address,
    /// The contract called back when it is fulfilled (zero for none).
    #[schema(value_type = String)]
    callback: Address,
    /// Wei, as a decimal string.
    fee: String,
    expiry: u64,
    /// Seconds from the latest block to the expiry (0 once passed).
    seconds_left: u64,
    #[schema(value_type = String)]
    input_hash: B256,
}

impl fmt::Display for RequestView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request {}: {}, model {}, requester {}, fee {} ETH, expiry {}",
            self.request_id,
            self.status,
            self.model_id,
            self.requester,
            fmt_eth(self.fee.parse().unwrap_or_default()),
            countdown(self.seconds_left),
        )
    }
}

/// `seconds` as people read a countdown.
fn countdown(seconds: u64) -> String {
    match seconds {
        0 => "passed".to_owned(),
        s if s < 60 => format!("{s} s left"),
        s if s < 3600 => format!("{} min {} s left", s / 60, s % 60),
        s => format!("{} h {} min left", s / 3600, s % 3600 / 60),
    }
}

/// A record of the manager's, by id: a claim or a game.
pub trait Record: Sized {
    /// What the record is called in errors.
    const NAME: &'static str;

    /// How many the manager has made.
    fn count(chain: &Chain, manager: Address) -> impl Future<Output = anyhow::Result<u64>> + Send;

    /// Record `id` as of the chain time `now`; `None` if the manager never
    /// made it.
    fn at(
        chain: &Chain,
        manager: Address,
        id: u64,
        now: u64,
    ) -> impl Future<Output = anyhow::Result<Option<Self>>> + Send;
}

/// Record `id`, or an error if the manager never made it.
pub async fn one<R: Record>(chain: &Chain, manager: Address, id: u64) -> anyhow::Result<R> {
    let now = chain.timestamp().await?;
    match R::at(chain, manager, id, now).await? {
        Some(view) => Ok(view),
        None => bail!("there is no {} {id}", R::NAME),
    }
}

/// The latest `last` records, newest first.
pub async fn latest<R: Record>(
    chain: &Chain,
    manager: Address,
    last: u64,
) -> anyhow::Result<Vec<R>> {
    let now = chain.timestamp().await?;
    let count = R::count(chain, manager).await?;
    let mut out = vec![];
    for id in (1..=count)
        .rev()
        .take(usize::try_from(last).unwrap_or(usize::MAX))
    {
        out.extend(R::at(chain, manager, id, now).await?);
    }
    Ok(out)
}

impl Record for ClaimView {
    const NAME: &'static str = "claim";

    async fn count(chain: &Chain, manager: Address) -> anyhow::Result<u64> {
        let count = chain
            .view(manager, &ClaimManager::claimCountCall {})
            .await?;
        Ok(count.saturating_to())
    }

    async fn at(
        chain: &Chain,
        manager: Address,
        id: u64,
        now: u64,
    ) -> anyhow::Result<Option<ClaimView>> {
        let c = chain
            .view(
                manager,
                &ClaimManager::getClaimCall {
                    claimId: U256::from(id),
                },
            )
            .await?;
        // The manager's record of a claim it never made is all zeros.
        let Ok(status) = rules::ClaimStatus::try_from(c.status) else {
            bail!(
                "claim {id} has status {}, unknown to this verdict",
                c.status
            );
        };
        if status == rules::ClaimStatus::None {
            return Ok(None);
        }
        Ok(Some(ClaimView {
            claim_id: id,
            status: status.to_string(),
            model_id: c.modelId,
            submitter: c.submitter,
            final_state_hash: c.finalStateHash,
            challenge_deadline: c.challengeDeadline,
            seconds_left: c.challengeDeadline.saturating_sub(now),
            bond: c.bond.to_string(),
            open_games: c.openGames,
            output: c.output,
        }))
    }
}

impl Record for RequestView {
    const NAME: &'static str = "request";

    async fn count(chain: &Chain, manager: Address) -> anyhow::Result<u64> {
        let count = chain
            .view(manager, &ClaimManager::requestCountCall {})
            .await?;
        Ok(count.saturating_to())
    }

    async fn at(
        chain: &Chain,
        manager: Address,
        id: u64,
        now: u64,
    ) -> anyhow::Result<Option<RequestView>> {
        let r = chain
            .view(
                manager,
                &ClaimManager::getRequestCall {
                    requestId: U256::from(id),
                },
            )
            .await?;
        let Ok(status) = rules::RequestStatus::try_from(r.status) else {
            bail!(
                "request {id} has status {}, unknown to this verdict",
                r.status
            );
        };
        // The manager's record of a request it never made is all zeros.
        if status == rules::RequestStatus::None {
            return Ok(None);
        }
        Ok(Some(RequestView {
            request_id: id,
            status: status.to_string(),
            model_id: r.modelId,
            requester: r.requester,
            callback: r.callback,
            fee: r.fee.to_string(),
            expiry: r.expiry,
            seconds_left: r.expiry.saturating_sub(now),
            input_hash: r.inputHash,
        }))
    }
}

impl Record for GameView {
    const NAME: &'static str = "game";

    async fn count(chain: &Chain, manager: Address) -> anyhow::Result<u64> {
        let count = chain.view(manager, &ClaimManager::gameCountCall {}).await?;
        Ok(count.saturating_to())
    }

    async fn at(
        chain: &Chain,
        manager: Address,
        id: u64,
        now: u64,
    ) -> anyhow::Result<Option<GameView>> {
        let g = chain
            .view(
                manager,
                &ClaimManager::getGameCall {
                    gameId: U256::from(id),
                },
            )
            .await?;
        let Ok(status) = rules::GameStatus::try_from(g.status) else {
            bail!("game {id} has status {}, unknown to this verdict", g.status);
        };
        // The manager's record of a game it never started is all zeros.
        if status == rules::GameStatus::None {
            return Ok(None);
        }
        let (turn, clock) = if g.turn == u8::from(Party::Defender) {
            ("defender", g.defenderClock)
        } else {
            ("challenger", g.challengerClock)
        };
        let left = if status == rules::GameStatus::Open {
            clock.saturating_sub(now.saturating_sub(g.lastMoveAt))
        } else {
            0
        };
        Ok(Some(GameView {
            game_id: id,
            status: status.to_string(),
            claim_id: g.claimId,
            challenger: g.challenger,
            level: g.level,
            lo: g.lo,
            hi: g.hi,
            turn,
            defender_clock: g.defenderClock,
            challenger_clock: g.challengerClock,
            seconds_left: left,
            lo_hash: g.loHash,
            hi_hash: g.hiHash,
        }))
    }
}

/// A move of a game, as the manager's event of it tells: what the gateway
/// streams to an application following an inference.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GameMove {
    /// The game.
    pub game_id: u64,
    /// The claim it disputes.
    pub claim_id: u64,
    /// `started`, `bisected`, `chosen`, `op_chosen`, `step_proven`,
    /// `timed_out`, `resolved` or `refunded`.
    pub kind: &'static str,
    /// The level of a `bisected`, `chosen` or `op_chosen` move (2: over
    /// the steps of the op chosen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// The range it leaves (the step proven, for `step_proven`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lo: Option<u64>,
    /// Its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hi: Option<u64>,
    /// Who moved (`defender` or `challenger`); the loser of `timed_out`,
    /// the winner of `resolved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<&'static str>,
    /// The block of the move.
    pub block: Option<u64>,
    /// Its transaction.
    #[schema(value_type = Option<String>)]
    pub tx: Option<B256>,
}

impl GameMove {
    /// The move `event` tells of, if it is a game's event and `claim_of`
    /// knows the claim of its game; `block` and `tx` where it was seen.
    pub fn of(
        event: &ClaimManager::ClaimManagerEvents,
        claim_of: impl FnOnce(u64) -> Option<u64>,
        (block, tx): (Option<u64>, Option<B256>),
    ) -> Option<GameMove> {
        use ClaimManager::ClaimManagerEvents as Ev;
        let party = |p: u8| Party::try_from(p).ok().map(party_name);
        let defender = Some(party_name(Party::Defender));
        let challenger = Some(party_name(Party::Challenger));
        let (game, kind, level, range, party) = match event {
            Ev::GameStarted(e) => (e.gameId, "started", None, None, challenger),
            Ev::Bisected(e) => (
                e.gameId,
                "bisected",
                Some(e.level),
                Some((e.lo, e.hi)),
                defender,
            ),
            Ev::Chosen(e) => (
                e.gameId,
                "chosen",
                Some(e.level),
                Some((e.lo, e.hi)),
                challenger,
            ),
            Ev::OpChosen(e) => {
                let range = Some((e.startStep, e.endStep));
                (
                    e.gameId,
                    "op_chosen",
                    Some(rules::LEVEL_STEPS),
                    range,
                    challenger,
                )
            }
            Ev::StepProven(e) => (e.gameId, "step_proven", None, Some((e.step, e.step)), None),
            Ev::TimedOut(e) => (e.gameId, "timed_out", None, None, party(e.loser)),
            Ev::GameResolved(e) => (e.gameId, "resolved", None, None, party(e.winner)),
            Ev::GameRefunded(e) => (e.gameId, "refunded", None, None, None),
            _ => return None,
        };
        let game_id = game.saturating_to();
        Some(GameMove {
            game_id,
            claim_id: claim_of(game_id)?,
            kind,
            level,
            lo: range.map(|r| r.0),
            hi: range.map(|r| r.1),
            party,
            block,
            tx,
        })
    }
}

/// A party as the API names it.
fn party_name(p: Party) -> &'static str {
    match p {
        Party::Defender => "defender",
        Party::Challenger => "challenger",
    }
}
