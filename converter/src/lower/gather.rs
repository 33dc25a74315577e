//! tract's `Gather` (ONNX Gather): verdict's Gather, the indices either a
//! constant (integers become binary32 values, exact below 2^24) or the
//! model's input (an integer input holds binary32 values, see `lower`).
//! tract's `GatherNd` with constant indices: the same Gather over the data
//! flattened to one axis of gathered positions.

use tract_onnx::prelude::{DatumType, TypedNode};
use tract_onnx::tract_core::ops::array::{Gather as TractGather, GatherNd};
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

/// ONNX GatherND with constant indices. With `b` batch axes and index
/// tuples of length `k`, the data is reshaped to `[D0⋯D(b+k-1), rest…]`
/// and each tuple (with its batch position) becomes one flat index into
/// that first axis, so verdict's Gather yields GatherND's exact output.
pub(crate) fn convert_nd(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<GatherNd>() else {
        return unsupported("not a gather_nd");
    };
    let Some(k) = cx.konst(node.inputs[1]) else {
        return unsupported("indices computed by the model; constant indices expected");
    };
    let dims = cx.shape(node.inputs[0])?;
    let indices = integer_values(&k).or_else(unsupported)?;
    let flat = flat_indices(&dims, k.shape(), op.batch_dims, &indices).or_else(unsupported)?;
    let b = op.batch_dims;
    let tuple = k.shape().last().copied().unwrap_or(0);
    let gathered: usize = dims[..b + tuple].iter().product();
    let mut flat_shape = vec![gathered];
    flat_shape.extend_from_slice(&dims[b + tuple..]);
    let data = cx.operand(node.inputs[0])?;
    let data = cx.reshape(&format!("{}.flat", node.name), data, &flat_shape)?;
    let index_shape = &k.shape()[..k.rank() - 1];
    let index_shape = if index_shape.is_empty() {
        &[1][..]
    } else {
        index_shape
    };
    let name = format!("{}.indices", node.name);
    let indices = cx.weight(&name, index_shape, flat)?;
    cx.add(
        &node.name,
        OpKind::Gather(Gather { axis: 0 }),
        &[data, indices],
    )
}

/// The flat positions GatherND reads: for each index tuple, its batch
/// position and its (negative-wrapped) coordinates over the data's first
/// `batch + k` axes, in row-major order. Refuses a tuple out of range.
fn flat_indices(
    dims: &[usize],
    index_shape: &[usize],
    batch: usize,
    indices: &[f32],
) -> Result<Vec<f32>, String> {
    let (&tuple, outer) = index_shape
        .split_last()
        .ok_or("scalar indices; GatherND needs at least one axis")?;
    if batch > outer.len() || batch + tuple > dims.len() || outer[..batch] != dims[..batch] {
        return Err(format!(
            "indices of shape {index_shape:?} with {batch} batch axes do not fit data of shape {dims:?}"
        ));
    }
    let axes = &dims[batch..batch + tuple];
    let per_batch: usize = outer[batch..].iter().product();
    let block: usize = axes.iter().product();
    let mut flat = Vec::with_capacity(indices.len() / tuple.max(1));
    for (n, coords) in indices.chunks(tuple.max(1)).enumerate() {
        let mut at = (n / per_batch.max(1)) * block;
        let mut stride = block;
        for (&c, &d) in coords.iter().zip(axes).take(tuple) {
            stride /= d;
            let c = c as i64;
            let wrapped = if c < 0 { c + d as i64 } else { c };
            if !(0..d as i64).contains(&wrapped) {
                return Err(format!("index {c} out of range for an axis of {d}"));
            }
            at += wrapped as usize * stride;
        }
        flat.push(at as f32);
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::flat_indices;

    #[test]
    fn tuples_become_row_major_positions_with_negative_wrapping() {
        // Data [2, 3, 4]; tuples of two over the first two axes.
        let flat = flat_indices(&[2, 3, 4], &[3, 2], 0, &[0., 0., 1., 2., -1., -3.]).unwrap();
        assert_eq!(flat, [0., 5., 3.]);
        // One batch axis: each batch's tuples index its own block of 3.
        let flat = flat_indices(&[2, 3, 4], &[2, 1, 1], 1, &[2., 1.]).unwrap();
        assert_eq!(flat, [2., 4.]);
    }

    #[test]
    fn tuples_out_of_range_or_too_long_are_refused() {
        let e = flat_indices(&[2, 3], &[1, 2], 0, &[0., 3.]).unwrap_err();
        assert!(e.contains("index 3 out of range"), "{e}");
        let e = flat_indices(&[2, 3], &[1, 3], 0, &[0., 0., 0.]).unwrap_err();
        assert!(e.contains("do not fit"), "{e}");
    }
}
