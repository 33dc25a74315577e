//! The moves of a dispute game (docs/spec/protocol.md §5) as pure functions
//! of the game's on-chain position and the true trace.

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use verdict_contracts::bindings::ClaimManager;

use crate::trace::Trace;

/// `ClaimManager.DISSECTION_DEGREE`.
pub const DEGREE: u64 = 16;
/// Level 1: positions are level-1 points (op boundaries).
pub const LEVEL_OPS: u8 = 1;
/// `Party.Defender`, as the ABI carries it.
pub const DEFENDER: u8 = 0;
/// `Party.Challenger`.
pub const CHALLENGER: u8 = 1;
/// `GameStatus.Open`.
pub const GAME_OPEN: u8 = 1;
/// `ClaimStatus.Pending`.
pub const CLAIM_PENDING: u8 = 1;

/// The inner points of a dissection of `[lo, hi]`, as the contract places them.
pub fn split(lo: u64, hi: u64) -> Vec<u64> {
    let parts = (hi - lo).min(DEGREE);
    (1..parts).map(|i| lo + (hi - lo) * i / parts).collect()
}

/// How a challenger picks the part to dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Choice {
    /// The first part whose end hash is false: its start is true.
    Honest,
    /// A part chosen pseudo-randomly from the seed: a dishonest challenger,
    /// for demonstrations and tests.
    Random(u64),
}

/// One move of a game, ready to send to `ClaimManager`.
#[derive(Clone, Debug)]
pub enum Move {
    /// The defender's dissection.
    Bisect(ClaimManager::bisectCall),
    /// The challenger's choice at the same level.
    Choose(ClaimManager::chooseCall),
    /// The challenger's choice of one op: level 2 starts.
    ChooseOp(ClaimManager::chooseOpCall),
    /// The one-step proof that decides the game.
    ProveStep(ClaimManager::proveStepCall),
}

impl Move {
    /// The function's name.
    pub fn name(&self) -> &'static str {
        match self {
            Move::Bisect(_) => "bisect",
            Move::Choose(_) => "choose",
            Move::ChooseOp(_) => "chooseOp",
            Move::ProveStep(_) => "proveStep",
        }
    }

    /// The call data.
    pub fn calldata(&self) -> Bytes {
        match self {
            Move::Bisect(c) => c.abi_encode(),
            Move::Choose(c) => c.abi_encode(),
            Move::ChooseOp(c) => c.abi_encode(),
            Move::ProveStep(c) => c.abi_encode(),
        }
        .into()
    }
}

/// The defender's move in `game` (its turn): the true hashes at the inner
/// points, with `claimed_final` standing for the last point; or, at one step,
/// the proof.
pub fn defend(
    game_id: U256,
    game: &ClaimManager::Game,
    trace: &mut Trace,
    claimed_final: B256,
) -> Move {
    if game.level != LEVEL_OPS && game.hi - game.lo == 1 {
        return Move::ProveStep(ClaimManager::proveStepCall {
            gameId: game_id,
            proof: trace.proof(game.lo).into(),
        });
    }
    let last = trace.model().last_point();
    let hashes = split(game.lo, game.hi)
        .into_iter()
        .map(|x| {
            if game.level == LEVEL_OPS && x == last {
                claimed_final
            } else {
                trace.hash_at(game.level, x)
            }
        })
        .collect();
    Move::Bisect(ClaimManager::bisectCall {
        gameId: game_id,
        hashes,
    })
}

/// The challenger's move in `game` (its turn) against the defender's last
/// dissection `posted`.
pub fn challenge(
    game_id: U256,
    game: &ClaimManager::Game,
    posted: Vec<B256>,
    trace: &mut Trace,
    choice: Choice,
) -> Move {
    let inner = split(game.lo, game.hi);
    let parts = inner.len() + 1;
    let index = match choice {
        Choice::Random(seed) => {
            let r = keccak256([seed.to_be_bytes(), game.lo.to_be_bytes()].concat());
            usize::from(r[0]) % parts
        }
        Choice::Honest => {
            let ends = posted.iter().zip(&inner).map(|(h, &x)| (*h, x));
            ends.chain([(game.hiHash, game.hi)])
                .position(|(h, x)| trace.hash_at(game.level, x) != h)
                .unwrap_or(parts - 1)
        }
    };
    let lo = if index == 0 {
        game.lo
    } else {
        inner[index - 1]
    };
    let hi = inner.get(index).copied().unwrap_or(game.hi);
    if game.level == LEVEL_OPS && hi - lo == 1 {
        let model = trace.model();
        Move::ChooseOp(ClaimManager::chooseOpCall {
            gameId: game_id,
            hashes: posted,
            index: U256::from(index),
            startStep: model.points[lo as usize],
            startPath: model.boundary_path(lo),
            endStep: model.points[hi as usize],
            endPath: model.boundary_path(hi),
        })
    } else {
        Move::Choose(ClaimManager::chooseCall {
            gameId: game_id,
            hashes: posted,
            index: U256::from(index),
        })
    }
}
