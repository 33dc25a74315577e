//! Accuracy against f64 references, within the error bounds that the
//! canonical order of operations guarantees (docs/spec/kernels.md). The
//! engines agree bit for bit (tests/engines.rs), so the native engine stands
//! for both here.

use proptest::prelude::*;
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::{Model, ModelBuilder};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::conv::Conv;
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::lrn::Lrn;
use verdict_dnn::ops::norm::{Norm, NormKind};
use verdict_dnn::ops::pool::{Pool, PoolKind};
use verdict_dnn::ops::softmax::Softmax;
use verdict_dnn::ops::window::Window;

const EPS: f64 = f32::EPSILON as f64;

fn run(model: Model, input: &[f32]) -> Vec<f32> {
    let c = Compiled::new(model).unwrap();
    c.run_native(input).unwrap().output()
}

fn small() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-2.0f32..2.0, 256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A K-term fma chain is within K·eps·Σ|a·b| of the exact dot product.
    #[test]
    fn gemm_is_within_the_dot_product_bound((m, k, n) in (1usize..5, 1usize..64, 1usize..20), a in small(), b in small()) {
        let mut mb = ModelBuilder::new("g", &[m, k]);
        let w = mb.weight("b", &[k, n], b.iter().cycle().take(k * n).copied().collect()).unwrap();
        let y = mb.node("g", OpKind::Gemm(Gemm::default()), &[mb.input(), w]).unwrap();
        let av: Vec<f32> = a.iter().cycle().take(m * k).copied().collect();
        let bv: Vec<f32> = b.iter().cycle().take(k * n).copied().collect();
        let out = run(mb.finish(y), &av);
        for i in 0..m {
            for j in 0..n {
                let terms = (0..k).map(|t| f64::from(av[i * k + t]) * f64::from(bv[t * n + j]));
                let exact: f64 = terms.clone().sum();
                let scale: f64 = terms.map(f64::abs).sum();
                let err = (f64::from(out[i * n + j]) - exact).abs();
                prop_assert!(err <= k as f64 * EPS * scale + f64::from(f32::MIN_POSITIVE), "({i},{j}): {err} > bound");
            }
        }
    }

    #[test]
    fn conv_is_within_the_dot_product_bound(x in small(), w in small(), pad in 0usize..2) {
        let window = Window { pads: [pad; 4], ..Window::new([3, 3]) };
        let mut mb = ModelBuilder::new("c", &[1, 2, 5, 5]);
        let wt = mb.weight("w", &[3, 2, 3, 3], w[..54].to_vec()).unwrap();
        let y = mb.node("c", OpKind::Conv(Conv { window, group: 1, relu: false }), &[mb.input(), wt]).unwrap();
        let out = run(mb.finish(y), &x[..50]);
        let side = 5 + 2 * pad - 2;
        let at = |c: usize, r: isize, q: isize| if (0..5).contains(&r) && (0..5).contains(&q) { f64::from(x[c * 25 + r as usize * 5 + q as usize]) } else { 0.0 };
        for oc in 0..3 {
            for oy in 0..side {
                for ox in 0..side {
                    let mut exact = 0.0;
                    let mut scale = 0.0;
                    for c in 0..2 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let v = at(c, (oy + ky) as isize - pad as isize, (ox + kx) as isize - pad as isize) * f64::from(w[((oc * 2 + c) * 3 + ky) * 3 + kx]);
                                exact += v;
                                scale += v.abs();
                            }
                        }
                    }
                    let got = f64::from(out[(oc * side + oy) * side + ox]);
                    prop_assert!((got - exact).abs() <= 18.0 * EPS * scale + 1e-38);
                }
            }
        }
    }

    #[test]
    fn softmax_is_close_to_the_f64_softmax(x in prop::collection::vec(-30.0f32..30.0, 1..40)) {
        let n = x.len();
        let mut mb = ModelBuilder::new("s", &[n]);
        let y = mb.node("s", OpKind::Softmax(Softmax { axis: 0, log: false }), &[mb.input()]).unwrap();
        let out = run(mb.finish(y), &x);
        let m = x.iter().copied().fold(f64::NEG_INFINITY, |a, b| a.max(f64::from(b)));
        let total: f64 = x.iter().map(|&v| (f64::from(v) - m).exp()).sum();
        for (o, &v) in out.iter().zip(&x) {
            let exact = (f64::from(v) - m).exp() / total;
            prop_assert!((f64::from(*o) - exact).abs() <= 1e-6 + 1e-5 * exact, "{o} vs {exact}");
        }
    }

    #[test]
    fn average_pool_is_close_to_the_mean(x in small()) {
        let pool = Pool { kind: PoolKind::GlobalAvg, window: Window::new([1, 1]) };
        let mut mb = ModelBuilder::new("p", &[1, 4, 8, 8]);
        let y = mb.node("p", OpKind::Pool(pool), &[mb.input()]).unwrap();
        let out = run(mb.finish(y), &x[..256]);
        for c in 0..4 {
            let plane = &x[c * 64..(c + 1) * 64];
            let exact: f64 = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / 64.0;
            let scale: f64 = plane.iter().map(|&v| f64::from(v).abs()).sum::<f64>() / 64.0;
            prop_assert!((f64::from(out[c]) - exact).abs() <= 65.0 * EPS * scale);
        }
    }

    /// LayerNorm: the sums carry n·eps relative errors, so the result is
    /// within a few n·eps of the f64 value, scaled by how far the inputs are
    /// from their mean (max|x| / standard deviation).
    #[test]
    fn layer_norm_is_close_to_the_f64_layer_norm(x in prop::collection::vec(-2.0f32..2.0, 2..64)) {
        let n = x.len();
        let out = run(norm(NormKind::Layer, n), &x);
        let xs: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        let std = (var + 1e-5).sqrt();
        let spread = xs.iter().map(|v| v.abs()).fold(0.0, f64::max) / std;
        for (o, v) in out.iter().zip(&xs) {
            let exact = (v - mean) / std;
            let bound = (4 * n + 16) as f64 * EPS * (spread + exact.abs());
            prop_assert!((f64::from(*o) - exact).abs() <= bound, "{o} vs {exact} (bound {bound})");
        }
    }

    /// RmsNorm: every step is a relative error, n + 8 of them at most.
    #[test]
    fn rms_norm_is_close_to_the_f64_rms_norm(x in prop::collection::vec(-2.0f32..2.0, 1..64)) {
        let n = x.len();
        let out = run(norm(NormKind::Rms, n), &x);
        let xs: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let rms = (xs.iter().map(|v| v * v).sum::<f64>() / n as f64 + 1e-5).sqrt();
        for (o, v) in out.iter().zip(&xs) {
            let exact = v / rms;
            let bound = (n + 8) as f64 * EPS * exact.abs() + 1e-30;
            prop_assert!((f64::from(*o) - exact).abs() <= bound, "{o} vs {exact} (bound {bound})");
        }
    }

    /// LRN: the sum of squares carries (size + 1)·eps, the offset and scale
    /// two more, `pow` its `2 + 2·|beta·ln t|` ulp, the division one.
    #[test]
    fn lrn_is_close_to_the_f64_lrn(
        x in prop::collection::vec(-2.0f32..2.0, 6 * 4),
        size in 1usize..6,
        (alpha, beta, bias) in prop::sample::select(vec![(1e-4f32, 0.75f32, 1.0f32), (0.5, 0.5, 2.0), (1.0, 1.5, 0.5)]),
    ) {
        let mut mb = ModelBuilder::new("l", &[1, 6, 2, 2]);
        let y = mb.node("l", OpKind::Lrn(Lrn { alpha, beta, bias, size }), &[mb.input()]).unwrap();
        let out = run(mb.finish(y), &x);
        let at = |c: usize, i: usize| f64::from(x[c * 4 + i]);
        for c in 0usize..6 {
            for i in 0..4 {
                let (lo, hi) = (c.saturating_sub((size - 1) / 2), (c + size / 2).min(5));
                let s: f64 = (lo..=hi).map(|w| at(w, i) * at(w, i)).sum();
                let t = f64::from(bias) + f64::from(alpha) / size as f64 * s;
                let exact = at(c, i) / t.powf(f64::from(beta));
                let ulps = (size + 8) as f64 + 2.0 * (f64::from(beta) * t.ln()).abs();
                let bound = ulps * EPS * exact.abs() + 1e-30;
                let got = f64::from(out[c * 4 + i]);
                prop_assert!((got - exact).abs() <= bound, "{got} vs {exact} (bound {bound})");
            }
        }
    }
}

/// A normalisation of a vector of `n` with epsilon 1e-5 and no scale or bias.
fn norm(kind: NormKind, n: usize) -> Model {
    let mut mb = ModelBuilder::new("n", &[n]);
    let op = OpKind::Norm(Norm {
        kind,
        axes: 0..1,
        epsilon: 1e-5,
    });
    let y = mb.node("n", op, &[mb.input()]).unwrap();
    mb.finish(y)
}
