//! `verdict_contracts::rules` against the contracts: the game's constants and
//! enums against `ClaimManager.sol`, the model record and id against the
//! deployed registry.

use verdict_contracts::bindings::ModelRegistry;
use verdict_contracts::rules::{
    self, ClaimStatus, DISSECTION_DEGREE, GameStatus, LEVEL_OPS, LEVEL_STEPS, Party,
};

use crate::constants::constants_in;
use crate::dispute::world;
use crate::players::{Fixture, mlp};

const CLAIM_MANAGER: &str = include_str!("../../src/ClaimManager.sol");

#[test]
fn constants_match_the_claim_manager() {
    let c = constants_in(&[CLAIM_MANAGER]);
    assert_eq!(c["DISSECTION_DEGREE"], DISSECTION_DEGREE);
    assert_eq!(c["LEVEL_OPS"], u64::from(LEVEL_OPS));
    assert_eq!(c["LEVEL_STEPS"], u64::from(LEVEL_STEPS));
}

/// The members of `enum name { ... }` in the claim manager, in order.
fn solidity_enum(name: &str) -> Vec<String> {
    let start = format!("enum {name} {{");
    let (_, rest) = CLAIM_MANAGER.split_once(&start).expect(name);
    let (body, _) = rest.split_once('}').expect(name);
    body.split(',').map(|m| m.trim().to_owned()).collect()
}

/// The names of `T`'s values 0, 1, ... up to the first byte it refuses.
fn rust_enum<T: TryFrom<u8> + ToString>() -> Vec<String> {
    (0..=u8::MAX)
        .map_while(|b| T::try_from(b).ok())
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn enums_match_the_claim_manager() {
    assert_eq!(rust_enum::<Party>(), solidity_enum("Party"));
    assert_eq!(rust_enum::<ClaimStatus>(), solidity_enum("ClaimStatus"));
    assert_eq!(rust_enum::<GameStatus>(), solidity_enum("GameStatus"));
}

#[test]
fn records_and_ids_are_the_registry_s() {
    let model = mlp(8, 6, 3);
    let call = Fixture::register_call(model.clone());
    let (mut d, fixture) = world(model);
    let record = rules::model_record(&call).unwrap();
    assert_eq!(rules::model_id(&record), fixture.model_id);
    let stored = d
        .view(
            d.registry,
            &ModelRegistry::modelCall {
                modelId: fixture.model_id,
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(stored, record);
}
