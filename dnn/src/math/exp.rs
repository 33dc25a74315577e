//! `exp(x)`.

use verdict_vm::Op;

use super::horner;
use crate::scalar::Scalar;

/// -104.0: below about -103.97 the result rounds to `+0`.
const X_MIN: u32 = 0xC2D0_0000;
/// 89.0: above about 88.72 the result rounds to `+inf`.
const X_MAX: u32 = 0x42B2_0000;
/// log2(e) = 1.44269502162933349609375.
const LOG2E: u32 = 0x3FB8_AA3B;
/// 1.5 * 2^23 = 12582912.0: adding it rounds to an integer.
const SHIFT: u32 = 0x4B40_0000;
/// -ln2_hi = -0.693147182464599609375 (ln 2 rounded to binary32).
const NEG_LN2_HI: u32 = 0xBF31_7218;
/// -ln2_lo = 1.904654212125934e-9 (ln 2 - ln2_hi, rounded).
const NEG_LN2_LO: u32 = 0x3102_E308;
/// `e^r ≈ 1 + r + r^2 (c2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4)` on
/// |r| ≤ ln2/2: constant term first, relative error 2^-28.
const POLY: [u32; 7] = [
    0x3F80_0000, // 1
    0x3F80_0000, // 1
    0x3EFF_FFFE, // 0.4999999403953552
    0x3E2A_AA49, // 0.1666652113199234
    0x3D2A_AC79, // 0.04166838899254799
    0x3C09_1D10, // 0.00836874544620514
    0x3AB5_11E8, // 0.0013814540579915047
];

/// `e^x` in 20 instructions, within 1 ulp (measured over all inputs).
///
/// `x` is clamped to [-104, 89]; `n = round(x log2 e)` comes from one `fma`
/// against 1.5·2^23, `r = x - n ln2` from a two-constant Cody–Waite
/// reduction, `e^r` from a degree-6 polynomial, and `2^n` is applied as two
/// exact powers of two built in the exponent field, so subnormal results are
/// rounded once and overflow gives `+inf`. `exp(NaN)` is NaN, `exp(-inf)`
/// is `+0`, `exp(+inf)` is `+inf`, `exp(±0)` is 1.
pub fn exp<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let lo = s.constant(X_MIN);
    let hi = s.constant(X_MAX);
    let x = s.max(x, lo);
    let x = s.min(x, hi);

    // t = 1.5·2^23 + n: the exact x·log2e + 1.5·2^23 is rounded once, to
    // nearest-even at unit spacing, so n is x·log2e rounded to nearest.
    let log2e = s.constant(LOG2E);
    let shift = s.constant(SHIFT);
    let t = s.fma(x, log2e, shift);
    let n = s.sub(t, shift);

    // r = x - n·ln2: the first fma is exact (the difference needs at most 24
    // bits), the second rounds once.
    let neg_hi = s.constant(NEG_LN2_HI);
    let neg_lo = s.constant(NEG_LN2_LO);
    let r = s.fma(n, neg_hi, x);
    let r = s.fma(n, neg_lo, r);
    let p = horner(s, r, &POLY);

    // 2^n = 2^n1 · 2^n2 with n1 = floor(n/2), n2 = n - n1, both in [-75, 64]
    // so both factors are normal. bits(t) = 0x4B400000 + n; the offsets
    // vanish in the shift by 23, which keeps only the low 9 bits.
    let one = s.constant(1);
    let half = s.int(Op::Sra, t, one);
    let rest = s.int(Op::Sub, t, half);
    let bias = s.constant(127);
    let exponent = s.constant(23);
    let e1 = s.int(Op::Add, half, bias);
    let scale1 = s.int(Op::Sll, e1, exponent);
    let e2 = s.int(Op::Add, rest, bias);
    let scale2 = s.int(Op::Sll, e2, exponent);
    // p·2^n1 is exact (normal); the second product rounds once.
    let y = s.mul(p, scale1);
    s.mul(y, scale2)
}
