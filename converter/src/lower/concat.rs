//! tract's `TypedConcat` and `Pad` (constant mode).

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::array::{Pad as TractPad, PadMode, TypedConcat};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::concat::Concat;
use verdict_dnn::ops::pad::Pad;

use super::{Lowered, Lowering, tensor_floats, unsupported};

pub(crate) fn convert_concat(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TypedConcat>() else {
        return unsupported("not a concat");
    };
    let inputs = node
        .inputs
        .iter()
        .map(|&i| cx.operand(i))
        .collect::<Result<Vec<_>, _>>()?;
    cx.add(
        &node.name,
        OpKind::Concat(Concat { axis: op.axis }),
        &inputs,
    )
}

pub(crate) fn convert_pad(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractPad>() else {
        return unsupported("not a pad");
    };
    let PadMode::Constant(value) = &op.mode else {
        return unsupported(format!("pad mode {:?}; only constant padding is", op.mode));
    };
    let value = match tensor_floats(value)?.as_slice() {
        [v] => *v,
        _ => return unsupported("the pad value is not a scalar"),
    };
    let x = cx.operand(node.inputs[0])?;
    let (begin, end) = op.pads.iter().copied().unzip();
    cx.add(&node.name, OpKind::Pad(Pad { begin, end, value }), &[x])
}
