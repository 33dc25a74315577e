//! tract's ONNX reader as verdict uses it: LayerNormalization kept whole,
//! casts to int64 giving int64.
//!
//! tract-onnx expands LayerNormalization into reductions and elementwise
//! ops as it reads the graph; verdict has the normalisation as one op
//! (`Norm` Layer, docs/spec/kernels.md). [`onnx`] is tract's ONNX reader
//! with LayerNormalization read as [`LayerNorm`], a tract op of its own that
//! declutter leaves alone and that tract evaluates with verdict's order of
//! operations. Nodes whose optional mean or inverse standard deviation
//! outputs are read, or with another stash type, keep tract's expansion.

use std::sync::OnceLock;

use tract_onnx::Onnx;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
// tract's prelude for writing an op: its macros (`as_op!`, `tvec!`,
// `op_as_typed_op!`) expand to names they expect in scope.
use tract_onnx::tract_hir::internal::*;

use tract_onnx::tract_hir::tract_ndarray::{ArrayD, IxDyn};

/// How tract-onnx builds an op from an ONNX node.
type Builder = fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract's own LayerNormalization builder, for the nodes this one leaves.
static TRACT_BUILDER: OnceLock<Option<Builder>> = OnceLock::new();

/// tract's own Cast builder, for the casts to other types than int64.
static TRACT_CAST: OnceLock<Option<Builder>> = OnceLock::new();

/// tract's ONNX reader, with LayerNormalization kept as one op and casts to
/// int64 giving int64.
pub fn onnx() -> Onnx {
    let mut onnx = tract_onnx::onnx();
    TRACT_BUILDER.get_or_init(|| onnx.op_register.0.get("LayerNormalization").copied());
    TRACT_CAST.get_or_init(|| onnx.op_register.0.get("Cast").copied());
    onnx.op_register.insert("LayerNormalization", parse);
    onnx.op_register.insert("Cast", parse_cast);
    onnx
}

/// Builds `node` with tract's own builder of `op`, kept in `slot` by
/// [`onnx`]: for the nodes an override leaves to tract.
fn tract_builds(
    slot: &OnceLock<Option<Builder>>,
    op: &str,
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let tract = slot
        .get()
        .copied()
        .flatten()
        .with_context(|| format!("tract-onnx has no {op}"))?;
    tract(ctx, node)
}

/// tract-onnx reads a cast to int64 as a cast to its symbolic dimension
/// type (`TDim`), for shape arithmetic over symbols. verdict converts with
/// every input shape given, so no value is symbolic; a `TDim` tensor only
/// stops tract's kernels that take plain integers, as the `CumSum` over a
/// cast mask that dynamic transformer exports compute positions with.
fn parse_cast(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let to: DatumType = node.get_attr("to")?;
    if to != DatumType::I64 {
        return tract_builds(&TRACT_CAST, "Cast", ctx, node);
    }
    Ok((expand(CastToI64), vec![]))
}

/// ONNX Cast to int64, giving int64.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct CastToI64;

impl Expansion for CastToI64 {
    fn name(&self) -> StaticName {
        "onnx.Cast".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::I64)?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(
            prefix,
            tract_onnx::tract_core::ops::cast::cast(DatumType::I64),
            inputs,
        )
    }
}

fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let extra_outputs = node
        .output
        .iter()
        .skip(1)
        .any(|o| !o.is_empty() && used(ctx, o));
    let stash: DatumType = node.get_attr_opt("stash_type")?.unwrap_or(DatumType::F32);
    if extra_outputs || stash != DatumType::F32 {
        return tract_builds(&TRACT_BUILDER, "LayerNormalization", ctx, node);
    }
    let stats = [Stat::Mean, Stat::InvStdDev];
    let layer_norm = ParsedLayerNorm {
        axis: node.get_attr_opt("axis")?.unwrap_or(-1),
        epsilon: node.get_attr_opt("epsilon")?.unwrap_or(1e-5),
        have_bias: node.input.get(2).is_some_and(|b| !b.is_empty()),
        stats: (node.output.iter().skip(1).zip(stats))
            .filter(|(o, _)| !o.is_empty())
            .map(|(_, s)| s)
            .collect(),
    };
    Ok((expand(layer_norm), vec![]))
}

/// Whether a value is read by a node or is a graph output; inside a
/// subgraph, conservatively yes.
fn used(ctx: &ParsingContext, name: &str) -> bool {
    // tract pushes each graph it parses: one is the main graph.
    let [graph] = ctx.parent_graphs.as_slice() else {
        return true;
    };
    graph.output.iter().any(|o| o.name == name)
        || graph.node.iter().any(|n| n.input.iter().any(|i| i == name))
}

/// An optional output of LayerNormalization, one value per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stat {
    /// The row's mean.
    Mean,
    /// `1 / sqrt(variance + epsilon)`.
    InvStdDev,
}

/// The node as read, before the input's rank is known.
#[derive(Clone, Debug)]
struct ParsedLayerNorm {
    axis: isize,
    epsilon: f32,
    have_bias: bool,
    /// Optional outputs the node names, though nothing reads them.
    stats: Vec<Stat>,
}

impl Expansion for ParsedLayerNorm {
    fn name(&self) -> StaticName {
        "LayerNormalization".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(1 + self.stats.len())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2 + usize::from(self.have_bias))?;
        check_output_arity(outputs, 1 + self.stats.len())?;
        for input in inputs {
            s.equals(&input.datum_type, &outputs[0].datum_type)?;
        }
        for stat in &outputs[1..] {
            s.equals(&stat.datum_type, &outputs[0].datum_type)?;
            s.equals(&stat.rank, &inputs[0].rank)?;
        }
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?;
        ensure!(
            fact.datum_type == DatumType::F32,
            "LayerNormalization on {:?}: verdict computes in f32",
            fact.datum_type
        );
        let rank = fact.rank() as isize;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        ensure!(
            (0..rank).contains(&axis),
            "LayerNormalization axis {} out of range for rank {rank}",
            self.axis
        );
        let op = LayerNorm {
            axis: axis as usize,
            epsilon: self.epsilon.to_bits(),
            stats: self.stats.clone(),
        };
        model.wire_node(prefix, op, inputs)
    }
}

/// LayerNormalization over the axes from `axis` on, with a scale and an
/// optional bias broadcast to them; evaluated in verdict's order. Optional
/// outputs that nothing reads are decluttered away.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LayerNorm {
    /// The first normalised axis.
    pub axis: usize,
    /// Epsilon's bit pattern (so the op is `Eq`).
    pub epsilon: u32,
    /// The optional outputs after the normalised tensor.
    pub stats: Vec<Stat>,
}

impl LayerNorm {
    /// The shape of a per-row output: the normalised axes set to 1.
    fn stat_shape<D: Clone + From<usize>>(&self, shape: &[D]) -> Vec<D> {
        let mut s = shape.to_vec();
        s[self.axis..].fill(D::from(1));
        s
    }
}

impl Op for LayerNorm {
    fn name(&self) -> StaticName {
        "LayerNorm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "axis: {}, epsilon: {}",
            self.axis,
            f32::from_bits(self.epsilon)
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for LayerNorm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = inputs[0].to_plain_array_view::<f32>()?;
        let block: Vec<usize> = x.shape()[self.axis..].to_vec();
        let len: usize = block.iter().product();
        let affine = |i: usize| -> TractResult<Option<Vec<f32>>> {
            let Some(t) = inputs.get(i) else {
                return Ok(None);
            };
            let view = t.to_plain_array_view::<f32>()?;
            let full = view
                .broadcast(IxDyn(&block))
                .with_context(|| format!("input {i} does not broadcast to {block:?}"))?;
            Ok(Some(full.iter().copied().collect()))
        };
        let (scale, bias) = (affine(1)?, affine(2)?);
        let rows = x.len() / len.max(1);
        let flat: Vec<f32> = x.iter().copied().collect();
        let n = len as f32;
        let eps = f32::from_bits(self.epsilon);
        let mut y = Vec::with_capacity(flat.len());
        let (mut means, mut inv) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for row in flat.chunks(len.max(1)).take(rows) {
            let mean = row.iter().fold(0.0f32, |s, &v| s + v) / n;
            let q = row.iter().fold(0.0f32, |q, &v| {
                let d = v - mean;
                q + d * d
            });
            let r = 1.0 / (q / n + eps).sqrt();
            means.push(mean);
            inv.push(r);
            for (j, &v) in row.iter().enumerate() {
                let mut o = (v - mean) * r;
                if let Some(g) = &scale {
                    o *= g[j];
                }
                if let Some(b) = &bias {
                    o += b[j];
                }
                y.push(o);
            }
        }
        let mut out = tvec!(ArrayD::from_shape_vec(x.shape(), y)?.into_tvalue());
        let stat_shape = self.stat_shape(x.shape());
        for stat in &self.stats {
            let values = match stat {
                Stat::Mean => means.clone(),
                Stat::InvStdDev => inv.clone(),
            };
            out.push(ArrayD::from_shape_vec(stat_shape.as_slice(), values)?.into_tvalue());
        }
        Ok(out)
    }
}

impl TypedOp for LayerNorm {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            self.axis < inputs[0].rank(),
            "LayerNorm axis {} out of range",
            self.axis
        );
        let x = inputs[0];
        let mut facts = tvec!(x.datum_type.fact(x.shape.clone()));
        let stat: Vec<TDim> = self.stat_shape(&x.shape.to_tvec());
        facts.extend(self.stats.iter().map(|_| x.datum_type.fact(stat.clone())));
        Ok(facts)
    }

    fn declutter(
        &self,
        model: &TypedModel,
        node: &TypedNode,
    ) -> TractResult<Option<TypedModelPatch>> {
        let outputs = model.output_outlets()?;
        let read = |slot: usize| {
            let outlet = OutletId::new(node.id, slot);
            !node.outputs[slot].successors.is_empty() || outputs.contains(&outlet)
        };
        if self.stats.is_empty() || (1..node.outputs.len()).any(read) {
            return Ok(None);
        }
        let op = LayerNorm {
            stats: Vec::new(),
            ..self.clone()
        };
        let mut patch = TypedModelPatch::default();
        let taps = patch.taps(model, &node.inputs)?;
        let y = patch.wire_node(&node.name, op, &taps)?;
        patch.shunt_outside(model, OutletId::new(node.id, 0), y[0])?;
        Ok(Some(patch))
    }
}
