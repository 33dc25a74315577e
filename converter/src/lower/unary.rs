//! tract's `ElementWiseOp`s: one verdict Unary each, or a short sequence for
//! the ones verdict spells differently (Rsqrt, Square, Silu, PowConst:
//! a small integer power as multiplications).

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::{IsInf, PowConst};
use tract_onnx::tract_core::ops::nn::{GeluApproximate, LeakyRelu};
use verdict_dnn::ir::TensorId;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::unary::{Unary, UnaryOp};

use super::{Lowered, Lowering, unsupported};

fn unary(op: UnaryOp) -> OpKind {
    OpKind::Unary(Unary { op })
}

fn binary(op: BinaryOp) -> OpKind {
    OpKind::Binary(Binary { op })
}

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<ElementWiseOp>() else {
        return unsupported("not an element-wise op");
    };
    if op.1.is_some() {
        return unsupported("element-wise op with a cast output");
    }
    let mini = &op.0;
    let x: TensorId = cx.raw(node.inputs[0])?;
    let name = node.name.as_str();
    let simple = match mini.name().as_str() {
        "Exp" => Some(UnaryOp::Exp),
        "Ln" => Some(UnaryOp::Log),
        "Sqrt" => Some(UnaryOp::Sqrt),
        "Recip" => Some(UnaryOp::Reciprocal),
        "Neg" => Some(UnaryOp::Neg),
        "Abs" => Some(UnaryOp::Abs),
        "Sigmoid" => Some(UnaryOp::Sigmoid),
        "Tanh" => Some(UnaryOp::Tanh),
        "Erf" => Some(UnaryOp::Erf),
        "GeluExact" => Some(UnaryOp::GeluExact),
        "IsNan" => Some(UnaryOp::IsNaN),
        "Not" => Some(UnaryOp::Not),
        "IsInf" => match mini.downcast_ref::<IsInf>() {
            Some(i) => match (i.detect_positive, i.detect_negative) {
                (true, true) => Some(UnaryOp::IsInf),
                (true, false) => Some(UnaryOp::IsPosInf),
                (false, true) => Some(UnaryOp::IsNegInf),
                (false, false) => return unsupported("IsInf detecting neither infinity"),
            },
            None => return unsupported("IsInf without its attributes"),
        },
        "LeakyRelu" => match mini.downcast_ref::<LeakyRelu>() {
            Some(l) => Some(UnaryOp::LeakyRelu { alpha: l.alpha }),
            None => return unsupported("LeakyRelu without its alpha"),
        },
        "GeluApproximate" => match mini.downcast_ref::<GeluApproximate>() {
            Some(g) if !g.fast_impl => Some(UnaryOp::GeluTanh),
            _ => return unsupported("tract's fast GELU approximation"),
        },
        _ => None,
    };
    if let Some(op) = simple {
        return cx.add(name, unary(op), &[x]);
    }
    match mini.name().as_str() {
        "Rsqrt" => {
            let s = cx.add(&format!("{name}.sqrt"), unary(UnaryOp::Sqrt), &[x])?;
            cx.add(name, unary(UnaryOp::Reciprocal), &[s])
        }
        "Square" => cx.add(name, binary(BinaryOp::Mul), &[x, x]),
        "Silu" => {
            let s = cx.add(&format!("{name}.sigmoid"), unary(UnaryOp::Sigmoid), &[x])?;
            cx.add(name, binary(BinaryOp::Mul), &[x, s])
        }
        "PowConst" => {
            let Some(p) = mini.downcast_ref::<PowConst>() else {
                return unsupported("PowConst without its exponent");
            };
            if let Some(y) = integer_power(cx, name, x, p.exponent) {
                return y;
            }
            let rank = cx.tensor_shape(x).len();
            let e = cx.weight(
                &format!("{name}.exponent"),
                &vec![1; rank],
                vec![p.exponent],
            )?;
            cx.add(name, binary(BinaryOp::Pow), &[x, e])
        }
        other => unsupported(format!("element-wise {other}")),
    }
}

/// `x^e` for a small integer exponent (2, 3, 4) as the product `x·x·…·x`
/// from the left: what GELU's `x³` and a variance's `x²` are, at a few
/// multiplications a value (rounded once each) instead of the general
/// `pow` recipe. `None` for any other exponent.
pub(crate) fn integer_power(
    cx: &mut Lowering<'_>,
    name: &str,
    x: TensorId,
    e: f32,
) -> Option<Lowered> {
    if ![2.0, 3.0, 4.0].contains(&e) {
        return None;
    }
    let mut y = x;
    for k in 2..=e as usize {
        let step = if k == e as usize {
            name.to_string()
        } else {
            format!("{name}.x{k}")
        };
        y = match cx.add(&step, binary(BinaryOp::Mul), &[y, x]) {
            Ok(t) => t,
            Err(err) => return Some(Err(err)),
        };
    }
    Some(Ok(y))
}
