//! The whole protocol in revm: a compiled MLP registered, claims posted,
//! games played to the end with real VM states by honest and lying parties,
//! and ether conserved throughout.

use std::sync::OnceLock;

use alloy_primitives::{Address, B256, U256, address};
use proptest::prelude::*;
use verdict_contracts::bindings::ClaimManager::{self, ClaimManagerErrors as E};
use verdict_contracts::protocol::{Config, Deployment, Revert};
use verdict_contracts::rules::{ClaimStatus, Party};
use verdict_dnn::ir::Model;

use crate::players::{
    ChallengerPlan, ClaimData, DefenderPlan, Fixture, GameLog, Match, Trace, manager_error, mlp,
    values,
};

pub(crate) const SUBMITTER: Address = address!("0x0000000000000000000000000000000000005b17");
pub(crate) const CHALLENGERS: [Address; 6] = [
    address!("0x00000000000000000000000000000000000c0001"),
    address!("0x00000000000000000000000000000000000c0002"),
    address!("0x00000000000000000000000000000000000c0003"),
    address!("0x00000000000000000000000000000000000c0004"),
    address!("0x00000000000000000000000000000000000c0005"),
    address!("0x00000000000000000000000000000000000c0006"),
];
pub(crate) const REQUESTER: Address = address!("0x000000000000000000000000000000000000eeee");

/// Every account the tests fund.
pub(crate) fn accounts() -> Vec<Address> {
    [SUBMITTER, REQUESTER]
        .into_iter()
        .chain(CHALLENGERS)
        .collect()
}

pub(crate) fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10).pow(U256::from(18))
}

/// The small model most tests dispute: 16-8-4, a few thousand steps.
pub(crate) fn small_model() -> Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| mlp(16, 8, 4)).clone()
}

/// A fresh deployment with funded accounts and `model` registered.
pub(crate) fn world(model: Model) -> (Deployment, Fixture) {
    let mut d = Deployment::deploy(&Config::default()).unwrap();
    for a in accounts() {
        d.evm.fund(a, ether(100));
    }
    d.evm.set_timestamp(1_000_000);
    let (fixture, _) = Fixture::register(&mut d, SUBMITTER, model);
    (d, fixture)
}

/// Posts `claim` from `from` with a 1-ether bond; returns its id.
pub(crate) fn submit(d: &mut Deployment, from: Address, claim: &ClaimData) -> U256 {
    d.send(from, d.manager, &claim.call, ether(1))
        .unwrap()
        .result
        .expect("submits")
}

/// Challenges `claim_id` from `from` with a 1-ether bond; returns the game id.
pub(crate) fn challenge(
    d: &mut Deployment,
    from: Address,
    claim_id: U256,
    final_hash: B256,
) -> U256 {
    let call = ClaimManager::challengeCall {
        claimId: claim_id,
        finalStateHash: final_hash,
    };
    d.send(from, d.manager, &call, ether(1))
        .unwrap()
        .result
        .expect("challenges")
}

pub(crate) fn claim_status(d: &mut Deployment, claim_id: U256) -> ClaimStatus {
    let claim = d
        .view(d.manager, &ClaimManager::getClaimCall { claimId: claim_id })
        .unwrap()
        .unwrap();
    ClaimStatus::try_from(claim.status).unwrap()
}

/// Withdraws every account's credit; then the manager must hold exactly the
/// ether burned, and the total must be what it was.
pub(crate) fn settle_and_check_conservation(d: &mut Deployment, total_before: U256) {
    for a in accounts() {
        let credit = d
            .view(d.manager, &ClaimManager::creditCall { account: a })
            .unwrap()
            .unwrap();
        if !credit.is_zero() {
            let sent = d
                .send(a, d.manager, &ClaimManager::withdrawCall {}, U256::ZERO)
                .unwrap();
            sent.result.expect("withdraws");
        }
    }
    let burned = d
        .view(d.manager, &ClaimManager::burnedCall {})
        .unwrap()
        .unwrap();
    assert_eq!(
        d.evm.balance(d.manager),
        burned,
        "the manager holds only the burned ether"
    );
    assert_eq!(
        d.total_balance(&accounts()),
        total_before,
        "ether is conserved"
    );
}

/// Challenges `claim` from `challenger` and plays the game to its end; the
/// log starts with the challenge.
#[allow(clippy::too_many_arguments)]
pub(crate) fn play(
    d: &mut Deployment,
    trace: &mut Trace<'_>,
    claim_id: U256,
    claim: &ClaimData,
    challenger: Address,
    defender_plan: DefenderPlan,
    challenger_plan: ChallengerPlan,
) -> GameLog {
    let own_final = if challenger_plan == ChallengerPlan::Honest {
        trace.final_state().hash()
    } else {
        B256::repeat_byte(0xcc)
    };
    let call = ClaimManager::challengeCall {
        claimId: claim_id,
        finalStateHash: own_final,
    };
    let sent = d.send(challenger, d.manager, &call, ether(1)).unwrap();
    let game_id = sent.result.expect("challenges");
    let mut log = GameLog::default();
    log.moves.push(("challenge", sent.gas));
    let mut m = Match {
        trace,
        defender: SUBMITTER,
        challenger,
        game_id,
        defender_plan,
        challenger_plan,
        claimed_final: claim.final_hash,
        think_time: 5,
        defender_moves: 0,
        challenger_moves: 0,
    };
    while m.step_once(d, &mut log) {}
    log
}

/// A whole life: claim (true or false), one game, finalization or rejection,
/// withdrawals; the winner must be `want`.
fn one_game(
    defender_plan: DefenderPlan,
    challenger_plan: ChallengerPlan,
    corrupt: bool,
    want: Party,
) -> GameLog {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let input = values(7, 16);
    let mut trace = Trace::new(&fixture, &input);
    let claim = trace.claim(fixture.model_id, corrupt);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    let log = play(
        &mut d,
        &mut trace,
        claim_id,
        &claim,
        CHALLENGERS[0],
        defender_plan,
        challenger_plan,
    );
    assert_eq!(
        log.winner,
        Some(want),
        "{defender_plan:?} vs {challenger_plan:?}: {log:?}"
    );
    let status = claim_status(&mut d, claim_id);
    if want == Party::Challenger {
        assert_eq!(status, ClaimStatus::Rejected);
    } else {
        d.evm.advance(3600);
        let sent = d.send(
            SUBMITTER,
            d.manager,
            &ClaimManager::finalizeCall { claimId: claim_id },
            U256::ZERO,
        );
        sent.unwrap().result.expect("finalizes");
    }
    settle_and_check_conservation(&mut d, total);
    log
}

#[test]
fn honest_claim_is_final_and_cannot_be_challenged_with_its_own_state() {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let trace = Trace::new(&fixture, &values(3, 16));
    let claim = trace.claim(fixture.model_id, false);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    // An honest challenger computes the same final state: nothing to dispute.
    let call = ClaimManager::challengeCall {
        claimId: claim_id,
        finalStateHash: trace.final_state().hash(),
    };
    let sent = d.send(CHALLENGERS[0], d.manager, &call, ether(1)).unwrap();
    assert!(matches!(
        manager_error(&sent.result.unwrap_err()),
        E::SameFinalState(_)
    ));
    let result = d
        .view(d.manager, &ClaimManager::resultOfCall { claimId: claim_id })
        .unwrap();
    assert!(matches!(
        manager_error(&result.unwrap_err()),
        E::ClaimNotFinal(_)
    ));
    d.evm.advance(3600);
    let out = d
        .view(d.manager, &ClaimManager::resultOfCall { claimId: claim_id })
        .unwrap()
        .unwrap();
    assert_eq!(out, claim.call.output);
    let finalize = ClaimManager::finalizeCall { claimId: claim_id };
    d.send(SUBMITTER, d.manager, &finalize, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    let again = d.send(SUBMITTER, d.manager, &finalize, U256::ZERO).unwrap();
    assert!(matches!(
        manager_error(&again.result.unwrap_err()),
        E::ClaimNotPending(_)
    ));
    settle_and_check_conservation(&mut d, total);
}

#[test]
fn honest_defender_beats_a_random_challenger() {
    one_game(
        DefenderPlan::Honest,
        ChallengerPlan::Random(11),
        false,
        Party::Defender,
    );
}

#[test]
fn honest_challenger_beats_a_liar_inside_an_op() {
    let (_, fixture) = world(small_model());
    // A step strictly inside the first op: the lie first shows at level 2.
    let from = fixture.points[1] / 2 + 1;
    one_game(
        DefenderPlan::LieFrom(from),
        ChallengerPlan::Honest,
        true,
        Party::Challenger,
    );
}

#[test]
fn honest_challenger_beats_a_liar_at_an_op_boundary() {
    one_game(
        DefenderPlan::LieFrom(1),
        ChallengerPlan::Honest,
        true,
        Party::Challenger,
    );
}

#[test]
fn honest_challenger_beats_a_liar_about_the_final_state_only() {
    let (_, fixture) = world(small_model());
    let last = *fixture.points.last().unwrap();
    one_game(
        DefenderPlan::LieFrom(last),
        ChallengerPlan::Honest,
        true,
        Party::Challenger,
    );
}

#[test]
fn honest_challenger_beats_a_liar_only_at_level_1() {
    one_game(
        DefenderPlan::LieAtOps(2),
        ChallengerPlan::Honest,
        true,
        Party::Challenger,
    );
}

#[test]
fn honest_challenger_beats_a_liar_about_op_boundaries() {
    one_game(
        DefenderPlan::ShiftBoundaries,
        ChallengerPlan::Honest,
        true,
        Party::Challenger,
    );
}

#[test]
fn a_silent_defender_loses_on_time() {
    one_game(
        DefenderPlan::SilentAfter(2),
        ChallengerPlan::Honest,
        true,
        Party::Challenger,
    );
}

#[test]
fn a_silent_challenger_loses_on_time() {
    one_game(
        DefenderPlan::Honest,
        ChallengerPlan::SilentAfter(1),
        false,
        Party::Defender,
    );
}

#[test]
fn a_dishonest_challenger_of_a_false_claim_does_not_save_it() {
    // Both lie; an honest challenger in parallel rejects the claim, and the
    // liars' game, still open, is refunded.
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let mut trace = Trace::new(&fixture, &values(5, 16));
    let claim = trace.claim(fixture.model_id, true);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    let liar_game = challenge(&mut d, CHALLENGERS[1], claim_id, B256::repeat_byte(7));
    let log = play(
        &mut d,
        &mut trace,
        claim_id,
        &claim,
        CHALLENGERS[0],
        DefenderPlan::LieFrom(1),
        ChallengerPlan::Honest,
    );
    assert_eq!(log.winner, Some(Party::Challenger));
    assert_eq!(claim_status(&mut d, claim_id), ClaimStatus::Rejected);
    let bisect = ClaimManager::bisectCall {
        gameId: liar_game,
        hashes: vec![B256::ZERO; 3],
    };
    let sent = d.send(SUBMITTER, d.manager, &bisect, U256::ZERO).unwrap();
    assert!(matches!(
        manager_error(&sent.result.unwrap_err()),
        E::ClaimRejected(_)
    ));
    let refund = ClaimManager::refundCall { gameId: liar_game };
    d.send(REQUESTER, d.manager, &refund, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    let again = d.send(REQUESTER, d.manager, &refund, U256::ZERO).unwrap();
    assert!(matches!(
        manager_error(&again.result.unwrap_err()),
        E::GameNotOpen(_)
    ));
    settle_and_check_conservation(&mut d, total);
}

#[test]
fn many_challenges_only_cost_the_griefer() {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let mut trace = Trace::new(&fixture, &values(9, 16));
    let claim = trace.claim(fixture.model_id, false);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    for (i, &griefer) in CHALLENGERS.iter().enumerate() {
        let log = play(
            &mut d,
            &mut trace,
            claim_id,
            &claim,
            griefer,
            DefenderPlan::Honest,
            ChallengerPlan::Random(i as u32),
        );
        assert_eq!(log.winner, Some(Party::Defender));
        trace.forget();
    }
    d.evm.advance(3600);
    let finalize = ClaimManager::finalizeCall { claimId: claim_id };
    d.send(SUBMITTER, d.manager, &finalize, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    // The defender earned half of each griefer's bond on top of its own back.
    let credit = d
        .view(d.manager, &ClaimManager::creditCall { account: SUBMITTER })
        .unwrap()
        .unwrap();
    assert_eq!(
        credit,
        ether(1) + ether(CHALLENGERS.len() as u64) / U256::from(2)
    );
    settle_and_check_conservation(&mut d, total);
}

#[test]
fn moves_out_of_turn_wrong_proofs_and_early_timeouts_are_refused() {
    let (mut d, fixture) = world(small_model());
    let mut trace = Trace::new(&fixture, &values(13, 16));
    let claim = trace.claim(fixture.model_id, true);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    let game_id = challenge(&mut d, CHALLENGERS[0], claim_id, trace.final_state().hash());
    let err =
        |d: &mut Deployment, from: Address, call: &dyn Fn() -> alloy_primitives::Bytes| -> Revert {
            let tx = verdict_contracts::Tx::new(from, d.manager, call());
            d.send_tx::<ClaimManager::timeoutCall>(tx)
                .unwrap()
                .result
                .unwrap_err()
        };
    use alloy_sol_types::SolCall;
    let choose = || {
        ClaimManager::chooseCall {
            gameId: game_id,
            hashes: vec![],
            index: U256::ZERO,
        }
        .abi_encode()
        .into()
    };
    let bisect = || {
        ClaimManager::bisectCall {
            gameId: game_id,
            hashes: vec![B256::ZERO],
        }
        .abi_encode()
        .into()
    };
    let timeout = || {
        ClaimManager::timeoutCall { gameId: game_id }
            .abi_encode()
            .into()
    };
    // The defender is on the move: the challenger may not bisect nor the defender choose.
    assert!(matches!(
        manager_error(&err(&mut d, CHALLENGERS[0], &bisect)),
        E::NotYourTurn(_)
    ));
    assert!(matches!(
        manager_error(&err(&mut d, SUBMITTER, &choose)),
        E::NotYourTurn(_)
    ));
    assert!(matches!(
        manager_error(&err(&mut d, REQUESTER, &bisect)),
        E::NotYourTurn(_)
    ));
    assert!(matches!(
        manager_error(&err(&mut d, CHALLENGERS[0], &timeout)),
        E::ClockNotExpired(_)
    ));
    // A bisection with the wrong number of hashes.
    assert!(matches!(
        manager_error(&err(&mut d, SUBMITTER, &bisect)),
        E::BadHashCount(_)
    ));

    // Play to the one-step stage with the defender lying from step 1.
    let mut m = Match {
        trace: &mut trace,
        defender: SUBMITTER,
        challenger: CHALLENGERS[0],
        game_id,
        defender_plan: DefenderPlan::LieFrom(1),
        challenger_plan: ChallengerPlan::Honest,
        claimed_final: claim.final_hash,
        think_time: 1,
        defender_moves: 0,
        challenger_moves: 0,
    };
    // Play up to the one-step stage.
    let mut log = GameLog::default();
    loop {
        let g = d
            .view(d.manager, &ClaimManager::getGameCall { gameId: game_id })
            .unwrap()
            .unwrap();
        if g.level == 2 && g.hi - g.lo == 1 {
            break;
        }
        assert!(m.step_once(&mut d, &mut log));
    }
    let g = d
        .view(d.manager, &ClaimManager::getGameCall { gameId: game_id })
        .unwrap()
        .unwrap();
    // The agreed pre-state is step 0 here; a proof of another state, and a
    // proof with a tampered instruction leaf, both revert in the verifier.
    let mut wrong = m.trace.proof(g.lo + 1);
    let prove = |proof: Vec<u8>| ClaimManager::proveStepCall {
        gameId: game_id,
        proof: proof.into(),
    };
    let sent = d
        .send(SUBMITTER, d.manager, &prove(wrong.clone()), U256::ZERO)
        .unwrap();
    assert!(matches!(sent.result.unwrap_err(), Revert::Verifier(_)));
    let mut tampered = m.trace.proof(g.lo);
    tampered[177] ^= 1;
    let sent = d
        .send(SUBMITTER, d.manager, &prove(tampered), U256::ZERO)
        .unwrap();
    assert!(matches!(sent.result.unwrap_err(), Revert::Verifier(_)));
    wrong.truncate(10);
    let sent = d
        .send(SUBMITTER, d.manager, &prove(wrong), U256::ZERO)
        .unwrap();
    assert!(matches!(sent.result.unwrap_err(), Revert::Verifier(_)));
    // The defender cannot prove its lie; it times out.
    d.evm.advance(1801);
    let right = m.trace.proof(g.lo);
    let sent = d
        .send(SUBMITTER, d.manager, &prove(right.clone()), U256::ZERO)
        .unwrap();
    assert!(matches!(
        manager_error(&sent.result.unwrap_err()),
        E::ClockExpired(_)
    ));
    let sent = d
        .send(
            CHALLENGERS[0],
            d.manager,
            &ClaimManager::timeoutCall { gameId: game_id },
            U256::ZERO,
        )
        .unwrap();
    sent.result.unwrap();
    // Resolving twice.
    let sent = d
        .send(
            CHALLENGERS[0],
            d.manager,
            &ClaimManager::timeoutCall { gameId: game_id },
            U256::ZERO,
        )
        .unwrap();
    assert!(matches!(
        manager_error(&sent.result.unwrap_err()),
        E::GameNotOpen(_)
    ));
    let sent = d
        .send(CHALLENGERS[0], d.manager, &prove(right), U256::ZERO)
        .unwrap();
    assert!(matches!(
        manager_error(&sent.result.unwrap_err()),
        E::GameNotOpen(_)
    ));
    assert_eq!(claim_status(&mut d, claim_id), ClaimStatus::Rejected);
}

/// The random games' case count: a few by default, more with VERDICT_LONG_GAMES=1.
fn game_cases() -> u32 {
    if std::env::var("VERDICT_LONG_GAMES").is_ok_and(|v| v == "1") {
        200
    } else {
        6
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(game_cases()))]

    /// Whoever is honest wins, whatever the liar does, and ether is conserved.
    #[test]
    fn the_honest_party_always_wins(
        input_seed in any::<u64>(),
        liar_is_defender in any::<bool>(),
        lie_at in 0.0f64..1.0,
        choice_seed in any::<u32>(),
        level_one_only in any::<bool>(),
    ) {
        let (mut d, fixture) = world(small_model());
        let total = d.total_balance(&accounts());
        let mut trace = Trace::new(&fixture, &values(input_seed, 16));
        let last = *fixture.points.last().unwrap();
        let claim = trace.claim(fixture.model_id, liar_is_defender);
        let claim_id = submit(&mut d, SUBMITTER, &claim);
        let (defender_plan, challenger_plan, want) = if liar_is_defender {
            let plan = if level_one_only {
                DefenderPlan::LieAtOps(1 + (lie_at * fixture.ops() as f64) as u64)
            } else {
                DefenderPlan::LieFrom(1 + (lie_at * (last - 1) as f64) as u64)
            };
            (plan, ChallengerPlan::Honest, Party::Challenger)
        } else {
            (DefenderPlan::Honest, ChallengerPlan::Random(choice_seed), Party::Defender)
        };
        let log = play(&mut d, &mut trace, claim_id, &claim, CHALLENGERS[0], defender_plan, challenger_plan);
        prop_assert_eq!(log.winner, Some(want));
        if want == Party::Defender {
            d.evm.advance(3600);
            let finalize = ClaimManager::finalizeCall { claimId: claim_id };
            d.send(SUBMITTER, d.manager, &finalize, U256::ZERO).unwrap().result.unwrap();
        }
        settle_and_check_conservation(&mut d, total);
    }
}
