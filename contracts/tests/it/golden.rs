//! The golden vectors of vm.md §8 (`vm/tests/golden/steps.json`), replayed
//! through the Solidity verifier: the same post-state hash, or the same error.

use alloy_primitives::{B256, hex};
use serde::Deserialize;
use verdict_contracts::StepVerifier;
use verdict_vm::VerifyError;

#[derive(Deserialize)]
struct Vector {
    name: String,
    pre_state_hash: B256,
    proof: String,
    post_state_hash: Option<B256>,
    error: Option<String>,
}

#[test]
fn golden_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../vm/tests/golden/steps.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vm.md §8 format");
    assert!(!vectors.is_empty(), "no golden vectors");
    let mut verifier = StepVerifier::deploy().expect("deploys");
    for v in &vectors {
        let proof = hex::decode(&v.proof).unwrap_or_else(|e| panic!("{}: proof: {e}", v.name));
        let got = verifier
            .step(v.pre_state_hash, &proof)
            .expect("runs")
            .result;
        match (&v.post_state_hash, &v.error) {
            (Some(post), None) => assert_eq!(got, Ok(*post), "{}", v.name),
            (None, Some(error)) => {
                assert_eq!(got.map_err(|e| e.name()), Err(error.as_str()), "{}", v.name);
            }
            _ => panic!("{}: needs exactly one of post_state_hash and error", v.name),
        }
    }
    // Every error name of §7 is exercised by some vector.
    for name in VerifyError::NAMES {
        assert!(
            vectors.iter().any(|v| v.error.as_deref() == Some(name)),
            "no {name} vector"
        );
    }
}
