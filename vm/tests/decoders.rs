//! Decoders of states, proofs, snapshots, instructions and assembly text
//! return errors on random or truncated bytes, never panic.

mod common;

use proptest::prelude::*;
use verdict_vm::snapshot::SnapshotError;
use verdict_vm::{Instr, Machine, PROOF_SIZE, STATE_SIZE, State, StepProof, asm, verify_step};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2100), hash in any::<[u8; 32]>()) {
        let _ = State::decode(&bytes);
        let _ = StepProof::from_bytes(&bytes);
        let _ = verify_step(hash.into(), &bytes);
        prop_assert!(Machine::restore(&bytes).is_err());
        if bytes.len() >= 8 {
            let _ = Instr::decode(bytes[..8].try_into().unwrap());
        }
        let _ = asm::assemble(&String::from_utf8_lossy(&bytes));
        let _ = asm::disassemble(&bytes, 0);
    }

    #[test]
    fn proof_sized_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), PROOF_SIZE)) {
        let pre = alloy_primitives::keccak256(&bytes[..STATE_SIZE]);
        let _ = verify_step(pre, &bytes);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn snapshots_round_trip_and_reject_damage(machine in common::machine(), steps in 0u64..8, cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let mut m = machine;
        m.run(steps);
        let bytes = m.snapshot();
        let mut restored = Machine::restore(&bytes).expect("own snapshot restores");
        prop_assert_eq!(restored.state_hash(), m.state_hash());
        // Runs on identically.
        let mut original = m.clone();
        original.run(16);
        restored.run(16);
        prop_assert_eq!(restored.state_hash(), original.state_hash());
        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(Machine::restore(truncated).is_err());
        let mut extended = bytes.clone();
        extended.push(0);
        prop_assert!(matches!(Machine::restore(&extended), Err(SnapshotError::Trailing(1))));
        // A flipped byte either fails to decode or restores some machine: never a panic.
        let mut damaged = bytes.clone();
        damaged[flip.index(bytes.len())] ^= 0x5A;
        let _ = Machine::restore(&damaged);
    }
}

#[test]
fn snapshot_header_errors_are_named() {
    let bytes = Machine::new().snapshot();
    let mut wrong_version = bytes.clone();
    wrong_version[8] = 9;
    assert!(matches!(
        Machine::restore(&wrong_version),
        Err(SnapshotError::Version(9))
    ));
    assert!(matches!(
        Machine::restore(b"not a snapshot"),
        Err(SnapshotError::Magic)
    ));
}
