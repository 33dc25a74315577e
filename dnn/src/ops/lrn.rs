//! LRN: local response normalisation across channels (AlexNet, GoogLeNet).
//!
//! Canonical semantics, for every element `(n, c, i)` (`i` over the axes
//! after the channels), with the window `c - (size-1)/2 ..= c + ceil((size-1)/2)`
//! clipped to the channels, in increasing channel order:
//!
//! ```text
//! s = +0;  for c' in the window: s = s + x[n, c', i] * x[n, c', i]
//! y = x[n, c, i] / pow(bias + k * s, beta)       k = alpha / size (binary32)
//! ```
//!
//! evaluated as `t = k * s; t = bias + t; y = x / pow(t, beta)`, `pow` the
//! recipe of [`crate::math::pow`]. ONNX's own formula reads in this order.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::LrnParams;
use crate::ir::numel;
use crate::math;
use crate::ops::{Io, NativeIo, ShapeError};
use crate::scalar::{Eval, Scalar};

/// Local response normalisation over the channels (axis 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lrn {
    /// The scale of the sum of squares.
    pub alpha: f32,
    /// The exponent.
    pub beta: f32,
    /// The offset added to the scaled sum.
    pub bias: f32,
    /// The number of channels in the window.
    pub size: usize,
}

impl Lrn {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [x] = inputs else {
            return Err(ShapeError::Arity {
                expected: "1",
                got: inputs.len(),
            });
        };
        if x.len() < 2 {
            return Err(ShapeError::Operand {
                operand: "X",
                expected: "of rank 2 or more (a channel axis)".into(),
                shape: x.to_vec(),
            });
        }
        if self.size == 0 {
            return Err(ShapeError::Attributes("size must be at least 1".into()));
        }
        Ok(x.to_vec())
    }

    /// The channels in the window of channel `c` of `channels`.
    fn window(&self, c: usize, channels: usize) -> std::ops::RangeInclusive<usize> {
        let lo = c.saturating_sub((self.size - 1) / 2);
        let hi = (c + self.size / 2).min(channels - 1);
        lo..=hi
    }

    /// `x / pow(bias + k * s, beta)`, shared by both engines.
    pub fn finish<S: Scalar>(&self, sc: &mut S, x: S::V, s: S::V) -> S::V {
        let k = sc.f32(self.alpha / self.size as f32);
        let bias = sc.f32(self.bias);
        let beta = sc.f32(self.beta);
        let t = sc.mul(k, s);
        let t = sc.add(bias, t);
        let p = math::pow(sc, t, beta);
        sc.div(x, p)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let shape = &io.inputs[0].shape;
        let (batch, channels, inner) = (shape[0], shape[1], numel(&shape[2..]));
        let finish = Trace::record(2, |t, v| self.finish(t, v[0], v[1]));
        let plane = (4 * inner) as i64;
        let image = plane * channels as i64;
        let (x, y) = (io.inputs[0].addr, io.output.addr);
        // One loop nest per channel: each has its own clipped window.
        for c in 0..channels {
            let window = self.window(c, channels);
            let (lo, len) = (*window.start(), window.count());
            let off = |base: u32, ch: usize| base + (4 * ch * inner) as u32;
            let strides = vec![vec![image, 4]; 3];
            e.nd_loop(
                &[batch, inner],
                &[off(x, lo), off(x, c), off(y, c)],
                &strides,
                |e, p| {
                    let (s, v) = (e.reg(), e.reg());
                    e.b.li(s, 0);
                    let q = e.copies(&p[..1]);
                    e.nd_loop_from(&[len], &q, &[vec![plane]], |e, r| {
                        e.b.load(Op::Lw, v, r[0], 0);
                        e.b.float(Op::Fmul, v, v, v);
                        e.b.float(Op::Fadd, s, s, v);
                    });
                    e.b.load(Op::Lw, v, p[1], 0);
                    e.recipe(&finish, &[v, s], v, &Default::default());
                    e.b.store(Op::Sw, v, p[2], 0);
                    for r in q.into_iter().chain([s, v]) {
                        e.free(r);
                    }
                },
            );
        }
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let shape = &io.inputs[0].shape;
        let (batch, channels, inner) = (shape[0], shape[1], numel(&shape[2..]));
        let x = data.inputs[0];
        let at = |n: usize, c: usize, i: usize| (n * channels + c) * inner + i;
        for n in 0..batch {
            for c in 0..channels {
                for i in 0..inner {
                    let s = self.window(c, channels).fold(0, |s, w| {
                        let v = x[at(n, w, i)];
                        Eval.add(s, Eval.mul(v, v))
                    });
                    data.output[at(n, c, i)] = self.finish(&mut Eval, x[at(n, c, i)], s);
                }
            }
        }
    }
}

#[cfg(feature = "gpu")]
impl Lrn {
    /// The OpenCL launch (`lrn.cl`): one element a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (x, count) = (s.shape(0), s.count());
        let p = LrnParams {
            x: s.input(0),
            y: s.y(),
            count,
            channels: x[1],
            inner: numel(&x[2..]),
            size: self.size,
            k: self.alpha / self.size as f32,
            bias: self.bias,
            beta: self.beta,
        };
        vec![Plan::flat("lrn", p, count)]
    }
}
