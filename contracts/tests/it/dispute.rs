//! The whole protocol in revm: a compiled MLP registered, claims posted,
//! games played to the end with real VM states by honest and lying parties,
//! and ether conserved throughout.

use std::sync::OnceLock;

use alloy_primitives::{Address, B256, U256, address};
use proptest::prelude::*;
use verdict_contracts::bindings::ClaimManager::{self, ClaimManagerErrors as E};
use verdict_contracts::protocol::{Config, Deployment, Revert, Sent};
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

/// The claim that the transaction `sent` rejected, if any.
pub(crate) fn rejected<T>(sent: &Sent<T>) -> Option<U256> {
    sent.manager_events().into_iter().find_map(|e| match e {
        ClaimManager::ClaimManagerEvents::ClaimRejectedBy(r) => Some(r.claimId),
        _ => None,
    })
}

/// Credit of `account` in the manager.
pub(crate) fn credit(d: &mut Deployment, account: Address) -> U256 {
    d.view(d.manager, &ClaimManager::creditCall { account })
        .unwrap()
        .unwrap()
}

/// The audit's self-challenge, with the bonds of `S`, `H1` and `H2`: the
/// submitter `A` of a false claim challenges it first from a second account
/// `S`, and never moves in that game, which `S` then wins on time before the
/// honest challengers `H1` and `H2` can win theirs. The claim's pot (its bond
/// less the burn) is shared over the three games open at the rejection, pro
/// rata to their bonds, and `H2`, `H1` are refunded with their shares, in that
/// order. Checks every credit and the burn, settles, checks conservation, and
/// returns what each of `A`, `S`, `H1`, `H2` gained (negative: lost), in wei.
fn self_challenge(bonds: [U256; 3]) -> [i128; 4] {
    let (a, s, h1, h2) = (SUBMITTER, CHALLENGERS[5], CHALLENGERS[0], CHALLENGERS[1]);
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let before = [a, s, h1, h2].map(|x| d.evm.balance(x));
    let trace = Trace::new(&fixture, &values(17, 16));
    let claim = trace.claim(fixture.model_id, true);
    let claim_id = submit(&mut d, a, &claim);
    let truth = trace.final_state().hash();
    let mut games = vec![];
    for (&from, &bond) in [s, h1, h2].iter().zip(&bonds) {
        let call = ClaimManager::challengeCall {
            claimId: claim_id,
            finalStateHash: truth,
        };
        let sent = d.send(from, d.manager, &call, bond).unwrap();
        games.push(sent.result.expect("challenges"));
        d.evm.advance(10);
    }
    let stake = d
        .view(d.manager, &ClaimManager::getClaimCall { claimId: claim_id })
        .unwrap()
        .unwrap()
        .stake;
    assert_eq!(U256::from(stake), bonds.iter().copied().sum::<U256>());

    // S's game, the first, is the first whose defender runs out of time: 1801
    // seconds after S challenged, ten seconds before H1's.
    d.evm.advance(1801 - 30);
    let timeout = |game: U256| ClaimManager::timeoutCall { gameId: game };
    let early = d
        .send(h1, d.manager, &timeout(games[1]), U256::ZERO)
        .unwrap();
    assert!(matches!(
        manager_error(&early.result.unwrap_err()),
        E::ClockNotExpired(_)
    ));
    let won = d
        .send(s, d.manager, &timeout(games[0]), U256::ZERO)
        .unwrap();
    assert_eq!(rejected(&won), Some(claim_id), "S wins on time");
    // The other games can only be refunded, and nobody can join any more.
    let late = d
        .send(h1, d.manager, &timeout(games[1]), U256::ZERO)
        .unwrap();
    assert!(matches!(
        manager_error(&late.result.unwrap_err()),
        E::ClaimRejected(_)
    ));
    let join = ClaimManager::challengeCall {
        claimId: claim_id,
        finalStateHash: truth,
    };
    let sent = d.send(CHALLENGERS[2], d.manager, &join, ether(1)).unwrap();
    assert!(matches!(
        manager_error(&sent.result.unwrap_err()),
        E::ClaimNotPending(_)
    ));
    for game in [games[2], games[1]] {
        let refund = ClaimManager::refundCall { gameId: game };
        d.send(REQUESTER, d.manager, &refund, U256::ZERO)
            .unwrap()
            .result
            .expect("refunds");
    }

    // Each game's bond back and its share of the pot, rounded down; the
    // rounding and half the claim's bond burned.
    let stake: U256 = bonds.iter().copied().sum();
    let pot = ether(1) - ether(1) / U256::from(2);
    let shares = bonds.map(|b| pot * b / stake);
    for (i, x) in [s, h1, h2].into_iter().enumerate() {
        assert_eq!(
            credit(&mut d, x),
            bonds[i] + shares[i],
            "{bonds:?}: game {i}"
        );
    }
    assert_eq!(credit(&mut d, a), U256::ZERO);
    let burned = d
        .view(d.manager, &ClaimManager::burnedCall {})
        .unwrap()
        .unwrap();
    let dust = pot - shares.iter().copied().sum::<U256>();
    assert!(dust < U256::from(3), "{bonds:?}: dust {dust}");
    assert_eq!(burned, ether(1) / U256::from(2) + dust, "{bonds:?}");
    let credits: U256 = accounts().into_iter().map(|x| credit(&mut d, x)).sum();
    assert_eq!(
        d.evm.balance(d.manager),
        credits + burned,
        "{bonds:?}: every wei is credited or burned"
    );
    let c = d
        .view(d.manager, &ClaimManager::getClaimCall { claimId: claim_id })
        .unwrap()
        .unwrap();
    assert_eq!((c.openGames, c.potLeft.is_zero()), (0, true));

    settle_and_check_conservation(&mut d, total);
    let after = [a, s, h1, h2].map(|x| d.evm.balance(x));
    std::array::from_fn(|i| i128::try_from(after[i]).unwrap() - i128::try_from(before[i]).unwrap())
}

#[test]
fn a_self_challenge_does_not_deny_honest_challengers_their_reward() {
    let wei = U256::from;
    for bonds in [
        // The audit's case: equal bonds.
        [ether(1); 3],
        // Shares that do not divide evenly: the rounding is burned.
        [ether(1), ether(7) / wei(10) + wei(1), ether(2) + wei(3)],
        // S dilutes the honest stakes (the minimum bond) with fifty ether.
        [ether(50), ether(1) / wei(2), ether(1) / wei(2)],
    ] {
        let [a, s, h1, h2] = self_challenge(bonds);
        assert!(
            h1 > 0 && h2 > 0,
            "{bonds:?}: the honest challengers are paid: {h1}, {h2}"
        );
        let burn = i128::try_from(ether(1) / wei(2)).unwrap();
        assert!(
            a + s <= -burn,
            "{bonds:?}: the claimant and its second account lose at least the burn: {a} + {s}"
        );
    }
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
    let c = d
        .view(d.manager, &ClaimManager::getClaimCall { claimId: claim_id })
        .unwrap()
        .unwrap();
    assert!(c.stake.is_zero(), "lost games leave the stake");
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
