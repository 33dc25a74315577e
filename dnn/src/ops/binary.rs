//! Elementwise binary ops with numpy broadcasting.
//!
//! Canonical semantics: `y[i] = f(a[ia], b[ib])` for every output index in
//! row-major order, one instruction (or one recipe) per element; `ia`, `ib`
//! are the broadcast indices (a dimension of size 1 repeats).

use serde::{Deserialize, Serialize};
use verdict_vm::{Op, semantics};

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::BinaryParams;
#[cfg(feature = "gpu")]
use crate::gpu::recipes::binary_code;
use crate::kernels::lanes::canonical_run;
use crate::ops::unary::{flag, truth};
use crate::ops::{Io, NativeIo, ShapeError, strides};
use crate::scalar::{Eval, Scalar};

/// Which binary function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// IEEE `maximum` (NaN propagates).
    Max,
    /// IEEE `minimum` (NaN propagates).
    Min,
    /// `a^b` ([`crate::math::pow`]).
    Pow,
    /// 1 where `a == b` (floats: NaN equals nothing, `-0 == +0`), else 0.
    Equal,
    /// 1 where `a < b`, else 0.
    Less,
    /// 1 where `a <= b`, else 0.
    LessOrEqual,
    /// 1 where `a > b` (`b < a`), else 0.
    Greater,
    /// 1 where `a >= b` (`b <= a`), else 0.
    GreaterOrEqual,
    /// 1 where both are true (not zero), else 0.
    And,
    /// 1 where either is true, else 0.
    Or,
    /// 1 where exactly one is true, else 0.
    Xor,
}

impl BinaryOp {
    /// The ONNX name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "Add",
            BinaryOp::Sub => "Sub",
            BinaryOp::Mul => "Mul",
            BinaryOp::Div => "Div",
            BinaryOp::Max => "Max",
            BinaryOp::Min => "Min",
            BinaryOp::Pow => "Pow",
            BinaryOp::Equal => "Equal",
            BinaryOp::Less => "Less",
            BinaryOp::LessOrEqual => "LessOrEqual",
            BinaryOp::Greater => "Greater",
            BinaryOp::GreaterOrEqual => "GreaterOrEqual",
            BinaryOp::And => "And",
            BinaryOp::Or => "Or",
            BinaryOp::Xor => "Xor",
        }
    }

    /// The canonical scalar computation, shared by both engines.
    pub fn apply<S: Scalar>(self, s: &mut S, a: S::V, b: S::V) -> S::V {
        let op = match self {
            BinaryOp::Add => Op::Fadd,
            BinaryOp::Sub => Op::Fsub,
            BinaryOp::Mul => Op::Fmul,
            BinaryOp::Div => Op::Fdiv,
            BinaryOp::Max => Op::Fmax,
            BinaryOp::Min => Op::Fmin,
            BinaryOp::Pow => return crate::math::pow(s, a, b),
            BinaryOp::Equal | BinaryOp::Less | BinaryOp::LessOrEqual => {
                let op = match self {
                    BinaryOp::Equal => Op::Feq,
                    BinaryOp::Less => Op::Flt,
                    _ => Op::Fle,
                };
                let c = s.float(op, a, b);
                return flag(s, c);
            }
            BinaryOp::Greater | BinaryOp::GreaterOrEqual => {
                let op = if self == BinaryOp::Greater {
                    Op::Flt
                } else {
                    Op::Fle
                };
                let c = s.float(op, b, a);
                return flag(s, c);
            }
            BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                let op = match self {
                    BinaryOp::And => Op::And,
                    BinaryOp::Or => Op::Or,
                    _ => Op::Xor,
                };
                let (ta, tb) = (truth(s, a), truth(s, b));
                let c = s.int(op, ta, tb);
                return flag(s, c);
            }
        };
        s.float(op, a, b)
    }
}

/// An elementwise binary op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    /// The function.
    pub op: BinaryOp,
}

/// The numpy broadcast of two shapes.
///
/// # Errors
///
/// A message when a dimension pair is neither equal nor has a 1.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], d: usize| {
        if d + s.len() < rank {
            1
        } else {
            s[d + s.len() - rank]
        }
    };
    (0..rank)
        .map(|d| match (dim(a, d), dim(b, d)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(ShapeError::Broadcast {
                a: a.to_vec(),
                b: b.to_vec(),
                dim: d,
                x,
                y,
            }),
        })
        .collect()
}

/// Element strides of `shape` broadcast to `out` (0 where it repeats).
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(shape);
    let pad = out.len() - shape.len();
    (0..out.len())
        .map(|d| {
            if d < pad || shape[d - pad] == 1 {
                0
            } else {
                own[d - pad]
            }
        })
        .collect()
}

/// Byte strides for [`Emitter::nd_loop`].
pub(crate) fn byte_strides(strides: &[usize]) -> Vec<i64> {
    strides.iter().map(|&s| 4 * s as i64).collect()
}

impl Binary {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        match inputs {
            [a, b] => broadcast(a, b),
            _ => Err(ShapeError::Arity {
                expected: "2",
                got: inputs.len(),
            }),
        }
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let out = &io.output.shape;
        let [a, b] = [&io.inputs[0], &io.inputs[1]];
        let op = self.op;
        let trace = Trace::record(2, |t, x| op.apply(t, x[0], x[1]));
        let strides = vec![
            byte_strides(&broadcast_strides(&a.shape, out)),
            byte_strides(&broadcast_strides(&b.shape, out)),
            byte_strides(&strides(out)),
        ];
        let hoisted = e.hoist(&trace, 5 + out.len());
        e.nd_loop(out, &[a.addr, b.addr, io.output.addr], &strides, |e, p| {
            let (x, y) = (e.reg(), e.reg());
            e.b.load(Op::Lw, x, p[0], 0);
            e.b.load(Op::Lw, y, p[1], 0);
            e.recipe(&trace, &[x, y], x, &hoisted);
            e.b.store(Op::Sw, x, p[2], 0);
            e.free(x);
            e.free(y);
        });
        e.unhoist(hoisted);
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let out = &io.output.shape;
        let (a, b) = (
            (data.inputs[0], broadcast_strides(&io.inputs[0].shape, out)),
            (data.inputs[1], broadcast_strides(&io.inputs[1].shape, out)),
        );
        let y = data.output;
        match self.op {
            BinaryOp::Add => arithmetic(out, a, b, y, |x, z| x + z),
            BinaryOp::Sub => arithmetic(out, a, b, y, |x, z| x - z),
            BinaryOp::Mul => arithmetic(out, a, b, y, |x, z| x * z),
            BinaryOp::Div => arithmetic(out, a, b, y, |x, z| x / z),
            BinaryOp::Max => elementwise(out, a, b, y, semantics::f32_max),
            BinaryOp::Min => elementwise(out, a, b, y, semantics::f32_min),
            op => elementwise(out, a, b, y, |x, z| op.apply(&mut Eval, x, z)),
        }
    }
}

/// An arithmetic op (`fadd`, `fsub`, `fmul`, `fdiv`) as [`elementwise`]:
/// the IEEE operation over whole runs, which the compiler vectorizes, then
/// every NaN made canonical in one pass: the bits of `semantics::f32_add`
/// and its siblings.
fn arithmetic(
    out: &[usize],
    a: (&[u32], Vec<usize>),
    b: (&[u32], Vec<usize>),
    y: &mut [u32],
    f: impl Fn(f32, f32) -> f32,
) {
    elementwise(out, a, b, y, |x, z| {
        f(f32::from_bits(x), f32::from_bits(z)).to_bits()
    });
    canonical_run(y);
}

/// `y = f(a, b)` over `out` in row-major order, each operand with its
/// broadcast strides; a run of the last dimension at a time, so `f` is
/// chosen once per op rather than once per element.
fn elementwise(
    out: &[usize],
    (a, sa): (&[u32], Vec<usize>),
    (b, sb): (&[u32], Vec<usize>),
    y: &mut [u32],
    f: impl Fn(u32, u32) -> u32,
) {
    if y.is_empty() {
        return;
    }
    let Some((&inner, outer)) = out.split_last() else {
        y[0] = f(a[0], b[0]);
        return;
    };
    let r = outer.len();
    let (ia, ib) = (sa[r], sb[r]);
    let mut index = vec![0usize; r];
    let (mut oa, mut ob) = (0usize, 0usize);
    for run in y.chunks_exact_mut(inner) {
        match (ia, ib) {
            (1, 1) => {
                for ((y, &x), &z) in run
                    .iter_mut()
                    .zip(&a[oa..oa + inner])
                    .zip(&b[ob..ob + inner])
                {
                    *y = f(x, z);
                }
            }
            (1, 0) => {
                let z = b[ob];
                for (y, &x) in run.iter_mut().zip(&a[oa..oa + inner]) {
                    *y = f(x, z);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (y, &z) in run.iter_mut().zip(&b[ob..ob + inner]) {
                    *y = f(x, z);
                }
            }
            _ => {
                for (i, y) in run.iter_mut().enumerate() {
                    *y = f(a[oa + i * ia], b[ob + i * ib]);
                }
            }
        }
        for k in (0..r).rev() {
            index[k] += 1;
            oa += sa[k];
            ob += sb[k];
            if index[k] < outer[k] {
                break;
            }
            oa -= sa[k] * outer[k];
            ob -= sb[k] * outer[k];
            index[k] = 0;
        }
    }
}

#[cfg(feature = "gpu")]
impl Binary {
    /// The OpenCL launch (`elementwise.cl`): one output a work item, each
    /// input read through its broadcast strides.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (out, count) = (s.out_shape(), s.count());
        let p = BinaryParams {
            a: s.input(0),
            b: s.input(1),
            y: s.y(),
            count,
            op: binary_code(self.op),
            rank: out.len(),
            dims: out.to_vec(),
            a_strides: broadcast_strides(s.shape(0), out),
            b_strides: broadcast_strides(s.shape(1), out),
        };
        vec![Plan::flat("binary", p, count)]
    }
}
