//! tract's `Conv`: verdict Conv on NCHW, the OIHW kernel and the bias as
//! weights (a zero bias is dropped), with a per-channel scale and shift and
//! a Relu that follow it folded in ([`fold`]).

use tract_onnx::prelude::{OutletId, TypedNode};
use tract_onnx::tract_core::ops::cnn::{Conv as TractConv, KernelFormat};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::conv::Conv;

use super::fold;
use super::spatial::{CeilMode, spatial};
use super::{Lowered, Lowering, unsupported};

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<TractConv>() else {
        return unsupported("not a convolution");
    };
    if op.q_params.is_some() {
        return unsupported("quantized convolution");
    }
    if op.kernel_fmt != KernelFormat::OIHW {
        return unsupported(format!("kernel format {:?}; only OIHW is", op.kernel_fmt));
    }
    let [x_in, k_in, b_in] = node.inputs[..] else {
        return unsupported("takes input, kernel and bias");
    };
    let x_shape = cx.shape(x_in)?;
    let geo = spatial(&op.pool_spec, &x_shape, CeilMode::Reject)?;
    let name = &node.name;
    let mut k_shape = cx.shape(k_in)?;
    if geo.one_d {
        k_shape.insert(2, 1);
    }
    let oc = k_shape[0];
    let out_rank = cx.shape(OutletId::new(node.id, 0))?.len();
    let channel = out_rank - if geo.one_d { 2 } else { 3 };
    // The bias as data (`Some(None)`: none), or `None` when it is computed.
    let bias_data = match cx.floats(b_in)? {
        Some(b) if b.iter().all(|v| v.to_bits() == 0) => Some(None),
        Some(b) if b.len() == 1 => Some(Some(vec![b[0]; oc])),
        Some(b) => Some(Some(b)),
        None => None,
    };
    let kernel_data = cx.floats(k_in)?;
    let folded = match (&kernel_data, &bias_data) {
        (Some(_), Some(_)) => fold::after_conv(cx, node, channel, oc)?,
        _ => None,
    };
    let kernel = match kernel_data {
        Some(data) => {
            let data = match &folded {
                Some(f) => f.kernel(data),
                None => data,
            };
            cx.weight(&format!("{name}.kernel"), &k_shape, data)?
        }
        None => {
            let k = cx.operand(k_in)?;
            cx.reshape(&format!("{name}.kernel"), k, &k_shape)?
        }
    };
    let bias_name = format!("{name}.bias");
    let bias = match (bias_data, &folded) {
        (Some(b), Some(f)) => f.bias(b, oc),
        (Some(b), None) => b,
        (None, _) if cx.shape(b_in)? == [oc] => None,
        (None, _) => return unsupported("a computed bias that is not one value per channel"),
    };
    let bias = match bias {
        Some(b) => Some(cx.weight(&bias_name, &[oc], b)?),
        None if cx.konst(b_in).is_none() => Some(cx.operand(b_in)?),
        None => None,
    };
    let x = cx.raw(x_in)?;
    let x = cx.reshape(&format!("{name}.nchw"), x, &geo.nchw)?;
    let mut inputs = vec![x, kernel];
    inputs.extend(bias);
    let conv = Conv {
        window: geo.window,
        group: op.group,
        relu: folded.as_ref().is_some_and(|f| f.relu),
    };
    let t = cx.add(name, OpKind::Conv(conv), &inputs)?;
    for outlet in folded.iter().flat_map(|f| &f.folded) {
        // Read by nothing but the folded chain, whose end `t` now holds.
        cx.alias(*outlet, t);
    }
    Ok(t)
}
