//! Transpose: `Y[i_0, ..] = X[..]` with the axes permuted; a strided copy in
//! the output's row-major order.

use serde::{Deserialize, Serialize};

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, view_copy};
use crate::kernels::copy::{View, contiguous, emit_copy, native_copy};
use crate::ops::{Io, NativeIo, ShapeError};

/// Output axis `d` is input axis `perm[d]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    /// The permutation.
    pub perm: Vec<usize>,
}

impl Transpose {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [x] = inputs else {
            return Err(ShapeError::Arity {
                expected: "1",
                got: inputs.len(),
            });
        };
        let mut seen = vec![false; x.len()];
        if self.perm.len() != x.len()
            || self
                .perm
                .iter()
                .any(|&p| p >= x.len() || std::mem::replace(&mut seen[p], true))
        {
            return Err(ShapeError::Attributes(format!(
                "perm {:?} is not a permutation of {} axes",
                self.perm,
                x.len()
            )));
        }
        Ok(self.perm.iter().map(|&p| x[p]).collect())
    }

    pub(crate) fn views(&self, io: &Io) -> (View, View) {
        let s = contiguous(&io.inputs[0].shape);
        let src = View {
            addr: io.inputs[0].addr,
            offset: 0,
            strides: self.perm.iter().map(|&p| s[p]).collect(),
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
impl Transpose {
    /// The OpenCL launch (`copy.cl`) of the copy between [`Self::views`].
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        vec![view_copy(s.out_shape(), &self.views(&s.io()))]
    }
}
