//! tract's `MaxPool` and `SumPool` (ONNX AveragePool is a normalized
//! SumPool). Average pools that do not count pads read a divisor table.

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PoolSpec, SumPool};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::pool::{Pool, PoolKind};

use super::spatial::{CeilMode, spatial};
use super::{Lowered, Lowering, unsupported};

fn pool(
    cx: &mut Lowering<'_>,
    node: &TypedNode,
    spec: &PoolSpec,
    kind: PoolKind,
    ceil: CeilMode,
) -> Lowered {
    let x_in = node.inputs[0];
    let x_shape = cx.shape(x_in)?;
    let geo = spatial(spec, &x_shape, ceil)?;
    let name = &node.name;
    let pool = Pool {
        kind,
        window: geo.window,
    };
    let x = cx.raw(x_in)?;
    let x = cx.reshape(&format!("{name}.nchw"), x, &geo.nchw)?;
    let mut inputs = vec![x];
    if pool.needs_divisors() {
        let divisors = pool
            .divisors(geo.nchw[2], geo.nchw[3])
            .or_else(|e| unsupported(format!("divisors: {e}")))?;
        let (oh, ow) = pool
            .window
            .output(geo.nchw[2], geo.nchw[3])
            .or_else(|e| unsupported(format!("window: {e}")))?;
        inputs.push(cx.weight(&format!("{name}.divisors"), &[oh, ow], divisors)?);
    }
    cx.add(name, OpKind::Pool(pool), &inputs)
}

pub(crate) fn convert_max(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<MaxPool>() else {
        return unsupported("not a max pool");
    };
    if op.with_index_outputs.is_some() {
        return unsupported("max pool with index output");
    }
    pool(cx, node, &op.pool_spec, PoolKind::Max, CeilMode::PadEnd)
}

pub(crate) fn convert_sum(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<SumPool>() else {
        return unsupported("not a sum pool");
    };
    if !op.normalize {
        return unsupported("unnormalized sum pool");
    }
    let kind = PoolKind::Avg {
        count_include_pad: op.count_include_pad,
    };
    pool(cx, node, &op.pool_spec, kind, CeilMode::Reject)
}
