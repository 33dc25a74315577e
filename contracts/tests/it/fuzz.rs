//! Calldata fuzz: random and mutated proofs. The Solidity verifier must revert
//! with one of its named errors or return exactly what `verify_step` returns;
//! any other revert data, an exceptional halt or a wrong hash fails the test.

use std::cell::RefCell;

use alloy_primitives::{B256, keccak256};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use verdict_vm::state::STATUS_OFFSET;
use verdict_vm::{PROOF_SIZE, STATE_SIZE};

use crate::common::{Scenario, Workbench, cases, check_step};

/// How a valid proof is damaged.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR `mask` into byte `at`; `rehash` recomputes the pre-state hash so
    /// the damage gets past the hash check.
    Flip { at: usize, mask: u8, rehash: bool },
    /// Set the status byte and recompute the hash.
    Status(u8),
    /// Keep the first `len` bytes.
    Truncate(usize),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Replace the whole proof with random bytes, status forced to `status`,
    /// the hash computed over them.
    Random { bytes: Vec<u8>, status: u8 },
    /// Another pre-state hash.
    Hash(B256),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (0..PROOF_SIZE, 1..=u8::MAX, any::<bool>())
            .prop_map(|(at, mask, rehash)| Mutation::Flip { at, mask, rehash }),
        1 => any::<u8>().prop_map(Mutation::Status),
        1 => (0..PROOF_SIZE).prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..80).prop_map(Mutation::Extend),
        1 => (proptest::collection::vec(any::<u8>(), PROOF_SIZE), 0u8..4)
            .prop_map(|(bytes, status)| Mutation::Random { bytes, status }),
        1 => any::<[u8; 32]>().prop_map(|h| Mutation::Hash(B256::from(h))),
    ]
}

fn apply(mutation: &Mutation, pre: B256, mut proof: Vec<u8>) -> (B256, Vec<u8>) {
    let rehashed = |proof: Vec<u8>| (keccak256(&proof[..STATE_SIZE]), proof);
    match mutation {
        Mutation::Flip { at, mask, rehash } => {
            proof[*at] ^= mask;
            if *rehash {
                rehashed(proof)
            } else {
                (pre, proof)
            }
        }
        Mutation::Status(status) => {
            proof[STATUS_OFFSET] = *status;
            rehashed(proof)
        }
        Mutation::Truncate(len) => {
            proof.truncate(*len);
            (pre, proof)
        }
        Mutation::Extend(tail) => {
            proof.extend_from_slice(tail);
            (pre, proof)
        }
        Mutation::Random { bytes, status } => {
            let mut proof = bytes.clone();
            proof[STATUS_OFFSET] = *status;
            rehashed(proof)
        }
        Mutation::Hash(hash) => (*hash, proof),
    }
}

#[test]
fn damaged_proofs_agree() {
    let bench = RefCell::new(Workbench::new());
    TestRunner::new(Config {
        cases: cases(4_000, 400_000),
        failure_persistence: None,
        ..Config::default()
    })
    .run(&(any::<Scenario>(), mutation()), |(s, mutation)| {
        bench.borrow_mut().run(&s, |verifier, m| {
            let proof = m.prove_step();
            let (pre, bytes) = apply(&mutation, proof.pre_state_hash(), proof.to_bytes());
            // Either outcome is fine as long as both verifiers agree on it.
            let _ = check_step(verifier, pre, &bytes);
        });
        Ok(())
    })
    .unwrap();
}
