//! The ops: one file each, holding the attributes, the shape rule, the VM
//! code generator and the native kernel; the loops several ops share
//! (strided copies, the GEMM micro-kernel, sliding windows, epilogues) are
//! in [`crate::kernels`]. docs/spec/kernels.md states each op's canonical
//! order of operations; both engines follow it.

use serde::{Deserialize, Serialize};

use crate::emit::Emitter;
use crate::ir::Shape;

pub mod argmax;
pub mod binary;
pub mod concat;
pub mod conv;
pub mod decode;
pub mod gather;
pub mod gemm;
pub mod lrn;
pub mod norm;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod reshape;
pub mod sample;
pub mod select;
pub mod slice;
pub mod softmax;
pub mod transpose;
pub mod unary;
pub mod window;

/// Why an op does not accept its inputs' shapes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The wrong number of inputs.
    #[error("takes {expected} inputs, got {got}")]
    Arity {
        /// How many the op takes: "1", "2 or 3", "at least 1".
        expected: &'static str,
        /// How many it was given.
        got: usize,
    },
    /// An input of the wrong rank or size.
    #[error("{operand} must be {expected}, got {shape:?}")]
    Operand {
        /// The input's name in the op's definition (`X`, `W`, `B`).
        operand: &'static str,
        /// The shape it must have.
        expected: String,
        /// The shape it has.
        shape: Shape,
    },
    /// An axis attribute past the input's rank.
    #[error("axis {axis} out of range for rank {rank}")]
    Axis {
        /// The attribute.
        axis: usize,
        /// The input's rank.
        rank: usize,
    },
    /// Two shapes that numpy broadcasting cannot combine.
    #[error("shapes {a:?} and {b:?} do not broadcast (dimension {dim}: {x} vs {y})")]
    Broadcast {
        /// The first shape.
        a: Shape,
        /// The second shape.
        b: Shape,
        /// The first dimension (of the broadcast rank) where they differ.
        dim: usize,
        /// `a`'s size there.
        x: usize,
        /// `b`'s size there.
        y: usize,
    },
    /// Inputs whose shapes each fit but not together.
    #[error("{0}")]
    Mismatch(String),
    /// Attributes that do not fit the inputs (a permutation, ranges, pads, a
    /// window larger than its input).
    #[error("{0}")]
    Attributes(String),
}

impl ShapeError {
    /// [`ShapeError::Operand`]: input `operand` has `shape`, not `expected`.
    pub(crate) fn operand(
        operand: &'static str,
        expected: impl Into<String>,
        shape: &[usize],
    ) -> ShapeError {
        ShapeError::Operand {
            operand,
            expected: expected.into(),
            shape: shape.to_vec(),
        }
    }
}

/// The output shape of an elementwise op of one input: the input's.
pub(crate) fn elementwise_shape(inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
    match inputs {
        [x] => Ok(x.to_vec()),
        _ => Err(ShapeError::Arity {
            expected: "1",
            got: inputs.len(),
        }),
    }
}

/// The one input's shape of an op that takes one input and an `axis`
/// within its rank.
pub(crate) fn one_input_with_axis<'a>(
    inputs: &[&'a [usize]],
    axis: usize,
) -> Result<&'a [usize], ShapeError> {
    let [x] = inputs else {
        return Err(ShapeError::Arity {
            expected: "1",
            got: inputs.len(),
        });
    };
    if axis >= x.len() {
        return Err(ShapeError::Axis {
            axis,
            rank: x.len(),
        });
    }
    Ok(x)
}

/// An operand as a kernel sees it: where it lives and its shape.
#[derive(Clone, Debug)]
pub struct Operand {
    /// Byte address in VM memory.
    pub addr: u32,
    /// Shape.
    pub shape: Shape,
}

/// Where an op's inputs, output and scratch buffers are.
#[derive(Clone, Debug)]
pub struct Io {
    /// Inputs in the op's order.
    pub inputs: Vec<Operand>,
    /// The output.
    pub output: Operand,
    /// Scratch buffers, as many and as large as [`OpKind::scratch`] asked.
    pub scratch: Vec<Operand>,
}

/// The native engine's view of an op's buffers, as bit patterns.
#[derive(Debug)]
pub struct NativeIo<'a> {
    /// Inputs in the op's order.
    pub inputs: Vec<&'a [u32]>,
    /// The output, written in full.
    pub output: &'a mut [u32],
    /// Scratch buffers, holding anything on entry: the op writes them in
    /// full, as the VM code leaves them (from zero).
    pub scratch: Vec<&'a mut [u32]>,
    /// What [`OpKind::prepare`] made of the op's weights, if anything.
    pub prepared: Option<&'a [f32]>,
}

/// An op with its attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpKind {
    /// Matrix product with optional transposes, scaling and bias.
    Gemm(gemm::Gemm),
    /// 2-D convolution.
    Conv(conv::Conv),
    /// Max, average and global pooling.
    Pool(pool::Pool),
    /// Elementwise binary op with numpy broadcasting.
    Binary(binary::Binary),
    /// Elementwise unary op.
    Unary(unary::Unary),
    /// Reshape, flatten, squeeze, unsqueeze: a copy into the new shape.
    Reshape(reshape::Reshape),
    /// Axis permutation.
    Transpose(transpose::Transpose),
    /// Strided sub-tensor.
    Slice(slice::Slice),
    /// Concatenation along an axis.
    Concat(concat::Concat),
    /// Constant padding.
    Pad(pad::Pad),
    /// Sum, mean, max or min over axes.
    Reduce(reduce::Reduce),
    /// Softmax or LogSoftmax along an axis.
    Softmax(softmax::Softmax),
    /// LayerNormalization or RmsNorm over consecutive axes.
    Norm(norm::Norm),
    /// Rows of a tensor picked by indices (embeddings).
    Gather(gather::Gather),
    /// Local response normalisation across channels.
    Lrn(lrn::Lrn),
    /// Elementwise selection by a boolean tensor.
    Where(select::Where),
    /// The index of the largest or smallest value along an axis.
    ArgMax(argmax::ArgMax),
    /// The model's input widened from bytes or 16-bit integers.
    Decode(decode::Decode),
    /// A token drawn from logits with a seed, temperature, top-k, top-p.
    Sample(sample::Sample),
}

/// Calls `$call` on the op inside any [`OpKind`].
macro_rules! each_op {
    ($self:expr, $op:ident => $call:expr) => {
        match $self {
            OpKind::Gemm($op) => $call,
            OpKind::Conv($op) => $call,
            OpKind::Pool($op) => $call,
            OpKind::Binary($op) => $call,
            OpKind::Unary($op) => $call,
            OpKind::Reshape($op) => $call,
            OpKind::Transpose($op) => $call,
            OpKind::Slice($op) => $call,
            OpKind::Concat($op) => $call,
            OpKind::Pad($op) => $call,
            OpKind::Reduce($op) => $call,
            OpKind::Softmax($op) => $call,
            OpKind::Norm($op) => $call,
            OpKind::Gather($op) => $call,
            OpKind::Lrn($op) => $call,
            OpKind::Where($op) => $call,
            OpKind::ArgMax($op) => $call,
            OpKind::Decode($op) => $call,
            OpKind::Sample($op) => $call,
        }
    };
}

impl OpKind {
    /// The OpenCL launches of the op at `site`, in order.
    #[cfg(feature = "gpu")]
    pub(crate) fn gpu(&self, site: &crate::gpu::launch::Site<'_>) -> Vec<crate::gpu::launch::Plan> {
        each_op!(self, op => op.gpu(site))
    }

    /// The op's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Gemm(_) => "Gemm",
            OpKind::Conv(_) => "Conv",
            OpKind::Pool(p) => match p.kind {
                pool::PoolKind::Max => "MaxPool",
                pool::PoolKind::Avg { .. } => "AveragePool",
                pool::PoolKind::GlobalAvg => "GlobalAveragePool",
                pool::PoolKind::GlobalMax => "GlobalMaxPool",
            },
            OpKind::Binary(b) => b.op.name(),
            OpKind::Unary(u) => u.op.name(),
            OpKind::Reshape(_) => "Reshape",
            OpKind::Transpose(_) => "Transpose",
            OpKind::Slice(_) => "Slice",
            OpKind::Concat(_) => "Concat",
            OpKind::Pad(_) => "Pad",
            OpKind::Reduce(r) => r.name(),
            OpKind::Softmax(s) => {
                if s.log {
                    "LogSoftmax"
                } else {
                    "Softmax"
                }
            }
            OpKind::Norm(n) => n.name(),
            OpKind::Gather(_) => "Gather",
            OpKind::Lrn(_) => "LRN",
            OpKind::Where(_) => "Where",
            OpKind::ArgMax(a) => a.name(),
            OpKind::Decode(d) => match d.from {
                decode::Encoding::U8 => "Decode(u8)",
                decode::Encoding::U16 => "Decode(u16)",
            },
            OpKind::Sample(_) => "Sample",
        }
    }

    /// The output shape for these input shapes.
    ///
    /// # Errors
    ///
    /// A message saying what does not fit.
    pub fn output_shape(&self, inputs: &[&[usize]]) -> Result<Shape, ShapeError> {
        each_op!(self, op => op.output_shape(inputs))
    }

    /// Sizes in 32-bit words of the scratch buffers the op needs.
    pub fn scratch(&self, inputs: &[&[usize]]) -> Vec<usize> {
        match self {
            OpKind::Conv(op) => op.scratch(inputs),
            OpKind::Pool(op) => op.scratch(inputs),
            OpKind::Sample(op) => op.scratch(inputs),
            _ => Vec::new(),
        }
    }

    /// Emits the op's VM code; it ends with every register zero.
    pub fn emit(&self, e: &mut Emitter, io: &Io) {
        each_op!(self, op => op.emit(e, io));
        e.end_op();
    }

    /// Prepares constant inputs for the native kernel once per model (a
    /// GEMM's packed weight matrix); `weights[i]` is input `i` if constant.
    pub fn prepare(&self, io: &Io, weights: &[Option<&[u32]>]) -> Option<Vec<f32>> {
        match self {
            OpKind::Gemm(op) => op.prepare(io, weights),
            OpKind::Conv(op) => op.prepare(io, weights),
            _ => None,
        }
    }

    /// The output is the first input's words unchanged (Reshape): the
    /// native engine lets it share them instead of copying.
    pub fn shares_input(&self) -> bool {
        matches!(self, OpKind::Reshape(_))
    }

    /// Runs the op natively, writing what the VM code writes.
    pub fn native(&self, io: &Io, data: NativeIo<'_>) {
        each_op!(self, op => op.native(io, data))
    }
}

/// Row-major strides in elements.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::binary::{Binary, BinaryOp};
    use crate::ops::conv::Conv;
    use crate::ops::gemm::Gemm;
    use crate::ops::softmax::Softmax;
    use crate::ops::window::Window;

    /// Each kind of misfit names what it is, so that callers can match on
    /// it and the message names both sides.
    #[test]
    fn misfits_are_typed() {
        let add = OpKind::Binary(Binary { op: BinaryOp::Add });
        assert_eq!(
            add.output_shape(&[&[2, 3], &[4, 3]]),
            Err(ShapeError::Broadcast {
                a: vec![2, 3],
                b: vec![4, 3],
                dim: 0,
                x: 2,
                y: 4
            })
        );
        assert_eq!(
            add.output_shape(&[&[2, 3]]),
            Err(ShapeError::Arity {
                expected: "2",
                got: 1
            })
        );
        let softmax = OpKind::Softmax(Softmax {
            axis: 2,
            log: false,
        });
        assert_eq!(
            softmax.output_shape(&[&[4, 5]]),
            Err(ShapeError::Axis { axis: 2, rank: 2 })
        );
        let conv = OpKind::Conv(Conv {
            window: Window::new([3, 3]),
            group: 1,
            relu: false,
        });
        assert_eq!(
            conv.output_shape(&[&[1, 2, 8], &[4, 2, 3, 3]]),
            Err(ShapeError::operand("X", "NCHW", &[1, 2, 8]))
        );
        let e = conv
            .output_shape(&[&[1, 2, 2, 2], &[4, 2, 3, 3]])
            .unwrap_err();
        assert!(matches!(e, ShapeError::Attributes(_)), "{e:?}");
        let gemm = OpKind::Gemm(Gemm::default());
        let e = gemm.output_shape(&[&[2, 3], &[4, 5]]).unwrap_err();
        assert_eq!(e.to_string(), "inner dimensions differ: A [2, 3], B [4, 5]");
    }
}
