//! tract's `MultiBroadcastTo` (ONNX Expand): verdict has no broadcast op, so
//! a computed tensor is repeated with one Concat per broadcast axis (exact
//! copies); a constant is broadcast here and becomes a weight.

use tract_onnx::prelude::{OutletId, TypedNode};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::concat::Concat;

use super::{Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let target = cx.shape(OutletId::new(node.id, 0))?;
    let input = node.inputs[0];
    let mut x = cx.operand(input)?;
    let shape = cx.tensor_shape(x);
    if shape.len() > target.len() {
        return unsupported(format!("broadcast of {shape:?} to {target:?}"));
    }
    let lead = target.len() - shape.len();
    let mut full = vec![1; lead];
    full.extend(&shape);
    x = cx.reshape(&format!("{}.rank", node.name), x, &full)?;
    for axis in 0..target.len() {
        if full[axis] == target[axis] {
            continue;
        }
        if full[axis] != 1 {
            return unsupported(format!("broadcast of {shape:?} to {target:?}"));
        }
        let copies = vec![x; target[axis]];
        x = cx.add(
            &format!("{}.axis{axis}", node.name),
            OpKind::Concat(Concat { axis }),
            &copies,
        )?;
    }
    Ok(x)
}
