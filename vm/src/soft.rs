//! The software reference for VM float arithmetic.
//!
//! Built on `rustc_apfloat` (LLVM's APFloat) plus a square root written here,
//! with no hardware float at all. [`crate::semantics`] is tested against it on
//! random and special bit patterns; it is also the fallback for `fmadd` on a
//! CPU without hardware FMA.

use rustc_apfloat::ieee::Single;
use rustc_apfloat::{Float, Round};

use crate::semantics::{CANONICAL_NAN, is_nan};

fn single(x: u32) -> Single {
    Single::from_bits(u128::from(x))
}

fn bits(x: Single) -> u32 {
    if x.is_nan() {
        CANONICAL_NAN
    } else {
        x.to_bits() as u32
    }
}

/// `fadd`.
pub fn add(a: u32, b: u32) -> u32 {
    bits((single(a) + single(b)).value)
}

/// `fsub`.
pub fn sub(a: u32, b: u32) -> u32 {
    bits((single(a) - single(b)).value)
}

/// `fmul`.
pub fn mul(a: u32, b: u32) -> u32 {
    bits((single(a) * single(b)).value)
}

/// `fdiv`.
pub fn div(a: u32, b: u32) -> u32 {
    bits((single(a) / single(b)).value)
}

/// `fmadd`: `a * b + c` with one rounding.
pub fn fma(a: u32, b: u32, c: u32) -> u32 {
    bits(single(a).mul_add(single(b), single(c)).value)
}

/// `fmin`.
pub fn min(a: u32, b: u32) -> u32 {
    bits(single(a).minimum(single(b)))
}

/// `fmax`.
pub fn max(a: u32, b: u32) -> u32 {
    bits(single(a).maximum(single(b)))
}

/// `feq`.
pub fn eq(a: u32, b: u32) -> u32 {
    (single(a) == single(b)) as u32
}

/// `flt`.
pub fn lt(a: u32, b: u32) -> u32 {
    (single(a) < single(b)) as u32
}

/// `fle`.
pub fn le(a: u32, b: u32) -> u32 {
    (single(a) <= single(b)) as u32
}

/// `ftoi`: toward zero, saturating, NaN gives 0.
pub fn to_i32(a: u32) -> u32 {
    let x = single(a);
    if x.is_nan() {
        return 0;
    }
    let mut exact = false;
    let r = x.to_i128_r(64, Round::TowardZero, &mut exact).value;
    r.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32 as u32
}

/// `itof`: round to nearest even.
pub fn from_i32(a: u32) -> u32 {
    bits(Single::from_i128(i128::from(a as i32)).value)
}

/// `fsqrt`, correctly rounded, from integer arithmetic only.
///
/// A positive finite input is `m * 2^e` with a 24-bit significand `m`; with
/// `e` made even, `sqrt = isqrt(m << 30) * 2^((e - 30) / 2)` where the integer
/// square root carries 27 or 28 bits and its remainder is the sticky bit. The
/// square root of a binary32 is never subnormal and never exactly halfway
/// between two binary32 values, but the rounding below does not rely on it.
pub fn sqrt(a: u32) -> u32 {
    let negative = a >> 31 != 0;
    let magnitude = a & 0x7FFF_FFFF;
    if is_nan(a) {
        return CANONICAL_NAN;
    }
    if magnitude == 0 {
        return a;
    }
    if negative {
        return CANONICAL_NAN;
    }
    if magnitude == 0x7F80_0000 {
        return a;
    }
    let biased = (a >> 23) as i32;
    let fraction = u64::from(a & 0x7F_FFFF);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -126 - 23)
    } else {
        (fraction | 0x80_0000, biased - 127 - 23)
    };
    while m < 0x80_0000 {
        m <<= 1;
        e -= 1;
    }
    if e & 1 != 0 {
        m <<= 1;
        e -= 1;
    }
    let (root, remainder) = isqrt(m << 30);
    let e = (e - 30) / 2;
    let top = 63 - root.leading_zeros() as i32;
    let shift = top - 23;
    let mut q = root >> shift;
    let dropped = root & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if dropped > half || (dropped == half && (remainder != 0 || q & 1 == 1)) {
        q += 1;
    }
    let mut exponent = top + e;
    if q == 1 << 24 {
        q >>= 1;
        exponent += 1;
    }
    (((exponent + 127) as u32) << 23) | (q as u32 & 0x7F_FFFF)
}

/// Integer square root by digits: `(r, n - r*r)` with `r = floor(sqrt(n))`.
fn isqrt(n: u64) -> (u64, u64) {
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    (root, rem)
}
