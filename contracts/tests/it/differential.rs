//! Random states and instructions: the Solidity `step` against
//! `verdict_vm::verify_step` on proofs from `Machine::prove_step`.

use std::cell::RefCell;

use alloy_primitives::keccak256;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use verdict_contracts::StepVerifier;
use verdict_vm::state::REGS_OFFSET;
use verdict_vm::{CODE_END, Machine, Op, STATE_SIZE, Status};

use crate::common::{Scenario, Workbench, cases, check_machine_step, check_step};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn random_steps_agree() {
    let bench = RefCell::new(Workbench::new());
    runner(cases(10_000, 1_000_000))
        .run(&any::<Scenario>(), |s| {
            bench.borrow_mut().run(&s, check_machine_step);
            Ok(())
        })
        .unwrap();
}

/// Every opcode byte, defined or not, with register fields in and out of range.
#[test]
fn every_opcode_byte_agrees() {
    let mut verifier = StepVerifier::deploy().expect("deploys");
    for op in 0..=u8::MAX {
        for (rd, rs1, rs2) in [(3, 1, 2), (0, 4, 4), (32, 1, 2), (3, 255, 2), (3, 1, 40)] {
            let mut m = Machine::new();
            m.write_bytes(0x40, &[op, rd, rs1, rs2, 4, 0, 0, 0]);
            m.core.pc = 0x40;
            m.core.regs[1] = 0x3FC0_0000;
            m.core.regs[2] = 0xC0A0_0000;
            m.core.regs[3] = 0x4049_0FDB;
            m.core.regs[4] = CODE_END + 0x20;
            m.write_bytes(CODE_END + 0x20, &[0xA5; 32]);
            check_machine_step(&mut verifier, &mut m);
        }
    }
}

/// Every defined opcode executes, without a fault, the same in both verifiers.
#[test]
fn every_opcode_is_executed() {
    let mut verifier = StepVerifier::deploy().expect("deploys");
    for &op in Op::ALL {
        let mut m = Machine::new();
        m.write_bytes(0, &[op.byte(), 3, 1, 2, 0, 0, 0, 0]);
        m.core.regs[1] = CODE_END;
        m.core.regs[2] = 0x3F80_0000;
        check_machine_step(&mut verifier, &mut m);
        assert_eq!(m.core.fault(), None, "{} faulted", op.mnemonic());
    }
}

/// A pre-state whose `R[0]` field is not zero (the VM never makes one) still
/// reads `r0` as 0, and its post-state has `R[0] = 0` (vm.md §1, §5): the
/// expected post-state is the VM's for the same machine with `R[0] = 0`.
#[test]
fn nonzero_r0_field_reads_as_zero() {
    let bench = RefCell::new(Workbench::new());
    let r0 = any::<u32>().prop_filter("nonzero", |&x| x != 0);
    runner(cases(500, 50_000))
        .run(&(any::<Scenario>(), r0), |(s, r0)| {
            bench.borrow_mut().run(&s, |verifier, m| {
                let proof = m.prove_step();
                let mut bytes = proof.to_bytes();
                bytes[REGS_OFFSET..REGS_OFFSET + 4].copy_from_slice(&r0.to_be_bytes());
                let pre = keccak256(&bytes[..STATE_SIZE]);
                let want = if s.status == Status::Running {
                    m.state_hash()
                } else {
                    pre
                };
                prop_assert_eq!(check_step(verifier, pre, &bytes), Ok(want));
                Ok(())
            })
        })
        .unwrap();
}

/// A state that is not running is a fixed point, whatever the rest of the proof.
#[test]
fn stopped_states_are_fixed_points() {
    let mut verifier = StepVerifier::deploy().expect("deploys");
    let mut m = Machine::new();
    m.write_bytes(0, &[Op::Halt.byte(), 0, 0, 0, 9, 0, 0, 0]);
    check_machine_step(&mut verifier, &mut m);
    let proof = m.prove_step();
    let mut bytes = proof.to_bytes();
    bytes[STATE_SIZE..].fill(0xEE);
    let pre = proof.pre_state_hash();
    assert_eq!(check_step(&mut verifier, pre, &bytes), Ok(pre));
}
