//! Pad (constant mode): the output filled with the value (skipped for `+0`,
//! since fresh buffers are zero), then the input copied into its interior.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, view_copy};
#[cfg(feature = "gpu")]
use crate::gpu::params::FillParams;
use crate::kernels::copy::{View, contiguous, emit_copy, native_copy};
use crate::ops::{Io, NativeIo, ShapeError};

/// Constant padding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pad {
    /// Elements added before each axis.
    pub begin: Vec<usize>,
    /// Elements added after each axis.
    pub end: Vec<usize>,
    /// The fill value.
    pub value: f32,
}

impl Pad {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [x] = inputs else {
            return Err(ShapeError::Arity {
                expected: "1",
                got: inputs.len(),
            });
        };
        if self.begin.len() != x.len() || self.end.len() != x.len() {
            return Err(ShapeError::Attributes(format!(
                "pads for {} axes, input has {}",
                self.begin.len(),
                x.len()
            )));
        }
        Ok(x.iter()
            .zip(&self.begin)
            .zip(&self.end)
            .map(|((n, b), e)| n + b + e)
            .collect())
    }

    pub(crate) fn views(&self, io: &Io) -> (View, View) {
        let out = contiguous(&io.output.shape);
        let offset = self
            .begin
            .iter()
            .zip(&out)
            .map(|(&b, &s)| b as i64 * s)
            .sum();
        let src = View {
            addr: io.inputs[0].addr,
            offset: 0,
            strides: contiguous(&io.inputs[0].shape),
        };
        (
            src,
            View {
                addr: io.output.addr,
                offset,
                strides: out,
            },
        )
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let fill = self.value.to_bits();
        if fill != 0 {
            let n = io.output.shape.iter().product::<usize>();
            let v = e.constant(fill);
            e.nd_loop(&[n], &[io.output.addr], &[vec![4]], |e, p| {
                e.b.store(Op::Sw, v, p[0], 0)
            });
            e.free(v);
        }
        let (src, dst) = self.views(io);
        emit_copy(e, &io.inputs[0].shape, &src, &dst);
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        data.output.fill(self.value.to_bits());
        let (src, dst) = self.views(io);
        native_copy(&io.inputs[0].shape, data.inputs[0], &src, data.output, &dst);
    }
}

#[cfg(feature = "gpu")]
impl Pad {
    /// The OpenCL launches (`copy.cl`): the fill, then the input's copy
    /// between [`Self::views`].
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let count = s.count();
        let fill = FillParams {
            dst: s.y(),
            count,
            value: self.value.to_bits(),
        };
        vec![
            Plan::flat("fill", fill, count),
            view_copy(s.shape(0), &self.views(&s.io())),
        ]
    }
}
