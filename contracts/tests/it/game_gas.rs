//! What a dispute costs: a full game over the digits MLP (784-56-10) with
//! every move's gas, held to the targets (a bisection move at most 80k gas,
//! at most 40 moves in all), and the gas of a claim's life. Run with
//! `--nocapture` to print the tables of docs/gas.md.

use alloy_primitives::U256;
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::gas::moves_markdown;
use verdict_contracts::rules::Party;

use crate::dispute::{
    CHALLENGERS, SUBMITTER, accounts, play, settle_and_check_conservation, submit, world,
};
use crate::players::{ChallengerPlan, DefenderPlan, Trace, mlp, values};

/// Most gas a bisection move (`bisect`, `choose`, `chooseOp`) may take.
const MOVE_BUDGET: u64 = 80_000;
/// Most moves a game may take, the challenge included.
const MOVES_BUDGET: usize = 40;

#[test]
fn digits_mlp_dispute_within_budget() {
    let (mut d, fixture) = world(mlp(784, 56, 10));
    let total = d.total_balance(&accounts());
    let input = values(42, 784);
    let mut trace = Trace::new(&fixture, &input);
    let largest_op = fixture
        .points
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap();
    println!(
        "784-56-10 MLP: {} ops, {} steps, largest op {largest_op} steps",
        fixture.ops(),
        fixture.points.last().unwrap()
    );

    // A false claim whose lie starts in the middle of the largest op: the
    // deepest level 2 there is.
    let op = fixture
        .points
        .windows(2)
        .position(|w| w[1] - w[0] == largest_op)
        .unwrap();
    let lie = fixture.points[op] + largest_op / 2 + 1;
    let claim = trace.claim(fixture.model_id, true);
    let submit_gas = d
        .send(SUBMITTER, d.manager, &claim.call, crate::dispute::ether(1))
        .unwrap();
    let claim_id = submit_gas.result.as_ref().copied().unwrap();
    println!("submit: {:?}", submit_gas.gas);
    let log = play(
        &mut d,
        &mut trace,
        claim_id,
        &claim,
        CHALLENGERS[0],
        DefenderPlan::LieFrom(lie),
        ChallengerPlan::Honest,
    );
    assert_eq!(log.winner, Some(Party::Challenger));
    println!(
        "false claim, honest challenger:\n{}",
        moves_markdown(&log.moves)
    );
    trace.forget();

    // A true claim against a challenger that picks at random.
    let claim = trace.claim(fixture.model_id, false);
    let true_id = submit(&mut d, SUBMITTER, &claim);
    let log2 = play(
        &mut d,
        &mut trace,
        true_id,
        &claim,
        CHALLENGERS[1],
        DefenderPlan::Honest,
        ChallengerPlan::Random(3),
    );
    assert_eq!(log2.winner, Some(Party::Defender));
    println!(
        "true claim, random challenger:\n{}",
        moves_markdown(&log2.moves)
    );
    d.evm.advance(3600);
    let finalize = d
        .send(
            SUBMITTER,
            d.manager,
            &ClaimManager::finalizeCall { claimId: true_id },
            U256::ZERO,
        )
        .unwrap();
    finalize.result.unwrap();
    println!("finalize: {:?}", finalize.gas);

    for log in [&log, &log2] {
        assert!(log.moves.len() <= MOVES_BUDGET, "{} moves", log.moves.len());
        for (name, gas) in &log.moves {
            if matches!(*name, "bisect" | "choose" | "chooseOp") {
                assert!(gas.tx <= MOVE_BUDGET, "{name}: {gas:?}");
            }
        }
    }
    settle_and_check_conservation(&mut d, total);
}
