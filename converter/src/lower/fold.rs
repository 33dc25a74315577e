//! A per-channel scale and shift right after a convolution (what tract
//! leaves of an inference BatchNormalization: a Mul and an Add by
//! constants), folded into the convolution's kernel and bias, and a Relu
//! after those fused into it.
//!
//! `(conv(x, w) + b)·s + t` becomes `conv(x, w·s) + (b·s + t)`, each new
//! constant computed in f64 and rounded once. The model then computes the
//! folded convolution, within the usual rounding of the unfolded one (the
//! tests hold both engines to tract's output), with two fewer passes over
//! the activations per convolution.

use tract_onnx::prelude::{OutletId, TypedNode};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use verdict_dnn::ir::numel;

use super::binary::relu_input;
use super::{LowerError, Lowering};

/// The folded constants and the outlet whose value the folded convolution
/// now computes.
pub(crate) struct Folded {
    /// Per output channel: the scale (absent when there is none).
    pub(crate) scale: Option<Vec<f32>>,
    /// Per output channel: the shift (absent when there is none).
    pub(crate) shift: Option<Vec<f32>>,
    /// A Relu follows, fused into the convolution.
    pub(crate) relu: bool,
    /// The last folded node's outlet.
    pub(crate) outlet: OutletId,
    /// Outlets of the folded nodes, to be marked as lowered.
    pub(crate) folded: Vec<OutletId>,
}

impl Folded {
    /// The kernel `w` (`oc` channels of equal blocks) times the scale.
    pub(crate) fn kernel(&self, w: Vec<f32>) -> Vec<f32> {
        let Some(scale) = &self.scale else {
            return w;
        };
        let block = w.len() / scale.len();
        w.chunks(block)
            .zip(scale)
            .flat_map(|(ws, &s)| {
                ws.iter()
                    .map(move |&v| (f64::from(v) * f64::from(s)) as f32)
            })
            .collect()
    }

    /// The bias `b` (zero when absent) times the scale plus the shift; `b`
    /// as it is without a scale or shift.
    pub(crate) fn bias(&self, b: Option<Vec<f32>>, oc: usize) -> Option<Vec<f32>> {
        if self.scale.is_none() && self.shift.is_none() {
            return b;
        }
        let at = |v: Option<&[f32]>, c: usize| v.map_or(0.0, |v| f64::from(v[c]));
        let scale = |c: usize| self.scale.as_deref().map_or(1.0, |s| f64::from(s[c]));
        let shift = self.shift.as_deref();
        Some(
            (0..oc)
                .map(|c| (at(b.as_deref(), c) * scale(c) + at(shift, c)) as f32)
                .collect(),
        )
    }
}

/// What follows `conv` alone, as far as it goes: a Mul by a per-channel
/// constant, an Add by one, a Relu, each the only reader of the one before. `channel` is the channel axis of the output, `oc` its size.
pub(crate) fn after_conv(
    cx: &Lowering<'_>,
    conv: &TypedNode,
    channel: usize,
    oc: usize,
) -> Result<Option<Folded>, LowerError> {
    let mut folded = Folded {
        scale: None,
        shift: None,
        relu: false,
        outlet: OutletId::new(conv.id, 0),
        folded: Vec::new(),
    };
    if let Some((mul, scale)) = per_channel(cx, folded.outlet, "Mul", channel, oc)? {
        folded.scale = Some(scale);
        folded.outlet = OutletId::new(mul.id, 0);
        folded.folded.push(folded.outlet);
    }
    if let Some((add, shift)) = per_channel(cx, folded.outlet, "Add", channel, oc)? {
        folded.shift = Some(shift);
        folded.outlet = OutletId::new(add.id, 0);
        folded.folded.push(folded.outlet);
    }
    if let Some(relu) = only_reader(cx, folded.outlet)
        && relu_input(cx, relu)?.is_some()
    {
        folded.relu = true;
        folded.outlet = OutletId::new(relu.id, 0);
        folded.folded.push(folded.outlet);
    }
    Ok((!folded.folded.is_empty()).then_some(folded))
}

/// The binary op `op` (unquantized) that alone reads `outlet`, with its
/// other operand.
pub(crate) fn binary_reader<'m>(
    cx: &Lowering<'m>,
    outlet: OutletId,
    op: &str,
) -> Option<(&'m TypedNode, OutletId)> {
    let node = only_reader(cx, outlet)?;
    let is_op = node
        .op_as::<TypedBinOp>()
        .is_some_and(|b| b.0.name() == op && b.1.is_none());
    match node.inputs[..] {
        [a, b] if is_op => Some((node, if a == outlet { b } else { a })),
        _ => None,
    }
}

/// The node that alone reads `outlet`, which is not a graph output.
fn only_reader<'m>(cx: &Lowering<'m>, outlet: OutletId) -> Option<&'m TypedNode> {
    let graph = cx.graph();
    let outputs = graph.output_outlets().map_or(&[][..], |o| o);
    match &graph.node(outlet.node).outputs[outlet.slot].successors[..] {
        [succ] if !outputs.contains(&outlet) => Some(graph.node(succ.node)),
        _ => None,
    }
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
    let Some((node, other)) = binary_reader(cx, outlet, op) else {
        return Ok(None);
    };
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
