//! tract's `Lrn` (ONNX LRN): verdict's Lrn, same attributes.

use tract_onnx::prelude::TypedNode;
use tract_onnx_opl::lrn::Lrn as TractLrn;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::lrn::Lrn;

use super::{Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractLrn>() else {
        return unsupported("not an LRN");
    };
    let x = cx.operand(node.inputs[0])?;
    let lrn = Lrn {
        alpha: op.alpha,
        beta: op.beta,
        bias: op.bias,
        size: op.size,
    };
    cx.add(&node.name, OpKind::Lrn(lrn), &[x])
}
