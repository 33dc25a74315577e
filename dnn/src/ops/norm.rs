//! LayerNormalization and RmsNorm over a block of consecutive axes, with an
//! optional elementwise scale and bias.
//!
//! Canonical semantics, for every row (all indices outside the block, in
//! row-major order), with `x_j` the row's elements in row-major order of the
//! block, `n` their number as binary32 and `g_j`, `b_j` the scale and bias:
//!
//! ```text
//! LayerNorm: s = +0; for j: s = s + x_j;  m = s / n
//!            q = +0; for j: d = x_j - m; q = q + d * d
//! RmsNorm:   m absent; q = +0; for j: q = q + x_j * x_j
//! r = 1 / sqrt(q / n + eps)
//! for j: y_j = (x_j - m) * r   (RmsNorm: x_j * r);  then y_j * g_j;  then + b_j
//! ```
//!
//! Every product and sum is rounded on its own (no fused multiply-add), as
//! ONNX's own decomposition of both ops reads.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::builder::{Reg, ZERO};
use verdict_vm::semantics::f32_sqrt;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::NormParams;
use crate::ir::numel;
use crate::kernels::lanes::canonical_run;
use crate::ops::{Io, NativeIo, ShapeError};

/// Which normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormKind {
    /// Subtract the mean, divide by the standard deviation.
    Layer,
    /// Divide by the root mean square.
    Rms,
}

/// A normalisation over the axes in `axes`; inputs are the tensor, then
/// optionally the scale, then optionally the bias, each with as many
/// elements as the block, in its row-major order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Norm {
    /// Which normalisation.
    pub kind: NormKind,
    /// The normalised axes, consecutive.
    pub axes: Range<usize>,
    /// Added to the variance (or mean square) before the square root.
    pub epsilon: f32,
}

/// The bit pattern of `1.0`.
const ONE: u32 = 0x3F80_0000;

impl Norm {
    /// The ONNX name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            NormKind::Layer => "LayerNormalization",
            NormKind::Rms => "RmsNorm",
        }
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let Some((x, affine)) = inputs.split_first().filter(|_| inputs.len() <= 3) else {
            return Err(ShapeError::Arity {
                expected: "1 to 3",
                got: inputs.len(),
            });
        };
        if self.axes.is_empty() || self.axes.end > x.len() {
            return Err(ShapeError::Attributes(format!(
                "axes {:?} must be a non-empty range within rank {}",
                self.axes,
                x.len()
            )));
        }
        let len = numel(&x[self.axes.clone()]);
        if let Some(a) = affine.iter().find(|a| numel(a) != len) {
            return Err(ShapeError::Mismatch(format!(
                "scale and bias must have the {len} elements of the normalised axes, got shape {a:?}"
            )));
        }
        Ok(x.to_vec())
    }

    /// `(outer, len, inner)`: rows are `outer x inner`, `len` in the block.
    fn split(&self, shape: &[usize]) -> (usize, usize, usize) {
        (
            numel(&shape[..self.axes.start]),
            numel(&shape[self.axes.clone()]),
            numel(&shape[self.axes.end..]),
        )
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (outer, len, inner) = self.split(&io.inputs[0].shape);
        let step = vec![(4 * inner) as i64];
        let row = vec![(4 * len * inner) as i64, 4];
        let affine: Vec<u32> = io.inputs[1..].iter().map(|a| a.addr).collect();
        let layer = self.kind == NormKind::Layer;
        let count = e.constant((len as f32).to_bits());
        let eps = e.constant(self.epsilon.to_bits());
        e.nd_loop(
            &[outer, inner],
            &[io.inputs[0].addr, io.output.addr],
            &[row.clone(), row],
            |e, p| {
                let (m, q, v) = (e.reg(), e.reg(), e.reg());
                e.b.li(m, 0);
                e.b.li(q, 0);
                let sweep = |e: &mut Emitter, body: &dyn Fn(&mut Emitter, Reg)| {
                    let px = e.copies(&p[..1]);
                    e.nd_loop_from(&[len], &px, std::slice::from_ref(&step), |e, r| {
                        e.b.load(Op::Lw, v, r[0], 0);
                        body(e, v);
                    });
                    e.free(px[0]);
                };
                if layer {
                    sweep(e, &|e, v| e.b.float(Op::Fadd, m, m, v));
                    e.b.float(Op::Fdiv, m, m, count);
                }
                sweep(e, &|e, v| {
                    if layer {
                        e.b.float(Op::Fsub, v, v, m);
                    }
                    e.b.float(Op::Fmul, v, v, v);
                    e.b.float(Op::Fadd, q, q, v);
                });
                e.b.float(Op::Fdiv, q, q, count);
                e.b.float(Op::Fadd, q, q, eps);
                e.b.float(Op::Fsqrt, q, q, ZERO);
                e.b.li(v, ONE);
                e.b.float(Op::Fdiv, q, v, q);
                let mut ptrs = e.copies(p);
                for &a in &affine {
                    ptrs.push(e.constant(a));
                }
                let mut strides = vec![step.clone(), step.clone()];
                strides.extend(affine.iter().map(|_| vec![4]));
                let t = e.reg();
                e.nd_loop_from(&[len], &ptrs, &strides, |e, r| {
                    e.b.load(Op::Lw, v, r[0], 0);
                    if layer {
                        e.b.float(Op::Fsub, v, v, m);
                    }
                    e.b.float(Op::Fmul, v, v, q);
                    for (k, fold) in r[2..].iter().zip([Op::Fmul, Op::Fadd]) {
                        e.b.load(Op::Lw, t, *k, 0);
                        e.b.float(fold, v, v, t);
                    }
                    e.b.store(Op::Sw, v, r[1], 0);
                });
                for r in ptrs.into_iter().chain([t, m, q, v]) {
                    e.free(r);
                }
            },
        );
        e.free(count);
        e.free(eps);
    }

    /// The canonical loops on [`GROUP`] rows at once, so that their
    /// sequential sums overlap, with plain IEEE arithmetic and every NaN of
    /// the output made canonical at the end: whether an operation's result
    /// is a NaN never depends on its operands' NaN payloads, so the output's
    /// bits are those of the operation-by-operation semantics.
    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (outer, len, inner) = self.split(&io.inputs[0].shape);
        let (x, affine) = data.inputs.split_first().expect("validated: one input");
        let y = data.output;
        let rows = outer * inner;
        let (n, eps) = (len as f32, self.epsilon);
        let f = |w: u32| f32::from_bits(w);
        for first in (0..rows).step_by(GROUP) {
            let count = GROUP.min(rows - first);
            // Each row's first element (a short group repeats its last row);
            // element `j` of a row lies `j * inner` further on.
            let starts: [usize; GROUP] = std::array::from_fn(|r| {
                let row = first + r.min(count - 1);
                row / inner * len * inner + row % inner
            });
            let mut m = [0f32; GROUP];
            if self.kind == NormKind::Layer {
                for j in 0..len {
                    for (m, &s) in m.iter_mut().zip(&starts) {
                        *m += f(x[s + j * inner]);
                    }
                }
                m = m.map(|s| s / n);
            }
            let mut q = [0f32; GROUP];
            for j in 0..len {
                for ((q, &s), &m) in q.iter_mut().zip(&starts).zip(&m) {
                    let d = f(x[s + j * inner]) - m;
                    *q += d * d;
                }
            }
            let r = q.map(|q| 1.0 / f(f32_sqrt((q / n + eps).to_bits())));
            for ((&s, &m), &r) in starts.iter().zip(&m).zip(&r).take(count) {
                for j in 0..len {
                    let at = s + j * inner;
                    let mut v = (f(x[at]) - m) * r;
                    if let Some(g) = affine.first() {
                        v *= f(g[j]);
                    }
                    if let Some(b) = affine.get(1) {
                        v += f(b[j]);
                    }
                    y[at] = v.to_bits();
                }
            }
        }
        canonical_run(y);
    }
}

/// Rows a native normalisation computes side by side.
const GROUP: usize = 8;

#[cfg(feature = "gpu")]
impl Norm {
    /// The OpenCL launch (`norm.cl`): one normalised group a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let x = s.shape(0);
        let (outer, len) = (numel(&x[..self.axes.start]), numel(&x[self.axes.clone()]));
        let inner = numel(&x[self.axes.end..]);
        let p = NormParams {
            x: s.input(0),
            scale: s.input(1),
            bias: s.input(2),
            y: s.y(),
            rows: outer * inner,
            len,
            inner,
            layer: self.kind == NormKind::Layer,
            has_scale: s.inputs() > 1,
            has_bias: s.inputs() > 2,
            n: len as f32,
            eps: self.epsilon,
        };
        vec![Plan::flat("norm", p, outer * inner)]
    }
}
