//! Elementwise binary ops with numpy broadcasting.
//!
//! Canonical semantics: `y[i] = f(a[ia], b[ib])` for every output index in
//! row-major order, one instruction (or one recipe) per element; `ia`, `ib`
//! are the broadcast indices (a dimension of size 1 repeats).

use rayon::prelude::*;
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
use crate::kernels::matmul::PAR_WORDS;
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
    f: impl Fn(f32, f32) -> f32 + Sync,
) {
    let f = |x: u32, z: u32| f(f32::from_bits(x), f32::from_bits(z)).to_bits();
    each_run(out, a, b, y, f, canonical_run);
}

/// `y = f(a, b)` over `out` in row-major order, each operand with its
/// broadcast strides.
fn elementwise(
    out: &[usize],
    a: (&[u32], Vec<usize>),
    b: (&[u32], Vec<usize>),
    y: &mut [u32],
    f: impl Fn(u32, u32) -> u32 + Sync,
) {
    each_run(out, a, b, y, f, |_| ());
}

/// [`elementwise`], a run at a time, each run then passed to `then`
/// while it is in cache: `f` is chosen once per op rather than once per
/// element. A run spans the trailing dimensions that both operands walk
/// evenly (a per-channel operand of `[N, C, H, W]` runs over `H * W`).
fn each_run(
    out: &[usize],
    (a, sa): (&[u32], Vec<usize>),
    (b, sb): (&[u32], Vec<usize>),
    y: &mut [u32],
    f: impl Fn(u32, u32) -> u32 + Sync,
    then: impl Fn(&mut [u32]) + Sync,
) {
    if y.is_empty() {
        return;
    }
    let (out, sa, sb) = coalesce(out, &sa, &sb);
    let (&inner, outer) = out.split_last().expect("at least one dimension");
    let r = outer.len();
    let (ia, ib) = (sa[r], sb[r]);
    // `PAR_WORDS` of output a task, in parallel; a task's first and last
    // runs may be parts of runs.
    y.par_chunks_mut(PAR_WORDS)
        .enumerate()
        .for_each(|(task, ys)| {
            let start = task * PAR_WORDS;
            // The first run's index in `outer`, its offsets, and where in
            // it the task starts.
            let mut index = vec![0usize; r];
            let mut rest = start / inner;
            for k in (0..r).rev() {
                (index[k], rest) = (rest % outer[k], rest / outer[k]);
            }
            let mut oa: usize = index.iter().zip(&sa).map(|(i, s)| i * s).sum();
            let mut ob: usize = index.iter().zip(&sb).map(|(i, s)| i * s).sum();
            let (mut w, mut done) = (start % inner, 0);
            while done < ys.len() {
                let len = (inner - w).min(ys.len() - done);
                let run = &mut ys[done..done + len];
                let (pa, pb) = (oa + w * ia, ob + w * ib);
                match (ia, ib) {
                    (1, 1) => {
                        for ((y, &x), &z) in
                            run.iter_mut().zip(&a[pa..pa + len]).zip(&b[pb..pb + len])
                        {
                            *y = f(x, z);
                        }
                    }
                    (1, 0) => {
                        let z = b[pb];
                        for (y, &x) in run.iter_mut().zip(&a[pa..pa + len]) {
                            *y = f(x, z);
                        }
                    }
                    (0, 1) => {
                        let x = a[pa];
                        for (y, &z) in run.iter_mut().zip(&b[pb..pb + len]) {
                            *y = f(x, z);
                        }
                    }
                    _ => {
                        for (i, y) in run.iter_mut().enumerate() {
                            *y = f(a[pa + i * ia], b[pb + i * ib]);
                        }
                    }
                }
                then(run);
                (done, w) = (done + len, w + len);
                if w < inner {
                    continue;
                }
                w = 0;
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
        });
}

/// `out` and both operands' strides with dimensions of one dropped and
/// each dimension merged into the one before it where both operands step
/// over the pair as over one dimension: the same elements in the same
/// order, in fewer, longer runs. At least one dimension is left.
fn coalesce(out: &[usize], sa: &[usize], sb: &[usize]) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (mut dims, mut xa, mut xb): (Vec<usize>, Vec<usize>, Vec<usize>) = Default::default();
    for i in (0..out.len()).filter(|&i| out[i] != 1) {
        let (n, a, b) = (out[i], sa[i], sb[i]);
        match (dims.last_mut(), xa.last_mut(), xb.last_mut()) {
            (Some(d), Some(pa), Some(pb)) if *pa == a * n && *pb == b * n => {
                (*d, *pa, *pb) = (*d * n, a, b);
            }
            _ => {
                dims.push(n);
                xa.push(a);
                xb.push(b);
            }
        }
    }
    if dims.is_empty() {
        (vec![1], vec![0], vec![0])
    } else {
        (dims, xa, xb)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Element `i` of the row-major walk of `dims` with `strides`.
    fn walk(dims: &[usize], strides: &[usize]) -> Vec<usize> {
        let total: usize = dims.iter().product();
        (0..total)
            .map(|mut i| {
                let mut at = 0;
                for (&n, &s) in dims.iter().zip(strides).rev() {
                    at += i % n * s;
                    i /= n;
                }
                at
            })
            .collect()
    }

    /// Coalesced dimensions walk the same elements in the same order, in
    /// fewer runs: a per-channel operand of `[1, C, H, W]` runs over
    /// `H * W`.
    #[test]
    fn coalesced_dimensions_walk_the_same_elements() {
        for (out, a, b) in [
            (vec![1, 8, 5, 7], vec![1, 8, 5, 7], vec![8, 1, 1]),
            (vec![2, 3, 4], vec![2, 3, 4], vec![4]),
            (vec![2, 3, 4], vec![2, 1, 4], vec![1, 3, 1]),
            (vec![6, 1, 5], vec![1], vec![6, 1, 5]),
            (vec![], vec![], vec![]),
            (vec![1, 1], vec![1, 1], vec![1]),
        ] {
            let (sa, sb) = (broadcast_strides(&a, &out), broadcast_strides(&b, &out));
            let (dims, xa, xb) = coalesce(&out, &sa, &sb);
            assert_eq!(walk(&dims, &xa), walk(&out, &sa), "{out:?} {a:?}");
            assert_eq!(walk(&dims, &xb), walk(&out, &sb), "{out:?} {b:?}");
            assert!(dims.len() <= out.len().max(1));
        }
        let (sa, sb) = (
            broadcast_strides(&[1, 8, 5, 7], &[1, 8, 5, 7]),
            broadcast_strides(&[8, 1, 1], &[1, 8, 5, 7]),
        );
        assert_eq!(coalesce(&[1, 8, 5, 7], &sa, &sb).0, [8, 35]);
    }

    /// Outputs larger than one parallel task, whose tasks start and end
    /// inside runs, get every element from the right operands.
    #[test]
    fn tasks_split_inside_runs() {
        for (out, a, b) in [
            (vec![300, 251], vec![300, 251], vec![300, 1]),
            (vec![3, 70_001], vec![3, 70_001], vec![70_001]),
            (vec![2, 40, 1_000], vec![2, 1, 1_000], vec![40, 1]),
            (vec![140_000], vec![140_000], vec![1]),
        ] {
            let values = |shape: &[usize], seed: u32| -> Vec<u32> {
                (0..shape.iter().product::<usize>() as u32)
                    .map(|i| i.wrapping_mul(2_654_435_761) ^ seed)
                    .collect()
            };
            let (xa, xb) = (values(&a, 1), values(&b, 2));
            let (sa, sb) = (broadcast_strides(&a, &out), broadcast_strides(&b, &out));
            let mut y = vec![0; out.iter().product()];
            elementwise(
                &out,
                (&xa, sa.clone()),
                (&xb, sb.clone()),
                &mut y,
                |x, z| x.wrapping_mul(3) ^ z,
            );
            let want: Vec<u32> = walk(&out, &sa)
                .into_iter()
                .zip(walk(&out, &sb))
                .map(|(i, j)| xa[i].wrapping_mul(3) ^ xb[j])
                .collect();
            assert!(y == want, "{out:?} {a:?} {b:?}");
        }
    }
}
