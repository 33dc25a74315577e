//! tract's `Reduce` (which keeps reduced axes as size 1): Sum, Max, Min,
//! MeanOfSquares (a square, then a mean), ArgMax and ArgMin.

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::nn::{Reduce as TractReduce, Reducer};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::argmax::ArgMax;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::reduce::{Reduce, ReduceKind};

use super::{Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractReduce>() else {
        return unsupported("not a reduce");
    };
    let mut x = cx.operand(node.inputs[0])?;
    let kind = match op.reducer {
        Reducer::Sum => ReduceKind::Sum,
        Reducer::Max => ReduceKind::Max,
        Reducer::Min => ReduceKind::Min,
        Reducer::MeanOfSquares => {
            x = cx.add(
                &format!("{}.square", node.name),
                OpKind::Binary(Binary { op: BinaryOp::Mul }),
                &[x, x],
            )?;
            ReduceKind::Mean
        }
        Reducer::ArgMax(last) | Reducer::ArgMin(last) => {
            let [axis] = op.axes[..] else {
                return unsupported("an arg reduction over several axes");
            };
            let min = matches!(op.reducer, Reducer::ArgMin(_));
            let arg = ArgMax {
                axis,
                keepdims: true,
                min,
                last,
            };
            return cx.add(&node.name, OpKind::ArgMax(arg), &[x]);
        }
        other => return unsupported(format!("reducer {other:?}")),
    };
    let mut axes: Vec<usize> = op.axes.to_vec();
    axes.sort_unstable();
    axes.dedup();
    cx.add(
        &node.name,
        OpKind::Reduce(Reduce {
            kind,
            axes,
            keepdims: true,
        }),
        &[x],
    )
}
