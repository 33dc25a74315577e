//! tract's `EinSum` with two inputs (MatMul, Gemm and Einsum all reach it):
//! one verdict Gemm per batch index.
//!
//! Each axis of the formula is classified by where it appears: in A, B and
//! the output (batch), in A and the output (`m`), in B and the output
//! (`n`), in A and B only (`k`, summed). A is laid out as `[M, K]` and B as
//! `[K, N]` (or `[N, K]`, read transposed) by a transpose and a reshape
//! where needed (constant operands are permuted here, at no run-time cost);
//! the product is reshaped and transposed into the output's axis order.
//! Batch axes are folded into one: A `[batch, M, K]` by B `[batch, K, N]`
//! is one batched Gemm, as attention's products over its heads are.

use tract_onnx::prelude::{DatumType, OutletId, TypedNode};
use tract_onnx::tract_core::axes::{AxesMapping, Axis};
use tract_onnx::tract_core::ops::einsum::EinSum;
use verdict_dnn::ir::TensorId;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::broadcast;
use verdict_dnn::ops::conv::Conv;
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::transpose::Transpose;
use verdict_dnn::ops::window::Window;

use super::{LowerError, Lowered, Lowering, fold, unsupported};

/// The axes of a two-input einsum, by role; each holds `(axis, size)`.
#[derive(Default)]
struct Roles<'a> {
    batch: Vec<(&'a Axis, usize)>,
    m: Vec<(&'a Axis, usize)>,
    n: Vec<(&'a Axis, usize)>,
    k: Vec<(&'a Axis, usize)>,
}

/// The single position of `axis` in interface `slot`, if any.
fn pos(positions: &[usize]) -> Result<Option<usize>, LowerError> {
    match positions {
        [] => Ok(None),
        [p] => Ok(Some(*p)),
        _ => unsupported("an axis repeated within one operand (diagonal)"),
    }
}

fn roles<'a>(
    axes: &'a AxesMapping,
    a: &[usize],
    b: &[usize],
    out: &[usize],
) -> Result<Roles<'a>, LowerError> {
    let mut r = Roles::default();
    for axis in axes.iter_all_axes() {
        let (pa, pb, po) = (
            pos(&axis.inputs[0])?,
            pos(&axis.inputs[1])?,
            pos(&axis.outputs[0])?,
        );
        let (sa, sb) = (pa.map(|p| a[p]), pb.map(|p| b[p]));
        let so = po.map(|p| out[p]);
        match (sa, sb, so) {
            (Some(x), Some(y), Some(_)) if x == y && x > 1 => r.batch.push((axis, x)),
            // A broadcast batch axis: it belongs to one operand only.
            (Some(x), Some(1), Some(_)) => r.m.push((axis, x)),
            (Some(1), Some(y), Some(_)) => r.n.push((axis, y)),
            (Some(x), None, _) if so.is_some() || x == 1 => r.m.push((axis, x)),
            (None, Some(y), _) if so.is_some() || y == 1 => r.n.push((axis, y)),
            (Some(x), Some(y), None) if x == y => r.k.push((axis, x)),
            (None, None, Some(1)) => {}
            _ => {
                return unsupported(format!(
                    "axis `{}` (A {sa:?}, B {sb:?}, output {so:?})",
                    axis.repr
                ));
            }
        }
    }
    Ok(r)
}

/// Row-major permutation of constant data: output axis `d` is input axis
/// `perm[d]`.
fn permute(data: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
    let rank = shape.len();
    let mut strides = vec![1; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..data.len() {
        let src: usize = (0..rank).map(|d| idx[d] * strides[perm[d]]).sum();
        out.push(data[src]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// A weight already stored that holds the constant B as `[N, K]` (its axes
/// in `nk` order): a language model's head reads the token embedding's
/// table transposed, and then reads it where it is stored.
fn stored_transposed(
    cx: &Lowering<'_>,
    outlet: OutletId,
    nk: &[usize],
    shape: [usize; 2],
) -> Result<Option<TensorId>, LowerError> {
    if !cx.stores_shape(&shape) {
        return Ok(None);
    }
    let Some(data) = cx.floats(outlet)? else {
        return Ok(None);
    };
    let src_shape = cx.shape(outlet)?;
    let mut perm = nk.to_vec();
    perm.extend((0..src_shape.len()).filter(|d| !nk.contains(d)));
    Ok(cx.stored(&shape, &permute(&data, &src_shape, &perm)))
}

/// An operand with its axes in `order` (output axis `d` is axis `order[d]`),
/// reshaped to `shape`.
fn arrange(
    cx: &mut Lowering<'_>,
    name: &str,
    outlet: OutletId,
    order: &[usize],
    shape: &[usize],
) -> Lowered {
    let src_shape = cx.shape(outlet)?;
    // The axes `order` leaves out are broadcast axes of the other operand,
    // of size 1 here: they go last. Moving axes of size 1 moves no data.
    let mut perm = order.to_vec();
    perm.extend((0..src_shape.len()).filter(|d| !order.contains(d)));
    let identity = perm.iter().filter(|&&p| src_shape[p] != 1).is_sorted();
    if let Some(data) = cx.floats(outlet)? {
        let data = if identity {
            data
        } else {
            permute(&data, &src_shape, &perm)
        };
        return cx.weight(name, shape, data);
    }
    if identity {
        let t = cx.raw(outlet)?;
        return cx.reshape(name, t, shape);
    }
    let t = cx.operand(outlet)?;
    let t = cx.add(
        &format!("{name}.transpose"),
        OpKind::Transpose(Transpose { perm }),
        &[t],
    )?;
    cx.reshape(name, t, shape)
}

fn positions(group: &[(&Axis, usize)], slot: usize) -> Vec<usize> {
    group
        .iter()
        .filter_map(|(a, _)| a.inputs[slot].first().copied())
        .collect()
}

pub(crate) fn convert(cx: &mut Lowering<'_>, node: &TypedNode) -> Lowered {
    let Some(op) = node.op_as::<EinSum>() else {
        return unsupported("not an einsum");
    };
    if op.q_params.is_some() || op.operating_dt != DatumType::F32 {
        return unsupported(format!("einsum over {:?}", op.operating_dt));
    }
    let [a_in, b_in] = node.inputs[..] else {
        return unsupported(format!(
            "{} with {} inputs; two are",
            op.axes,
            node.inputs.len()
        ));
    };
    let (a_shape, b_shape) = (cx.shape(a_in)?, cx.shape(b_in)?);
    let out_shape = cx.shape(OutletId::new(node.id, 0))?;
    let r = roles(&op.axes, &a_shape, &b_shape, &out_shape)?;
    let size = |g: &[(&Axis, usize)]| g.iter().map(|(_, s)| s).product::<usize>();
    let (nb, m, n, k) = (size(&r.batch), size(&r.m), size(&r.n), size(&r.k));
    if nb == 1
        && let Some(t) = pointwise_conv(cx, node, &r)?
    {
        return Ok(t);
    }
    // Sort m and k by their place in A, n by its place in B, so operands
    // already in that order need no transpose.
    let mut r = r;
    let key = |slot: usize| move |x: &(&Axis, usize)| x.0.inputs[slot].first().copied();
    r.m.sort_by_key(key(0));
    r.k.sort_by_key(key(0));
    r.n.sort_by_key(key(1));
    let name = node.name.as_str();
    let a_order: Vec<usize> = [
        positions(&r.batch, 0),
        positions(&r.m, 0),
        positions(&r.k, 0),
    ]
    .concat();
    let batched = |rows: usize, cols: usize| {
        if nb == 1 {
            vec![rows, cols]
        } else {
            vec![nb, rows, cols]
        }
    };
    let a = arrange(cx, &format!("{name}.a"), a_in, &a_order, &batched(m, k))?;
    // B as [K, N], or as [N, K] read transposed when that is its order.
    let kn = [
        positions(&r.batch, 1),
        positions(&r.k, 1),
        positions(&r.n, 1),
    ]
    .concat();
    let nk = [
        positions(&r.batch, 1),
        positions(&r.n, 1),
        positions(&r.k, 1),
    ]
    .concat();
    let stored_nk = if nb == 1 {
        stored_transposed(cx, b_in, &nk, [n, k])?
    } else {
        None
    };
    let trans_b = stored_nk.is_some()
        || (cx.konst(b_in).is_none()
            && nk.iter().enumerate().all(|(i, &p)| i == p)
            && !kn.iter().enumerate().all(|(i, &p)| i == p));
    let (b_order, b_mat) = if trans_b { (nk, [n, k]) } else { (kn, [k, n]) };
    let b = match stored_nk {
        Some(t) => t,
        None => arrange(
            cx,
            &format!("{name}.b"),
            b_in,
            &b_order,
            &batched(b_mat[0], b_mat[1]),
        )?,
    };
    let gemm = OpKind::Gemm(Gemm {
        trans_b,
        ..Gemm::default()
    });
    let mut inputs = vec![a, b];
    let mut fused = None;
    if nb == 1
        && let Some((bias, add)) = fusable_bias(cx, node, [m, n])?
    {
        inputs.push(bias);
        fused = Some(add);
    }
    let product = cx.add(&format!("{name}.gemm"), gemm, &inputs)?;
    // The product's axes, in order, keeping those the output has.
    let kept: Vec<(&Axis, usize)> = r
        .batch
        .iter()
        .chain(&r.m)
        .chain(&r.n)
        .filter(|(a, _)| !a.outputs[0].is_empty())
        .copied()
        .collect();
    let mut perm: Vec<usize> = (0..kept.len()).collect();
    perm.sort_by_key(|&i| kept[i].0.outputs[0][0]);
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        // Already in the output's order: the product holds the output.
        if let Some(add) = fused {
            cx.alias(add, product);
        }
        return Ok(product);
    }
    let kept_shape: Vec<usize> = kept.iter().map(|(_, s)| *s).collect();
    let t = cx.reshape(&format!("{name}.unfold"), product, &kept_shape)?;
    cx.add(name, OpKind::Transpose(Transpose { perm }), &[t])
}

/// A 1x1 convolution written as an einsum (what tract makes of one):
/// `[1?, I, spatial..]` by a constant `[O, I]` (or `[I, O]`) into
/// `[1?, O, spatial..]`, one or two spatial axes in the same order. As a
/// verdict Conv with a 1x1 kernel it reads and writes NCHW as it is, where
/// a Gemm needs the channels last on both sides (two transposes). Each
/// output is the same `fma` chain over `I` either way. A per-channel scale
/// and shift and a Relu after it are folded in ([`fold`]).
fn pointwise_conv(
    cx: &mut Lowering<'_>,
    node: &TypedNode,
    r: &Roles<'_>,
) -> Result<Option<TensorId>, LowerError> {
    let [a_in, b_in] = node.inputs[..] else {
        return Ok(None);
    };
    let (Some(w), None) = (cx.floats(b_in)?, cx.konst(a_in)) else {
        return Ok(None);
    };
    let ([(i_axis, ic)], [(o_axis, oc)]) = (&r.k[..], &r.n[..]) else {
        return Ok(None);
    };
    let at = |axis: &Axis, slot: usize, output: bool| {
        let p = if output {
            &axis.outputs[0]
        } else {
            &axis.inputs[slot]
        };
        p.first().copied()
    };
    // Axes of size 1 before the channels (a batch of one) move no data.
    let spatial: Vec<&(&Axis, usize)> = r.m.iter().filter(|(_, n)| *n > 1).collect();
    let in_order = |slot: usize, output: bool, channel: &Axis| {
        let c = at(channel, slot, output);
        let places: Vec<Option<usize>> = spatial.iter().map(|(a, _)| at(a, slot, output)).collect();
        let rank = if output {
            cx.shape(OutletId::new(node.id, 0))
        } else {
            cx.shape(a_in)
        };
        rank.is_ok_and(|shape| {
            let last = shape.len().checked_sub(1);
            c.is_some()
                && places.iter().all(|p| p > &c)
                && places.is_sorted()
                && places.last().copied().flatten() == last.filter(|_| !places.is_empty())
                && shape[..c.unwrap_or(0)].iter().all(|&d| d == 1)
                && places.windows(2).all(|w| w[1] == w[0].map(|p| p + 1))
                && places.first().is_none_or(|p| *p == c.map(|c| c + 1))
        })
    };
    if spatial.is_empty()
        || spatial.len() > 2
        || !in_order(0, false, i_axis)
        || !in_order(0, true, o_axis)
    {
        return Ok(None);
    }
    let w_shape = cx.shape(b_in)?;
    let (Some(po), Some(pi), 2) = (at(o_axis, 1, false), at(i_axis, 1, false), w_shape.len())
    else {
        return Ok(None);
    };
    let kernel = if (po, pi) == (0, 1) {
        w
    } else {
        permute(&w, &w_shape, &[1, 0])
    };
    let channel = at(o_axis, 0, true).unwrap_or(0);
    let folded = fold::after_conv(cx, node, channel, *oc)?;
    let kernel = match &folded {
        Some(f) => f.kernel(kernel),
        None => kernel,
    };
    let name = &node.name;
    let kernel = cx.weight(&format!("{name}.kernel"), &[*oc, *ic, 1, 1], kernel)?;
    let mut inputs = vec![kernel];
    if let Some(b) = folded.as_ref().and_then(|f| f.bias(None, *oc)) {
        inputs.push(cx.weight(&format!("{name}.bias"), &[*oc], b)?);
    }
    let dims: Vec<usize> = spatial.iter().map(|(_, n)| *n).collect();
    let (h, w) = if let [h, w] = dims[..] {
        (h, w)
    } else {
        (1, dims[0])
    };
    let x = cx.raw(a_in)?;
    let x = cx.reshape(&format!("{name}.nchw"), x, &[1, *ic, h, w])?;
    let conv = Conv {
        window: Window::new([1, 1]),
        group: 1,
        relu: folded.as_ref().is_some_and(|f| f.relu),
    };
    inputs.insert(0, x);
    let t = cx.add(name, OpKind::Conv(conv), &inputs)?;
    for outlet in folded.iter().flat_map(|f| &f.folded) {
        // Read by nothing but the folded chain, whose end `t` now holds.
        cx.alias(*outlet, t);
    }
    Ok(Some(t))
}

/// A constant bias added to the product and nothing else, which Gemm can add
/// itself (the same single rounding as a separate Add): the bias weight and
/// the Add's outlet. Only when the product comes out in the output's order;
/// the caller checks that.
fn fusable_bias(
    cx: &mut Lowering<'_>,
    node: &TypedNode,
    mn: [usize; 2],
) -> Result<Option<(TensorId, OutletId)>, LowerError> {
    let out = OutletId::new(node.id, 0);
    let Some((add, c)) = fold::binary_reader(cx, out, "Add") else {
        return Ok(None);
    };
    let Some(data) = cx.floats(c)? else {
        return Ok(None);
    };
    let add_out = OutletId::new(add.id, 0);
    let (c_shape, tract_out) = (cx.shape(c)?, cx.shape(out)?);
    let lead = c_shape.iter().take_while(|&&d| d == 1).count();
    let core = &c_shape[lead..];
    let fits = core.len() <= 2
        && broadcast(core, &mn).is_ok_and(|s| s == mn)
        && mn.ends_with(core)
        && tract_out.ends_with(core)
        && cx.shape(add_out)? == tract_out;
    if !fits {
        return Ok(None);
    }
    let bias = cx.weight(&format!("{}.bias", add.name), core, data)?;
    Ok(Some((bias, add_out)))
}
