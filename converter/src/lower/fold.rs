//! A per-channel scale and shift right after a convolution (what tract
//! leaves of an inference BatchNormalization: a Mul and an Add by
//! constants), folded into the convolution's kernel and bias.
//!
//! `(conv(x, w) + b)·s + t` becomes `conv(x, w·s) + (b·s + t)`, each new
//! constant computed in f64 and rounded once. The model then computes the
//! folded convolution, within the usual rounding of the unfolded one (the
//! tests hold both engines to tract's output), with two fewer passes over
//! the activations per convolution.

use tract_onnx::prelude::{OutletId, TypedNode};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use verdict_dnn::ir::numel;

use super::{LowerError, Lowering};

/// The folded constants and the outlet whose value the folded convolution
/// now computes.
pub(crate) struct Folded {
    /// Per output channel: the scale (1 where there is none).
    pub(crate) scale: Vec<f32>,
    /// Per output channel: the shift (absent when there is none).
    pub(crate) shift: Option<Vec<f32>>,
    /// The last folded node's outlet.
    pub(crate) outlet: OutletId,
    /// Outlets of the folded nodes, to be marked as lowered.
    pub(crate) folded: Vec<OutletId>,
}

impl Folded {
    /// The kernel `w` (`oc` channels of equal blocks) times the scale.
    pub(crate) fn kernel(&self, w: &[f32]) -> Vec<f32> {
        let block = w.len() / self.scale.len();
        w.chunks(block)
            .zip(&self.scale)
            .flat_map(|(ws, &s)| {
                ws.iter()
                    .map(move |&v| (f64::from(v) * f64::from(s)) as f32)
            })
            .collect()
    }

    /// The bias `b` (zero when absent) times the scale plus the shift, or
    /// `None` when there is neither a bias nor a shift.
    pub(crate) fn bias(&self, b: Option<&[f32]>) -> Option<Vec<f32>> {
        if b.is_none() && self.shift.is_none() {
            return None;
        }
        let at = |v: Option<&[f32]>, c: usize| v.map_or(0.0, |v| f64::from(v[c]));
        let shift = self.shift.as_deref();
        Some(
            (0..self.scale.len())
                .map(|c| (at(b, c) * f64::from(self.scale[c]) + at(shift, c)) as f32)
                .collect(),
        )
    }
}

/// The Mul by a per-channel constant that is the only reader of `conv`'s
/// output, and the Add by one that is the only reader of that, as far as
/// they go. `channel` is the channel axis of the output, `oc` its size.
pub(crate) fn after_conv(
    cx: &Lowering<'_>,
    conv: &TypedNode,
    channel: usize,
    oc: usize,
) -> Result<Option<Folded>, LowerError> {
    let Some((mul, scale)) = per_channel(cx, OutletId::new(conv.id, 0), "Mul", channel, oc)? else {
        return Ok(None);
    };
    let mul_out = OutletId::new(mul.id, 0);
    let mut folded = Folded {
        scale,
        shift: None,
        outlet: mul_out,
        folded: vec![mul_out],
    };
    if let Some((add, shift)) = per_channel(cx, mul_out, "Add", channel, oc)? {
        folded.shift = Some(shift);
        folded.outlet = OutletId::new(add.id, 0);
        folded.folded.push(folded.outlet);
    }
    Ok(Some(folded))
}

/// The node `op` (Mul or Add) that alone reads `outlet` (not a graph output),
/// with its other operand a constant of one value per channel, and those
/// values.
fn per_channel<'m>(
    cx: &Lowering<'m>,
    outlet: OutletId,
    op: &str,
    channel: usize,
    oc: usize,
) -> Result<Option<(&'m TypedNode, Vec<f32>)>, LowerError> {
    let graph = cx.graph();
    let outputs = graph.output_outlets().map_or(&[][..], |o| o);
    let [succ] = &graph.node(outlet.node).outputs[outlet.slot].successors[..] else {
        return Ok(None);
    };
    let node = graph.node(succ.node);
    let is_op = node
        .op_as::<TypedBinOp>()
        .is_some_and(|b| b.0.name() == op && b.1.is_none());
    if !is_op || outputs.contains(&outlet) || node.inputs.len() != 2 {
        return Ok(None);
    }
    let other = node.inputs[1 - succ.slot];
    let Some(values) = cx.floats(other)? else {
        return Ok(None);
    };
    let (shape, out) = (cx.shape(other)?, cx.shape(outlet)?);
    // Right-aligned against the output, every axis but the channel is 1.
    let lead = out.len().checked_sub(shape.len());
    let fits = lead.is_some_and(|lead| {
        shape
            .iter()
            .enumerate()
            .all(|(d, &n)| n == 1 || (d + lead == channel && n == oc))
    });
    if !fits || cx.shape(OutletId::new(node.id, 0))? != out {
        return Ok(None);
    }
    let values = if numel(&shape) == 1 {
        vec![values[0]; oc]
    } else {
        values
    };
    Ok(Some((node, values)))
}
