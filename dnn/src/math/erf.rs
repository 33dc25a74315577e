//! `erf(x)` and the exact GELU.

use super::{ONE, abs_bits, blend, exp, horner, unit_with_sign_of};
use crate::scalar::Scalar;

/// Below this |x| (0.875), `erf` uses its odd polynomial.
const ERF_SMALL: u32 = 0x3F60_0000;
/// `erf(a)/a - 1 ≈ Q(a^2)` on |a| < 0.875, constant term first: relative
/// error of `erf` 2^-26.6.
const ERF_SMALL_POLY: [u32; 7] = [
    0x3E03_75D4, // 0.12837916612625122
    0xBEC0_93A2, // -0.37612634897232056
    0x3DE7_1742, // 0.11283732950687408
    0xBCDC_0CD3, // -0.026861583814024925
    0x3BAA_9D5D, // 0.005206747446209192
    0xBA57_3FC9, // -0.000821110385004431
    0x38B5_EFA8, // 8.6753920186311e-05
];
/// 3.9375: `erf` is 1.0 (rounded) from about 3.92 on; larger `a` are
/// clamped here.
const ERF_CLAMP: u32 = 0x407C_0000;
/// `ln erfc(a) ≈ P(a)` on [0.875, 3.9375], constant term first, weighted by
/// `erfc(a)`: absolute error of `erfc` 2^-27.1.
const ERF_LARGE_POLY: [u32; 7] = [
    0xB917_37C7, // -0.0001442126085748896
    0xBF90_5EAE, // -1.1278893947601318
    0xBF23_06AE, // -0.6368206739425659
    0xBDD5_8120, // -0.10425019264221191
    0x3CB7_5869, // 0.022381024435162544
    0xBB49_FB49, // -0.0030819943640381098
    0x3951_9C92, // 0.00019990120199508965
];
/// 1/sqrt(2) = 0.7071067690849304.
const FRAC_1_SQRT_2: u32 = 0x3F35_04F3;
/// 0.5.
const HALF: u32 = 0x3F00_0000;

/// `erf(x)` in 45 instructions, within 2 ulp (measured over all inputs).
///
/// With `a = |x|`: `a + a·Q(a²)` for `a < 0.875`, else
/// `1 - exp(P(minimum(a, 3.9375)))`; the sign of `x` is restored by
/// multiplying by ±1, so `erf(-0) = -0`. `erf(±inf) = ±1`,
/// `erf(NaN) = NaN`.
pub fn erf<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let a = abs_bits(s, x);

    let z = s.mul(a, a);
    let q = horner(s, z, &ERF_SMALL_POLY);
    let small = s.fma(q, a, a);

    let clamp = s.constant(ERF_CLAMP);
    let t = s.min(a, clamp);
    let p = horner(s, t, &ERF_LARGE_POLY);
    let erfc = exp(s, p);
    let one = s.constant(ONE);
    let large = s.sub(one, erfc);

    let bound = s.constant(ERF_SMALL);
    let is_small = s.lt(a, bound);
    let y = blend(s, is_small, small, large);
    let unit = unit_with_sign_of(s, x);
    s.mul(y, unit)
}

/// The exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, as
/// `x · fma(erf(x · (1/sqrt 2)), 0.5, 0.5)`; 48 instructions.
///
/// Like the defining formula it loses relative accuracy where `1 + erf`
/// cancels (`x` below about -2.5, see the spec for the measured bounds).
/// `gelu_exact(-0) = -0`, `gelu_exact(+inf) = +inf`, `gelu_exact(-inf) =
/// NaN` (`-inf · 0`), NaN gives NaN.
pub fn gelu_exact<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let c = s.constant(FRAC_1_SQRT_2);
    let u = s.mul(x, c);
    let e = erf(s, u);
    let half = s.constant(HALF);
    let phi = s.fma(e, half, half);
    s.mul(x, phi)
}
