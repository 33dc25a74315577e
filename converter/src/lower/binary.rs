//! tract's `TypedBinOp`: Add, Sub, SubF, Mul, Div, Max, Min, Pow, the
//! comparisons and the logical ops. tract writes ONNX Relu as `Max(x, 0)`;
//! that becomes verdict's Relu.

use tract_onnx::prelude::{OutletId, TypedNode};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use verdict_dnn::ir::TensorId;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::unary::{Unary, UnaryOp};

use super::unary::integer_power;
use super::{LowerError, Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TypedBinOp>() else {
        return unsupported("not a binary op");
    };
    if op.1.is_some() {
        return unsupported("quantized binary op");
    }
    let [a, b] = node.inputs[..] else {
        return unsupported("takes 2 inputs");
    };
    let (kind, a, b) = match op.0.name() {
        "Add" => (BinaryOp::Add, a, b),
        "Sub" => (BinaryOp::Sub, a, b),
        "SubF" => (BinaryOp::Sub, b, a),
        "Mul" => (BinaryOp::Mul, a, b),
        "Div" => (BinaryOp::Div, a, b),
        "Max" => (BinaryOp::Max, a, b),
        "Min" => (BinaryOp::Min, a, b),
        "Pow" => (BinaryOp::Pow, a, b),
        "Eq" | "NE" => (BinaryOp::Equal, a, b),
        "LT" => (BinaryOp::Less, a, b),
        "LTE" => (BinaryOp::LessOrEqual, a, b),
        "GT" => (BinaryOp::Greater, a, b),
        "GTE" => (BinaryOp::GreaterOrEqual, a, b),
        "And" => (BinaryOp::And, a, b),
        "Or" => (BinaryOp::Or, a, b),
        "Xor" => (BinaryOp::Xor, a, b),
        other => return unsupported(format!("binary op {other}")),
    };
    if kind == BinaryOp::Pow
        && let Some(e) = uniform(cx, b)?
        && cx.shape(a)? == cx.shape(OutletId::new(node.id, 0))?
    {
        let x = cx.raw(a)?;
        if let Some(y) = integer_power(cx, &node.name, x, e) {
            return y;
        }
    }
    if kind == BinaryOp::Max
        && let Some(x) = relu_input(cx, node)?
    {
        let x = cx.raw(x)?;
        return cx.add(&node.name, OpKind::Unary(Unary { op: UnaryOp::Relu }), &[x]);
    }
    let (ta, tb) = operands(cx, node, a, b)?;
    let name = node.name.as_str();
    // Integer division truncates; `NE` is not `Equal`.
    let after = match op.0.name() {
        "Div" if cx.fact(OutletId::new(node.id, 0))?.datum_type.is_integer() => {
            Some(UnaryOp::Trunc)
        }
        "NE" => Some(UnaryOp::Not),
        _ => None,
    };
    let Some(after) = after else {
        return cx.add(name, OpKind::Binary(Binary { op: kind }), &[ta, tb]);
    };
    let t = cx.add(
        &format!("{name}.{}", kind.name()),
        OpKind::Binary(Binary { op: kind }),
        &[ta, tb],
    )?;
    cx.add(name, OpKind::Unary(Unary { op: after }), &[t])
}

/// The computed operand `x` when `node` is tract's Relu, `Max(x, +0)` with
/// the output of `x`'s shape.
pub(crate) fn relu_input(
    cx: &Lowering<'_>,
    node: &TypedNode,
) -> Result<Option<OutletId>, LowerError> {
    let is_max = node
        .op_as::<TypedBinOp>()
        .is_some_and(|op| op.0.name() == "Max" && op.1.is_none());
    let [a, b] = node.inputs[..] else {
        return Ok(None);
    };
    if !is_max {
        return Ok(None);
    }
    let out_shape = cx.shape(OutletId::new(node.id, 0))?;
    for (x, c) in [(a, b), (b, a)] {
        let zero = cx
            .floats(c)?
            .is_some_and(|v| v.iter().all(|z| z.to_bits() == 0));
        if zero && cx.konst(x).is_none() && cx.shape(x)? == out_shape {
            return Ok(Some(x));
        }
    }
    Ok(None)
}

/// The one value of a constant all of whose elements are equal.
fn uniform(cx: &Lowering<'_>, outlet: OutletId) -> Result<Option<f32>, LowerError> {
    Ok(cx.floats(outlet)?.and_then(|v| {
        let first = *v.first()?;
        v.iter()
            .all(|x| x.to_bits() == first.to_bits())
            .then_some(first)
    }))
}

/// Shape without its leading 1s.
fn core(shape: &[usize]) -> &[usize] {
    let lead = shape.iter().take_while(|&&d| d == 1).count();
    &shape[lead..]
}

/// Both operands. A computed operand keeps the shape it was computed in
/// (saving a copy) when broadcasting then works the same: the other operand
/// has that same computed shape, or is a constant whose shape, less leading
/// 1s, ends both the computed and tract's shape.
fn operands(
    cx: &mut Lowering<'_>,
    node: &TypedNode,
    a: OutletId,
    b: OutletId,
) -> Result<(TensorId, TensorId), LowerError> {
    let out = cx.shape(OutletId::new(node.id, 0))?;
    let (sa, sb) = (cx.shape(a)?, cx.shape(b)?);
    if cx.konst(a).is_none() && cx.konst(b).is_none() && sa == out && sb == out {
        let (ra, rb) = (cx.raw(a)?, cx.raw(b)?);
        if cx.tensor_shape(ra) == cx.tensor_shape(rb) {
            return Ok((ra, rb));
        }
    }
    for (x, c, swap) in [(a, b, false), (b, a, true)] {
        let (Some(data), None) = (cx.floats(c)?, cx.konst(x)) else {
            continue;
        };
        let rx = cx.raw(x)?;
        let (raw, tract) = (cx.tensor_shape(rx), cx.shape(x)?);
        let c_shape = cx.shape(c)?;
        let c_core = core(&c_shape);
        if raw != tract && tract == out && raw.ends_with(c_core) && tract.ends_with(c_core) {
            let name = format!("{}.{}", node.name, if swap { "a" } else { "b" });
            let w = cx.weight(&name, c_core, data)?;
            return Ok(if swap { (w, rx) } else { (rx, w) });
        }
    }
    Ok((cx.operand(a)?, cx.operand(b)?))
}
