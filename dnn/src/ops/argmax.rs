//! ArgMax and ArgMin along one axis: the index of the largest (smallest)
//! value, as a binary32 value (how verdict holds integers).
//!
//! Canonical semantics, for every output index in row-major order, over the
//! `n` values `x[0..n]` along the axis:
//!
//! ```text
//! best = x[0];  idx = 0
//! for k in 1..n: t = take(best, x[k]);  best = t ? x[k] : best;  idx = t ? k : idx
//! y = itof(idx)
//! ```
//!
//! `take(b, v)` is `flt(b, v)` for ArgMax (`flt(v, b)` for ArgMin), or, for
//! the last index among equals, `fle`; a NaN counts as the extreme: the
//! first NaN is taken (`isnan(v) & !isnan(b)`), or, for the last index, each
//! NaN (`isnan(v)`). The selections are masks, no branch.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::ArgMaxParams;
#[cfg(feature = "gpu")]
use crate::gpu::recipes::arg_code;
use crate::ir::numel;
use crate::ops::{Io, NativeIo, ShapeError, one_input_with_axis};
use crate::scalar::{Eval, Scalar};

/// ArgMax or ArgMin along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgMax {
    /// The axis searched.
    pub axis: usize,
    /// Keep the axis as size 1.
    pub keepdims: bool,
    /// The smallest value's index instead of the largest's.
    pub min: bool,
    /// The last index among equal extremes instead of the first.
    pub last: bool,
}

impl ArgMax {
    /// The ONNX name.
    pub fn name(&self) -> &'static str {
        if self.min { "ArgMin" } else { "ArgMax" }
    }

    /// The integer 1 if `v` replaces `best` (see the module docs), else 0.
    pub fn take<S: Scalar>(&self, s: &mut S, best: S::V, v: S::V) -> S::V {
        let (a, b) = if self.min { (v, best) } else { (best, v) };
        let cmp = s.float(if self.last { Op::Fle } else { Op::Flt }, a, b);
        let one = s.constant(1);
        let v_ordered = s.float(Op::Feq, v, v);
        let v_nan = s.int(Op::Sub, one, v_ordered);
        let nan = if self.last {
            v_nan
        } else {
            let best_ordered = s.float(Op::Feq, best, best);
            s.int(Op::And, v_nan, best_ordered)
        };
        s.int(Op::Or, cmp, nan)
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let x = one_input_with_axis(inputs, self.axis)?;
        if x[self.axis] == 0 || x[self.axis] > 1 << 24 {
            return Err(ShapeError::operand(
                "X",
                "between 1 and 2^24 values along the axis",
                x,
            ));
        }
        let mut shape = x.to_vec();
        if self.keepdims {
            shape[self.axis] = 1;
        } else {
            shape.remove(self.axis);
        }
        Ok(shape)
    }

    /// `(outer, n, inner)`: `n` values along the axis, `inner` apart.
    fn split(&self, x: &[usize]) -> (usize, usize, usize) {
        (
            numel(&x[..self.axis]),
            x[self.axis],
            numel(&x[self.axis + 1..]),
        )
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (outer, n, inner) = self.split(&io.inputs[0].shape);
        let this = *self;
        let take = Trace::record(2, |t, v| this.take(t, v[0], v[1]));
        let select = Trace::record(3, |t, v| t.select(v[0], v[1], v[2]));
        let row = 4 * inner as i64;
        let strides = vec![vec![n as i64 * row, 4], vec![row, 4]];
        let bases = [io.inputs[0].addr, io.output.addr];
        // The loops' pointers and counters, and the five values below.
        let reserve = 11;
        let (h_take, h_select) = (e.hoist(&take, reserve), e.hoist(&select, reserve));
        e.nd_loop(&[outer, inner], &bases, &strides, |e, p| {
            let (best, idx, k, v, t) = (e.reg(), e.reg(), e.reg(), e.reg(), e.reg());
            e.b.load(Op::Lw, best, p[0], 0);
            e.b.li(idx, 0);
            e.b.li(k, 1);
            let q = e.copies(&p[..1]);
            e.b.addi(q[0], q[0], row as i32);
            e.nd_loop_from(&[n - 1], &q, &[vec![row]], |e, q| {
                e.b.load(Op::Lw, v, q[0], 0);
                e.recipe(&take, &[best, v], t, &h_take);
                e.recipe(&select, &[t, v, best], best, &h_select);
                e.recipe(&select, &[t, k, idx], idx, &h_select);
                e.b.addi(k, k, 1);
            });
            e.b.float(Op::Itof, idx, idx, idx);
            e.b.store(Op::Sw, idx, p[1], 0);
            for r in q.into_iter().chain([best, idx, k, v, t]) {
                e.free(r);
            }
        });
        e.unhoist(h_take);
        e.unhoist(h_select);
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (outer, n, inner) = self.split(&io.inputs[0].shape);
        let x = data.inputs[0];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| x[(o * n + k) * inner + i];
                let (mut best, mut idx) = (at(0), 0u32);
                for k in 1..n {
                    let v = at(k);
                    let t = self.take(&mut Eval, best, v);
                    best = Eval.select(t, v, best);
                    idx = Eval.select(t, k as u32, idx);
                }
                data.output[o * inner + i] = Eval.float(Op::Itof, idx, idx);
            }
        }
    }
}

#[cfg(feature = "gpu")]
impl ArgMax {
    /// The OpenCL launch (`reduce.cl`): one output a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (_, n, inner) = self.split(s.shape(0));
        let count = s.count();
        let p = ArgMaxParams {
            x: s.input(0),
            y: s.y(),
            count,
            n,
            inner,
            take: arg_code(self),
        };
        vec![Plan::flat("argmax", p, count)]
    }
}
