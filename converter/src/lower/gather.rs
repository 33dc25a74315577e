//! tract's `Gather` (ONNX Gather): verdict's Gather, the indices either a
//! constant (integers become binary32 values, exact below 2^24) or the
//! model's input (an integer input holds binary32 values, see `lower`).

use tract_onnx::prelude::{DatumType, TypedNode};
use tract_onnx::tract_core::ops::array::Gather as TractGather;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::gather::Gather;

use super::{Lowered, Lowering, unsupported};
use crate::tensor_io::integer_values;

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractGather>() else {
        return unsupported("not a gather");
    };
    if op.output_type.is_some() {
        return unsupported("gather with a cast output");
    }
    let data = cx.operand(node.inputs[0])?;
    let indices = match cx.konst(node.inputs[1]) {
        Some(k) => {
            if !k.datum_type().is_integer() {
                return unsupported(format!("{:?} indices; integers expected", k.datum_type()));
            }
            let values = integer_values(&k).or_else(unsupported)?;
            let name = format!("{}.indices", node.name);
            cx.weight(&name, k.shape(), values)?
        }
        None if cx.fact(node.inputs[1])?.datum_type == DatumType::F32 => {
            return unsupported("float indices");
        }
        None => cx.operand(node.inputs[1])?,
    };
    cx.add(
        &node.name,
        OpKind::Gather(Gather { axis: op.axis }),
        &[data, indices],
    )
}
