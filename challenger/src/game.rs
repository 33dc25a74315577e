//! The moves of a dispute game (docs/spec/protocol.md §5) as pure functions
//! of the game's on-chain position and the true trace.

use alloy_primitives::{B256, Bytes, U256};
use alloy_sol_types::SolCall;
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::rules::{LEVEL_OPS, first_false_part, part, split};

use crate::strategy::Strategy;
use crate::trace::Trace;

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

/// The defender's move in `game` (its turn): the hashes `strategy` posts
/// for the inner points (the true ones, for an honest defender), with
/// `claimed_final` standing for the last point; or, at one step, the proof.
pub fn defend(
    game_id: U256,
    game: &ClaimManager::Game,
    trace: &mut Trace,
    claimed_final: B256,
    strategy: &dyn Strategy,
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
                let step = trace.model().step_at(game.level, x);
                strategy.posted_hash(step, trace.hash_at_step(step))
            }
        })
        .collect();
    Move::Bisect(ClaimManager::bisectCall {
        gameId: game_id,
        hashes,
    })
}

/// The challenger's move in `game` (its turn) against the defender's last
/// dissection `posted`, in the part `strategy` picks.
pub fn challenge(
    game_id: U256,
    game: &ClaimManager::Game,
    posted: Vec<B256>,
    trace: &mut Trace,
    strategy: &dyn Strategy,
) -> Move {
    let parts = split(game.lo, game.hi).len() + 1;
    let first_false = first_false_part(game.lo, game.hi, &posted, game.hiHash, |x| {
        trace.hash_at(game.level, x)
    })
    .map_or(parts - 1, |i| i as usize);
    let index = strategy.pick(game.lo, parts, first_false).min(parts - 1);
    let (lo, hi) = part(game.lo, game.hi, index as u64).expect("index < parts");
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use alloy_primitives::Address;
    use verdict_contracts::rules::{DISSECTION_DEGREE, LEVEL_STEPS};
    use verdict_dnn::ir::ModelBuilder;
    use verdict_dnn::ops::OpKind;
    use verdict_dnn::ops::unary::{Unary, UnaryOp};
    use verdict_dnn::package::Package;
    use verdict_vm::merkle::hash_pair;
    use verdict_vm::verify_step;

    use super::*;
    use crate::model::ModelInfo;
    use crate::strategy::Honest;

    /// A hash no true state has.
    const FALSE: B256 = B256::repeat_byte(0xee);

    /// The trace of 20 ReLUs over 64 values: more level-1 points than a
    /// dissection has parts, and ops of more steps than that.
    fn trace() -> Trace {
        let mut b = ModelBuilder::new("relus", &[1, 64]);
        let mut t = b.input();
        for i in 0..20 {
            let relu = OpKind::Unary(Unary { op: UnaryOp::Relu });
            t = b.node(&format!("relu{i}"), relu, &[t]).unwrap();
        }
        let model = ModelInfo::new(Package::build(b.finish(t)).unwrap());
        let input: Vec<f32> = (0..64).map(|i| i as f32 - 31.5).collect();
        Trace::new(Arc::new(model), &input).unwrap()
    }

    /// The game at `level` over `[lo, hi]`, with the true hash at `lo` and
    /// `hi_hash` at `hi`.
    fn game(trace: &mut Trace, level: u8, lo: u64, hi: u64, hi_hash: B256) -> ClaimManager::Game {
        ClaimManager::Game {
            challenger: Address::repeat_byte(1),
            status: 1,
            turn: 0,
            level,
            lastMoveAt: 0,
            lo,
            hi,
            defenderClock: 1800,
            challengerClock: 1800,
            claimId: 0,
            bond: 1,
            loHash: trace.hash_at(level, lo),
            hiHash: hi_hash,
            dissection: B256::ZERO,
        }
    }

    /// The true hashes at the inner points of `game`'s dissection.
    fn true_hashes(trace: &mut Trace, game: &ClaimManager::Game) -> Vec<B256> {
        split(game.lo, game.hi)
            .into_iter()
            .map(|x| trace.hash_at(game.level, x))
            .collect()
    }

    /// The index an honest challenger picks, and its move.
    fn pick(trace: &mut Trace, game: &ClaimManager::Game, posted: Vec<B256>) -> (usize, Move) {
        let mv = challenge(U256::from(3), game, posted, trace, &Honest);
        let index = match &mv {
            Move::Choose(c) => c.index,
            Move::ChooseOp(c) => c.index,
            other => panic!("a challenger bisects or proves: {other:?}"),
        };
        (index.to(), mv)
    }

    #[test]
    fn the_defender_posts_the_true_hashes_at_the_dissection_points() {
        let mut trace = trace();
        let last = trace.model().last_point();
        assert!(last > DISSECTION_DEGREE, "more level-1 points than parts");
        let g = game(&mut trace, LEVEL_OPS, 0, last, FALSE);
        let want = true_hashes(&mut trace, &g);
        assert_eq!(want.len(), 15);
        match defend(U256::from(3), &g, &mut trace, FALSE, &Honest) {
            Move::Bisect(call) => {
                assert_eq!(call.gameId, U256::from(3));
                assert_eq!(call.hashes, want);
            }
            other => panic!("expected a bisection, got {other:?}"),
        }
    }

    #[test]
    fn at_one_step_the_defender_proves_it() {
        let mut trace = trace();
        let s = trace.model().points[1] + 5;
        let post = trace.hash_at_step(s + 1);
        let g = game(&mut trace, LEVEL_STEPS, s, s + 1, post);
        match defend(U256::from(3), &g, &mut trace, FALSE, &Honest) {
            Move::ProveStep(call) => {
                assert_eq!(verify_step(g.loHash, &call.proof), Ok(post));
            }
            other => panic!("expected a step proof, got {other:?}"),
        }
        // Inside an op, two steps are still bisected.
        let g = game(&mut trace, LEVEL_STEPS, s, s + 2, post);
        assert!(matches!(
            defend(U256::from(3), &g, &mut trace, FALSE, &Honest),
            Move::Bisect(c) if c.hashes.len() == 1
        ));
    }

    #[test]
    fn an_honest_challenger_picks_the_first_false_part() {
        let mut trace = trace();
        let (lo, hi) = (trace.model().points[1], trace.model().points[2]);
        assert!(hi - lo > 16, "an op of more steps than parts");
        let g = game(&mut trace, LEVEL_STEPS, lo, hi, FALSE);
        let truth = true_hashes(&mut trace, &g);
        for j in [0, 6, 13] {
            let mut posted = truth.clone();
            posted[j] = FALSE;
            posted[j + 1] = FALSE;
            let (index, mv) = pick(&mut trace, &g, posted);
            assert_eq!(index, j);
            assert_eq!(mv.name(), "choose");
        }
        // Every posted hash true: the last part, whose end is the false claim.
        let (index, _) = pick(&mut trace, &g, truth);
        assert_eq!(index, 15);
    }

    #[test]
    fn level_one_narrowed_to_one_op_moves_to_its_steps() {
        let mut trace = trace();
        let model = trace.model().clone();
        let last = model.last_point();
        let g = game(&mut trace, LEVEL_OPS, 0, last, FALSE);
        let truth = true_hashes(&mut trace, &g);
        let root = model.record().boundaryRoot;
        let (mut ops, mut spans) = (0, 0);
        for j in 0..truth.len() {
            let mut posted = truth.clone();
            posted[j] = FALSE;
            let (index, mv) = pick(&mut trace, &g, posted);
            assert_eq!(index, j);
            let (lo, hi) = part(0, last, j as u64).unwrap();
            match mv {
                Move::ChooseOp(c) => {
                    assert_eq!(hi - lo, 1, "part {j} is one op");
                    assert_eq!(c.startStep, model.points[lo as usize]);
                    assert_eq!(c.endStep, model.points[hi as usize]);
                    assert_eq!(fold(c.startStep, lo, &c.startPath), root);
                    assert_eq!(fold(c.endStep, hi, &c.endPath), root);
                    ops += 1;
                }
                Move::Choose(_) => {
                    assert!(hi - lo > 1, "part {j} spans ops");
                    spans += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(ops > 0 && spans > 0, "{ops} one-op parts, {spans} longer");
    }

    /// The boundary table root from point `p`'s step and path.
    fn fold(step: u64, p: u64, path: &[B256]) -> B256 {
        let mut node = B256::from(U256::from(step));
        for (level, sibling) in path.iter().enumerate() {
            node = if (p >> level) & 1 == 0 {
                hash_pair(&node, sibling)
            } else {
                hash_pair(sibling, &node)
            };
        }
        node
    }

    /// Plays `game` out between a defender with `strategy`, claiming
    /// `claimed_final`, and an honest challenger, applying each move as the
    /// contract does; returns the game at its one step and the defender's
    /// proof of it.
    fn play_out(
        trace: &mut Trace,
        mut g: ClaimManager::Game,
        claimed_final: B256,
        strategy: &dyn Strategy,
    ) -> (ClaimManager::Game, Bytes) {
        loop {
            let posted = match defend(U256::from(3), &g, trace, claimed_final, strategy) {
                Move::ProveStep(call) => return (g, call.proof),
                Move::Bisect(call) => call.hashes,
                other => panic!("a defender bisects or proves: {other:?}"),
            };
            let (index, mv) = pick(trace, &g, posted.clone());
            let hash = |i: usize| match i {
                0 => g.loHash,
                i if i == posted.len() + 1 => g.hiHash,
                i => posted[i - 1],
            };
            let (lo_hash, hi_hash) = (hash(index), hash(index + 1));
            let (lo, hi) = part(g.lo, g.hi, index as u64).unwrap();
            (g.lo, g.hi) = match mv {
                Move::ChooseOp(c) => {
                    g.level = LEVEL_STEPS;
                    (c.startStep, c.endStep)
                }
                _ => (lo, hi),
            };
            (g.loHash, g.hiHash) = (lo_hash, hi_hash);
        }
    }

    #[test]
    fn a_deviating_defender_loses_at_the_step_it_deviates_from() {
        let mut trace = trace();
        let model = trace.model().clone();
        let last = model.last_point();
        let claimed_final = trace.claim(B256::ZERO, |out| out[0] += 1.0).final_hash;
        let falsify = crate::strategy::Falsify {
            index: 0,
            delta: 1.0,
        };
        for op in [0, 7, 19] {
            let (start, end) = (model.points[op], model.points[op + 1]);
            let from_step = start + (end - start) / 2;
            let deviate = crate::strategy::Deviate { falsify, from_step };
            let g = game(&mut trace, LEVEL_OPS, 0, last, claimed_final);
            let (g, proof) = play_out(&mut trace, g, claimed_final, &deviate);
            assert_eq!(g.level, LEVEL_STEPS);
            assert_eq!((g.lo, g.hi), (from_step - 1, from_step), "op {op}");
            assert_eq!(g.loHash, trace.hash_at_step(from_step - 1));
            let post = verify_step(g.loHash, &proof).unwrap();
            assert_eq!(post, trace.hash_at_step(from_step));
            assert_ne!(post, g.hiHash, "the step refutes the defender");
        }
        // Falsify posts true hashes: the dispute ends at the final step.
        let g = game(&mut trace, LEVEL_OPS, 0, last, claimed_final);
        let (g, _) = play_out(&mut trace, g, claimed_final, &falsify);
        let total = model.total_steps();
        assert_eq!((g.level, g.lo, g.hi), (LEVEL_STEPS, total - 1, total));
    }

    /// Disputes part `self.0`, whatever the hashes say.
    #[derive(Debug)]
    struct Part(usize);

    impl Strategy for Part {
        fn pick(&self, _lo: u64, _parts: usize, _first_false: usize) -> usize {
            self.0
        }
    }

    #[test]
    fn a_challenger_disputes_the_part_its_strategy_picks_within_the_parts() {
        let mut trace = trace();
        let (lo, hi) = (trace.model().points[1], trace.model().points[2]);
        let g = game(&mut trace, LEVEL_STEPS, lo, hi, FALSE);
        let truth = true_hashes(&mut trace, &g);
        let index = |trace: &mut Trace, part| match challenge(
            U256::from(3),
            &g,
            truth.clone(),
            trace,
            &Part(part),
        ) {
            Move::Choose(c) => c.index.to::<usize>(),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(index(&mut trace, 4), 4);
        assert_eq!(index(&mut trace, usize::MAX), 15, "the last part at most");
    }
}
