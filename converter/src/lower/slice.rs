//! tract's `Slice` (a range of one axis) and `Downsample` (a strided one).

use tract_onnx::prelude::TypedNode;
use tract_onnx::prelude::tract_data::internal::DimLike;
use tract_onnx::tract_core::ops::array::Slice as TractSlice;
use tract_onnx::tract_core::ops::downsample::Downsample;
use verdict_dnn::ir::TensorId;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::slice::{Range, Slice};

use super::{Lowered, Lowering, unsupported};

/// A Slice node taking `range` on `axis` and all of every other axis.
fn slice_axis(
    cx: &mut Lowering<'_>,
    name: &str,
    x: TensorId,
    axis: usize,
    range: Range,
) -> Lowered {
    let shape = cx.tensor_shape(x);
    let ranges = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| {
            if d == axis {
                range
            } else {
                Range {
                    start: 0,
                    step: 1,
                    len: n,
                }
            }
        })
        .collect();
    cx.add(name, OpKind::Slice(Slice { ranges }), &[x])
}

pub(crate) fn convert_slice(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractSlice>() else {
        return unsupported("not a slice");
    };
    let (Ok(start), Ok(end)) = (op.start.to_usize(), op.end.to_usize()) else {
        return unsupported(format!("symbolic bounds {}..{}", op.start, op.end));
    };
    if end < start {
        return unsupported(format!("empty range {start}..{end}"));
    }
    let x = cx.operand(node.inputs[0])?;
    let range = Range {
        start,
        step: 1,
        len: end - start,
    };
    slice_axis(cx, &node.name, x, op.axis, range)
}

pub(crate) fn convert_downsample(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<Downsample>() else {
        return unsupported("not a downsample");
    };
    let x = cx.operand(node.inputs[0])?;
    let n = cx.tensor_shape(x).get(op.axis).copied().unwrap_or(0);
    let stride = op.stride as i64;
    if stride == 0 || op.modulo >= n {
        return unsupported(format!(
            "stride {stride}, offset {} on an axis of {n}",
            op.modulo
        ));
    }
    let step = stride.unsigned_abs() as usize;
    let len = (n - op.modulo).div_ceil(step);
    // A negative stride walks back from the last element down to `modulo`.
    let start = if stride > 0 { op.modulo } else { n - 1 };
    let range = Range {
        start,
        step: stride,
        len,
    };
    slice_axis(cx, &node.name, x, op.axis, range)
}
