//! Softmax and LogSoftmax along one axis.
//!
//! Canonical semantics, for every row (all indices but the axis, in
//! row-major order), with `x_j` the row's elements in axis order:
//!
//! ```text
//! m = -inf;  for j: m = max(m, x_j)
//! s = +0;    for j: e_j = exp(x_j - m); s = s + e_j      (Softmax stores e_j in y_j)
//! Softmax:    for j: y_j = y_j / s
//! LogSoftmax: l = log(s); for j: y_j = (x_j - m) - l
//! ```
//!
//! `exp` and `log` are the recipes of [`crate::math`].

use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::semantics;

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::SoftmaxParams;
#[cfg(feature = "gpu")]
use crate::ir::numel;
use crate::math;
use crate::ops::{Io, NativeIo, ShapeError, one_input_with_axis};
use crate::scalar::{Eval, Scalar};

/// Softmax or LogSoftmax along `axis`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Softmax {
    /// The axis.
    pub axis: usize,
    /// LogSoftmax instead of Softmax.
    pub log: bool,
}

impl Softmax {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        Ok(one_input_with_axis(inputs, self.axis)?.to_vec())
    }

    /// `(outer, len, inner)`: rows are `outer x inner`, `len` along the axis.
    fn split(&self, shape: &[usize]) -> (usize, usize, usize) {
        let outer = shape[..self.axis].iter().product();
        let inner = shape[self.axis + 1..].iter().product();
        (outer, shape[self.axis], inner)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (outer, len, inner) = self.split(&io.inputs[0].shape);
        let step = (4 * inner) as i64;
        let exp = Trace::record(2, |t, v| {
            let d = t.sub(v[0], v[1]);
            math::exp(t, d)
        });
        let log = Trace::record(1, |t, v| math::log(t, v[0]));
        let row = vec![(4 * len * inner) as i64, 4];
        let log_softmax = self.log;
        e.nd_loop(
            &[outer, inner],
            &[io.inputs[0].addr, io.output.addr],
            &[row.clone(), row],
            |e, p| {
                let (m, s, v) = (e.constant(0xFF80_0000), e.reg(), e.reg());
                let px = e.copies(&p[..1]);
                e.nd_loop_from(&[len], &px, &[vec![step]], |e, q| {
                    e.b.load(Op::Lw, v, q[0], 0);
                    e.b.float(Op::Fmax, m, m, v);
                });
                e.free(px[0]);
                e.b.mv(s, 0);
                let ptrs = e.copies(p);
                let t = e.reg();
                e.nd_loop_from(&[len], &ptrs, &[vec![step], vec![step]], |e, q| {
                    e.b.load(Op::Lw, v, q[0], 0);
                    e.recipe(&exp, &[v, m], t, &Default::default());
                    if !log_softmax {
                        e.b.store(Op::Sw, t, q[1], 0);
                    }
                    e.b.float(Op::Fadd, s, s, t);
                });
                for r in ptrs {
                    e.free(r);
                }
                let ptrs = e.copies(p);
                if log_softmax {
                    let l = e.reg();
                    e.recipe(&log, &[s], l, &Default::default());
                    e.nd_loop_from(&[len], &ptrs, &[vec![step], vec![step]], |e, q| {
                        e.b.load(Op::Lw, v, q[0], 0);
                        e.b.float(Op::Fsub, v, v, m);
                        e.b.float(Op::Fsub, v, v, l);
                        e.b.store(Op::Sw, v, q[1], 0);
                    });
                    e.free(l);
                } else {
                    e.nd_loop_from(&[len], &ptrs[1..], &[vec![step]], |e, q| {
                        e.b.load(Op::Lw, v, q[0], 0);
                        e.b.float(Op::Fdiv, v, v, s);
                        e.b.store(Op::Sw, v, q[0], 0);
                    });
                }
                for r in ptrs.into_iter().chain([t, m, s, v]) {
                    e.free(r);
                }
            },
        );
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (outer, len, inner) = self.split(&io.inputs[0].shape);
        let x = data.inputs[0];
        let y = data.output;
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * len + j) * inner + i;
                let m = (0..len).fold(0xFF80_0000, |m, j| semantics::f32_max(m, x[at(j)]));
                let mut s = 0u32;
                for j in 0..len {
                    let d = Eval.sub(x[at(j)], m);
                    let t = math::exp(&mut Eval, d);
                    if !self.log {
                        y[at(j)] = t;
                    }
                    s = semantics::f32_add(s, t);
                }
                if self.log {
                    let l = math::log(&mut Eval, s);
                    for j in 0..len {
                        y[at(j)] = semantics::f32_sub(semantics::f32_sub(x[at(j)], m), l);
                    }
                } else {
                    for j in 0..len {
                        y[at(j)] = semantics::f32_div(y[at(j)], s);
                    }
                }
            }
        }
    }
}

#[cfg(feature = "gpu")]
impl Softmax {
    /// The OpenCL launch (`softmax.cl`): one row along the axis a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let x = s.shape(0);
        let inner = numel(&x[self.axis + 1..]);
        let rows = numel(&x[..self.axis]) * inner;
        let p = SoftmaxParams {
            x: s.input(0),
            y: s.y(),
            rows,
            len: x[self.axis],
            inner,
            log: self.log,
        };
        vec![Plan::flat("softmax", p, rows)]
    }
}
