//! Lowering tract's decluttered typed graph onto verdict's model IR.
//!
//! The walk visits nodes in tract's evaluation order. Constant outlets (tract
//! folds every constant sub-graph while decluttering) become verdict weights
//! where an op reads them; every other node is looked up by op name in
//! [`crate::registry::REGISTRY`] and converted by its entry. Unsupported nodes
//! are collected, not fatal one by one, so the error lists all of them.

mod axis;
mod binary;
mod broadcast;
mod concat;
mod conv;
mod einsum;
mod fold;
mod fuse;
mod gather;
mod logic;
mod lrn;
mod norm;
mod pool;
mod reduce;
mod slice;
mod softmax;
mod spatial;
mod unary;

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::prelude::{DatumType, OutletId, Tensor, TypedFact, TypedModel, TypedNode};
use verdict_dnn::ir::{Model, ModelBuilder, ModelError, Port, Ports, TensorId, numel};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::concat::Concat;
use verdict_dnn::ops::reshape::Reshape;
use verdict_dnn::ops::slice::{Range, Slice};

use crate::error::{ConvertError, Unsupported, UnsupportedNodes};
use crate::load::Preprocess;
use crate::registry;

pub(crate) use axis::convert as axis_op;
pub(crate) use binary::convert as binary_op;
pub(crate) use broadcast::convert as broadcast_op;
pub(crate) use concat::{convert_concat as concat_op, convert_pad as pad_op};
pub(crate) use conv::convert as conv_op;
pub(crate) use einsum::convert as einsum_op;
pub(crate) use gather::{convert as gather_op, convert_nd as gather_nd_op};
pub(crate) use logic::{convert_cast as cast_op, convert_where as where_op};
pub(crate) use lrn::convert as lrn_op;
pub(crate) use norm::{convert as rms_norm_op, convert_layer as layer_norm_op};
pub(crate) use pool::{convert_max as max_pool_op, convert_sum as sum_pool_op};
pub(crate) use reduce::convert as reduce_op;
pub(crate) use slice::{convert_downsample as downsample_op, convert_slice as slice_op};
pub(crate) use softmax::convert as softmax_op;
pub(crate) use unary::convert as unary_op;

/// Why one node could not be lowered.
#[derive(Debug)]
pub(crate) enum LowerError {
    /// The op is known but this use of it has no verdict equivalent.
    Unsupported(String),
    /// The verdict model rejected what the converter built (a bug).
    Model(ModelError),
}

impl From<ModelError> for LowerError {
    fn from(e: ModelError) -> LowerError {
        LowerError::Model(e)
    }
}

/// What a node converter gives: the verdict tensor of the node's output.
pub(crate) type Lowered = Result<TensorId, LowerError>;

/// Shorthand for an unsupported use of a known op.
pub(crate) fn unsupported<T>(reason: impl Into<String>) -> Result<T, LowerError> {
    Err(LowerError::Unsupported(reason.into()))
}

/// The model being built, shared by every graph lowered into it (a
/// generation program lowers one decoder pass after another), with its
/// weights by shape so that each constant is stored once across them all.
pub(crate) struct Store {
    builder: ModelBuilder,
    /// The weights added, by shape ([`Store::weight`] stores each once).
    by_shape: HashMap<Vec<usize>, Vec<TensorId>>,
}

impl Store {
    /// A store for a model named `name` whose input has `shape`.
    pub(crate) fn new(name: &str, shape: &[usize]) -> Store {
        Store {
            builder: ModelBuilder::new(name, shape),
            by_shape: HashMap::new(),
        }
    }

    /// The builder of the model.
    pub(crate) fn builder(&mut self) -> &mut ModelBuilder {
        &mut self.builder
    }

    /// Adds a weight, or gives the one already added with this shape and
    /// these exact bits: a constant the graph reads in several places (a
    /// tied embedding, a repeated mask) is stored once.
    pub(crate) fn weight(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Lowered {
        if let Some(t) = self.stored(shape, &data) {
            return Ok(t);
        }
        let t = self.builder.weight(name, shape, data)?;
        self.by_shape.entry(shape.to_vec()).or_default().push(t);
        Ok(t)
    }

    /// The weight already added with this shape and these exact bits.
    pub(crate) fn stored(&self, shape: &[usize], data: &[f32]) -> Option<TensorId> {
        let same = |t: &TensorId| {
            self.builder.data(*t).is_some_and(|d| {
                d.len() == data.len() && d.iter().zip(data).all(|(a, b)| a.to_bits() == b.to_bits())
            })
        };
        self.by_shape.get(shape)?.iter().copied().find(same)
    }

    /// Adds a node.
    pub(crate) fn add(&mut self, name: &str, op: OpKind, inputs: &[TensorId]) -> Lowered {
        Ok(self.builder.node(name, op, inputs)?)
    }

    /// `t` reshaped to `shape` (no node when the shape is already that).
    pub(crate) fn reshape(&mut self, name: &str, t: TensorId, shape: &[usize]) -> Lowered {
        if self.builder.shape(t) == shape {
            return Ok(t);
        }
        self.add(
            name,
            OpKind::Reshape(Reshape {
                shape: shape.to_vec(),
            }),
            &[t],
        )
    }

    /// The shape of a tensor.
    pub(crate) fn shape(&self, t: TensorId) -> Vec<usize> {
        self.builder.shape(t).to_vec()
    }

    /// The finished, validated model with `output` as its output.
    pub(crate) fn finish(mut self, output: TensorId) -> Result<Model, ConvertError> {
        fuse::gelu(&mut self.builder, output)?;
        let model = self.builder.finish(output);
        model.validate()?;
        Ok(model)
    }
}

/// The state of one graph's lowering: the tract graph, the store it is
/// lowered into, and where each tract outlet went.
///
/// An outlet's verdict tensor may have another shape than tract's, with the
/// same number of elements and so the same row-major bytes: reshapes cost a
/// copy in verdict, so ops that only regroup axes alias their input, and
/// [`Lowering::operand`] reshapes only where an op needs tract's exact shape.
pub(crate) struct Lowering<'m> {
    model: &'m TypedModel,
    store: &'m mut Store,
    values: HashMap<OutletId, TensorId>,
    weights: HashMap<OutletId, TensorId>,
}

impl<'m> Lowering<'m> {
    /// tract's fact for an outlet.
    pub(crate) fn fact(&self, outlet: OutletId) -> Result<&'m TypedFact, LowerError> {
        self.model
            .outlet_fact(outlet)
            .or_else(|e| unsupported(format!("{e}")))
    }

    /// The concrete shape of an outlet.
    pub(crate) fn shape(&self, outlet: OutletId) -> Result<Vec<usize>, LowerError> {
        let fact = self.fact(outlet)?;
        match fact.shape.as_concrete() {
            Some(s) => Ok(s.to_vec()),
            None => unsupported(format!("symbolic shape {:?}", fact.shape)),
        }
    }

    /// The constant value of an outlet, if tract knows it.
    pub(crate) fn konst(&self, outlet: OutletId) -> Option<Arc<Tensor>> {
        self.model.outlet_fact(outlet).ok()?.konst.clone()
    }

    /// The constant value of an outlet as f32, if it is a float constant.
    pub(crate) fn floats(&self, outlet: OutletId) -> Result<Option<Vec<f32>>, LowerError> {
        match self.konst(outlet) {
            Some(t) => Ok(Some(tensor_floats(&t)?)),
            None => Ok(None),
        }
    }

    /// The verdict tensor holding an outlet's value, in tract's exact shape.
    pub(crate) fn operand(&mut self, outlet: OutletId) -> Lowered {
        let t = self.raw(outlet)?;
        let want = self.shape(outlet)?;
        if self.tensor_shape(t) == want {
            return Ok(t);
        }
        let name = format!("{}.shape", self.model.node(outlet.node).name);
        let exact = self.reshape(&name, t, &want)?;
        self.values.insert(outlet, exact);
        Ok(exact)
    }

    /// The verdict tensor holding an outlet's value, in whatever shape it
    /// was computed (same elements in the same order as tract's): the
    /// computed tensor, or the constant as a weight (added once per outlet).
    pub(crate) fn raw(&mut self, outlet: OutletId) -> Lowered {
        if let Some(&t) = self.values.get(&outlet) {
            return Ok(t);
        }
        if let Some(&t) = self.weights.get(&outlet) {
            return Ok(t);
        }
        let Some(k) = self.konst(outlet) else {
            return unsupported(format!("input {outlet:?} is neither computed nor constant"));
        };
        let data = tensor_floats(&k)?;
        let name = format!("{}.{}", self.model.node(outlet.node).name, outlet.slot);
        let t = self.weight(&name, k.shape(), data)?;
        self.weights.insert(outlet, t);
        Ok(t)
    }

    /// Adds a weight, or gives the stored one with these bits ([`Store::weight`]).
    pub(crate) fn weight(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Lowered {
        self.store.weight(name, shape, data)
    }

    /// The weight already added with this shape and these exact bits.
    pub(crate) fn stored(&self, shape: &[usize], data: &[f32]) -> Option<TensorId> {
        self.store.stored(shape, data)
    }

    /// Whether some weight has this shape.
    pub(crate) fn stores_shape(&self, shape: &[usize]) -> bool {
        self.store.by_shape.contains_key(shape)
    }

    /// Adds a node.
    pub(crate) fn add(&mut self, name: &str, op: OpKind, inputs: &[TensorId]) -> Lowered {
        self.store.add(name, op, inputs)
    }

    /// Records that `outlet` (of a node a converter fused into another) is
    /// held by `t`.
    pub(crate) fn alias(&mut self, outlet: OutletId, t: TensorId) {
        self.values.insert(outlet, t);
    }

    /// The tract graph.
    pub(crate) fn graph(&self) -> &'m TypedModel {
        self.model
    }

    /// The shape of a verdict tensor.
    pub(crate) fn tensor_shape(&self, t: TensorId) -> Vec<usize> {
        self.store.shape(t)
    }

    /// `t` reshaped to `shape` (no node when the shape is already that).
    pub(crate) fn reshape(&mut self, name: &str, t: TensorId, shape: &[usize]) -> Lowered {
        self.store.reshape(name, t, shape)
    }
}

/// A tract tensor's values as f32: floats are converted, booleans and
/// integers become the binary32 values verdict holds them as (refused
/// beyond 2^24, where binary32 is no longer exact); anything else is not
/// data a verdict op can read.
pub(crate) fn tensor_floats(t: &Tensor) -> Result<Vec<f32>, LowerError> {
    match t.datum_type() {
        dt if dt == DatumType::Bool || dt.is_integer() => {
            crate::tensor_io::integer_values(t).or_else(unsupported)
        }
        DatumType::F32 | DatumType::F16 | DatumType::F64 => {
            let cast = t
                .cast_to::<f32>()
                .or_else(|e| unsupported(format!("cannot read constant as f32: {e}")))?;
            cast.try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
                .or_else(|e| unsupported(format!("cannot read constant as f32: {e}")))
        }
        dt => unsupported(format!(
            "a {dt:?} constant is used as data; only float tensors can be"
        )),
    }
}

/// Progress of a conversion: nodes done out of the total.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// Lowers a decluttered tract model whose inputs and outputs are each f32,
/// integer or boolean (held as binary32 values). Several inputs (outputs)
/// are packed into one flat input (output), named by the model's
/// [`Ports`]; a model's one input or output keeps its shape.
///
/// # Errors
///
/// [`ConvertError::Arity`], [`ConvertError::DatumType`],
/// [`ConvertError::SymbolicInput`], [`ConvertError::ConstantOutput`],
/// [`ConvertError::Unsupported`] listing every node that has no verdict
/// equivalent, or [`ConvertError::Model`] if the built model is malformed.
pub fn lower(
    model: &TypedModel,
    name: &str,
    preprocess: &Preprocess,
    progress: Progress<'_>,
) -> Result<Model, ConvertError> {
    let inputs = model
        .input_outlets()
        .map_err(|e| ConvertError::tract("listing inputs", e))?;
    let outputs = model
        .output_outlets()
        .map_err(|e| ConvertError::tract("listing outputs", e))?;
    if inputs.is_empty() || outputs.is_empty() {
        return Err(ConvertError::Arity {
            inputs: inputs.len(),
            outputs: outputs.len(),
        });
    }
    let fact = |o: OutletId| {
        model
            .outlet_fact(o)
            .map_err(|e| ConvertError::tract("reading facts", e))
    };
    let name_of = |o: OutletId| model.node(o.node).name.clone();
    let ends = inputs.iter().map(|&o| ("input", o));
    for (what, o) in ends.chain(outputs.iter().map(|&o| ("output", o))) {
        let dt = fact(o)?.datum_type;
        // An integer or boolean input (token ids, a mask) is fed as the
        // binary32 values holding it, and such an output is given so.
        if !logic::held(dt) {
            return Err(ConvertError::DatumType {
                what,
                name: name_of(o),
                datum: format!("{dt:?}"),
            });
        }
    }
    if let Some(&o) = outputs
        .iter()
        .find(|&&o| model.outlet_fact(o).is_ok_and(|f| f.konst.is_some()))
    {
        return Err(ConvertError::ConstantOutput(name_of(o)));
    }
    let mut ports = Ports::default();
    for &o in inputs {
        let f = fact(o)?;
        let Some(shape) = f.shape.as_concrete() else {
            return Err(ConvertError::SymbolicInput {
                name: name_of(o),
                shape: format!("{:?}", f.shape),
            });
        };
        ports.inputs.push(Port {
            name: name_of(o),
            shape: shape.to_vec(),
            kind: logic::kind(f.datum_type),
        });
    }
    // One input is the model's input as it is; several are packed one
    // after another into a flat input, each sliced back out.
    let packed = ports.inputs.len() > 1;
    let in_shape = if packed {
        vec![ports.inputs.iter().map(|p| numel(&p.shape)).sum()]
    } else {
        ports.inputs[0].shape.clone()
    };
    let mut store = Store::new(name, &in_shape);
    let input = prepare_input(&mut store, preprocess)?;
    let mut at = 0;
    let mut graph_inputs = Vec::new();
    for port in &ports.inputs {
        graph_inputs.push(if packed {
            let n = numel(&port.shape);
            let range = Range {
                start: at,
                step: 1,
                len: n,
            };
            at += n;
            let part = store
                .add(
                    &port.name,
                    OpKind::Slice(Slice {
                        ranges: vec![range],
                    }),
                    &[input],
                )
                .map_err(finishing)?;
            store
                .reshape(&format!("{}.shape", port.name), part, &port.shape)
                .map_err(finishing)?
        } else {
            input
        });
    }
    let parts = walk(&mut store, model, &graph_inputs, progress)?;
    for &o in outputs {
        // The graph's name for an output, not its producing node's.
        let label = model.outlet_label(o).map(str::to_owned);
        let shape = fact(o)?.shape.as_concrete().map(<[usize]>::to_vec);
        ports.outputs.push(Port {
            name: label.unwrap_or_else(|| name_of(o)),
            shape: shape.unwrap_or_default(),
            kind: logic::kind(fact(o)?.datum_type),
        });
    }
    let mut out = if let [one] = parts[..] {
        one
    } else {
        let flat = parts
            .iter()
            .zip(&ports.outputs)
            .map(|(&t, port)| {
                store.reshape(&format!("{}.flat", port.name), t, &[numel(&port.shape)])
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(finishing)?;
        store
            .add("outputs", OpKind::Concat(Concat { axis: 0 }), &flat)
            .map_err(finishing)?
    };
    if out == store.builder().input() {
        // An identity graph: the output must still be a tensor of its own.
        let shape = store.shape(out);
        out = store
            .add("output", OpKind::Reshape(Reshape { shape }), &[out])
            .map_err(finishing)?;
    }
    store.builder().ports(ports);
    store.finish(out)
}

/// Lowers the nodes of `model` into `store`, its graph inputs held by
/// `inputs` (in the graph's order), and gives the tensors holding its
/// outputs, in tract's shapes.
///
/// # Errors
///
/// [`ConvertError::Unsupported`] listing every node that has no verdict
/// equivalent, or [`ConvertError::Model`] if a built node is malformed.
pub(crate) fn walk(
    store: &mut Store,
    model: &TypedModel,
    inputs: &[TensorId],
    progress: Progress<'_>,
) -> Result<Vec<TensorId>, ConvertError> {
    let sources = model
        .input_outlets()
        .map_err(|e| ConvertError::tract("listing inputs", e))?;
    let outputs = model
        .output_outlets()
        .map_err(|e| ConvertError::tract("listing outputs", e))?;
    let mut cx = Lowering {
        model,
        store,
        values: sources
            .iter()
            .copied()
            .zip(inputs.iter().copied())
            .collect(),
        weights: HashMap::new(),
    };
    let order = model
        .eval_order()
        .map_err(|e| ConvertError::tract("ordering the graph", e))?;
    let mut failed = Vec::new();
    for (done, &id) in order.iter().enumerate() {
        progress(done, order.len());
        let node = model.node(id);
        let fused = cx.values.contains_key(&OutletId::new(id, 0));
        let source = sources.iter().any(|i| i.node == id);
        if fused || source || node.outputs.iter().all(|o| o.fact.konst.is_some()) {
            continue;
        }
        match lower_node(&mut cx, node) {
            Ok(Some(t)) => {
                cx.values.insert(OutletId::new(id, 0), t);
            }
            Ok(None) => {}
            Err(LowerError::Unsupported(reason)) => failed.push(Unsupported {
                node: node.name.clone(),
                op: node.op.name().to_string(),
                reason: Some(reason).filter(|r| !r.is_empty()),
            }),
            Err(LowerError::Model(e)) => return Err(ConvertError::Model(e)),
        }
    }
    progress(order.len(), order.len());
    if !failed.is_empty() {
        return Err(ConvertError::Unsupported(UnsupportedNodes(failed)));
    }
    outputs
        .iter()
        .map(|&o| cx.operand(o).map_err(finishing))
        .collect()
}

/// The input as the graph reads it: decoded from its encoding, divided,
/// and normalized per channel, as `preprocess` says.
pub(crate) fn prepare_input(
    store: &mut Store,
    preprocess: &Preprocess,
) -> Result<TensorId, ConvertError> {
    let mut x = match preprocess.encoding {
        Some(encoding) => store.builder().decoded_input(encoding)?,
        None => store.builder().input(),
    };
    let shape = store.shape(x);
    let per_channel = |what: &str, values: &[f32]| -> Result<Vec<usize>, ConvertError> {
        match values.len() {
            1 => Ok(vec![1]),
            c if shape.len() >= 2 && shape[1] == c => {
                let mut s = vec![1; shape.len()];
                s[1] = c;
                Ok(s)
            }
            c => Err(ConvertError::Preprocess(format!(
                "{c} {what} values for an input of shape {shape:?}: give one, or one per channel (axis 1)"
            ))),
        }
    };
    let mut apply = |store: &mut Store, op, what: &str, values: &[f32]| {
        let s = per_channel(what, values)?;
        let w = store
            .weight(&format!("input.{what}"), &s, values.to_vec())
            .map_err(finishing)?;
        x = store
            .add(
                &format!("input.{what}"),
                OpKind::Binary(Binary { op }),
                &[x, w],
            )
            .map_err(finishing)?;
        Ok::<_, ConvertError>(x)
    };
    if let Some(d) = preprocess.divide {
        apply(store, BinaryOp::Div, "divide", &[d])?;
    }
    if !preprocess.mean.is_empty() {
        apply(store, BinaryOp::Sub, "mean", &preprocess.mean)?;
    }
    if !preprocess.std.is_empty() {
        apply(store, BinaryOp::Div, "std", &preprocess.std)?;
    }
    Ok(x)
}

/// A lowering error while wiring the model's ends, as a conversion error.
pub(crate) fn finishing(e: LowerError) -> ConvertError {
    match e {
        LowerError::Model(e) => ConvertError::Model(e),
        LowerError::Unsupported(m) => ConvertError::Tract {
            stage: "finishing",
            message: m,
        },
    }
}

/// Lowers one node; `Ok(None)` when an input is missing because an earlier
/// node failed (that node is already reported).
fn lower_node(cx: &mut Lowering<'_>, node: &TypedNode) -> Result<Option<TensorId>, LowerError> {
    let op_name = node.op.name();
    let Some(entry) = registry::lookup(&op_name) else {
        return unsupported("");
    };
    if node.outputs.len() != 1 {
        return unsupported(format!(
            "{} outputs; verdict ops have one",
            node.outputs.len()
        ));
    }
    let dt = node.outputs[0].fact.datum_type;
    if !logic::held(dt) {
        return unsupported(format!(
            "produces {dt:?}; verdict holds f32, booleans and integers only"
        ));
    }
    let missing = node
        .inputs
        .iter()
        .any(|i| !cx.values.contains_key(i) && cx.konst(*i).is_none());
    if missing {
        return Ok(None);
    }
    let t = (entry.convert)(cx, node)?;
    let want = cx.shape(OutletId::new(node.id, 0))?;
    let got = cx.tensor_shape(t);
    if numel(&got) != numel(&want) {
        return unsupported(format!(
            "lowered to shape {got:?}, tract says {want:?} (converter bug)"
        ));
    }
    Ok(Some(t))
}
