//! Concat along one axis: each input, in order, copied into its slab of the
//! output.

use serde::{Deserialize, Serialize};

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, view_copy};
use crate::kernels::copy::{View, contiguous, emit_copy, native_copy};
use crate::ops::{Io, NativeIo, ShapeError};

/// Concatenation along `axis`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// The axis.
    pub axis: usize,
}

impl Concat {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let first = inputs.first().ok_or(ShapeError::Arity {
            expected: "at least 1",
            got: 0,
        })?;
        if self.axis >= first.len() {
            return Err(ShapeError::Axis {
                axis: self.axis,
                rank: first.len(),
            });
        }
        let mut out = first.to_vec();
        out[self.axis] = 0;
        for x in inputs {
            let same = x.len() == first.len()
                && x.iter()
                    .zip(*first)
                    .enumerate()
                    .all(|(d, (a, b))| d == self.axis || a == b);
            if !same {
                return Err(ShapeError::Mismatch(format!(
                    "input {x:?} does not match {first:?} outside axis {}",
                    self.axis
                )));
            }
            out[self.axis] += x[self.axis];
        }
        Ok(out)
    }

    /// `(source view, destination view)` per input.
    pub(crate) fn views(&self, io: &Io) -> Vec<(View, View)> {
        let out = contiguous(&io.output.shape);
        let mut at = 0i64;
        io.inputs
            .iter()
            .map(|x| {
                let src = View {
                    addr: x.addr,
                    offset: 0,
                    strides: contiguous(&x.shape),
                };
                let dst = View {
                    addr: io.output.addr,
                    offset: at * out[self.axis],
                    strides: out.clone(),
                };
                at += x.shape[self.axis] as i64;
                (src, dst)
            })
            .collect()
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        for (x, (src, dst)) in io.inputs.iter().zip(self.views(io)) {
            emit_copy(e, &x.shape, &src, &dst);
        }
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        for ((x, (src, dst)), words) in io.inputs.iter().zip(self.views(io)).zip(&data.inputs) {
            native_copy(&x.shape, words, &src, data.output, &dst);
        }
    }
}

#[cfg(feature = "gpu")]
impl Concat {
    /// The OpenCL launches (`copy.cl`): one copy per input, between
    /// [`Self::views`].
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        s.shapes()
            .into_iter()
            .zip(self.views(&s.io()))
            .map(|(x, views)| view_copy(x, &views))
            .collect()
    }
}
