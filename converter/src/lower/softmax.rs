//! tract's `Softmax` and `LogSoftmax`. verdict's op works along one axis;
//! contiguous axes are folded into one by a reshape on each side.

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::nn::{Softmax as TractSoftmax, SoftmaxKind};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::softmax::Softmax;

use super::{Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractSoftmax>() else {
        return unsupported("not a softmax");
    };
    if op.quant_output_dt.is_some() {
        return unsupported("quantized softmax");
    }
    let log = matches!(op.kind, SoftmaxKind::LogSoftmax);
    let mut axes: Vec<usize> = op.axes.to_vec();
    axes.sort_unstable();
    let (Some(&first), Some(&last)) = (axes.first(), axes.last()) else {
        return unsupported("softmax over no axis");
    };
    if last - first + 1 != axes.len() {
        return unsupported(format!("softmax over non-contiguous axes {axes:?}"));
    }
    let x = cx.raw(node.inputs[0])?;
    let shape = cx.shape(node.inputs[0])?;
    let x = cx.reshape(&format!("{}.shape", node.name), x, &shape)?;
    let mut folded: Vec<usize> = shape[..first].to_vec();
    folded.push(shape[first..=last].iter().product());
    folded.extend(&shape[last + 1..]);
    let name = &node.name;
    let f = cx.reshape(&format!("{name}.fold"), x, &folded)?;
    cx.add(name, OpKind::Softmax(Softmax { axis: first, log }), &[f])
}
