//! Gather along one axis: embedding lookups and index selection.
//!
//! Indices are binary32 values holding integers (models have f32 tensors
//! only; integers below 2^24 are exact). Canonical semantics, for every
//! outer index `o`, index position `k` and inner index `i`:
//!
//! ```text
//! q = ftoi(indices[k])          (toward zero, saturating, NaN gives 0)
//! if q < 0: q = q + n           (n = data's size along the axis)
//! y[o, k, i] = data[o, q, i]    if 0 <= q < n (a word copy, bits kept)
//!            = 0x7FC00000       otherwise
//! ```
//!
//! The VM code has no data-dependent branch: the range check is a mask.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::builder::ZERO;
use verdict_vm::semantics::f32_to_i32;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::GatherParams;
use crate::ir::numel;
use crate::ops::{Io, NativeIo, ShapeError};

/// The canonical NaN, what an out-of-range index selects.
const NAN: u32 = 0x7FC0_0000;

/// Gather along `axis` of the first input, at the indices of the second.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gather {
    /// The axis of the data indexed.
    pub axis: usize,
}

impl Gather {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [data, indices] = inputs else {
            return Err(ShapeError::Arity {
                expected: "2",
                got: inputs.len(),
            });
        };
        if self.axis >= data.len() {
            return Err(ShapeError::Axis {
                axis: self.axis,
                rank: data.len(),
            });
        }
        if data[self.axis] > i32::MAX as usize {
            return Err(ShapeError::Operand {
                operand: "data",
                expected: "at most 2^31 along the axis".into(),
                shape: data.to_vec(),
            });
        }
        Ok([&data[..self.axis], indices, &data[self.axis + 1..]].concat())
    }

    /// `(outer, n, inner)` of the data: `n` along the axis.
    fn split(&self, data: &[usize]) -> (usize, usize, usize) {
        (
            numel(&data[..self.axis]),
            data[self.axis],
            numel(&data[self.axis + 1..]),
        )
    }

    /// The canonical index computation: the row selected, or `None`.
    fn row(index: u32, n: usize) -> Option<usize> {
        let q = f32_to_i32(index) as i32 as i64;
        let q = if q < 0 { q + n as i64 } else { q };
        usize::try_from(q).ok().filter(|&q| q < n)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (data, indices) = (&io.inputs[0], &io.inputs[1]);
        let (outer, n, inner) = self.split(&data.shape);
        let count = numel(&indices.shape);
        let row = (4 * inner) as i32;
        let strides = [
            vec![(4 * n * inner) as i64, 0],
            vec![0, 4],
            vec![(4 * count * inner) as i64, row as i64],
        ];
        e.nd_loop(
            &[outer, count],
            &[data.addr, indices.addr, io.output.addr],
            &strides,
            |e, p| {
                let (q, t, mask, nan) = (e.reg(), e.reg(), e.reg(), e.reg());
                e.b.load(Op::Lw, q, p[1], 0);
                e.b.float(Op::Ftoi, q, q, ZERO);
                // q += n if q < 0
                e.b.alu(Op::Slt, t, q, ZERO, 0);
                e.b.alu(Op::Mul, t, t, ZERO, n as i32);
                e.b.alu(Op::Add, q, q, t, 0);
                // mask = all ones if q < n (unsigned, so negatives fail)
                e.b.alu(Op::Sltu, t, q, ZERO, n as i32);
                e.b.alu(Op::Mul, q, q, t, 0);
                e.b.alu(Op::Sub, mask, ZERO, t, 0);
                e.b.alu(Op::Xor, nan, mask, ZERO, -1);
                e.b.alu(Op::And, nan, nan, ZERO, NAN as i32);
                e.b.alu(Op::Mul, q, q, ZERO, row);
                e.b.alu(Op::Add, q, q, p[0], 0);
                let dst = e.copies(&p[2..]);
                e.nd_loop_from(&[inner], &[q, dst[0]], &[vec![4], vec![4]], |e, r| {
                    e.b.load(Op::Lw, t, r[0], 0);
                    e.b.alu(Op::And, t, t, mask, 0);
                    e.b.alu(Op::Or, t, t, nan, 0);
                    e.b.store(Op::Sw, t, r[1], 0);
                });
                for r in dst.into_iter().chain([q, t, mask, nan]) {
                    e.free(r);
                }
            },
        );
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (outer, n, inner) = self.split(&io.inputs[0].shape);
        let (x, indices) = (data.inputs[0], data.inputs[1]);
        let rows = data.output.chunks_exact_mut(inner.max(1));
        let picks = (0..outer).flat_map(|o| indices.iter().map(move |&k| (o, k)));
        for (y, (o, k)) in rows.zip(picks) {
            match Self::row(k, n) {
                Some(q) => y.copy_from_slice(&x[(o * n + q) * inner..][..inner]),
                None => y.fill(NAN),
            }
        }
    }
}

#[cfg(feature = "gpu")]
impl Gather {
    /// The OpenCL launch (`gather.cl`): one output element a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (x, count) = (s.shape(0), s.count());
        let p = GatherParams {
            data: s.input(0),
            indices: s.input(1),
            y: s.y(),
            count,
            index_count: numel(s.shape(1)),
            n: x[self.axis],
            inner: numel(&x[self.axis + 1..]),
        };
        vec![Plan::flat("gather", p, count)]
    }
}
