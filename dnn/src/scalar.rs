//! Scalar programs: per-element kernel arithmetic written once, then either
//! evaluated natively ([`Eval`]) or emitted as VM code (the code generator's
//! emitter). Because both run the same sequence of VM operations, the native
//! path and the VM agree bit for bit by construction.
//!
//! A recipe (an activation, a transcendental, a normalisation step) is a
//! generic function over [`Scalar`]; it must be straight-line: no branch on a
//! value, selections are done with masks ([`Scalar::select`]).

use verdict_vm::Op;
use verdict_vm::semantics;

/// The operations a recipe may use: the VM's float and integer ALU
/// instructions on 32-bit values.
pub trait Scalar {
    /// A 32-bit value: a bit pattern natively, a virtual register when emitting.
    type V: Copy;

    /// A constant bit pattern.
    fn constant(&mut self, bits: u32) -> Self::V;

    /// A float instruction (`fadd` .. `itof`); `b` is ignored by one-operand
    /// ones. `fmadd` goes through [`Scalar::fma`].
    fn float(&mut self, op: Op, a: Self::V, b: Self::V) -> Self::V;

    /// `a * b + c`, rounded once.
    fn fma(&mut self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;

    /// An integer ALU instruction (`add` .. `sltu`).
    fn int(&mut self, op: Op, a: Self::V, b: Self::V) -> Self::V;

    /// A float constant.
    fn f32(&mut self, x: f32) -> Self::V {
        self.constant(x.to_bits())
    }

    /// `a + b`.
    fn add(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Fadd, a, b)
    }

    /// `a - b`.
    fn sub(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Fsub, a, b)
    }

    /// `a * b`.
    fn mul(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Fmul, a, b)
    }

    /// `a / b`.
    fn div(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Fdiv, a, b)
    }

    /// `sqrt(a)`.
    fn sqrt(&mut self, a: Self::V) -> Self::V {
        self.float(Op::Fsqrt, a, a)
    }

    /// IEEE `minimum`.
    fn min(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Fmin, a, b)
    }

    /// IEEE `maximum`.
    fn max(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Fmax, a, b)
    }

    /// 1 if `a < b` (floats), else 0.
    fn lt(&mut self, a: Self::V, b: Self::V) -> Self::V {
        self.float(Op::Flt, a, b)
    }

    /// `x` where `cond` (0 or 1) is 1, else `y`, without branching:
    /// `mask = 0 - cond; (x & mask) | (y & !mask)`.
    fn select(&mut self, cond: Self::V, x: Self::V, y: Self::V) -> Self::V {
        let zero = self.constant(0);
        let mask = self.int(Op::Sub, zero, cond);
        let keep = self.int(Op::And, x, mask);
        let ones = self.constant(u32::MAX);
        let inverse = self.int(Op::Xor, mask, ones);
        let other = self.int(Op::And, y, inverse);
        self.int(Op::Or, keep, other)
    }
}

/// Native evaluation with the VM's own semantic functions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Eval;

impl Scalar for Eval {
    type V = u32;

    #[inline(always)]
    fn constant(&mut self, bits: u32) -> u32 {
        bits
    }

    #[inline(always)]
    fn float(&mut self, op: Op, a: u32, b: u32) -> u32 {
        semantics::float(op, a, b, 0).expect("a float instruction")
    }

    #[inline(always)]
    fn fma(&mut self, a: u32, b: u32, c: u32) -> u32 {
        semantics::f32_fma(a, b, c)
    }

    #[inline(always)]
    fn int(&mut self, op: Op, a: u32, b: u32) -> u32 {
        semantics::alu(op, a, b).expect("an integer ALU instruction")
    }
}
