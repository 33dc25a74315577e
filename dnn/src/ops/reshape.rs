//! Reshape and its relatives (Flatten, Squeeze, Unsqueeze): the elements in
//! row-major order, copied word by word into the output.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, copy};
use crate::ir::numel;
use crate::ops::{Io, NativeIo, ShapeError};

/// A copy into a new shape with the same number of elements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reshape {
    /// The output shape.
    pub shape: Vec<usize>,
}

impl Reshape {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        match inputs {
            [x] if numel(x) == numel(&self.shape) => Ok(self.shape.clone()),
            [x] => Err(ShapeError::Attributes(format!(
                "cannot reshape {x:?} into {:?}",
                self.shape
            ))),
            _ => Err(ShapeError::Arity {
                expected: "1",
                got: inputs.len(),
            }),
        }
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let n = numel(&self.shape);
        e.nd_loop(
            &[n],
            &[io.inputs[0].addr, io.output.addr],
            &[vec![4], vec![4]],
            |e, p| {
                let x = e.reg();
                e.b.load(Op::Lw, x, p[0], 0);
                e.b.store(Op::Sw, x, p[1], 0);
                e.free(x);
            },
        );
    }

    pub(crate) fn native(&self, _io: &Io, data: NativeIo<'_>) {
        data.output.copy_from_slice(data.inputs[0]);
    }
}

#[cfg(feature = "gpu")]
impl Reshape {
    /// The OpenCL launch (`copy.cl`): the words as they lie.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        vec![copy(s.input(0), 0, s.y(), &[s.count()], &[1], &[1])]
    }
}
