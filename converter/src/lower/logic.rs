//! Booleans and integers, which verdict holds as binary32 values (0.0 and
//! 1.0; integers exact up to 2^24, docs/spec/kernels.md): tract's `Iff`
//! (ONNX Where) and `Cast`.

use tract_onnx::prelude::{DatumType, TypedNode};
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::logic::Iff;
use verdict_dnn::ir::ValueKind;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::select::Where;
use verdict_dnn::ops::unary::{Unary, UnaryOp};

use super::{Lowered, Lowering, unsupported};

/// Whether verdict holds values of this type: binary32 itself, or booleans
/// and integers as binary32 values.
pub(crate) fn held(dt: DatumType) -> bool {
    dt == DatumType::F32 || dt == DatumType::Bool || dt.is_integer()
}

/// How a port holds values of this type.
pub(crate) fn kind(dt: DatumType) -> ValueKind {
    if dt == DatumType::Bool {
        ValueKind::Boolean
    } else if dt.is_integer() {
        ValueKind::Integer
    } else {
        ValueKind::Float
    }
}

pub(crate) fn convert_where(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    if node.op_as::<Iff>().is_none() {
        return unsupported("not a Where");
    }
    let [c, x, y] = node.inputs[..] else {
        return unsupported("takes 3 inputs");
    };
    let operands = [cx.operand(c)?, cx.operand(x)?, cx.operand(y)?];
    cx.add(&node.name, OpKind::Where(Where), &operands)
}

pub(crate) fn convert_cast(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<Cast>() else {
        return unsupported("not a cast");
    };
    let from = cx.fact(node.inputs[0])?.datum_type;
    let to = op.to;
    if !held(from) || !held(to) {
        return unsupported(format!("cast from {from:?} to {to:?}"));
    }
    let x = cx.raw(node.inputs[0])?;
    let unary = |op| OpKind::Unary(Unary { op });
    if to == DatumType::Bool && from != DatumType::Bool {
        cx.add(&node.name, unary(UnaryOp::Bool), &[x])
    } else if to.is_integer() && from == DatumType::F32 {
        cx.add(&node.name, unary(UnaryOp::Trunc), &[x])
    } else {
        // The same values: integers and booleans are binary32 values
        // already (a narrowing integer cast is exact within 2^24).
        Ok(x)
    }
}
