//! The transcendental recipes against f64 references: error bounds in ulp
//! on a deterministic sample (and, in the ignored `exhaustive` test, on all
//! 2^32 inputs), special values bit for bit, instruction counts, and the VM
//! running the emitted code to the same bits as [`Eval`].
//!
//! Full measurement (release, all cores; `MATH_ONLY=exp,log` picks some):
//! `cargo test --release -p verdict-dnn --test math -- --ignored --nocapture`

use rayon::prelude::*;
use verdict_dnn::emit::{Emitter, Hoisted, Trace};
use verdict_dnn::math;
use verdict_dnn::scalar::Eval;
use verdict_vm::Op;
use verdict_vm::machine::Machine;

const NAN: u32 = 0x7FC0_0000;
const INF: u32 = 0x7F80_0000;
const NEG_INF: u32 = 0xFF80_0000;
const NEG_ZERO: u32 = 0x8000_0000;
const ONE: u32 = 0x3F80_0000;
const NEG_ONE: u32 = 0xBF80_0000;

/// f64 references (std's functions where it has them).
mod reference {
    use std::f64::consts::{FRAC_2_SQRT_PI, PI};

    pub(super) fn exp(x: f64) -> f64 {
        x.exp()
    }

    pub(super) fn ln(x: f64) -> f64 {
        x.ln()
    }

    pub(super) fn sigmoid(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    pub(super) fn tanh(x: f64) -> f64 {
        x.tanh()
    }

    /// `erf` by the series `2/sqrt(pi) e^{-x²} Σ 2^n x^{2n+1} / (2n+1)!!`,
    /// whose terms are all positive (no cancellation).
    pub(super) fn erf(x: f64) -> f64 {
        let a = x.abs();
        let y = if a.is_nan() {
            return f64::NAN;
        } else if a >= 6.0 {
            1.0
        } else {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term > sum * 1e-18 {
                term *= 2.0 * a * a / (2.0 * n + 3.0);
                sum += term;
                n += 1.0;
            }
            FRAC_2_SQRT_PI * (-a * a).exp() * sum
        };
        y.copysign(x)
    }

    /// `erfc` for `t ≥ 0`: `1 - erf` below 3, the continued fraction
    /// `e^{-t²}/sqrt(pi) / (t + (1/2)/(t + 1/(t + (3/2)/(t + ...))))` above.
    pub(super) fn erfc(t: f64) -> f64 {
        if t < 3.0 {
            return 1.0 - erf(t);
        }
        let mut f = t;
        for k in (1..=200).rev() {
            f = t + f64::from(k) / 2.0 / f;
        }
        (-t * t).exp() * FRAC_2_SQRT_PI / 2.0 / f
    }

    /// `x Φ(x)` with `Φ(x) = erfc(-x/sqrt 2)/2`.
    pub(super) fn gelu_exact(x: f64) -> f64 {
        let t = x / 2f64.sqrt();
        let phi = if t >= 0.0 {
            1.0 - 0.5 * erfc(t)
        } else {
            0.5 * erfc(-t)
        };
        x * phi
    }

    /// `0.5 x (1 + tanh(u)) = x / (1 + e^{-2u})`.
    pub(super) fn gelu_tanh(x: f64) -> f64 {
        let u = (2.0 / PI).sqrt() * (x + 0.044715 * x * x * x);
        x / (1.0 + (-2.0 * u).exp())
    }
}

/// `|got - want|` in units of the binary32 ulp at `want` (2^-149 at the
/// subnormals). A `want` that rounds to ±inf is ±inf; an infinite `got`
/// against a finite `want` counts as ±2^128. A NaN `want` needs exactly the
/// canonical NaN.
fn ulp_error(got: u32, want: f64) -> f64 {
    /// Where rounding to binary32 overflows: FLT_MAX + half an ulp.
    const OVERFLOW: f64 = (2.0 - 1.0 / 16_777_216.0) * (1u128 << 127) as f64;
    let g = f32::from_bits(got);
    if want.is_nan() || g.is_nan() {
        return if want.is_nan() && got == NAN {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let w = if want.abs() >= OVERFLOW {
        f64::INFINITY.copysign(want)
    } else {
        want
    };
    if f64::from(g) == w {
        return 0.0;
    }
    let g = if g.is_infinite() {
        2f64.powi(128).copysign(f64::from(g))
    } else {
        f64::from(g)
    };
    let w = if w.is_infinite() {
        2f64.powi(128).copysign(w)
    } else {
        w
    };
    // The binary32 exponent of |w| from its f64 bits, kept in [-126, 127].
    let exponent = ((w.to_bits() >> 52 & 0x7FF) as i64 - 1023).clamp(-126, 127);
    let ulp = f64::from_bits(((exponent - 23 + 1023) as u64) << 52);
    (g - w).abs() / ulp
}

/// A unary recipe evaluated natively.
type Recipe = fn(&mut Eval, u32) -> u32;

/// A unary recipe with its reference and its documented bound: at most
/// `ulp(x)` ulp, or, where `abs(x)` is positive, at most that absolute error.
struct Unary {
    name: &'static str,
    recipe: Recipe,
    reference: fn(f64) -> f64,
    ulp: fn(f32) -> f64,
    abs: fn(f32) -> f64,
}

/// `|x (k1 + k3 x²)|`, the sigmoid argument of `gelu_tanh`: its rounding
/// error is amplified by up to that factor.
fn gelu_tanh_v(x: f32) -> f64 {
    let x = f64::from(x);
    (x * (1.595_769_121_605_731 + 0.071_354_816_272_923_35 * x * x)).abs()
}

fn unary_cases() -> [Unary; 7] {
    let none = |_| 0.0;
    [
        Unary {
            name: "exp",
            recipe: math::exp,
            reference: reference::exp,
            ulp: |_| 1.0,
            abs: none,
        },
        Unary {
            name: "log",
            recipe: math::log,
            reference: reference::ln,
            ulp: |_| 1.0,
            abs: none,
        },
        Unary {
            name: "sigmoid",
            recipe: math::sigmoid,
            reference: reference::sigmoid,
            ulp: |_| 2.5,
            abs: none,
        },
        Unary {
            name: "tanh",
            recipe: math::tanh,
            reference: reference::tanh,
            ulp: |_| 2.0,
            abs: none,
        },
        Unary {
            name: "erf",
            recipe: math::erf,
            reference: reference::erf,
            ulp: |_| 2.0,
            abs: none,
        },
        Unary {
            name: "gelu_exact",
            recipe: math::gelu_exact,
            reference: reference::gelu_exact,
            ulp: |_| 3.0,
            // Below -1, where 1 + erf cancels: an absolute bound.
            abs: |x| {
                if x < -1.0 {
                    f64::from(x).abs() * 2f64.powi(-24)
                } else {
                    0.0
                }
            },
        },
        Unary {
            name: "gelu_tanh",
            recipe: math::gelu_tanh,
            reference: reference::gelu_tanh,
            ulp: |x| {
                if x < 0.0 {
                    3.0 + 2.0 * gelu_tanh_v(x)
                } else {
                    3.0
                }
            },
            abs: none,
        },
    ]
}

impl Unary {
    /// The error of one input in ulp, and whether it is within the bound.
    fn check(&self, bits: u32) -> (f64, bool) {
        let x = f32::from_bits(bits);
        let want = (self.reference)(f64::from(x));
        let got = (self.recipe)(&mut Eval, bits);
        let err = ulp_error(got, want);
        let abs = (self.abs)(x);
        let ok = err <= (self.ulp)(x)
            || (abs > 0.0 && (f64::from(f32::from_bits(got)) - want).abs() <= abs);
        (err, ok)
    }
}

/// 2^20 patterns spread evenly over all 2^32, with scrambled low bits.
fn sample() -> impl Iterator<Item = u32> {
    (0u32..1 << 20).map(|i| (i << 12) | (i.wrapping_mul(0x9E37_79B9) >> 20))
}

/// Zeros, infinities, NaNs, subnormals, extremes and the branch points.
const EDGES: [u32; 22] = [
    0,
    NEG_ZERO,
    INF,
    NEG_INF,
    NAN,
    0xFFC0_0000,
    0x7F80_0001,
    0xFFFF_FFFF,
    1,
    0x8000_0001,
    0x007F_FFFF,
    0x807F_FFFF,
    0x0080_0000,
    0x8080_0000,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
    ONE,
    NEG_ONE,
    0x3F10_0000,
    0x3F60_0000,
    0x407C_0000,
    0x42B1_7218,
];

fn check_sample(u: &Unary) {
    let bad: Vec<(u32, f64)> = sample()
        .chain(EDGES)
        .filter_map(|b| match u.check(b) {
            (_, true) => None,
            (err, false) => Some((b, err)),
        })
        .take(8)
        .collect();
    assert!(
        bad.is_empty(),
        "{}: out of bound at (input bits, ulp) {bad:x?}",
        u.name
    );
}

fn check_named(name: &str) {
    let cases = unary_cases();
    check_sample(
        cases
            .iter()
            .find(|u| u.name == name)
            .expect("a unary recipe"),
    );
}

#[test]
fn exp_within_bound() {
    check_named("exp");
}

#[test]
fn log_within_bound() {
    check_named("log");
}

#[test]
fn sigmoid_within_bound() {
    check_named("sigmoid");
}

#[test]
fn tanh_within_bound() {
    check_named("tanh");
}

#[test]
fn erf_within_bound() {
    check_named("erf");
}

#[test]
fn gelu_exact_within_bound() {
    check_named("gelu_exact");
}

#[test]
fn gelu_tanh_within_bound() {
    check_named("gelu_tanh");
}

#[test]
fn reference_erf_is_accurate() {
    // Values from CPython's math.erf / math.erfc.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * b.abs();
    assert!(close(reference::erf(0.5), 0.520_499_877_813_046_5));
    assert!(close(reference::erf(1.0), 0.842_700_792_949_714_9));
    assert!(close(reference::erf(3.0), 0.999_977_909_503_001_4));
    assert!(close(reference::erfc(2.0), 0.004_677_734_981_047_265));
    assert!(close(reference::erfc(3.0), 2.209_049_699_858_543_8e-5));
    assert!(close(reference::erfc(5.0), 1.537_459_794_428_035_1e-12));
    assert!(close(reference::erfc(10.0), 2.088_487_583_762_545e-45));
}

/// An input and its exact result.
type Pair = (u32, u32);

/// Exact results at the special inputs.
#[test]
fn special_values() {
    let cases: [(&str, Recipe, &[Pair]); 7] = [
        (
            "exp",
            math::exp,
            &[
                (0, ONE),
                (NEG_ZERO, ONE),
                (INF, INF),
                (NEG_INF, 0),
                (NAN, NAN),
                (0xFFC0_0001, NAN),
                (0x42B2_0000, INF),
                (0xC2D0_0000, 0),
                (0xC2CF_CCCD, 1), // exp(-103.9) = 0.54 * 2^-149
                (1, ONE),
                (0x8000_0001, ONE),
            ],
        ),
        (
            "log",
            math::log,
            &[
                (0, NEG_INF),
                (NEG_ZERO, NEG_INF),
                (INF, INF),
                (NEG_INF, NAN),
                (NAN, NAN),
                (0xFFC0_0000, NAN),
                (ONE, 0),
                (NEG_ONE, NAN),
                (0x8000_0001, NAN),
                (1, 0xC2CE_8ED0),           // ln(2^-149) = -103.27893
                (0x7F7F_FFFF, 0x42B1_7218), // ln(FLT_MAX) = 88.72284
            ],
        ),
        (
            "sigmoid",
            math::sigmoid,
            &[
                (0, 0x3F00_0000),
                (NEG_ZERO, 0x3F00_0000),
                (INF, ONE),
                (NEG_INF, 0),
                (NAN, NAN),
                (0xFFC0_0000, NAN),
                (0xC2C8_0000, 27), // sigmoid(-100) = 3.72e-44 = 26.5 * 2^-149
            ],
        ),
        (
            "tanh",
            math::tanh,
            &[
                (0, 0),
                (NEG_ZERO, NEG_ZERO),
                (INF, ONE),
                (NEG_INF, NEG_ONE),
                (NAN, NAN),
                (0xFFC0_0000, NAN),
                (1, 1),
                (0x8000_0001, 0x8000_0001),
                (0x4120_0000, ONE), // tanh(9) rounds to 1 - 2^-24; tanh(10) to 1
                (0xC120_0000, NEG_ONE),
            ],
        ),
        (
            "erf",
            math::erf,
            &[
                (0, 0),
                (NEG_ZERO, NEG_ZERO),
                (INF, ONE),
                (NEG_INF, NEG_ONE),
                (NAN, NAN),
                (0xFFC0_0000, NAN),
                (0x407C_0000, ONE),
                (0xC080_0000, NEG_ONE),
            ],
        ),
        (
            "gelu_exact",
            math::gelu_exact,
            &[
                (0, 0),
                (NEG_ZERO, NEG_ZERO),
                (INF, INF),
                (NEG_INF, NAN),
                (NAN, NAN),
                (0xFFC0_0000, NAN),
                (0x4120_0000, 0x4120_0000), // gelu(10) = 10
            ],
        ),
        (
            "gelu_tanh",
            math::gelu_tanh,
            &[
                (0, 0),
                (NEG_ZERO, NEG_ZERO),
                (INF, INF),
                (NEG_INF, NAN),
                (NAN, NAN),
                (0xFFC0_0000, NAN),
                (0x4120_0000, 0x4120_0000),
                (0xFF7F_FFFF, NEG_ZERO),
            ],
        ),
    ];
    for (name, f, pairs) in cases {
        for &(x, want) in pairs {
            let got = f(&mut Eval, x);
            assert_eq!(
                got, want,
                "{name}({x:#010x}) = {got:#010x}, want {want:#010x}"
            );
        }
    }
}

#[test]
fn pow_special_values() {
    let f = |x: f32, y: f32| f32::from_bits(math::pow(&mut Eval, x.to_bits(), y.to_bits()));
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let same = |a: f32, b: f32| {
        a.to_bits() == b.to_bits() || (a.is_nan() && a.to_bits() == NAN && b.is_nan())
    };
    let cases: &[(f32, f32, f32)] = &[
        // y = ±0, x = 1, x = -1 with y = ±inf: exactly 1.
        (nan, 0.0, 1.0),
        (inf, -0.0, 1.0),
        (0.0, 0.0, 1.0),
        (1.0, nan, 1.0),
        (1.0, inf, 1.0),
        (1.0, -inf, 1.0),
        (-1.0, inf, 1.0),
        (-1.0, -inf, 1.0),
        // NaN operands.
        (nan, 1.0, nan),
        (2.0, nan, nan),
        (-1.0, nan, nan),
        // Negative x.
        (-2.0, 0.5, nan),
        (-8.0, 1.0 / 3.0, nan),
        (-1.0, 0.5, nan),
        (-2.0, 2.0, 4.0),
        (-2.0, 3.0, -8.0),
        (-1.0, 3.0, -1.0),
        (-2.0, -1.0, -0.5),
        (-3.0, 16_777_216.0, inf),
        (-0.5, 16_777_217.0, 0.0),
        // Zeros.
        (0.0, 3.0, 0.0),
        (-0.0, 3.0, -0.0),
        (-0.0, 2.0, 0.0),
        (-0.0, 0.5, 0.0),
        (0.0, -3.0, inf),
        (-0.0, -3.0, -inf),
        (-0.0, -2.0, inf),
        (-0.0, -0.5, inf),
        (0.0, -inf, inf),
        (0.0, inf, 0.0),
        // Infinities.
        (inf, 0.5, inf),
        (inf, -0.5, 0.0),
        (-inf, 3.0, -inf),
        (-inf, 2.0, inf),
        (-inf, 0.5, inf),
        (-inf, -3.0, -0.0),
        (-inf, -2.0, 0.0),
        (0.5, inf, 0.0),
        (0.5, -inf, inf),
        (2.0, inf, inf),
        (2.0, -inf, 0.0),
        (-0.5, inf, 0.0),
        (-2.0, -inf, 0.0),
        // Ordinary values that come out exact.
        (2.0, 10.0, 1024.0),
        (4.0, 0.5, 2.0),
        (2.0, -149.0, f32::from_bits(1)),
        (2.0, 128.0, inf),
    ];
    for &(x, y, want) in cases {
        let got = f(x, y);
        assert!(
            same(got, want),
            "pow({x}, {y}) = {got} ({:#010x}), want {want}",
            got.to_bits()
        );
    }
}

/// The pow bound, `2 + 2 |y ln|x||` ulp, on a grid of finite (x, y)
/// pairs with a finite nonzero result: 2^10 x spread over all patterns,
/// y the integers -32..32 and ±2^(k/6 - 8) for k in 0..96.
#[test]
fn pow_within_bound() {
    let xs = (0u32..1 << 10).map(|i| (i << 22) | (i.wrapping_mul(0x9E37_79B9) >> 10));
    let ys: Vec<f32> = (-32i8..32)
        .map(f32::from)
        .chain((0u8..192).map(|k| {
            let magnitude = (f32::from(k % 96) / 6.0 - 8.0).exp2();
            if k < 96 { magnitude } else { -magnitude }
        }))
        .collect();
    // The largest error where |y ln|x|| ≤ 1, for the spec.
    let mut near = 0.0f64;
    for xb in xs {
        let x = f32::from_bits(xb);
        for &y in &ys {
            let want = f64::from(x).powf(f64::from(y));
            if !want.is_finite() || want == 0.0 || want.abs() > f64::from(f32::MAX) {
                continue;
            }
            let got = math::pow(&mut Eval, xb, y.to_bits());
            let err = ulp_error(got, want);
            let p = match f64::from(y) * f64::from(x).abs().ln() {
                p if p.is_nan() => 0.0, // 0 * ln 0 or inf * ln 1: exact cases
                p => p.abs(),
            };
            let bound = 2.0 + 2.0 * p;
            assert!(err <= bound, "pow({x:e}, {y:e}): {err} ulp > {bound}");
            if p <= 1.0 {
                near = near.max(err);
            }
        }
    }
    println!("pow: max {near:.3} ulp where |y ln|x|| <= 1");
}

/// Instructions each recipe takes (constants excluded): the spec's counts.
#[test]
fn instruction_counts() {
    let count = |f: fn(&mut verdict_dnn::emit::Tracer, usize) -> usize| {
        Trace::record(1, |t, x| f(t, x[0])).instructions()
    };
    assert_eq!(count(math::exp), 20);
    assert_eq!(count(math::log), 35);
    assert_eq!(count(math::sigmoid), 26);
    assert_eq!(count(math::tanh), 40);
    assert_eq!(count(math::erf), 45);
    assert_eq!(count(math::gelu_exact), 48);
    assert_eq!(count(math::gelu_tanh), 30);
    assert_eq!(
        Trace::record(2, |t, v| math::pow(t, v[0], v[1])).instructions(),
        88
    );
}

/// The emitted code, run by the VM, gives the bits [`Eval`] gives.
#[test]
fn vm_runs_the_same_bits() {
    const OUT: u32 = 0x4000_0000;
    let inputs: Vec<u32> = EDGES
        .iter()
        .copied()
        .chain(sample().step_by(1 << 14))
        .collect();
    let recipes: [(&str, Trace, Recipe); 7] = [
        (
            "exp",
            Trace::record(1, |t, x| math::exp(t, x[0])),
            math::exp,
        ),
        (
            "log",
            Trace::record(1, |t, x| math::log(t, x[0])),
            math::log,
        ),
        (
            "sigmoid",
            Trace::record(1, |t, x| math::sigmoid(t, x[0])),
            math::sigmoid,
        ),
        (
            "tanh",
            Trace::record(1, |t, x| math::tanh(t, x[0])),
            math::tanh,
        ),
        (
            "erf",
            Trace::record(1, |t, x| math::erf(t, x[0])),
            math::erf,
        ),
        (
            "gelu_exact",
            Trace::record(1, |t, x| math::gelu_exact(t, x[0])),
            math::gelu_exact,
        ),
        (
            "gelu_tanh",
            Trace::record(1, |t, x| math::gelu_tanh(t, x[0])),
            math::gelu_tanh,
        ),
    ];
    for (name, trace, f) in recipes {
        let mut e = Emitter::new();
        let base = e.constant(OUT);
        let (x, y) = (e.reg(), e.reg());
        for (k, &v) in inputs.iter().enumerate() {
            e.b.li(x, v);
            e.recipe(&trace, &[x], y, &Hoisted::default());
            e.b.store(Op::Sw, y, base, 4 * k as i32);
        }
        e.b.halt(0, 0);
        let code = e.b.finish().expect("a program");
        let mut m = Machine::new();
        m.load_program(&code);
        m.run(u64::MAX);
        let out = m.read_bytes(OUT, 4 * inputs.len());
        for (k, &v) in inputs.iter().enumerate() {
            let vm = u32::from_le_bytes(out[4 * k..4 * k + 4].try_into().unwrap());
            assert_eq!(vm, f(&mut Eval, v), "{name}({v:#010x}): VM and Eval differ");
        }
    }
}

/// Measures every unary recipe on all 2^32 inputs and prints the table of
/// the spec; fails if a documented bound is exceeded.
#[test]
#[ignore = "all 2^32 inputs per function: minutes in release"]
fn exhaustive() {
    let only = std::env::var("MATH_ONLY").ok();
    let mut failed = Vec::new();
    for u in unary_cases().iter().filter(|u| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|n| n == u.name))
    }) {
        let start = std::time::Instant::now();
        // (max error, its input, all within bound, max error where the bound is in ulp only)
        let (worst, at, ok, pure) = (0u32..1 << 16)
            .into_par_iter()
            .map(|high| {
                let mut acc = (0.0f64, 0u32, true, 0.0f64);
                for b in high << 16..=(high << 16 | 0xFFFF) {
                    let (err, ok) = u.check(b);
                    if err > acc.0 {
                        (acc.0, acc.1) = (err, b);
                    }
                    acc.2 &= ok;
                    if (u.abs)(f32::from_bits(b)) == 0.0 {
                        acc.3 = acc.3.max(err);
                    }
                }
                acc
            })
            .reduce(
                || (0.0, 0, true, 0.0),
                |a, b| {
                    let (worst, at) = if b.0 > a.0 { (b.0, b.1) } else { (a.0, a.1) };
                    (worst, at, a.2 && b.2, a.3.max(b.3))
                },
            );
        println!(
            "{:<10} max {:>14.3} ulp at {:#010x} ({:e}); max where ulp-bounded {:.3}; within bound: {ok}; {:.0?}",
            u.name,
            worst,
            at,
            f32::from_bits(at),
            pure,
            start.elapsed()
        );
        if !ok {
            failed.push(u.name);
        }
    }
    assert!(failed.is_empty(), "out of bound: {failed:?}");
}
