//! `log(x)`, the natural logarithm.

use verdict_vm::Op;

use super::{ONE, blend, horner};
use crate::scalar::Scalar;

/// The smallest normal, 2^-126, as a bit pattern.
const MIN_NORMAL: u32 = 0x0080_0000;
/// 23 << 23: the exponent-field step of a scaling by 2^23.
const EXP23: u32 = 23 << 23;
/// sqrt(1/2) = 0.707106769084930419921875: mantissas are reduced to
/// [sqrt(1/2), sqrt(2)).
const OFF: u32 = 0x3F35_04F3;
/// The mantissa field.
const MANTISSA: u32 = 0x007F_FFFF;
/// ln2_hi = 0.693147182464599609375 (ln 2 rounded to binary32).
const LN2_HI: u32 = 0x3F31_7218;
/// ln2_lo = -1.904654212125934e-9 (ln 2 - ln2_hi, rounded).
const LN2_LO: u32 = 0xB102_E308;
/// 0.5.
const HALF: u32 = 0x3F00_0000;
/// The largest finite binary32 (0x7F7FFFFF) as an unsigned bound.
const MAX_FINITE: u32 = 0x7F7F_FFFF;
/// `R(z) = z (Lg1 + Lg2 z + Lg3 z^2)` ≈ `2 atanh(s)/s - 2` with `z = s^2`,
/// |s| ≤ 0.1716: absolute error 2^-29.
const LG: [u32; 3] = [
    0x3F2A_AABD, // 0.6666677594184875
    0x3ECC_AF57, // 0.3997752368450165
    0x3E98_F22D, // 0.29872265458106995
];

/// `ln x` in 35 instructions, within 1 ulp (measured over all inputs).
///
/// Subnormal inputs are scaled by 2^23 first. `x = 2^k m` with `m` in
/// [sqrt(1/2), sqrt(2)) by integer operations on the bit pattern; with
/// `f = m - 1` (exact) and `s = f / (m + 1)`, `ln m = f - f²/2 + s (f²/2 +
/// R(s²))` (the fdlibm arrangement, in which the rounding errors of `s`
/// only touch the small correction term), and `k ln 2` is added in two
/// parts. `ln(±0) = -inf`, `ln(x < 0) = NaN`, `ln(+inf) = +inf`,
/// `ln(NaN) = NaN`, `ln(1) = +0`.
pub fn log<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    // Scale +0 and positive subnormals by 2^23 and take 23 off the exponent
    // field again: `ix` is then x's bit pattern with an exponent field that
    // may be below 1, which the integer arithmetic below handles as is.
    let min_normal = s.constant(MIN_NORMAL);
    let tiny = s.int(Op::Sltu, x, min_normal);
    let exp23 = s.constant(EXP23);
    let adjust = s.int(Op::Mul, tiny, exp23);
    let one = s.constant(ONE);
    let scale = s.int(Op::Add, adjust, one);
    let scaled = s.mul(x, scale);
    let ix = s.int(Op::Sub, scaled, adjust);

    // ix - OFF = k·2^23 + (mantissa offset): k by an arithmetic shift, m by
    // putting the low 23 bits back on top of OFF.
    let off = s.constant(OFF);
    let tmp = s.int(Op::Sub, ix, off);
    let shift = s.constant(23);
    let k = s.int(Op::Sra, tmp, shift);
    let mantissa = s.constant(MANTISSA);
    let low = s.int(Op::And, tmp, mantissa);
    let m = s.int(Op::Add, low, off);
    let kf = s.float(Op::Itof, k, k);

    let one = s.constant(ONE);
    let f = s.sub(m, one);
    let d = s.add(m, one);
    let sv = s.div(f, d);
    let z = s.mul(sv, sv);
    let r = horner(s, z, &LG);
    let r = s.mul(r, z);
    let half = s.constant(HALF);
    let h = s.mul(f, half);
    let hfsq = s.mul(h, f);
    let t = s.add(hfsq, r);
    let u = s.mul(sv, t);
    let ln2_lo = s.constant(LN2_LO);
    let u = s.fma(kf, ln2_lo, u);
    let v = s.sub(hfsq, u);
    let w = s.sub(f, v);
    let ln2_hi = s.constant(LN2_HI);
    let y = s.fma(kf, ln2_hi, w);

    // Zeros, negatives, infinities and NaNs: `sqrt(x) - 1/(x·x)` is -inf for
    // ±0, NaN for x < 0 and NaN, +inf for +inf. The recipe's value is kept
    // for the positive finite patterns 0x00000001..=0x7F7FFFFF.
    let one_bits = s.constant(1);
    let below = s.int(Op::Sub, x, one_bits);
    let max_finite = s.constant(MAX_FINITE);
    let ordinary = s.int(Op::Sltu, below, max_finite);
    let root = s.sqrt(x);
    let sq = s.mul(x, x);
    let one = s.constant(ONE);
    let inv = s.div(one, sq);
    let special = s.sub(root, inv);
    blend(s, ordinary, y, special)
}
