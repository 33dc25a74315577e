//! Slice: per axis a start, a step (possibly negative) and a length, already
//! normalised by the converter; a strided copy in the output's order.

use serde::{Deserialize, Serialize};

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, view_copy};
use crate::kernels::copy::{View, contiguous, emit_copy, native_copy};
use crate::ops::{Io, NativeIo, ShapeError};

/// One axis of a slice: elements `start, start + step, ...`, `len` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First index.
    pub start: usize,
    /// Step between indices, not zero.
    pub step: i64,
    /// Number of elements.
    pub len: usize,
}

/// A slice with one range per input axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// The ranges, one per axis.
    pub ranges: Vec<Range>,
}

impl Slice {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [x] = inputs else {
            return Err(ShapeError::Arity {
                expected: "1",
                got: inputs.len(),
            });
        };
        if self.ranges.len() != x.len() {
            return Err(ShapeError::Attributes(format!(
                "{} ranges for {} axes",
                self.ranges.len(),
                x.len()
            )));
        }
        for (d, (r, &n)) in self.ranges.iter().zip(*x).enumerate() {
            let last = r.start as i64 + r.step * (r.len as i64 - 1);
            if r.step == 0 || (r.len > 0 && (r.start >= n || last < 0 || last >= n as i64)) {
                return Err(ShapeError::Attributes(format!(
                    "range {r:?} out of bounds for axis {d} of size {n}"
                )));
            }
        }
        Ok(self.ranges.iter().map(|r| r.len).collect())
    }

    pub(crate) fn views(&self, io: &Io) -> (View, View) {
        let s = contiguous(&io.inputs[0].shape);
        let offset = self
            .ranges
            .iter()
            .zip(&s)
            .map(|(r, &st)| r.start as i64 * st)
            .sum();
        let strides = self
            .ranges
            .iter()
            .zip(&s)
            .map(|(r, &st)| r.step * st)
            .collect();
        let src = View {
            addr: io.inputs[0].addr,
            offset,
            strides,
        };
        let dst = View {
            addr: io.output.addr,
            offset: 0,
            strides: contiguous(&io.output.shape),
        };
        (src, dst)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (src, dst) = self.views(io);
        emit_copy(e, &io.output.shape, &src, &dst);
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (src, dst) = self.views(io);
        native_copy(&io.output.shape, data.inputs[0], &src, data.output, &dst);
    }
}

#[cfg(feature = "gpu")]
impl Slice {
    /// The OpenCL launch (`copy.cl`) of the copy between [`Self::views`].
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        vec![view_copy(s.out_shape(), &self.views(&s.io()))]
    }
}
