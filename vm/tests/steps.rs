//! Every step's proof verifies to the state the interpreter reaches.

mod common;

use proptest::prelude::*;
use verdict_vm::{Status, VerifyError, verify_step};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `verify_step(prove_step(s)) == hash(step(s))`, step after step, and the
    /// prover's execution equals the plain interpreter's.
    #[test]
    fn proofs_verify_to_the_interpreters_state(machine in common::machine()) {
        let mut proven = machine.clone();
        let mut plain = machine;
        for _ in 0..24 {
            let proof = proven.prove_step();
            let bytes = proof.to_bytes();
            prop_assert_eq!(bytes.len(), verdict_vm::PROOF_SIZE);
            let post = verify_step(proof.pre_state_hash(), &bytes);
            plain.step();
            prop_assert_eq!(plain.core, proven.core);
            prop_assert_eq!(post, Ok(plain.state_hash()));
            if plain.core.status != Status::Running {
                // A stopped state is a fixed point.
                let before = plain.state_hash();
                plain.step();
                prop_assert_eq!(plain.state_hash(), before);
                let p = proven.prove_step();
                prop_assert_eq!(verify_step(before, &p.to_bytes()), Ok(before));
                break;
            }
        }
    }

    /// A proof whose leaves or paths were tampered with is rejected or, where
    /// the step does not read the tampered part, still gives the honest result.
    #[test]
    fn tampered_proofs_never_verify_to_another_state(
        machine in common::machine(),
        at in 0usize..verdict_vm::PROOF_SIZE,
        flip in 1u8..=255,
    ) {
        let mut m = machine;
        let proof = m.prove_step();
        let honest = m.state_hash();
        let mut bytes = proof.to_bytes();
        bytes[at] ^= flip;
        match verify_step(proof.pre_state_hash(), &bytes) {
            Ok(post) => prop_assert_eq!(post, honest),
            Err(e) => prop_assert!(matches!(
                e,
                VerifyError::StateHashMismatch | VerifyError::BadInstructionProof | VerifyError::BadDataProof
            )),
        }
    }
}

#[test]
fn wrong_length_and_wrong_hash_are_named() {
    let mut m = verdict_vm::Machine::new();
    let proof = m.prove_step();
    let bytes = proof.to_bytes();
    assert_eq!(
        verify_step(proof.pre_state_hash(), &bytes[1..]),
        Err(VerifyError::ProofLength {
            got: verdict_vm::PROOF_SIZE - 1
        })
    );
    assert_eq!(
        verify_step(alloy_primitives::B256::ZERO, &bytes),
        Err(VerifyError::StateHashMismatch)
    );
}
