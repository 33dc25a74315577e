//! verdict's Norm from tract's `RmsNorm` (what tract's declutter makes of
//! ONNX RMSNormalization and of the `x * rsqrt(mean(x^2) + eps)` pattern:
//! one axis, scale and bias left to tract's Mul and Add) and from the
//! converter's own [`LayerNorm`] (ONNX LayerNormalization, with its scale
//! and bias).

use tract_onnx::prelude::{OutletId, TypedNode};
use tract_onnx::tract_core::ops::nn::RmsNorm;
use tract_onnx::tract_hir::tract_ndarray::{ArrayViewD, IxDyn};
use verdict_dnn::ir::{TensorId, numel};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::norm::{Norm, NormKind};

use super::{Lowered, Lowering, unsupported};
use crate::reader::LayerNorm;

pub(crate) fn convert_layer(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<LayerNorm>() else {
        return unsupported("not a LayerNorm");
    };
    let x = cx.operand(node.inputs[0])?;
    let shape = cx.shape(node.inputs[0])?;
    let block = &shape[op.axis..];
    let mut inputs = vec![x];
    for (k, &outlet) in node.inputs.iter().enumerate().skip(1) {
        inputs.push(affine(cx, node, k, outlet, block)?);
    }
    let norm = Norm {
        kind: NormKind::Layer,
        axes: op.axis..shape.len(),
        epsilon: f32::from_bits(op.epsilon),
    };
    cx.add(&node.name, OpKind::Norm(norm), &inputs)
}

/// A scale or bias with one value per element of `block`: as it is when it
/// has that many, else a constant broadcast to `block`.
fn affine(
    cx: &mut Lowering<'_>,
    node: &TypedNode,
    k: usize,
    outlet: OutletId,
    block: &[usize],
) -> Result<TensorId, super::LowerError> {
    if numel(&cx.shape(outlet)?) == numel(block) {
        return cx.raw(outlet);
    }
    let Some(values) = cx.floats(outlet)? else {
        return unsupported(format!(
            "input {k} is computed and must be broadcast to {block:?}"
        ));
    };
    let shape = cx.shape(outlet)?;
    let view = ArrayViewD::from_shape(IxDyn(&shape), &values)
        .or_else(|e| unsupported(format!("input {k}: {e}")))?;
    let Some(full) = view.broadcast(IxDyn(block)) else {
        return unsupported(format!(
            "input {k} of shape {shape:?} does not broadcast to {block:?}"
        ));
    };
    let data = full.iter().copied().collect();
    cx.weight(&format!("{}.{k}", node.name), block, data)
}

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<RmsNorm>() else {
        return unsupported("not an RmsNorm");
    };
    let epsilon = match op.eps.cast_to_scalar::<f32>() {
        Ok(e) => e,
        Err(e) => return unsupported(format!("epsilon is not a scalar: {e}")),
    };
    let x = cx.operand(node.inputs[0])?;
    let norm = Norm {
        kind: NormKind::Rms,
        axes: op.axis..op.axis + 1,
        epsilon,
    };
    cx.add(&node.name, OpKind::Norm(norm), &[x])
}
