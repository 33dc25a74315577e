//! `SoftFloat32` against the VM's float semantics (`verdict_vm::semantics`),
//! bit for bit: every pair (every triple for fmadd) of special values,
//! random operands, and the dearest operands run through a whole step.

use alloy_primitives::Address;
use alloy_sol_types::SolCall;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use verdict_contracts::StepVerifier;
use verdict_contracts::evm::{CallOutput, Evm};
use verdict_vm::{Machine, Op, semantics as s};

use crate::common::{SPECIAL_FLOATS, SPECIAL_INTS, cases};

alloy_sol_types::sol!(SoftFloat32Harness, "out/SoftFloat32Harness.json");

use SoftFloat32Harness as H;

/// `SoftFloat32Harness` deployed on its own chain.
struct Harness {
    evm: Evm,
    address: Address,
}

impl Harness {
    fn deploy() -> Harness {
        let mut evm = Evm::new();
        let address = evm.deploy(H::BYTECODE.clone()).expect("deploys");
        Harness { evm, address }
    }

    /// Calls `call`; returns its result and the execution gas.
    fn call<C: SolCall>(&mut self, call: &C) -> (C::Return, u64) {
        let out = self
            .evm
            .call(self.address, call.abi_encode().into())
            .expect("runs");
        match out.output {
            CallOutput::Return(data) => (
                C::abi_decode_returns(&data).expect("decodes"),
                out.gas.execution,
            ),
            CallOutput::Revert(data) => panic!("{}: reverted with {data}", C::SIGNATURE),
        }
    }
}

/// A float instruction, the VM's function for it and the Solidity library's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FloatOp {
    Add,
    Sub,
    Mul,
    Div,
    Fma,
    Sqrt,
    Min,
    Max,
    Eq,
    Lt,
    Le,
    Ftoi,
    Itof,
}

const BINARY: [FloatOp; 10] = [
    FloatOp::Add,
    FloatOp::Sub,
    FloatOp::Mul,
    FloatOp::Div,
    FloatOp::Min,
    FloatOp::Max,
    FloatOp::Eq,
    FloatOp::Lt,
    FloatOp::Le,
    FloatOp::Fma,
];
const UNARY: [FloatOp; 3] = [FloatOp::Sqrt, FloatOp::Ftoi, FloatOp::Itof];

impl FloatOp {
    /// The VM instruction.
    fn op(self) -> Op {
        match self {
            FloatOp::Add => Op::Fadd,
            FloatOp::Sub => Op::Fsub,
            FloatOp::Mul => Op::Fmul,
            FloatOp::Div => Op::Fdiv,
            FloatOp::Fma => Op::Fmadd,
            FloatOp::Sqrt => Op::Fsqrt,
            FloatOp::Min => Op::Fmin,
            FloatOp::Max => Op::Fmax,
            FloatOp::Eq => Op::Feq,
            FloatOp::Lt => Op::Flt,
            FloatOp::Le => Op::Fle,
            FloatOp::Ftoi => Op::Ftoi,
            FloatOp::Itof => Op::Itof,
        }
    }

    /// The VM's result for operands `a`, `b` and accumulator `c`.
    fn rust(self, a: u32, b: u32, c: u32) -> u32 {
        match self {
            FloatOp::Add => s::f32_add(a, b),
            FloatOp::Sub => s::f32_sub(a, b),
            FloatOp::Mul => s::f32_mul(a, b),
            FloatOp::Div => s::f32_div(a, b),
            FloatOp::Fma => s::f32_fma(a, b, c),
            FloatOp::Sqrt => s::f32_sqrt(a),
            FloatOp::Min => s::f32_min(a, b),
            FloatOp::Max => s::f32_max(a, b),
            FloatOp::Eq => s::f32_eq(a, b),
            FloatOp::Lt => s::f32_lt(a, b),
            FloatOp::Le => s::f32_le(a, b),
            FloatOp::Ftoi => s::f32_to_i32(a),
            FloatOp::Itof => s::i32_to_f32(a),
        }
    }

    /// The Solidity library's result, and the execution gas of the call.
    fn sol(self, h: &mut Harness, a: u32, b: u32, c: u32) -> (u32, u64) {
        let flag = |(x, gas): (bool, u64)| (u32::from(x), gas);
        match self {
            FloatOp::Add => h.call(&H::addCall { a, b }),
            FloatOp::Sub => h.call(&H::subCall { a, b }),
            FloatOp::Mul => h.call(&H::mulCall { a, b }),
            FloatOp::Div => h.call(&H::divCall { a, b }),
            FloatOp::Fma => h.call(&H::fmaCall { a, b, c }),
            FloatOp::Sqrt => h.call(&H::sqrtCall { a }),
            FloatOp::Min => h.call(&H::minCall { a, b }),
            FloatOp::Max => h.call(&H::maxCall { a, b }),
            FloatOp::Eq => flag(h.call(&H::eqCall { a, b })),
            FloatOp::Lt => flag(h.call(&H::ltCall { a, b })),
            FloatOp::Le => flag(h.call(&H::leCall { a, b })),
            FloatOp::Ftoi => h.call(&H::ftoiCall { a }),
            FloatOp::Itof => h.call(&H::itofCall { a }),
        }
    }

    /// Compares both sides on one input; returns the Solidity gas.
    fn check(self, h: &mut Harness, a: u32, b: u32, c: u32) -> u64 {
        let (sol, gas) = self.sol(h, a, b, c);
        let rust = self.rust(a, b, c);
        assert_eq!(
            sol, rust,
            "{self:?}({a:#010x}, {b:#010x}, {c:#010x}): Solidity {sol:#010x}, Rust {rust:#010x}"
        );
        gas
    }
}

/// The values a unary op is checked on: the float and the integer edges.
fn unary_inputs() -> impl Iterator<Item = u32> {
    SPECIAL_FLOATS.iter().chain(SPECIAL_INTS).copied()
}

#[test]
fn binary_ops_on_every_special_pair() {
    let mut h = Harness::deploy();
    for op in BINARY.into_iter().filter(|&op| op != FloatOp::Fma) {
        for &a in SPECIAL_FLOATS {
            for &b in SPECIAL_FLOATS {
                op.check(&mut h, a, b, 0);
            }
        }
    }
}

#[test]
fn fmadd_on_every_special_triple() {
    let mut h = Harness::deploy();
    for &a in SPECIAL_FLOATS {
        for &b in SPECIAL_FLOATS {
            for &c in SPECIAL_FLOATS {
                FloatOp::Fma.check(&mut h, a, b, c);
            }
        }
    }
}

#[test]
fn unary_ops_on_every_special_value() {
    let mut h = Harness::deploy();
    for op in UNARY {
        for a in unary_inputs() {
            op.check(&mut h, a, 0, 0);
        }
    }
}

/// Operands for random checks: any bit pattern, a special value, or, for `b`
/// and `c`, a value close to one that cancels (the hard cases of rounding).
fn operands() -> impl Strategy<Value = (FloatOp, u32, u32, u32)> {
    let op = select(BINARY.iter().chain(&UNARY).copied().collect::<Vec<_>>());
    let value = prop_oneof![3 => any::<u32>(), 1 => select(SPECIAL_FLOATS)];
    (op, value.clone(), value.clone(), value, 0u8..4, -3i32..=3).prop_map(
        |(op, a, b, c, near, delta)| {
            let nudge = |x: u32| x.wrapping_add(delta as u32);
            match near {
                // b close to -a: cancellation in add, a near tie in sub.
                0 => (op, a, nudge(a ^ 0x8000_0000), c),
                // c close to -(a * b): cancellation in fmadd.
                1 => (op, a, b, nudge(s::f32_mul(a, b) ^ 0x8000_0000)),
                _ => (op, a, b, c),
            }
        },
    )
}

#[test]
fn random_operands_agree() {
    let h = std::cell::RefCell::new(Harness::deploy());
    TestRunner::new(Config {
        cases: cases(20_000, 1_000_000),
        failure_persistence: None,
        ..Config::default()
    })
    .run(&operands(), |(op, a, b, c)| {
        op.check(&mut h.borrow_mut(), a, b, c);
        Ok(())
    })
    .unwrap();
}

/// The dearest special operands of every float op, run through a whole
/// step: within the 120k execution gas budget, and agreeing with the VM.
#[test]
fn dearest_float_steps_within_budget() {
    let mut h = Harness::deploy();
    let mut verifier = StepVerifier::deploy().expect("deploys");
    for op in BINARY.into_iter().chain(UNARY) {
        let specials: Vec<u32> = if UNARY.contains(&op) {
            unary_inputs().collect()
        } else {
            SPECIAL_FLOATS.to_vec()
        };
        let accs: &[u32] = if op == FloatOp::Fma {
            SPECIAL_FLOATS
        } else {
            &[0]
        };
        let mut dearest = (0, 0, 0, 0);
        for &a in &specials {
            for &b in if UNARY.contains(&op) {
                &[0][..]
            } else {
                &specials[..]
            } {
                for &c in accs {
                    let gas = op.sol(&mut h, a, b, c).1;
                    dearest = dearest.max((gas, a, b, c));
                }
            }
        }
        let (_, a, b, c) = dearest;
        let mut m = Machine::new();
        m.write_bytes(0, &[op.op().byte(), 3, 1, 2, 0, 0, 0, 0]);
        m.core.regs[1] = a;
        m.core.regs[2] = b;
        m.core.regs[3] = c;
        let proof = m.prove_step();
        let outcome = verifier
            .step(proof.pre_state_hash(), &proof.to_bytes())
            .expect("runs");
        assert_eq!(outcome.result, Ok(m.state_hash()), "{op:?}");
        assert!(
            outcome.gas.execution <= 120_000,
            "{op:?}({a:#010x}, {b:#010x}, {c:#010x}) costs {}",
            outcome.gas.execution
        );
    }
}
