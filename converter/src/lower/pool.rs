//! tract's `MaxPool` and `SumPool` (ONNX AveragePool is a normalized
//! SumPool). Average pools that do not count pads read a divisor table.
//!
//! A 3-D window is two 2-D ones: over (H, W) on `[N, C*D, H, W]`, then over
//! D on `[N, C, D, H'*W']`. A box's taps are the product of its axes' taps,
//! so the maximum is exact and the divisors multiply; an average is rounded
//! twice (the mean of the plane means).

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PaddingSpec, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::nn::DataFormat;
use verdict_dnn::ir::TensorId;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::pool::{Pool, PoolKind};
use verdict_dnn::ops::window::Window;

use super::spatial::{CeilMode, spatial};
use super::{LowerError, Lowered, Lowering, unsupported};

fn pool(cx: &mut Lowering<'_>, node: &TypedNode, spec: &PoolSpec, kind: PoolKind) -> Lowered {
    let x_in = node.inputs[0];
    let x_shape = cx.shape(x_in)?;
    let x = cx.raw(x_in)?;
    if spec.rank() == 3 {
        return pool_3d(cx, &node.name, (x, &x_shape), spec, kind);
    }
    window_pool(cx, &node.name, (x, &x_shape), spec, kind)
}

/// A 1-D or 2-D pool of `x`, seen with shape `x_shape`.
fn window_pool(
    cx: &mut Lowering<'_>,
    name: &str,
    (x, x_shape): (TensorId, &[usize]),
    spec: &PoolSpec,
    kind: PoolKind,
) -> Lowered {
    let geo = spatial(spec, x_shape, CeilMode::PadEnd)?;
    let (h, w) = (geo.nchw[2], geo.nchw[3]);
    // ONNX counts the pads of an average pool, but not the cells a ceil_mode
    // window reaches past them: those pools divide by a table too.
    let counted_pads = matches!(
        kind,
        PoolKind::Avg {
            count_include_pad: true
        }
    ) && geo.ceil_pads != [0, 0];
    let pool = Pool {
        kind: if counted_pads {
            PoolKind::Avg {
                count_include_pad: false,
            }
        } else {
            kind
        },
        window: geo.window,
    };
    let x = cx.reshape(&format!("{name}.nchw"), x, &geo.nchw)?;
    let mut inputs = vec![x];
    if pool.needs_divisors() {
        let divisors = if counted_pads {
            counted_pad_divisors(&pool.window, (h, w), geo.ceil_pads)?
        } else {
            pool.divisors(h, w)
                .or_else(|e| unsupported(format!("divisors: {e}")))?
        };
        let (oh, ow) = pool
            .window
            .output(h, w)
            .or_else(|e| unsupported(format!("window: {e}")))?;
        inputs.push(cx.weight(&format!("{name}.divisors"), &[oh, ow], divisors)?);
    }
    cx.add(name, OpKind::Pool(pool), &inputs)
}

/// The divisors of an average pool that counts its pads but not the
/// `ceil_pads` end pads added for ceil_mode: the taps inside the input and
/// its own pads.
fn counted_pad_divisors(
    window: &Window,
    (h, w): (usize, usize),
    ceil_pads: [usize; 2],
) -> Result<Vec<f32>, LowerError> {
    let (oh, ow) = window
        .output(h, w)
        .or_else(|e| unsupported(format!("window: {e}")))?;
    let taps = |axis: usize, o: usize, len: usize| {
        let end = window.pads[axis] + len + window.pads[axis + 2] - ceil_pads[axis];
        (0..window.kernel[axis])
            .filter(|&i| o * window.strides[axis] + i * window.dilations[axis] < end)
            .count()
    };
    Ok((0..oh)
        .flat_map(|y| (0..ow).map(move |x| (taps(0, y, h) * taps(1, x, w)) as f32))
        .collect())
}

/// A 3-D pool as a 2-D pool over (H, W), then one over D (see the module
/// documentation).
fn pool_3d(
    cx: &mut Lowering<'_>,
    name: &str,
    (x, x_shape): (TensorId, &[usize]),
    spec: &PoolSpec,
    kind: PoolKind,
) -> Lowered {
    let (n, c) = match (spec.data_format, x_shape) {
        (DataFormat::NCHW, [n, c, _, _, _]) => (*n, *c),
        (DataFormat::CHW, [c, _, _, _]) => (1, *c),
        (format, _) => {
            return unsupported(format!(
                "3-D window on input {x_shape:?} ({format:?}); NCDHW is"
            ));
        }
    };
    let [d, h, w] = x_shape[x_shape.len() - 3..] else {
        return unsupported(format!("3-D window on input {x_shape:?}"));
    };
    let padding = spec.computed_padding(&[d, h, w]);
    let ceil = matches!(spec.padding, PaddingSpec::ExplicitOnnxPool(_, _, true));
    let (strides, dilations) = (spec.strides(), spec.dilations());
    // A 2-D spec over the given axes; `None` is a unit axis.
    let sub = |axes: [Option<usize>; 2]| {
        let pick = |f: &dyn Fn(usize) -> usize, unit| {
            axes.iter()
                .map(|a| a.map_or(unit, f))
                .collect::<Vec<usize>>()
                .into()
        };
        PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: pick(&|a| spec.kernel_shape[a], 1),
            padding: PaddingSpec::ExplicitOnnxPool(
                pick(&|a| padding[a].pad_before, 0),
                pick(&|a| padding[a].pad_after, 0),
                ceil,
            ),
            dilations: Some(pick(&|a| dilations[a], 1)),
            strides: Some(pick(&|a| strides[a], 1)),
            input_channels: c,
            output_channels: c,
        }
    };
    let planes = window_pool(
        cx,
        &format!("{name}.hw"),
        (x, &[n, c * d, h, w]),
        &sub([Some(1), Some(2)]),
        kind,
    )?;
    let hw: usize = cx.tensor_shape(planes)[2..].iter().product();
    window_pool(
        cx,
        name,
        (planes, &[n, c, d, hw]),
        &sub([Some(0), None]),
        kind,
    )
}

pub(crate) fn convert_max(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<MaxPool>() else {
        return unsupported("not a max pool");
    };
    if op.with_index_outputs.is_some() {
        return unsupported("max pool with index output");
    }
    pool(cx, node, &op.pool_spec, PoolKind::Max)
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
    pool(cx, node, &op.pool_spec, kind)
}
