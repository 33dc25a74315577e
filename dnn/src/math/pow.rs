//! `pow(x, y)` for a float exponent.

use verdict_vm::Op;

use super::{ONE, abs_bits, blend, exp, log};
use crate::scalar::Scalar;

/// 2^24 = 16777216.0: every binary32 of at least this magnitude is an even
/// integer.
const TWO_24: u32 = 0x4B80_0000;
/// -2^24.
const NEG_TWO_24: u32 = 0xCB80_0000;
/// The smallest negative nonzero pattern, -2^-149.
const NEG_MIN: u32 = 0x8000_0001;
/// Number of negative finite nonzero patterns, 0x80000001..=0xFF7FFFFF.
const NEG_FINITE_COUNT: u32 = 0x7F7F_FFFF;
/// The canonical NaN.
const NAN: u32 = 0x7FC0_0000;
/// +inf.
const INF: u32 = 0x7F80_0000;

/// `x^y` as `exp(y · ln|x|)` with the sign and special cases of C's `pow`
/// (the same as numpy's and ONNX's `Pow` on floats); 88 instructions.
///
/// The cases, in order of precedence:
/// - `y = ±0`, or `x = 1`, or `x = -1` with `y = ±inf`: exactly 1 (even for
///   a NaN in the other operand);
/// - `x` or `y` NaN: NaN;
/// - `x` finite, negative, nonzero and `y` not an integer: NaN;
/// - otherwise `|x|^y`, negated when `x` has its sign bit set (`-0` and
///   `-inf` included) and `y` is an odd integer. `±inf` and `|y| ≥ 2^24`
///   count as even integers. The zero/infinity cases follow from
///   `ln(0) = -inf`, `ln(inf) = inf` and `exp`'s limits: `pow(±0, y < 0)`
///   is ±inf, `pow(±0, y > 0)` is ±0, `pow(x, ±inf)` is `+0` or `+inf` by
///   whether |x| < 1, and so on.
///
/// Accuracy: `ln|x|` and the product are each within about an ulp, and an
/// error of one ulp in `y·ln|x|` is amplified by `exp` to `|y·ln|x||` ulp,
/// so the error grows to about `2 + 2·|y·ln|x||` ulp (≈ 200 ulp near
/// overflow); see the spec for the measured figures.
pub fn pow<S: Scalar>(s: &mut S, x: S::V, y: S::V) -> S::V {
    let ax = abs_bits(s, x);
    let l = log(s, ax);
    let p = s.mul(y, l);
    let magnitude = exp(s, p);

    // y is an integer iff truncating its value clamped to ±2^24 loses
    // nothing; the clamp keeps the conversion exact and makes every large
    // or infinite y even. NaN converts to 0 and compares unequal.
    let lo = s.constant(NEG_TWO_24);
    let hi = s.constant(TWO_24);
    let yc = s.max(y, lo);
    let yc = s.min(yc, hi);
    let i = s.float(Op::Ftoi, yc, yc);
    let back = s.float(Op::Itof, i, i);
    let integral = s.float(Op::Feq, back, yc);
    let odd = s.int(Op::And, i, integral);

    // ±1: negative when x has its sign bit set and y is odd.
    let c31 = s.constant(31);
    let negative = s.int(Op::Srl, x, c31);
    let flip = s.int(Op::And, negative, odd);
    let sign = s.int(Op::Sll, flip, c31);
    let one = s.constant(ONE);
    let unit = s.int(Op::Or, sign, one);

    // NaN for a negative finite nonzero x with a non-integer y.
    let neg_min = s.constant(NEG_MIN);
    let offset = s.int(Op::Sub, x, neg_min);
    let count = s.constant(NEG_FINITE_COUNT);
    let negative_finite = s.int(Op::Sltu, offset, count);
    let one_bit = s.constant(1);
    let fractional = s.int(Op::Xor, integral, one_bit);
    let invalid = s.int(Op::And, negative_finite, fractional);
    let nan = s.constant(NAN);
    let factor = blend(s, invalid, nan, unit);
    let r = s.mul(magnitude, factor);

    // Exactly 1: y = ±0, x = 1, or |x| = 1 with |y| = inf.
    let zero = s.constant(0);
    let y_zero = s.float(Op::Feq, y, zero);
    let x_one = s.float(Op::Feq, x, one);
    let ax_one = s.float(Op::Feq, ax, one);
    let ay = abs_bits(s, y);
    let inf = s.constant(INF);
    let y_inf = s.float(Op::Feq, ay, inf);
    let unit_inf = s.int(Op::And, ax_one, y_inf);
    let exact = s.int(Op::Or, y_zero, x_one);
    let exact = s.int(Op::Or, exact, unit_inf);
    blend(s, exact, one, r)
}
