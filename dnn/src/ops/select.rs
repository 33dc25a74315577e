//! `Where`: elementwise selection between two tensors by a boolean one,
//! with numpy broadcasting over all three.
//!
//! Canonical semantics: `y[i] = c[ic] is true ? x[ix] : y[iy]` for every
//! output index in row-major order, where true is "not zero of either
//! sign" (a NaN is true, as a cast to bool makes it). The selected word is
//! copied with its bits; the VM code selects with a mask, no branch.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::WhereParams;
use crate::ops::binary::{broadcast, broadcast_strides, byte_strides};
use crate::ops::unary::truth;
use crate::ops::{Io, NativeIo, ShapeError, strides};
use crate::scalar::{Eval, Scalar};

/// `Where(condition, x, y)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Where;

impl Where {
    /// The canonical scalar computation, shared by every engine.
    pub fn apply<S: Scalar>(s: &mut S, c: S::V, x: S::V, y: S::V) -> S::V {
        let t = truth(s, c);
        s.select(t, x, y)
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [c, x, y] = inputs else {
            return Err(ShapeError::Arity {
                expected: "3",
                got: inputs.len(),
            });
        };
        broadcast(&broadcast(c, x)?, y)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let out = &io.output.shape;
        let trace = Trace::record(3, |t, v| Where::apply(t, v[0], v[1], v[2]));
        let mut all: Vec<Vec<i64>> = io
            .inputs
            .iter()
            .map(|i| byte_strides(&broadcast_strides(&i.shape, out)))
            .collect();
        all.push(byte_strides(&strides(out)));
        let bases: Vec<u32> = io
            .inputs
            .iter()
            .map(|i| i.addr)
            .chain([io.output.addr])
            .collect();
        let hoisted = e.hoist(&trace, 7 + out.len());
        e.nd_loop(out, &bases, &all, |e, p| {
            let v = [e.reg(), e.reg(), e.reg()];
            for (k, &r) in v.iter().enumerate() {
                e.b.load(Op::Lw, r, p[k], 0);
            }
            e.recipe(&trace, &v, v[0], &hoisted);
            e.b.store(Op::Sw, v[0], p[3], 0);
            for r in v {
                e.free(r);
            }
        });
        e.unhoist(hoisted);
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let out = &io.output.shape;
        let s: Vec<Vec<usize>> = io
            .inputs
            .iter()
            .map(|i| broadcast_strides(&i.shape, out))
            .collect();
        let rank = out.len();
        let mut index = vec![0usize; rank];
        let mut at = [0usize; 3];
        let [c, x, y] = [data.inputs[0], data.inputs[1], data.inputs[2]];
        for o in data.output.iter_mut() {
            *o = Where::apply(&mut Eval, c[at[0]], x[at[1]], y[at[2]]);
            for d in (0..rank).rev() {
                index[d] += 1;
                for (a, sk) in at.iter_mut().zip(&s) {
                    *a += sk[d];
                }
                if index[d] < out[d] {
                    break;
                }
                for (a, sk) in at.iter_mut().zip(&s) {
                    *a -= sk[d] * out[d];
                }
                index[d] = 0;
            }
        }
    }
}

#[cfg(feature = "gpu")]
impl Where {
    /// The OpenCL launch (`elementwise.cl`): one output a work item, each
    /// input read through its broadcast strides.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (out, count) = (s.out_shape(), s.count());
        let p = WhereParams {
            c: s.input(0),
            x: s.input(1),
            y: s.input(2),
            out: s.y(),
            count,
            rank: out.len(),
            dims: out.to_vec(),
            c_strides: broadcast_strides(s.shape(0), out),
            x_strides: broadcast_strides(s.shape(1), out),
            y_strides: broadcast_strides(s.shape(2), out),
        };
        vec![Plan::flat("choose", p, count)]
    }
}
