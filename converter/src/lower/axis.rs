//! tract's `AxisOp`: adding, removing and regrouping axes are reshapes (a
//! copy in verdict); moving an axis is a transpose.

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::transpose::Transpose;

use super::{Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<AxisOp>() else {
        return unsupported("not an axis op");
    };
    match op {
        // Same elements in the same order: the input tensor holds the output.
        AxisOp::Add(_) | AxisOp::Rm(_) | AxisOp::Reshape(..) => cx.raw(node.inputs[0]),
        &AxisOp::Move(from, to) => {
            let x = cx.operand(node.inputs[0])?;
            let rank = cx.tensor_shape(x).len();
            if from >= rank || to >= rank {
                return unsupported(format!("move {from} to {to} in rank {rank}"));
            }
            let mut perm: Vec<usize> = (0..rank).collect();
            let moved = perm.remove(from);
            perm.insert(to, moved);
            cx.add(&node.name, OpKind::Transpose(Transpose { perm }), &[x])
        }
    }
}
