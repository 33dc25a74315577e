//! The one per-op suite every engine runs: models and property tests whose
//! expansion, `engine_suite!(check)`, calls `check(model, input)` for each
//! case; `check` compares that engine with the VM, byte for byte.

use proptest::prelude::*;
use verdict_dnn::ir::{Model, ModelBuilder};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::reshape::Reshape;
use verdict_dnn::ops::unary::{Unary, UnaryOp};

/// Deterministic pseudo-random floats in [-1, 1).
pub(crate) fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A 784-56-10 MLP (PyTorch layout: weights `[out, in]`, so `transB`).
pub(crate) fn mlp() -> Model {
    let mut b = ModelBuilder::new("mlp", &[1, 784]);
    let w1 = b.weight("w1", &[56, 784], values(1, 56 * 784)).unwrap();
    let b1 = b.weight("b1", &[56], values(2, 56)).unwrap();
    let w2 = b.weight("w2", &[10, 56], values(3, 560)).unwrap();
    let b2 = b.weight("b2", &[10], values(4, 10)).unwrap();
    let gemm = OpKind::Gemm(Gemm {
        trans_b: true,
        ..Gemm::default()
    });
    let x = b.input();
    let h = b.node("fc1", gemm.clone(), &[x, w1, b1]).unwrap();
    let h = b
        .node("relu", OpKind::Unary(Unary { op: UnaryOp::Relu }), &[h])
        .unwrap();
    let y = b.node("fc2", gemm, &[h, w2, b2]).unwrap();
    let y = b
        .node("flat", OpKind::Reshape(Reshape { shape: vec![10] }), &[y])
        .unwrap();
    b.finish(y)
}

/// A small digits-sized CNN: conv-relu-maxpool, conv-relu, global average,
/// dense.
pub(crate) fn cnn() -> Model {
    use verdict_dnn::ops::conv::Conv;
    use verdict_dnn::ops::pool::{Pool, PoolKind};
    use verdict_dnn::ops::window::Window;
    let mut b = ModelBuilder::new("cnn", &[1, 1, 8, 8]);
    let w1 = b.weight("w1", &[8, 1, 3, 3], values(11, 72)).unwrap();
    let b1 = b.weight("b1", &[8], values(12, 8)).unwrap();
    let w2 = b.weight("w2", &[16, 8, 3, 3], values(13, 16 * 72)).unwrap();
    let w3 = b.weight("w3", &[16, 10], values(14, 160)).unwrap();
    let relu = OpKind::Unary(Unary { op: UnaryOp::Relu });
    let padded = Window {
        pads: [1; 4],
        ..Window::new([3, 3])
    };
    let x = b.input();
    let conv = |window: &Window| {
        OpKind::Conv(Conv {
            window: window.clone(),
            group: 1,
            relu: false,
        })
    };
    let h = b.node("conv1", conv(&padded), &[x, w1, b1]).unwrap();
    let h = b.node("relu1", relu.clone(), &[h]).unwrap();
    let pool = Pool {
        kind: PoolKind::Max,
        window: Window {
            strides: [2, 2],
            ..Window::new([2, 2])
        },
    };
    let h = b.node("pool1", OpKind::Pool(pool), &[h]).unwrap();
    let h = b.node("conv2", conv(&padded), &[h, w2]).unwrap();
    let h = b.node("relu2", relu, &[h]).unwrap();
    let gap = Pool {
        kind: PoolKind::GlobalAvg,
        window: Window::new([1, 1]),
    };
    let h = b.node("gap", OpKind::Pool(gap), &[h]).unwrap();
    let h = b
        .node(
            "flatten",
            OpKind::Reshape(Reshape { shape: vec![1, 16] }),
            &[h],
        )
        .unwrap();
    let y = b
        .node("fc", OpKind::Gemm(Gemm::default()), &[h, w3])
        .unwrap();
    b.finish(y)
}

/// A larger chain through every op family: a 3x3 padded conv with groups and a fused Relu,
/// average pooling without counting pads, GELU, a transpose, a slice, a
/// concat with a weight, a pad, a batched MatMul, a reduction, LayerNorm-like
/// arithmetic with broadcasting, and a log-softmax.
pub(crate) fn chain() -> Model {
    use verdict_dnn::ops::concat::Concat;
    use verdict_dnn::ops::conv::Conv;
    use verdict_dnn::ops::pad::Pad;
    use verdict_dnn::ops::pool::{Pool, PoolKind};
    use verdict_dnn::ops::reduce::{Reduce, ReduceKind};
    use verdict_dnn::ops::slice::{Range, Slice};
    use verdict_dnn::ops::softmax::Softmax;
    use verdict_dnn::ops::transpose::Transpose;
    use verdict_dnn::ops::window::Window;
    let mut b = ModelBuilder::new("chain", &[2, 4, 9, 9]);
    let w1 = b.weight("w1", &[8, 2, 3, 3], values(31, 144)).unwrap();
    let b1 = b.weight("b1", &[8], values(32, 8)).unwrap();
    let x = b.input();
    let conv = Conv {
        window: Window {
            pads: [1, 0, 1, 2],
            strides: [1, 2],
            ..Window::new([3, 3])
        },
        group: 2,
        relu: true,
    };
    let h = b.node("conv", OpKind::Conv(conv), &[x, w1, b1]).unwrap();
    let pool = Pool {
        kind: PoolKind::Avg {
            count_include_pad: false,
        },
        window: Window {
            pads: [1, 1, 0, 0],
            ..Window::new([2, 2])
        },
    };
    let (ph, pw) = (9, 5);
    let divisors = b
        .weight("div", &[ph, pw], pool.divisors(9, 5).unwrap())
        .unwrap();
    let h = b.node("pool", OpKind::Pool(pool), &[h, divisors]).unwrap();
    let h = b
        .node(
            "gelu",
            OpKind::Unary(Unary {
                op: UnaryOp::GeluTanh,
            }),
            &[h],
        )
        .unwrap();
    let h = b
        .node(
            "transpose",
            OpKind::Transpose(Transpose {
                perm: vec![0, 2, 3, 1],
            }),
            &[h],
        )
        .unwrap();
    let h = b
        .node(
            "slice",
            OpKind::Slice(Slice {
                ranges: vec![
                    Range {
                        start: 0,
                        step: 1,
                        len: 2,
                    },
                    Range {
                        start: 8,
                        step: -2,
                        len: 4,
                    },
                    Range {
                        start: 0,
                        step: 1,
                        len: 5,
                    },
                    Range {
                        start: 0,
                        step: 1,
                        len: 8,
                    },
                ],
            }),
            &[h],
        )
        .unwrap();
    let extra = b.weight("extra", &[2, 4, 5, 3], values(33, 120)).unwrap();
    let h = b
        .node("concat", OpKind::Concat(Concat { axis: 3 }), &[h, extra])
        .unwrap();
    let h = b
        .node(
            "pad",
            OpKind::Pad(Pad {
                begin: vec![0, 0, 0, 1],
                end: vec![0, 0, 0, 0],
                value: -0.5,
            }),
            &[h],
        )
        .unwrap();
    let w2 = b.weight("w2", &[12, 6], values(34, 72)).unwrap();
    let h = b
        .node("matmul", OpKind::Gemm(Gemm::default()), &[h, w2])
        .unwrap();
    let mean = b
        .node(
            "mean",
            OpKind::Reduce(Reduce {
                kind: ReduceKind::Mean,
                axes: vec![3],
                keepdims: true,
            }),
            &[h],
        )
        .unwrap();
    let h = b
        .node(
            "center",
            OpKind::Binary(Binary { op: BinaryOp::Sub }),
            &[h, mean],
        )
        .unwrap();
    let h = b
        .node(
            "logsoftmax",
            OpKind::Softmax(Softmax { axis: 3, log: true }),
            &[h],
        )
        .unwrap();
    b.finish(h)
}

/// Bit patterns where the arithmetic and the recipes change behaviour,
/// signalling NaNs with several payloads among them (a payload that some
/// build lets through shows up only with such inputs).
pub(crate) const SPECIALS: [u32; 45] = [
    0x0000_0000,
    0x8000_0000,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0xFFC0_0000,
    0x7F80_0001,
    0xFFBF_FFFF,
    0x7FC1_2345,
    0x7F80_0386,
    0x7FA0_0000,
    0x7FBF_FFFF,
    0xFF80_0001,
    0xFFA5_A5A5,
    0x0000_0001,
    0x8000_0001,
    0x007F_FFFF,
    0x807F_FFFF,
    0x0080_0000,
    0x8080_0000,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
    0x3F80_0000,
    0xBF80_0000,
    0x3F00_0000,
    0xBF00_0000,
    0x4000_0000,
    0xC000_0000,
    0x42B2_0000,
    0xC2D0_0000,
    0x42B1_7218,
    0xC2CF_FFFF,
    0x42B0_0000,
    0xC2AE_0000,
    0x3F10_0000,
    0x3F60_0000,
    0x407C_0000,
    0x4110_0000,
    0x4B80_0000,
    0xCB80_0000,
    0x4F00_0000,
    0xCF00_0001,
    0x3F35_04F3,
    0x4040_0000,
    0xC040_0000,
];

pub(crate) fn f32_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -4.0f32..4.0,
        1 => prop::sample::select(vec![
            0.0f32, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE / 4.0, 1e-45, f32::MAX, -f32::MAX, 1.0, -1.0,
        ]),
        1 => any::<u32>().prop_map(f32::from_bits),
        1 => signalling_nan(),
    ]
}

/// A signalling NaN: either sign, quiet bit clear, any nonzero payload.
pub(crate) fn signalling_nan() -> impl Strategy<Value = f32> {
    (any::<bool>(), 1u32..0x40_0000)
        .prop_map(|(s, p)| f32::from_bits((s as u32) << 31 | 0x7F80_0000 | p))
}

/// `n` signalling NaNs with payloads spread over the range, both signs.
pub(crate) fn signalling_nans(n: usize) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            f32::from_bits((i & 1) << 31 | 0x7F80_0000 | (i.wrapping_mul(0x9E37) % 0x3F_FFFF + 1))
        })
        .collect()
}

/// `values(seed, n)` with a signalling NaN at every seventh position.
pub(crate) fn with_signalling_nans(seed: u64, n: usize) -> Vec<f32> {
    let nans = signalling_nans(n);
    let mut x = values(seed, n);
    for i in (3..n).step_by(7) {
        x[i] = nans[i];
    }
    x
}

pub(crate) fn tensor(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(f32_value(), n)
}

/// Index values for Gather: mostly in range (negative ones too), some out of
/// range, fractional, infinite or NaN.
pub(crate) fn index_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => (-6i32..6).prop_map(|i| i as f32),
        1 => prop::sample::select(vec![
            f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.7, -0.5, -3.2, 1e10, -1e10, -0.0,
        ]),
    ]
}

/// The suite, as tests in a module `suite` calling `check(model, input)`,
/// a function of the including file returning
/// `Result<Compiled, TestCaseError>`.
macro_rules! engine_suite {
    ($check:ident) => {
        mod suite {
            use proptest::prelude::*;
            use verdict_dnn::ir::ModelBuilder;
            use verdict_dnn::ops::OpKind;
            use verdict_dnn::ops::argmax::ArgMax;
            use verdict_dnn::ops::binary::{Binary, BinaryOp};
            use verdict_dnn::ops::decode::Encoding;
            use verdict_dnn::ops::gather::Gather;
            use verdict_dnn::ops::gemm::Gemm;
            use verdict_dnn::ops::lrn::Lrn;
            use verdict_dnn::ops::norm::{Norm, NormKind};
            use verdict_dnn::ops::sample::Sample;
            use verdict_dnn::ops::select::Where;
            use verdict_dnn::ops::slice::{Range, Slice};
            use verdict_dnn::ops::unary::{Unary, UnaryOp};

            use super::$check as check;
            use crate::common::*;

            #[test]
            fn mlp_is_bit_exact() {
                check(mlp(), &values(9, 784)).unwrap();
            }

            #[test]
            fn cnn_is_bit_exact() {
                check(cnn(), &values(21, 64)).unwrap();
            }

            /// Several GPU work-group tiles in each direction, ragged edges,
            /// special values in some chains.
            #[test]
            fn gemm_across_tiles_is_bit_exact() {
                let (m, k, n) = (70, 33, 130);
                let mut mb = ModelBuilder::new("gemm", &[m, k]);
                let w = mb.weight("b", &[n, k], values(71, n * k)).unwrap();
                let c = mb.weight("c", &[n], values(72, n)).unwrap();
                let gemm = Gemm { trans_b: true, alpha: 0.5, ..Gemm::default() };
                let y = mb.node("gemm", OpKind::Gemm(gemm), &[mb.input(), w, c]).unwrap();
                let mut x = values(73, m * k);
                for (i, v) in [(5, f32::INFINITY), (100, f32::NAN), (200, -0.0), (2000, 1e-45)] {
                    x[i] = v;
                }
                check(mb.finish(y), &x).unwrap();
            }

            /// Inputs posted as bytes and as 16-bit integers, of lengths
            /// that leave the last word partly filled: each value widened
            /// from its packed bytes, extremes included.
            #[test]
            fn decoded_inputs_are_bit_exact() {
                for (encoding, n) in [(Encoding::U8, 37), (Encoding::U16, 19)] {
                    let mut mb = ModelBuilder::new("decode", &[n]);
                    let x = mb.decoded_input(encoding).unwrap();
                    let w = mb.weight("w", &[n], values(81, n)).unwrap();
                    let y = mb.node("mul", OpKind::Binary(Binary { op: BinaryOp::Mul }), &[x, w]).unwrap();
                    let max = encoding.max() as usize;
                    let input: Vec<f32> = (0..n).map(|i| ((i * 7919) % (max + 1)) as f32).chain([max as f32]).skip(1).collect();
                    check(mb.finish(y), &input).unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
                }
            }

            /// Tokens drawn from two rows of logits (ties, NaN and
            /// infinities among them) with greedy, plain, top-k and top-p
            /// parameters and several seeds; the weights left in scratch
            /// too.
            #[test]
            fn sampling_is_bit_exact() {
                let (rows, v) = (2, 37);
                let n = rows * v;
                let mut mb = ModelBuilder::new("sample", &[n + 5]);
                let part = |start, len| OpKind::Slice(Slice { ranges: vec![Range { start, step: 1, len }] });
                let flat = mb.node("x", part(0, n), &[mb.input()]).unwrap();
                let x = mb.node("rows", OpKind::Reshape(verdict_dnn::ops::reshape::Reshape { shape: vec![rows, v] }), &[flat]).unwrap();
                let p = mb.node("p", part(n, 5), &[mb.input()]).unwrap();
                let y = mb.node("sample", OpKind::Sample(Sample { step: 3 }), &[x, p]).unwrap();
                let model = mb.finish(y);
                let mut logits = values(91, n);
                for (i, b) in [(3, f32::NAN), (40, f32::INFINITY), (41, 2.5), (42, 2.5), (60, -0.0)] {
                    logits[i] = b;
                }
                for params in [
                    [7.0, 0.0, 0.0, 0.0, 10000.0],
                    [7.0, 0.0, 1000.0, 0.0, 10000.0],
                    [12345.0, 3.0, 700.0, 5.0, 10000.0],
                    [65535.0, 65535.0, 1500.0, 0.0, 9000.0],
                    [1.0, 0.0, 1000.0, 40.0, 5000.0],
                    [2.0, 9.0, 250.0, 1.0, 0.0],
                ] {
                    let input: Vec<f32> = logits.iter().copied().chain(params).collect();
                    check(model.clone(), &input).unwrap_or_else(|e| panic!("{params:?}: {e}"));
                }
            }

            #[test]
            fn chain_of_every_op_family_is_bit_exact() {
                check(chain(), &values(35, 2 * 4 * 81)).unwrap();
            }

            /// Whole models on inputs that are all signalling NaNs, and on
            /// ordinary inputs with some mixed in.
            #[test]
            fn signalling_nan_inputs_are_bit_exact() {
                for (name, model, n) in [("mlp", mlp(), 784), ("cnn", cnn(), 64), ("chain", chain(), 2 * 4 * 81)] {
                    check(model.clone(), &signalling_nans(n)).unwrap_or_else(|e| panic!("{name}, all NaN: {e}"));
                    check(model, &with_signalling_nans(36, n)).unwrap_or_else(|e| panic!("{name}, mixed: {e}"));
                }
            }

            #[test]
            fn unary_special_values_are_bit_exact() {
                let x: Vec<f32> = SPECIALS.iter().map(|&b| f32::from_bits(b)).collect();
                let with_attributes = [
                    UnaryOp::LeakyRelu { alpha: 0.1 },
                    UnaryOp::Clip { lo: -1.0, hi: 2.0 },
                ];
                for op in UnaryOp::WITHOUT_ATTRIBUTES.into_iter().chain(with_attributes) {
                    let mut mb = ModelBuilder::new("unary", &[x.len()]);
                    let y = mb
                        .node("op", OpKind::Unary(Unary { op }), &[mb.input()])
                        .unwrap();
                    check(mb.finish(y), &x).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
                }
            }


            #[test]
            fn binary_special_values_are_bit_exact() {
                // Every pair of specials: the input is x, the weight y, as [n, 1] by [n].
                let n = SPECIALS.len();
                let x: Vec<f32> = SPECIALS.iter().map(|&b| f32::from_bits(b)).collect();
                for op in [
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Div,
                    BinaryOp::Max,
                    BinaryOp::Min,
                    BinaryOp::Pow,
                    BinaryOp::Equal,
                    BinaryOp::Less,
                    BinaryOp::LessOrEqual,
                    BinaryOp::Greater,
                    BinaryOp::GreaterOrEqual,
                    BinaryOp::And,
                    BinaryOp::Or,
                    BinaryOp::Xor,
                ] {
                    let mut mb = ModelBuilder::new("binary", &[n, 1]);
                    let w = mb.weight("y", &[n], x.clone()).unwrap();
                    let y = mb
                        .node("op", OpKind::Binary(Binary { op }), &[mb.input(), w])
                        .unwrap();
                    check(mb.finish(y), &x).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
                }
            }

            /// Every condition among the specials (NaN and -0 included)
            /// against x and y words that are specials too, signalling NaNs
            /// kept as they are.
            #[test]
            fn where_special_values_are_bit_exact() {
                let n = SPECIALS.len();
                let c: Vec<f32> = SPECIALS.iter().map(|&b| f32::from_bits(b)).collect();
                let mut mb = ModelBuilder::new("where", &[n, 1]);
                let x = mb.weight("x", &[n], c.iter().rev().copied().collect()).unwrap();
                let nans = signalling_nans(n);
                let y = mb.weight("y", &[1, n], nans).unwrap();
                let out = mb.node("where", OpKind::Where(Where), &[mb.input(), x, y]).unwrap();
                check(mb.finish(out), &c).unwrap();
            }

            /// Each rule on the specials (NaNs, infinities, both zeros),
            /// along each axis.
            #[test]
            fn argmax_special_values_are_bit_exact() {
                let x: Vec<f32> = SPECIALS.iter().map(|&b| f32::from_bits(b)).collect();
                let rows = x.len() / 4;
                for (axis, min, last) in (0..2).flat_map(|a| [(a, false, false), (a, true, false), (a, false, true), (a, true, true)]) {
                    let mut mb = ModelBuilder::new("argmax", &[rows, 4]);
                    let op = ArgMax { axis, keepdims: axis == 0, min, last };
                    let y = mb.node("argmax", OpKind::ArgMax(op), &[mb.input()]).unwrap();
                    check(mb.finish(y), &x[..rows * 4]).unwrap_or_else(|e| panic!("{op:?}: {e}"));
                }
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(48))]

                /// Ties and NaNs are likely: the values come from a few.
                #[test]
                fn argmax(
                    shape in prop::collection::vec(1usize..5, 1..4),
                    axis in any::<prop::sample::Index>(),
                    (keepdims, min, last) in (any::<bool>(), any::<bool>(), any::<bool>()),
                    x in prop::collection::vec(prop::sample::select(vec![0.0f32, -0.0, 1.0, -1.0, f32::NAN, f32::INFINITY]), 64),
                ) {
                    let axis = axis.index(shape.len());
                    let mut mb = ModelBuilder::new("argmax", &shape);
                    let op = ArgMax { axis, keepdims, min, last };
                    let y = mb.node("argmax", OpKind::ArgMax(op), &[mb.input()]).unwrap();
                    let n: usize = shape.iter().product();
                    check(mb.finish(y), &x[..n])?;
                }

                #[test]
                fn gemm(
                    (m, k, n) in (1usize..20, 1usize..40, 1usize..40),
                    trans_a in any::<bool>(), trans_b in any::<bool>(),
                    alpha in prop::sample::select(vec![1.0f32, 0.5, -2.0]),
                    beta in prop::sample::select(vec![1.0f32, 0.25]),
                    bias in 0usize..4,
                    seed in any::<u64>(),
                ) {
                    let a_shape = if trans_a { vec![k, m] } else { vec![m, k] };
                    let b_shape = if trans_b { vec![n, k] } else { vec![k, n] };
                    let mut mb = ModelBuilder::new("gemm", &a_shape);
                    let w = mb.weight("b", &b_shape, values(seed, k * n)).unwrap();
                    let mut inputs = vec![mb.input(), w];
                    let c_shape: Option<Vec<usize>> = match bias { 1 => Some(vec![n]), 2 => Some(vec![m, n]), 3 => Some(vec![m, 1]), _ => None };
                    if let Some(cs) = &c_shape {
                        inputs.push(mb.weight("c", cs, values(seed ^ 7, cs.iter().product())).unwrap());
                    }
                    let y = mb.node("gemm", OpKind::Gemm(Gemm { trans_a, trans_b, alpha, beta }), &inputs).unwrap();
                    let input = values(seed ^ 99, m * k);
                    check(mb.finish(y), &input)?;
                }

                #[test]
                fn gemm_special_values(m in 1usize..4, k in 1usize..12, n in 30usize..36, a in tensor(48), b in tensor(12 * 36)) {
                    let mut mb = ModelBuilder::new("gemm", &[m, k]);
                    let w = mb.weight("b", &[k, n], b[..k * n].to_vec()).unwrap();
                    let y = mb.node("gemm", OpKind::Gemm(Gemm::default()), &[mb.input(), w]).unwrap();
                    check(mb.finish(y), &a[..m * k])?;
                }

                #[test]
                fn batched_matmul(batch in 1usize..4, (m, k, n) in (1usize..5, 1usize..20, 1usize..20), x in tensor(4 * 5 * 20), seed in any::<u64>()) {
                    let mut mb = ModelBuilder::new("matmul", &[batch, m, k]);
                    let w = mb.weight("b", &[k, n], values(seed, k * n)).unwrap();
                    let y = mb.node("matmul", OpKind::Gemm(Gemm::default()), &[mb.input(), w]).unwrap();
                    check(mb.finish(y), &x[..batch * m * k])?;
                }

                /// Products over a batch, as attention's over its heads:
                /// `B` a 3-D weight, or the input itself (`A·Aᵀ` per item,
                /// as queries by keys) or reshaped (`[batch, k, m]`).
                #[test]
                fn batched_products(
                    batch in 2usize..5, (m, k, n) in (1usize..6, 1usize..20, 1usize..20),
                    trans_b in any::<bool>(), from_input in any::<bool>(),
                    alpha in prop::sample::select(vec![1.0f32, 0.5]),
                    x in tensor(4 * 5 * 19), seed in any::<u64>(),
                ) {
                    let mut mb = ModelBuilder::new("bmm", &[batch, m, k]);
                    let b = match (from_input, trans_b) {
                        (true, true) => mb.input(),
                        (true, false) => {
                            let reshape = OpKind::Reshape(verdict_dnn::ops::reshape::Reshape { shape: vec![batch, k, m] });
                            mb.node("keys", reshape, &[mb.input()]).unwrap()
                        }
                        (false, _) => {
                            let shape = if trans_b { vec![batch, n, k] } else { vec![batch, k, n] };
                            mb.weight("b", &shape, values(seed, batch * k * n)).unwrap()
                        }
                    };
                    let gemm = Gemm { trans_b, alpha, ..Gemm::default() };
                    let y = mb.node("bmm", OpKind::Gemm(gemm), &[mb.input(), b]).unwrap();
                    check(mb.finish(y), &x[..batch * m * k])?;
                }

                #[test]
                fn binary_broadcasting(
                    op in prop::sample::select(vec![
                        BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min, BinaryOp::Pow,
                        BinaryOp::Equal, BinaryOp::Less, BinaryOp::LessOrEqual, BinaryOp::Greater, BinaryOp::GreaterOrEqual,
                        BinaryOp::And, BinaryOp::Or, BinaryOp::Xor,
                    ]),
                    shape in prop::collection::vec(1usize..4, 1..4),
                    mask in prop::collection::vec(any::<bool>(), 4),
                    drop in 0usize..3,
                    x in tensor(64), w in tensor(64),
                ) {
                    // The weight's shape: a suffix of the input's, some dimensions set to 1.
                    let suffix = &shape[drop.min(shape.len() - 1)..];
                    let w_shape: Vec<usize> = suffix.iter().zip(&mask).map(|(&d, &one)| if one { 1 } else { d }).collect();
                    let mut mb = ModelBuilder::new("binary", &shape);
                    let wn: usize = w_shape.iter().product();
                    let wt = mb.weight("w", &w_shape, w[..wn].to_vec()).unwrap();
                    let y = mb.node("op", OpKind::Binary(Binary { op }), &[wt, mb.input()]).unwrap();
                    let n: usize = shape.iter().product();
                    check(mb.finish(y), &x[..n])?;
                }

                #[test]
                fn unary(
                    op in prop::sample::select(vec![
                        UnaryOp::Relu, UnaryOp::LeakyRelu { alpha: 0.1 }, UnaryOp::Clip { lo: -1.0, hi: 2.0 },
                        UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sqrt, UnaryOp::Reciprocal,
                        UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Erf,
                        UnaryOp::GeluExact, UnaryOp::GeluTanh, UnaryOp::IsNaN, UnaryOp::IsInf,
                        UnaryOp::IsPosInf, UnaryOp::IsNegInf, UnaryOp::Not, UnaryOp::Bool, UnaryOp::Trunc,
                    ]),
                    x in tensor(40),
                ) {
                    let mut mb = ModelBuilder::new("unary", &[40]);
                    let y = mb.node("op", OpKind::Unary(Unary { op }), &[mb.input()]).unwrap();
                    check(mb.finish(y), &x)?;
                }

                #[test]
                fn conv(
                    (n, g, cg, ocg) in (1usize..3, 1usize..3, 1usize..3, 1usize..4),
                    // Rows up to 23 wide: the native engine's depthwise
                    // path (`cg = 1`) reads them sixteen outputs a vector.
                    (h, w) in (3usize..8, 3usize..24),
                    (kh, kw) in (1usize..4, 1usize..4),
                    strides in (1usize..3, 1usize..4),
                    pads in prop::array::uniform4(0usize..2),
                    dil in (1usize..3, 1usize..3),
                    bias in any::<bool>(),
                    relu in any::<bool>(),
                    x in tensor(2 * 4 * 7 * 23),
                    seed in any::<u64>(),
                ) {
                    use verdict_dnn::ops::conv::Conv;
                    use verdict_dnn::ops::window::Window;
                    let window = Window { kernel: [kh, kw], strides: [strides.0, strides.1], pads, dilations: [dil.0, dil.1] };
                    prop_assume!(window.output(h, w).is_ok());
                    let (c, oc) = (g * cg, g * ocg);
                    let mut mb = ModelBuilder::new("conv", &[n, c, h, w]);
                    let wt = mb.weight("w", &[oc, cg, kh, kw], values(seed, oc * cg * kh * kw)).unwrap();
                    let mut inputs = vec![mb.input(), wt];
                    if bias {
                        inputs.push(mb.weight("b", &[oc], values(seed ^ 5, oc)).unwrap());
                    }
                    let y = mb.node("conv", OpKind::Conv(Conv { window, group: g, relu }), &inputs).unwrap();
                    check(mb.finish(y), &x[..n * c * h * w])?;
                }

                #[test]
                fn pool(
                    kind in prop::sample::select(vec![
                        verdict_dnn::ops::pool::PoolKind::Max,
                        verdict_dnn::ops::pool::PoolKind::Avg { count_include_pad: true },
                        verdict_dnn::ops::pool::PoolKind::Avg { count_include_pad: false },
                        verdict_dnn::ops::pool::PoolKind::GlobalAvg,
                        verdict_dnn::ops::pool::PoolKind::GlobalMax,
                    ]),
                    // Rows from 1 to 45 outputs wide: the native engine pools
                    // rows of 4 or more in vectors, narrower ones one by one.
                    (n, c, h, w) in (1usize..3, 1usize..3, 2usize..7, 2usize..46),
                    (kh, kw) in (1usize..4, 1usize..4),
                    strides in (1usize..3, 1usize..4),
                    pads in prop::array::uniform4(0usize..2),
                    dil in (1usize..3, 1usize..3),
                    x in tensor(2 * 2 * 6 * 45),
                ) {
                    use verdict_dnn::ops::pool::Pool;
                    use verdict_dnn::ops::window::Window;
                    let window = Window { kernel: [kh, kw], strides: [strides.0, strides.1], pads, dilations: [dil.0, dil.1] };
                    prop_assume!(window.output(h, w).is_ok() && pads[0] < kh && pads[2] < kh && pads[1] < kw && pads[3] < kw);
                    let pool = Pool { kind, window };
                    let mut mb = ModelBuilder::new("pool", &[n, c, h, w]);
                    let mut inputs = vec![mb.input()];
                    if pool.needs_divisors() {
                        let (oh, ow) = pool.window.output(h, w).unwrap();
                        inputs.push(mb.weight("divisors", &[oh, ow], pool.divisors(h, w).unwrap()).unwrap());
                    }
                    let y = mb.node("pool", OpKind::Pool(pool), &inputs).unwrap();
                    check(mb.finish(y), &x[..n * c * h * w])?;
                }

                #[test]
                fn transpose(shape in prop::collection::vec(1usize..4, 1..5), perm_seed in any::<prop::sample::Index>(), x in tensor(256)) {
                    use verdict_dnn::ops::transpose::Transpose;
                    let mut perms: Vec<Vec<usize>> = vec![vec![]];
                    for d in 0..shape.len() {
                        perms = perms.into_iter().flat_map(|p| (0..=p.len()).map(move |i| { let mut q = p.clone(); q.insert(i, d); q })).collect();
                    }
                    let perm = perms[perm_seed.index(perms.len())].clone();
                    let mut mb = ModelBuilder::new("t", &shape);
                    let y = mb.node("t", OpKind::Transpose(Transpose { perm }), &[mb.input()]).unwrap();
                    check(mb.finish(y), &x[..shape.iter().product()])?;
                }

                #[test]
                fn slice(shape in prop::collection::vec(1usize..6, 1..4), picks in prop::collection::vec((any::<prop::sample::Index>(), -2i64..3, any::<prop::sample::Index>()), 4), x in tensor(216)) {
                    use verdict_dnn::ops::slice::{Range, Slice};
                    let ranges: Vec<Range> = shape.iter().zip(&picks).map(|(&n, (s, step, l))| {
                        let step = if *step == 0 { 1 } else { *step };
                        let start = s.index(n);
                        let room = if step > 0 { (n - 1 - start) as i64 / step + 1 } else { start as i64 / -step + 1 };
                        Range { start, step, len: l.index(room as usize) + 1 }
                    }).collect();
                    let mut mb = ModelBuilder::new("s", &shape);
                    let y = mb.node("s", OpKind::Slice(Slice { ranges }), &[mb.input()]).unwrap();
                    check(mb.finish(y), &x[..shape.iter().product()])?;
                }

                #[test]
                fn concat_and_pad(shape in prop::collection::vec(1usize..4, 1..4), axis in any::<prop::sample::Index>(), extra in 1usize..3, pads in prop::collection::vec((0usize..2, 0usize..2), 3), value in prop::sample::select(vec![0.0f32, -1.5]), x in tensor(64), w in tensor(64)) {
                    use verdict_dnn::ops::concat::Concat;
                    use verdict_dnn::ops::pad::Pad;
                    let axis = axis.index(shape.len());
                    let mut w_shape = shape.clone();
                    w_shape[axis] = extra;
                    let mut mb = ModelBuilder::new("c", &shape);
                    let wt = mb.weight("w", &w_shape, w[..w_shape.iter().product()].to_vec()).unwrap();
                    let c = mb.node("c", OpKind::Concat(Concat { axis }), &[mb.input(), wt, mb.input()]).unwrap();
                    let pad = Pad { begin: pads.iter().take(shape.len()).map(|p| p.0).collect(), end: pads.iter().take(shape.len()).map(|p| p.1).collect(), value };
                    let y = mb.node("p", OpKind::Pad(pad), &[c]).unwrap();
                    check(mb.finish(y), &x[..shape.iter().product()])?;
                }

                #[test]
                fn reduce(
                    kind in prop::sample::select(vec![
                        verdict_dnn::ops::reduce::ReduceKind::Sum, verdict_dnn::ops::reduce::ReduceKind::Mean,
                        verdict_dnn::ops::reduce::ReduceKind::Max, verdict_dnn::ops::reduce::ReduceKind::Min,
                    ]),
                    shape in prop::collection::vec(1usize..5, 1..4),
                    mask in prop::collection::vec(any::<bool>(), 4),
                    keepdims in any::<bool>(),
                    x in tensor(64),
                ) {
                    use verdict_dnn::ops::reduce::Reduce;
                    let axes: Vec<usize> = (0..shape.len()).filter(|&d| mask[d]).collect();
                    let mut mb = ModelBuilder::new("r", &shape);
                    let y = mb.node("r", OpKind::Reduce(Reduce { kind, axes, keepdims }), &[mb.input()]).unwrap();
                    check(mb.finish(y), &x[..shape.iter().product()])?;
                }

                #[test]
                fn softmax(shape in prop::collection::vec(1usize..5, 1..4), axis in any::<prop::sample::Index>(), log in any::<bool>(), x in tensor(64)) {
                    use verdict_dnn::ops::softmax::Softmax;
                    let axis = axis.index(shape.len());
                    let mut mb = ModelBuilder::new("sm", &shape);
                    let y = mb.node("sm", OpKind::Softmax(Softmax { axis, log }), &[mb.input()]).unwrap();
                    check(mb.finish(y), &x[..shape.iter().product()])?;
                }

                #[test]
                fn norm(
                    kind in prop::sample::select(vec![NormKind::Layer, NormKind::Rms]),
                    shape in prop::collection::vec(1usize..5, 1..4),
                    (first, span) in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
                    affine in 0usize..3,
                    epsilon in prop::sample::select(vec![1e-5f32, 0.0, 0.5]),
                    x in tensor(64), g in tensor(64), b in tensor(64),
                ) {
                    let start = first.index(shape.len());
                    let axes = start..start + 1 + span.index(shape.len() - start);
                    let block = &shape[axes.clone()];
                    let len: usize = block.iter().product();
                    let mut mb = ModelBuilder::new("norm", &shape);
                    let mut inputs = vec![mb.input()];
                    for (name, data) in [("scale", &g), ("bias", &b)].into_iter().take(affine) {
                        inputs.push(mb.weight(name, block, data[..len].to_vec()).unwrap());
                    }
                    let y = mb.node("norm", OpKind::Norm(Norm { kind, axes, epsilon }), &inputs).unwrap();
                    check(mb.finish(y), &x[..shape.iter().product()])?;
                }

                #[test]
                fn lrn(
                    (n, c, h, w) in (1usize..3, 1usize..7, 1usize..4, 1usize..4),
                    size in 1usize..6,
                    (alpha, beta, bias) in prop::sample::select(vec![(1e-4f32, 0.75f32, 1.0f32), (0.5, 0.5, 2.0), (1.0, 1.0, 0.0)]),
                    x in tensor(2 * 6 * 3 * 3),
                ) {
                    let mut mb = ModelBuilder::new("lrn", &[n, c, h, w]);
                    let op = OpKind::Lrn(Lrn { alpha, beta, bias, size });
                    let y = mb.node("lrn", op, &[mb.input()]).unwrap();
                    check(mb.finish(y), &x[..n * c * h * w])?;
                }

                #[test]
                fn gather(
                    shape in prop::collection::vec(1usize..5, 1..4),
                    axis in any::<prop::sample::Index>(),
                    index_shape in prop::collection::vec(1usize..4, 0..3),
                    indices in prop::collection::vec(index_value(), 9),
                    embedding in any::<bool>(),
                    x in tensor(64),
                ) {
                    let axis = axis.index(shape.len());
                    let count: usize = index_shape.iter().product();
                    let data = x[..shape.iter().product()].to_vec();
                    let indices = indices[..count].to_vec();
                    // An embedding reads rows of a weight at the input's
                    // indices; the other way round picks the input's rows.
                    let (input_shape, weight_shape) = if embedding { (&index_shape, &shape) } else { (&shape, &index_shape) };
                    let (input, weight) = if embedding { (indices, data) } else { (data, indices) };
                    let mut mb = ModelBuilder::new("gather", input_shape);
                    let w = mb.weight("w", weight_shape, weight).unwrap();
                    let operands = if embedding { [w, mb.input()] } else { [mb.input(), w] };
                    let y = mb.node("gather", OpKind::Gather(Gather { axis }), &operands).unwrap();
                    check(mb.finish(y), &input)?;
                }

                /// Condition, x and y each broadcast from their own shape.
                #[test]
                fn where_broadcasting(
                    shape in prop::collection::vec(1usize..4, 1..4),
                    masks in prop::collection::vec(prop::collection::vec(any::<bool>(), 4), 2),
                    c in prop::collection::vec(prop::sample::select(vec![0.0f32, -0.0, 1.0, f32::NAN]), 64),
                    x in tensor(64), y in tensor(64),
                ) {
                    let squeeze = |mask: &[bool]| -> Vec<usize> {
                        shape.iter().zip(mask).map(|(&d, &one)| if one { 1 } else { d }).collect()
                    };
                    // y has one axis fewer when it can: ranks broadcast too.
                    let (xs, ys) = (squeeze(&masks[0]), squeeze(&masks[1]));
                    let ys = ys[1.min(ys.len() - 1)..].to_vec();
                    let mut mb = ModelBuilder::new("where", &shape);
                    let xt = mb.weight("x", &xs, x[..xs.iter().product()].to_vec()).unwrap();
                    let yt = mb.weight("y", &ys, y[..ys.iter().product()].to_vec()).unwrap();
                    let out = mb.node("where", OpKind::Where(Where), &[mb.input(), xt, yt]).unwrap();
                    let n: usize = shape.iter().product();
                    check(mb.finish(out), &c[..n])?;
                }
            }
        }
    };
}

pub(crate) use engine_suite;
