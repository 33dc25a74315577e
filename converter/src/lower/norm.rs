//! tract's `RmsNorm` (what tract's declutter makes of ONNX RMSNormalization
//! and of the `x * rsqrt(mean(x^2) + eps)` pattern): verdict's Norm over
//! the one axis, without scale or bias (those stay tract's Mul and Add).

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::nn::RmsNorm;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::norm::{Norm, NormKind};

use super::{Lowered, Lowering, unsupported};

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
