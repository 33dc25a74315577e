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

use std::cell::RefCell;

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
use crate::kernels::lanes::{Lanes, canonical_run};
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

    /// The canonical loops, regrouped: every row's maximum, then every
    /// `x_j - m` and every `exp` over the whole tensor at once (elementwise,
    /// so vectorized: [`Lanes`]), then each row's sum in axis order, then
    /// the quotients or differences. Each value is computed by the same
    /// operations on the same operands as in the loops above.
    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (_, len, inner) = self.split(&io.inputs[0].shape);
        let (x, y) = (data.inputs[0], data.output);
        if y.is_empty() {
            return;
        }
        let rows = y.len() / len;
        let mut maxima = vec![f32::NEG_INFINITY.to_bits(); rows];
        each(len, inner, &mut maxima, |m, k| {
            *m = semantics::f32_max(*m, x[k])
        });
        let mut d = vec![0; y.len()];
        each(len, inner, &mut maxima, |m, k| {
            d[k] = (f32::from_bits(x[k]) - f32::from_bits(*m)).to_bits();
        });
        canonical_run(&mut d);
        EXP.with_borrow_mut(|exp| exp.run(&d, y));
        let mut sums = vec![0u32; rows];
        each(len, inner, &mut sums, |s, k| {
            *s = semantics::f32_add(*s, y[k])
        });
        if self.log {
            let mut logs: Vec<u32> = sums.iter().map(|&s| math::log(&mut Eval, s)).collect();
            each(len, inner, &mut logs, |l, k| {
                y[k] = (f32::from_bits(d[k]) - f32::from_bits(*l)).to_bits();
            });
        } else {
            each(len, inner, &mut sums, |s, k| {
                y[k] = (f32::from_bits(y[k]) / f32::from_bits(*s)).to_bits();
            });
        }
        canonical_run(y);
    }
}

/// `f(row's value, position of x_j)` for every element, each row's `j` in
/// order: a block of `len * inner` elements holds `inner` rows, interleaved.
fn each(len: usize, inner: usize, rows: &mut [u32], mut f: impl FnMut(&mut u32, usize)) {
    let mut k = 0;
    for block in rows.chunks_mut(inner) {
        for _ in 0..len {
            for r in block.iter_mut() {
                f(r, k);
                k += 1;
            }
        }
    }
}

thread_local! {
    /// The `exp` recipe ready to run, recorded once a thread: a small
    /// softmax would spend more on recording it than on running it.
    static EXP: RefCell<Lanes> =
        RefCell::new(Lanes::new(Trace::record(1, |t, v| math::exp(t, v[0]))));
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
