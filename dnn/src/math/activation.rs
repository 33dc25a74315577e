//! `sigmoid`, `tanh` and the tanh-form GELU.

use verdict_vm::Op;

use super::{ONE, SIGN, abs_bits, blend, exp, horner, unit_with_sign_of};
use crate::scalar::Scalar;

/// Below this |x| (0.5625), `tanh` uses its odd polynomial.
const TANH_SMALL: u32 = 0x3F10_0000;
/// `tanh(a) ≈ a + a^3 P(a^2)` on |a| < 0.5625, `P` constant term first:
/// relative error 2^-28.6.
const TANH_POLY: [u32; 5] = [
    0xBEAA_AAA4, // -0.3333331346511841
    0x3E08_8639, // 0.1333245187997818
    0xBD5C_84A3, // -0.053837429732084274
    0x3CAC_17D8, // 0.021007463335990906
    0xBBCA_800E, // -0.006179816089570522
];
/// 2.0.
const TWO: u32 = 0x4000_0000;
/// 2·sqrt(2/π) = 1.5957691669464111.
const GELU_K1: u32 = 0x3FCC_422A;
/// 2·sqrt(2/π)·0.044715 = 0.07135481387376785.
const GELU_K3: u32 = 0x3D92_2279;

/// `1 / (1 + e^-x)` in 26 instructions, within 2.5 ulp (measured over all
/// inputs), subnormal results included.
///
/// With `e = exp(-|x|)`: `1 / (1 + e)` for `x ≥ 0` and `e / (1 + e)` for
/// `x < 0`; the numerator is `maximum(e, ±1)` with the sign of `x`.
/// `sigmoid(NaN) = NaN`, `sigmoid(-inf) = +0`, `sigmoid(+inf) = 1`.
pub fn sigmoid<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let sign = s.constant(SIGN);
    let neg_abs = s.int(Op::Or, x, sign);
    let e = exp(s, neg_abs);
    let one = s.constant(ONE);
    let den = s.add(e, one);
    let unit = unit_with_sign_of(s, x);
    let num = s.max(e, unit);
    s.div(num, den)
}

/// `tanh(x)` in 40 instructions, within 2 ulp (measured over all inputs).
///
/// With `a = |x|`: `a + a·(a²·P(a²))` for `a < 0.5625`, else
/// `1 - 2 / (exp(2a) + 1)`; the sign of `x` is restored by multiplying by
/// ±1, so `tanh(-0) = -0`. Saturates to ±1 (exactly from |x| ≥ 9.01),
/// `tanh(NaN) = NaN`.
pub fn tanh<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let a = abs_bits(s, x);

    let z = s.mul(a, a);
    let p = horner(s, z, &TANH_POLY);
    let q = s.mul(z, p);
    let small = s.fma(q, a, a);

    let a2 = s.add(a, a);
    let e = exp(s, a2);
    let one = s.constant(ONE);
    let ep1 = s.add(e, one);
    let two = s.constant(TWO);
    let frac = s.div(two, ep1);
    let large = s.sub(one, frac);

    let bound = s.constant(TANH_SMALL);
    let is_small = s.lt(a, bound);
    let y = blend(s, is_small, small, large);
    let unit = unit_with_sign_of(s, x);
    s.mul(y, unit)
}

/// The tanh approximation of GELU, `0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715
/// x³)))`, computed as the identical `x · sigmoid(v)` with `v = x·(k1 +
/// k3·x²)`, `k1 = 2 sqrt(2/π)`, `k3 = 0.044715 k1`, which has no
/// cancellation for negative `x`; 30 instructions.
///
/// `gelu_tanh(-0) = -0`, `gelu_tanh(+inf) = +inf`, `gelu_tanh(-inf) = NaN`
/// (`-inf · 0`, as the defining formula gives), NaN gives NaN.
pub fn gelu_tanh<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let z = s.mul(x, x);
    let k3 = s.constant(GELU_K3);
    let k1 = s.constant(GELU_K1);
    let w = s.fma(z, k3, k1);
    let v = s.mul(x, w);
    let g = sigmoid(s, v);
    s.mul(x, g)
}
