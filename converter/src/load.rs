//! Reading an ONNX model with tract-onnx: parse, fix input shapes, type,
//! declutter.

use std::path::Path;

use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModel, InferenceModelExt, TypedModel,
};

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::tract_data::internal::DimLike;
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::ConvertError;

/// An input shape given on the command line: `NAME=1x3x224x224`, or just
/// `1x3x224x224` for a model with one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputShape {
    /// The input's name, if given.
    pub name: Option<String>,
    /// The dimensions.
    pub dims: Vec<usize>,
}

impl std::str::FromStr for InputShape {
    type Err = ConvertError;

    fn from_str(spec: &str) -> Result<InputShape, ConvertError> {
        let bad = |message: &str| ConvertError::InputShape {
            spec: spec.into(),
            message: message.into(),
        };
        let (name, dims) = match spec.rsplit_once('=') {
            Some((name, dims)) if !name.is_empty() => (Some(name.to_string()), dims),
            Some(_) => return Err(bad("the input name before `=` is empty")),
            None => (None, spec),
        };
        let dims = dims
            .split(['x', ','])
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("dimensions must be positive integers joined by `x`"))?;
        if dims.contains(&0) {
            return Err(bad("dimensions must be positive"));
        }
        Ok(InputShape { name, dims })
    }
}

/// Parses ONNX bytes into tract's inference model. `dir` is where external
/// tensor data files are looked up.
///
/// # Errors
///
/// [`ConvertError::Tract`] when the bytes are not an ONNX model tract can
/// read.
pub fn parse_onnx(bytes: &[u8], dir: Option<&Path>) -> Result<InferenceModel, ConvertError> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| ConvertError::tract("decoding the ONNX protobuf", e))?;
    parse_proto(&proto, dir)
}

/// Reads a decoded ONNX model into tract's inference model.
///
/// # Errors
///
/// [`ConvertError::Tract`] when tract cannot read the graph.
pub fn parse_proto(proto: &ModelProto, dir: Option<&Path>) -> Result<InferenceModel, ConvertError> {
    if let Some(graph) = &proto.graph {
        let defined: std::collections::HashSet<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.output.iter().map(String::as_str))
            .chain(graph.input.iter().map(|i| i.name.as_str()))
            .chain(graph.initializer.iter().map(|t| t.name.as_str()))
            .collect();
        if let Some(missing) = graph
            .output
            .iter()
            .find(|o| !defined.contains(o.name.as_str()))
        {
            return Err(ConvertError::Tract {
                stage: "reading the ONNX graph",
                message: format!(
                    "graph output `{}` is produced by no node, input or initializer",
                    missing.name
                ),
            });
        }
    }
    let onnx = tract_onnx::onnx();
    let dir = dir.and_then(Path::to_str);
    let parsed = onnx
        .parse(proto, dir)
        .map_err(|e| ConvertError::tract("reading the ONNX graph", e))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(ConvertError::Tract {
            stage: "reading the ONNX graph",
            message: format!(
                "graph inputs never defined: {}",
                parsed.unresolved_inputs.join(", ")
            ),
        });
    }
    Ok(parsed.model)
}

/// Applies the given input shapes, then types and declutters the model.
///
/// # Errors
///
/// [`ConvertError::InputShape`] for a shape naming no input,
/// [`ConvertError::SymbolicInput`] for an input whose shape stays symbolic,
/// [`ConvertError::Tract`] when tract cannot type or declutter the graph.
pub fn typed_model(
    mut model: InferenceModel,
    shapes: &[InputShape],
) -> Result<TypedModel, ConvertError> {
    let inputs = model
        .input_outlets()
        .map_err(|e| ConvertError::tract("listing inputs", e))?
        .to_vec();
    let names: Vec<String> = inputs
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    for spec in shapes {
        let ix = match &spec.name {
            Some(name) => names.iter().position(|n| n == name),
            None if names.len() == 1 => Some(0),
            None => None,
        }
        .ok_or_else(|| ConvertError::InputShape {
            spec: format!("{spec:?}"),
            message: format!("the model's inputs are: {}", names.join(", ")),
        })?;
        let old = model
            .input_fact(ix)
            .map_err(|e| ConvertError::tract("reading input facts", e))?;
        let dt = old.datum_type.concretize().unwrap_or(DatumType::F32);
        model
            .set_input_fact(ix, InferenceFact::dt_shape(dt, spec.dims.clone()))
            .map_err(|e| ConvertError::tract("setting the input shape", e))?;
    }
    for (ix, name) in names.iter().enumerate() {
        let fact = model
            .input_fact(ix)
            .map_err(|e| ConvertError::tract("reading input facts", e))?;
        if fact
            .shape
            .concretize()
            .is_none_or(|s| s.iter().any(|d| d.to_usize().is_err()))
        {
            return Err(ConvertError::SymbolicInput {
                name: name.clone(),
                shape: fact.format_dt_shape(),
            });
        }
    }
    let typed = model
        .into_typed()
        .map_err(|e| ConvertError::tract("typing the graph", e))?;
    typed
        .into_decluttered()
        .map_err(|e| ConvertError::tract("decluttering the graph", e))
}
