//! Elementwise unary ops: `y[i] = f(x[i])` in index order, `f` a recipe
//! shared by both engines.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::UnaryParams;
#[cfg(feature = "gpu")]
use crate::gpu::recipes::unary_code;
use crate::kernels::finish::finish_into;
use crate::kernels::lanes::Lanes;
use crate::kernels::matmul::PAR_WORDS;
use crate::math;
use crate::ops::{Io, NativeIo, ShapeError, elementwise_shape};
use crate::scalar::Scalar;

/// Which unary function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `maximum(x, +0)`: NaN stays NaN, `-0` becomes `+0`.
    Relu,
    /// `x < 0 ? alpha * x : x`.
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
    /// `minimum(maximum(x, lo), hi)`.
    Clip {
        /// Lower bound.
        lo: f32,
        /// Upper bound.
        hi: f32,
    },
    /// Sign flip (`xor 0x80000000`, NaN canonicalised by `fmax` with itself).
    Neg,
    /// Sign clear (`and 0x7FFFFFFF`, NaN canonicalised likewise).
    Abs,
    /// Correctly rounded square root.
    Sqrt,
    /// `1 / x`.
    Reciprocal,
    /// `e^x` ([`math::exp`]).
    Exp,
    /// Natural logarithm ([`math::log`]).
    Log,
    /// `1 / (1 + e^-x)` ([`math::sigmoid`]).
    Sigmoid,
    /// Hyperbolic tangent ([`math::tanh`]).
    Tanh,
    /// Error function ([`math::erf`]).
    Erf,
    /// `x/2 (1 + erf(x/sqrt 2))` ([`math::gelu_exact`]).
    GeluExact,
    /// The tanh approximation of GELU ([`math::gelu_tanh`]).
    GeluTanh,
    /// 1 where `x` is a NaN, else 0.
    IsNaN,
    /// 1 where `x` is an infinity of either sign, else 0.
    IsInf,
    /// 1 where `x` is `+inf`, else 0.
    IsPosInf,
    /// 1 where `x` is `-inf`, else 0.
    IsNegInf,
    /// Logical not: 1 where `x` is zero (either sign), else 0 (NaN is true).
    Not,
    /// To boolean: 0 where `x` is zero (either sign), else 1.
    Bool,
    /// Toward zero to an integer (`itof(ftoi(x))`): a cast to an integer
    /// type.
    Trunc,
}

impl UnaryOp {
    /// Every op without attributes (all but `LeakyRelu` and `Clip`), in the
    /// order of the OpenCL engine's op codes.
    pub const WITHOUT_ATTRIBUTES: [UnaryOp; 19] = [
        UnaryOp::Relu,
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sqrt,
        UnaryOp::Reciprocal,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Erf,
        UnaryOp::GeluExact,
        UnaryOp::GeluTanh,
        UnaryOp::IsNaN,
        UnaryOp::IsInf,
        UnaryOp::IsPosInf,
        UnaryOp::IsNegInf,
        UnaryOp::Not,
        UnaryOp::Bool,
        UnaryOp::Trunc,
    ];

    /// The ONNX name.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Relu => "Relu",
            UnaryOp::LeakyRelu { .. } => "LeakyRelu",
            UnaryOp::Clip { .. } => "Clip",
            UnaryOp::Neg => "Neg",
            UnaryOp::Abs => "Abs",
            UnaryOp::Sqrt => "Sqrt",
            UnaryOp::Reciprocal => "Reciprocal",
            UnaryOp::Exp => "Exp",
            UnaryOp::Log => "Log",
            UnaryOp::Sigmoid => "Sigmoid",
            UnaryOp::Tanh => "Tanh",
            UnaryOp::Erf => "Erf",
            UnaryOp::GeluExact => "Gelu",
            UnaryOp::GeluTanh => "Gelu(tanh)",
            UnaryOp::IsNaN => "IsNaN",
            UnaryOp::IsInf => "IsInf",
            UnaryOp::IsPosInf => "IsInf(positive)",
            UnaryOp::IsNegInf => "IsInf(negative)",
            UnaryOp::Not => "Not",
            UnaryOp::Bool => "Cast(bool)",
            UnaryOp::Trunc => "Cast(int)",
        }
    }

    /// The canonical scalar computation, shared by both engines.
    pub fn apply<S: Scalar>(self, s: &mut S, x: S::V) -> S::V {
        match self {
            UnaryOp::Relu => {
                let zero = s.constant(0);
                s.max(x, zero)
            }
            UnaryOp::LeakyRelu { alpha } => {
                let zero = s.constant(0);
                let neg = s.lt(x, zero);
                let a = s.f32(alpha);
                let scaled = s.mul(x, a);
                s.select(neg, scaled, x)
            }
            UnaryOp::Clip { lo, hi } => {
                let (lo, hi) = (s.f32(lo), s.f32(hi));
                let t = s.max(x, lo);
                s.min(t, hi)
            }
            UnaryOp::Neg | UnaryOp::Abs => {
                // maximum(x, x) is x, except that a NaN becomes canonical.
                let x = s.max(x, x);
                let (op, mask) = if matches!(self, UnaryOp::Neg) {
                    (Op::Xor, 0x8000_0000)
                } else {
                    (Op::And, 0x7FFF_FFFF)
                };
                let m = s.constant(mask);
                let y = s.int(op, x, m);
                // Keep the canonical NaN positive.
                s.max(y, y)
            }
            UnaryOp::Sqrt => s.sqrt(x),
            UnaryOp::Reciprocal => {
                let one = s.f32(1.0);
                s.div(one, x)
            }
            UnaryOp::Exp => math::exp(s, x),
            UnaryOp::Log => math::log(s, x),
            UnaryOp::Sigmoid => math::sigmoid(s, x),
            UnaryOp::Tanh => math::tanh(s, x),
            UnaryOp::Erf => math::erf(s, x),
            UnaryOp::GeluExact => math::gelu_exact(s, x),
            UnaryOp::GeluTanh => math::gelu_tanh(s, x),
            UnaryOp::IsNaN => {
                // feq(x, x) is 0 for a NaN only.
                let ordered = s.float(Op::Feq, x, x);
                let one = s.constant(1);
                let nan = s.int(Op::Sub, one, ordered);
                flag(s, nan)
            }
            UnaryOp::IsInf => {
                let mask = s.constant(0x7FFF_FFFF);
                let magnitude = s.int(Op::And, x, mask);
                let inf = s.f32(f32::INFINITY);
                let eq = s.float(Op::Feq, magnitude, inf);
                flag(s, eq)
            }
            UnaryOp::IsPosInf | UnaryOp::IsNegInf => {
                let inf = if self == UnaryOp::IsPosInf {
                    f32::INFINITY
                } else {
                    f32::NEG_INFINITY
                };
                let inf = s.f32(inf);
                let eq = s.float(Op::Feq, x, inf);
                flag(s, eq)
            }
            UnaryOp::Not => {
                let zero = s.constant(0);
                let eq = s.float(Op::Feq, x, zero);
                flag(s, eq)
            }
            UnaryOp::Bool => {
                let t = truth(s, x);
                flag(s, t)
            }
            UnaryOp::Trunc => {
                let i = s.float(Op::Ftoi, x, x);
                s.float(Op::Itof, i, i)
            }
        }
    }
}

/// The binary32 value (0.0 or 1.0) of an integer 0 or 1: how verdict holds
/// booleans (docs/spec/kernels.md, "Booleans and integers").
pub(crate) fn flag<S: Scalar>(s: &mut S, bit: S::V) -> S::V {
    s.float(Op::Itof, bit, bit)
}

/// The integer 1 if the binary32 `x` is true (not zero of either sign; a NaN
/// is true), else 0.
pub(crate) fn truth<S: Scalar>(s: &mut S, x: S::V) -> S::V {
    let zero = s.constant(0);
    let eq = s.float(Op::Feq, x, zero);
    let one = s.constant(1);
    s.int(Op::Sub, one, eq)
}

/// An elementwise unary op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unary {
    /// The function.
    pub op: UnaryOp,
}

impl Unary {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        elementwise_shape(inputs)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let n = io.output.shape.iter().product::<usize>();
        let op = self.op;
        let trace = Trace::record(1, |t, x| op.apply(t, x[0]));
        let hoisted = e.hoist(&trace, 5);
        e.nd_loop(
            &[n],
            &[io.inputs[0].addr, io.output.addr],
            &[vec![4], vec![4]],
            |e, p| {
                let x = e.reg();
                let y = e.reg();
                e.b.load(Op::Lw, x, p[0], 0);
                e.recipe(&trace, &[x], y, &hoisted);
                e.b.store(Op::Sw, y, p[1], 0);
                e.free(x);
                e.free(y);
            },
        );
        e.unhoist(hoisted);
    }

    pub(crate) fn native(&self, _io: &Io, data: NativeIo<'_>) {
        let chunks = data
            .output
            .par_chunks_mut(PAR_WORDS)
            .zip(data.inputs[0].par_chunks(PAR_WORDS));
        if self.op == UnaryOp::Relu {
            // The same `maximum(x, +0)`, a vector at a time.
            chunks.for_each(|(ys, xs)| finish_into(ys, xs, None, true));
            return;
        }
        let op = self.op;
        let trace = Trace::record(1, |t, x| op.apply(t, x[0]));
        chunks.for_each_init(
            || Lanes::new(trace.clone()),
            |lanes, (ys, xs)| lanes.run(xs, ys),
        );
    }
}

#[cfg(feature = "gpu")]
impl Unary {
    /// The OpenCL launch (`elementwise.cl`): one element a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (op, a0, a1) = unary_code(self.op);
        let p = UnaryParams {
            x: s.input(0),
            y: s.y(),
            count: s.count(),
            op,
            a0,
            a1,
        };
        vec![Plan::flat("unary", p, s.count())]
    }
}
