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
use verdict_vm::semantics::{f32_add, f32_div, f32_mul, f32_sqrt, f32_sub};

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::NormParams;
use crate::ir::numel;
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

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (outer, len, inner) = self.split(&io.inputs[0].shape);
        let (x, affine) = data.inputs.split_first().expect("validated: one input");
        let y = data.output;
        let (count, eps) = ((len as f32).to_bits(), self.epsilon.to_bits());
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * len + j) * inner + i;
                let m = match self.kind {
                    NormKind::Layer => {
                        let s = (0..len).fold(0, |s, j| f32_add(s, x[at(j)]));
                        Some(f32_div(s, count))
                    }
                    NormKind::Rms => None,
                };
                let centred = |j: usize| m.map_or(x[at(j)], |m| f32_sub(x[at(j)], m));
                let q = (0..len).fold(0, |q, j| {
                    let d = centred(j);
                    f32_add(q, f32_mul(d, d))
                });
                let r = f32_div(ONE, f32_sqrt(f32_add(f32_div(q, count), eps)));
                for j in 0..len {
                    let mut v = f32_mul(centred(j), r);
                    for (a, fold) in affine.iter().zip([f32_mul, f32_add]) {
                        v = fold(v, a[j]);
                    }
                    y[at(j)] = v;
                }
            }
        }
    }
}

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
