//! tract's `Conv`: verdict Conv on NCHW, the OIHW kernel and the bias as
//! weights (a zero bias is dropped).

use tract_onnx::prelude::TypedNode;
use tract_onnx::tract_core::ops::cnn::{Conv as TractConv, KernelFormat};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::conv::Conv;

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
    let kernel = match cx.floats(k_in)? {
        Some(data) => cx.weight(&format!("{name}.kernel"), &k_shape, data)?,
        None => {
            let k = cx.operand(k_in)?;
            cx.reshape(&format!("{name}.kernel"), k, &k_shape)?
        }
    };
    let oc = k_shape[0];
    let bias = match cx.floats(b_in)? {
        Some(b) if b.iter().all(|v| v.to_bits() == 0) => None,
        Some(b) if b.len() == 1 => {
            Some(cx.weight(&format!("{name}.bias"), &[oc], vec![b[0]; oc])?)
        }
        Some(b) => Some(cx.weight(&format!("{name}.bias"), &[oc], b)?),
        None if cx.shape(b_in)? == [oc] => Some(cx.operand(b_in)?),
        None => return unsupported("a computed bias that is not one value per channel"),
    };
    let x = cx.raw(x_in)?;
    let x = cx.reshape(&format!("{name}.nchw"), x, &geo.nchw)?;
    let mut inputs = vec![x, kernel];
    inputs.extend(bias);
    let conv = Conv {
        window: geo.window,
        group: op.group,
    };
    cx.add(name, OpKind::Conv(conv), &inputs)
}
