//! tract's `Gather` (ONNX Gather): verdict's Gather, the indices either a
//! constant (integers become binary32 values, exact below 2^24) or the
//! model's input (an integer input holds binary32 values, see `lower`).

use tract_onnx::prelude::{DatumType, TypedNode};
use tract_onnx::tract_core::ops::array::Gather as TractGather;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::gather::Gather;

use super::{Lowered, Lowering, unsupported};

/// The largest integer binary32 holds exactly, and so the largest index.
const EXACT: i64 = 1 << 24;

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
            let ints = k
                .cast_to::<i64>()
                .ok()
                .filter(|_| k.datum_type().is_integer())
                .and_then(|t| {
                    t.try_as_plain_ram()
                        .ok()?
                        .as_slice::<i64>()
                        .ok()
                        .map(<[i64]>::to_vec)
                });
            let Some(ints) = ints else {
                return unsupported(format!("{:?} indices; integers expected", k.datum_type()));
            };
            if let Some(i) = ints.iter().find(|i| i.abs() > EXACT) {
                return unsupported(format!(
                    "index {i} is beyond 2^24, which binary32 cannot hold"
                ));
            }
            let values = ints.iter().map(|&i| i as f32).collect();
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
