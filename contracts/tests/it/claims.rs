//! Registration, submission checks, requests and their callbacks: the parts
//! of the protocol around the game.

use alloy_primitives::{Address, B256, U256};
use verdict_contracts::Tx;
use verdict_contracts::bindings::ClaimManager::{self, ClaimManagerErrors as E};
use verdict_contracts::bindings::ModelRegistry::{self, ModelRegistryErrors as R};
use verdict_contracts::protocol::{Deployment, Revert};

use crate::dispute::{
    CHALLENGERS, REQUESTER, SUBMITTER, accounts, credit, ether, rejected,
    settle_and_check_conservation, small_model, submit, world,
};
use crate::players::{Fixture, Trace, le_bytes, manager_error, values};

alloy_sol_types::sol!(
    #[allow(missing_docs)]
    #[derive(Debug)]
    TestConsumer,
    "out/TestConsumer.json"
);

#[test]
fn the_initial_state_is_derived_on_chain() {
    let (mut d, fixture) = world(small_model());
    let input = values(21, 16);
    let trace = Trace::new(&fixture, &input);
    let claim = trace.claim(fixture.model_id, false);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    let c = d
        .view(d.manager, &ClaimManager::getClaimCall { claimId: claim_id })
        .unwrap()
        .unwrap();
    let mut initial = fixture.compiled.initial_machine(&input).unwrap();
    assert_eq!(c.initialStateHash, initial.state_hash());
    assert_eq!(c.finalStateHash, claim.final_hash);
    assert_eq!(
        c.finalStateHash,
        fixture
            .compiled
            .run_vm(&input)
            .unwrap()
            .machine
            .state_hash()
    );
}

#[test]
fn registration_is_checked_and_immutable() {
    let (mut d, _) = world(small_model());
    let again = Fixture::register_call(small_model());
    let sent = d.send(REQUESTER, d.registry, &again, U256::ZERO).unwrap();
    assert!(matches!(
        sent.result.unwrap_err(),
        Revert::Registry(R::ModelAlreadyRegistered(_))
    ));
    let mut bad = again.clone();
    bad.pointSteps.swap(1, 2);
    let sent = d.send(REQUESTER, d.registry, &bad, U256::ZERO).unwrap();
    assert!(matches!(
        sent.result.unwrap_err(),
        Revert::Registry(R::BadBoundaryTable(_))
    ));
    let mut bad = again.clone();
    bad.inputPath[0] = B256::repeat_byte(1);
    let sent = d.send(REQUESTER, d.registry, &bad, U256::ZERO).unwrap();
    // The rule and its error are the registry's and the manager's both (ModelTypes.sol).
    assert!(matches!(
        sent.result.unwrap_err(),
        Revert::Manager(E::BadInputPath(_))
    ));
    let mut bad = again;
    bad.output.addr += 4;
    let sent = d.send(REQUESTER, d.registry, &bad, U256::ZERO).unwrap();
    assert!(matches!(
        sent.result.unwrap_err(),
        Revert::Manager(E::BadRegion(_))
    ));
    let unknown = ModelRegistry::modelCall {
        modelId: B256::ZERO,
    };
    assert!(matches!(
        d.view(d.registry, &unknown).unwrap().unwrap_err(),
        Revert::Registry(R::UnknownModel(_))
    ));
}

#[test]
fn submissions_must_prove_their_output() {
    let (mut d, fixture) = world(small_model());
    let trace = Trace::new(&fixture, &values(22, 16));
    let claim = trace.claim(fixture.model_id, false);
    let expect = |d: &mut Deployment, call: &ClaimManager::submitCall, value: U256| -> Revert {
        d.send(SUBMITTER, d.manager, call, value)
            .unwrap()
            .result
            .unwrap_err()
    };
    let mut bad = claim.call.clone();
    bad.output = {
        let mut o = bad.output.to_vec();
        o[0] ^= 1;
        o.into()
    };
    assert!(matches!(
        manager_error(&expect(&mut d, &bad, ether(1))),
        E::BadOutputProof(_)
    ));
    let mut bad = claim.call.clone();
    bad.input = bad.input[..8].to_vec().into();
    assert!(matches!(
        manager_error(&expect(&mut d, &bad, ether(1))),
        E::BadTensorLength(_)
    ));
    let mut bad = claim.call.clone();
    bad.inputPath[3] = B256::repeat_byte(3);
    assert!(matches!(
        manager_error(&expect(&mut d, &bad, ether(1))),
        E::BadInputPath(_)
    ));
    let mut bad = claim.call.clone();
    let mut state = bad.finalState.to_vec();
    state[44] = 0; // running, not halted
    bad.finalState = state.into();
    assert!(matches!(
        manager_error(&expect(&mut d, &bad, ether(1))),
        E::NotAFinalState(_)
    ));
    assert!(matches!(
        manager_error(&expect(&mut d, &claim.call, ether(1) - U256::from(1))),
        E::BondTooSmall(_)
    ));
}

/// Deploys a consumer in `mode`, requests an inference for it with a
/// 0.25-ether fee, posts the true claim and fulfils the request after the
/// window with `gas` gas; returns the fulfilment's result and the consumer.
fn fulfil_with(mode: u8, gas: u64) -> (Deployment, Address, Result<bool, Revert>) {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let consumer = d.evm.deploy(TestConsumer::BYTECODE.clone()).unwrap();
    let set = TestConsumer::setModeCall { m: mode };
    d.send(REQUESTER, consumer, &set, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    let input = values(23, 16);
    let request = ClaimManager::requestCall {
        modelId: fixture.model_id,
        input: le_bytes(&input).into(),
        callback: consumer,
    };
    let quarter = ether(1) / U256::from(4);
    let request_id = d
        .send(REQUESTER, d.manager, &request, quarter)
        .unwrap()
        .result
        .unwrap();
    let trace = Trace::new(&fixture, &input);
    let claim = trace.claim(fixture.model_id, false);
    let claim_id = submit(&mut d, SUBMITTER, &claim);
    let fulfil = ClaimManager::fulfilCall {
        requestId: request_id,
        claimId: claim_id,
    };
    let early = d.send(SUBMITTER, d.manager, &fulfil, U256::ZERO).unwrap();
    assert!(matches!(
        manager_error(&early.result.unwrap_err()),
        E::ClaimNotFinal(_)
    ));
    d.evm.advance(3600);
    let tx = Tx::new(
        SUBMITTER,
        d.manager,
        alloy_sol_types::SolCall::abi_encode(&fulfil),
    )
    .gas_limit(gas);
    let sent = d.send_tx::<ClaimManager::fulfilCall>(tx).unwrap();
    let result = sent.result.map(|_| {
        sent.logs
            .iter()
            .find_map(|log| {
                let e =
                    <ClaimManager::RequestFulfilled as alloy_sol_types::SolEvent>::decode_log(log)
                        .ok()?;
                Some(e.data.callbackSucceeded)
            })
            .expect("RequestFulfilled")
    });
    if result.is_ok() {
        let twice = d.send(SUBMITTER, d.manager, &fulfil, U256::ZERO).unwrap();
        assert!(matches!(
            manager_error(&twice.result.unwrap_err()),
            E::RequestNotOpen(_)
        ));
        let credit = d
            .view(d.manager, &ClaimManager::creditCall { account: SUBMITTER })
            .unwrap()
            .unwrap();
        assert_eq!(credit, ether(1) + quarter, "bond back and the fee");
        settle_and_check_conservation(&mut d, total);
    }
    (d, consumer, result)
}

const RECORD: u8 = 0;
const REVERT: u8 = 1;
const BURN_GAS: u8 = 2;
const REENTER: u8 = 3;
const RETURN_BOMB: u8 = 4;

#[test]
fn a_request_is_fulfilled_and_called_back() {
    let (mut d, consumer, result) = fulfil_with(RECORD, 1_000_000);
    assert!(result.unwrap());
    let calls = d
        .view(consumer, &TestConsumer::callsCall {})
        .unwrap()
        .unwrap();
    assert_eq!(calls, U256::from(1));
}

#[test]
fn bad_callbacks_block_nothing() {
    for mode in [REVERT, BURN_GAS, REENTER] {
        let (mut d, consumer, result) = fulfil_with(mode, 1_000_000);
        assert_eq!(result.unwrap(), mode == REENTER, "mode {mode}");
        let reentered = d
            .view(consumer, &TestConsumer::reenteredCall {})
            .unwrap()
            .unwrap();
        assert!(!reentered, "mode {mode}: a re-entrant call got through");
    }
    let (_, _, result) = fulfil_with(RETURN_BOMB, 1_000_000);
    assert!(result.unwrap());
}

#[test]
fn the_callback_cannot_be_starved() {
    let (_, _, result) = fulfil_with(RECORD, 200_000);
    assert!(matches!(
        manager_error(&result.unwrap_err()),
        E::InsufficientCallbackGas(_)
    ));
}

#[test]
fn an_expired_request_is_cancelled_and_refunded() {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let request = ClaimManager::requestCall {
        modelId: fixture.model_id,
        input: le_bytes(&values(1, 16)).into(),
        callback: Address::ZERO,
    };
    let id = d
        .send(REQUESTER, d.manager, &request, ether(1))
        .unwrap()
        .result
        .unwrap();
    let cancel = ClaimManager::cancelRequestCall { requestId: id };
    let early = d.send(REQUESTER, d.manager, &cancel, U256::ZERO).unwrap();
    assert!(matches!(
        manager_error(&early.result.unwrap_err()),
        E::RequestNotExpired(_)
    ));
    d.evm.advance(7200);
    d.send(SUBMITTER, d.manager, &cancel, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    let credit = d
        .view(d.manager, &ClaimManager::creditCall { account: REQUESTER })
        .unwrap()
        .unwrap();
    assert_eq!(credit, ether(1));
    settle_and_check_conservation(&mut d, total);
}

/// Requests model `model_id` on `input` with `fee` and no callback; returns
/// the request.
fn request(d: &mut Deployment, model_id: B256, input: &[f32], fee: U256) -> U256 {
    let call = ClaimManager::requestCall {
        modelId: model_id,
        input: le_bytes(input).into(),
        callback: Address::ZERO,
    };
    d.send(REQUESTER, d.manager, &call, fee)
        .unwrap()
        .result
        .unwrap()
}

/// Fulfils `request_id` with `claim_id`, from the requester.
fn fulfil(d: &mut Deployment, request_id: U256, claim_id: U256) -> Result<(), Revert> {
    let call = ClaimManager::fulfilCall {
        requestId: request_id,
        claimId: claim_id,
    };
    d.send(REQUESTER, d.manager, &call, U256::ZERO)
        .unwrap()
        .result
        .map(|_| ())
}

/// The earliest claim with `claim_id`'s result that is not rejected.
fn first_claim_of(d: &mut Deployment, claim_id: U256) -> U256 {
    d.view(
        d.manager,
        &ClaimManager::firstClaimOfCall { claimId: claim_id },
    )
    .unwrap()
    .unwrap()
}

/// Asserts that `result` is `NotFirstClaim(claim_id, first)`.
fn assert_not_first(result: Result<(), Revert>, claim_id: U256, first: U256) {
    match manager_error(&result.unwrap_err()) {
        E::NotFirstClaim(e) => assert_eq!((e.claimId, e.firstClaimId), (claim_id, first)),
        other => panic!("expected NotFirstClaim, got {other:?}"),
    }
}

#[test]
fn a_copied_claim_earns_no_fee() {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let copier = CHALLENGERS[2];
    let input = values(31, 16);
    let fee = ether(1) / U256::from(4);
    let request_id = request(&mut d, fixture.model_id, &input, fee);
    let claim = Trace::new(&fixture, &input).claim(fixture.model_id, false);
    let first = submit(&mut d, SUBMITTER, &claim);
    // The copier reads the claim from ClaimSubmitted and posts it again.
    d.evm.advance(60);
    let copy = submit(&mut d, copier, &claim);
    d.evm.advance(3600);
    assert_eq!(first_claim_of(&mut d, copy), first);
    assert_not_first(fulfil(&mut d, request_id, copy), copy, first);
    fulfil(&mut d, request_id, first).expect("the first claim fulfils");
    assert_eq!(
        credit(&mut d, SUBMITTER),
        ether(1) + fee,
        "bond back and the fee"
    );
    // A later request for the same input is served from the first claim too.
    let again = request(&mut d, fixture.model_id, &input, fee);
    assert_not_first(fulfil(&mut d, again, copy), copy, first);
    fulfil(&mut d, again, first).expect("the first claim fulfils");
    assert_eq!(credit(&mut d, SUBMITTER), ether(1) + fee + fee);
    // The copy, true, finalizes: its bond comes back, nothing more.
    let finalize = ClaimManager::finalizeCall { claimId: copy };
    d.send(copier, d.manager, &finalize, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    assert_eq!(credit(&mut d, copier), ether(1));
    settle_and_check_conservation(&mut d, total);
}

#[test]
fn the_fee_passes_over_a_rejected_first_claim_only() {
    let (mut d, fixture) = world(small_model());
    let total = d.total_balance(&accounts());
    let (griefer, second, third) = (CHALLENGERS[0], CHALLENGERS[1], CHALLENGERS[2]);
    let input = values(32, 16);
    let fee = ether(1) / U256::from(4);
    let request_id = request(&mut d, fixture.model_id, &input, fee);
    let claim = Trace::new(&fixture, &input).claim(fixture.model_id, false);
    // The first claim is true, but its submitter will not defend it.
    let first = submit(&mut d, SUBMITTER, &claim);
    let challenge = ClaimManager::challengeCall {
        claimId: first,
        finalStateHash: B256::repeat_byte(7),
    };
    let game_id = d
        .send(griefer, d.manager, &challenge, ether(1))
        .unwrap()
        .result
        .unwrap();
    d.evm.advance(1);
    let two = submit(&mut d, second, &claim);
    d.evm.advance(1);
    let three = submit(&mut d, third, &claim);
    d.evm.advance(3600);
    // Two and three are final; the first is not, nor is it rejected yet.
    assert!(matches!(
        manager_error(&fulfil(&mut d, request_id, first).unwrap_err()),
        E::ClaimNotFinal(_)
    ));
    assert_not_first(fulfil(&mut d, request_id, two), two, first);
    assert_not_first(fulfil(&mut d, request_id, three), three, first);
    let timeout = ClaimManager::timeoutCall { gameId: game_id };
    let sent = d.send(griefer, d.manager, &timeout, U256::ZERO).unwrap();
    assert_eq!(rejected(&sent), Some(first));
    // Now the second claim is the first that stands: it is paid, not the third.
    assert_eq!(first_claim_of(&mut d, three), two);
    assert_not_first(fulfil(&mut d, request_id, three), three, two);
    fulfil(&mut d, request_id, two).expect("the first claim not rejected fulfils");
    assert_eq!(
        credit(&mut d, second),
        ether(1) + fee,
        "bond back and the fee"
    );
    let finalize = ClaimManager::finalizeCall { claimId: three };
    d.send(third, d.manager, &finalize, U256::ZERO)
        .unwrap()
        .result
        .unwrap();
    assert_eq!(credit(&mut d, third), ether(1));
    settle_and_check_conservation(&mut d, total);
}
