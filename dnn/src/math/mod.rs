//! Transcendental and activation recipes: `exp`, `log`, `pow`, `sigmoid`,
//! `tanh`, `erf` and the two GELUs, each a fixed, straight-line sequence of
//! binary32 operations over [`Scalar`].
//!
//! A recipe is the canonical definition of its function for every engine:
//! the native path evaluates it with [`crate::scalar::Eval`], the code
//! generator emits the same operations as VM instructions, and
//! `docs/spec/kernels-math.md` states the sequence for the Solidity and GPU
//! implementations. Nothing here branches on a value: special inputs are
//! folded in with clamps (`fmin`/`fmax`), integer bit operations and
//! `blend`. Constants are written as bit patterns, never as `f32`
//! literals, so that the values are those of the spec by construction.

mod activation;
mod erf;
mod exp;
mod log;
mod pow;

pub use activation::{gelu_tanh, sigmoid, tanh};
pub use erf::{erf, gelu_exact};
pub use exp::exp;
pub use log::log;
pub use pow::pow;

use verdict_vm::Op;

use crate::scalar::Scalar;

/// Bit pattern of `1.0`.
const ONE: u32 = 0x3F80_0000;
/// The sign bit.
const SIGN: u32 = 0x8000_0000;
/// Everything but the sign bit.
const MAGNITUDE: u32 = 0x7FFF_FFFF;

/// `cond ? x : y` for `cond` in {0, 1}: `y ^ ((x ^ y) & (0 - cond))`
/// (4 instructions, one fewer than [`Scalar::select`]).
fn blend<S: Scalar>(s: &mut S, cond: S::V, x: S::V, y: S::V) -> S::V {
    let zero = s.constant(0);
    let mask = s.int(Op::Sub, zero, cond);
    let diff = s.int(Op::Xor, x, y);
    let keep = s.int(Op::And, diff, mask);
    s.int(Op::Xor, y, keep)
}

/// Horner's rule with `fma`: `c[0] + t*(c[1] + t*(... + t*c[n-1]))`,
/// evaluated from the highest coefficient down (`n - 1` instructions).
fn horner<S: Scalar>(s: &mut S, t: S::V, coefficients: &[u32]) -> S::V {
    let (&last, rest) = coefficients.split_last().expect("at least one coefficient");
    let mut acc = s.constant(last);
    for &c in rest.iter().rev() {
        let c = s.constant(c);
        acc = s.fma(acc, t, c);
    }
    acc
}

/// `|x|` as a bit operation (a NaN stays a NaN, possibly not canonical).
fn abs_bits<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let m = s.constant(MAGNITUDE);
    s.int(Op::And, x, m)
}

/// `+1.0` or `-1.0` with the sign bit of `x`, including `-0` and NaNs.
fn unit_with_sign_of<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let sign = s.constant(SIGN);
    let bit = s.int(Op::And, x, sign);
    let one = s.constant(ONE);
    s.int(Op::Or, bit, one)
}
