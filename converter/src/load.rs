//! Reading an ONNX model with tract-onnx: bind constant inputs, parse, fix
//! input shapes, type, declutter.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModel, InferenceModelExt, Symbol, TDim, TVec,
    TypedModel,
};

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::type_proto::Value;
use tract_onnx::pb::{ModelProto, TensorProto, ValueInfoProto};
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid, ShapeFactoid};
use verdict_dnn::ops::decode::Encoding;

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

impl std::fmt::Display for InputShape {
    /// As written on the command line: `NAME=1x3x224x224`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(name) = &self.name {
            write!(f, "{name}=")?;
        }
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        f.write_str(&dims.join("x"))
    }
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

/// A graph input bound to a constant tensor. verdict models take one input;
/// the others a graph declares (weights, indices, shapes, axes given as
/// inputs) are fixed at conversion time, and tract folds them like
/// initializers.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    /// The graph input's name.
    pub name: String,
    /// Its value, of any ONNX element type (see [`crate::tensor_io::read_tensor`]).
    pub tensor: TensorProto,
}

/// How a model's graph inputs are fixed before tract analyses it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    /// Shapes of inputs that stay inputs, needed where the declared shape is
    /// symbolic.
    pub shapes: Vec<InputShape>,
    /// Inputs bound to constants.
    pub constants: Vec<Constant>,
    /// The one graph output to convert, for a model with several (verdict
    /// models have one); the others are dropped before tract reads it.
    pub output: Option<String>,
    /// What the VM program does to the input before the graph reads it.
    pub preprocess: Preprocess,
}

impl From<Vec<InputShape>> for Inputs {
    fn from(shapes: Vec<InputShape>) -> Inputs {
        Inputs {
            shapes,
            ..Inputs::default()
        }
    }
}

/// The input as a claim posts it, and the arithmetic that turns it into
/// what the graph reads, all inside the VM program: an image posted as
/// bytes (a quarter of the calldata of binary32 values), then scaled and
/// normalized per channel as the model was trained (torchvision's
/// `ToTensor` then `Normalize`: `(x / 255 - mean[c]) / std[c]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preprocess {
    /// The input's encoding: packed `u8` or `u16` integers instead of
    /// binary32 values.
    pub encoding: Option<Encoding>,
    /// Every value is first divided by this.
    pub divide: Option<f32>,
    /// Subtracted per channel (axis 1), or from every value if one.
    pub mean: Vec<f32>,
    /// Then divides per channel (axis 1), or every value if one.
    pub std: Vec<f32>,
}

/// Parses ONNX bytes into tract's inference model, with `constants` bound
/// and, if given, only the graph `output` kept.
/// `dir` is where external tensor data files are looked up.
///
/// # Errors
///
/// [`ConvertError::Tract`] when the bytes are not an ONNX model tract can
/// read, [`ConvertError::Constant`] for a constant that binds no input or
/// does not fit its input.
pub fn parse_onnx(
    bytes: &[u8],
    dir: Option<&Path>,
    constants: &[Constant],
    output: Option<&str>,
) -> Result<InferenceModel, ConvertError> {
    parse_model(decode(bytes)?, dir, constants, output)
}

/// Decodes ONNX bytes.
///
/// # Errors
///
/// [`ConvertError::Tract`] when the bytes are not an ONNX protobuf.
pub fn decode(bytes: &[u8]) -> Result<ModelProto, ConvertError> {
    crate::reader::onnx()
        .proto_model_for_read(&mut &*bytes)
        .map_err(|e| ConvertError::tract("decoding the ONNX protobuf", e))
}

/// [`parse_onnx`] on a decoded model.
///
/// # Errors
///
/// As [`parse_onnx`].
pub fn parse_model(
    mut proto: ModelProto,
    dir: Option<&Path>,
    constants: &[Constant],
    output: Option<&str>,
) -> Result<InferenceModel, ConvertError> {
    let sizes = bind_constants(&mut proto, constants)?;
    if let Some(name) = output {
        select_output(&mut proto, name)?;
    }
    let mut model = parse_proto(&proto, dir)?;
    // A symbolic dimension a constant fixes (`past` of an empty KV cache)
    // takes its size in every inner shape the exporter wrote, as one fixed
    // by an input shape does (see [`typed_model`]).
    let symbols = sizes
        .into_iter()
        .map(|(name, n)| (model.symbols.sym(&name), TDim::Val(n)))
        .collect();
    substitute_all(&mut model, &symbols)?;
    Ok(model)
}

/// Keeps only the graph output `name`: what computes nothing else is then
/// left out by tract.
fn select_output(proto: &mut ModelProto, name: &str) -> Result<(), ConvertError> {
    let outputs = proto.graph.as_mut().map(|g| &mut g.output);
    let Some(outputs) = outputs.filter(|o| o.iter().any(|o| o.name == name)) else {
        let names: Vec<String> = proto
            .graph
            .iter()
            .flat_map(|g| &g.output)
            .map(|o| o.name.clone())
            .collect();
        return Err(ConvertError::Output {
            name: name.to_owned(),
            outputs: names.join(", "),
        });
    };
    outputs.retain(|o| o.name == name);
    Ok(())
}

/// Turns each bound graph input into an initializer of the graph, which is
/// how ONNX gives an input a fixed value: tract then reads it as a constant.
/// Gives the size each symbolic dimension of a bound input takes. Fails
/// naming the input when it is not a graph input, is bound twice, or the
/// tensor's element type or shape does not fit the declared one.
fn bind_constants(
    proto: &mut ModelProto,
    constants: &[Constant],
) -> Result<HashMap<String, i64>, ConvertError> {
    let mut sizes = HashMap::new();
    let Some(graph) = proto.graph.as_mut() else {
        return match constants.first() {
            Some(c) => Err(constant_error(&c.name, "the model has no graph")),
            None => Ok(sizes),
        };
    };
    for (ix, constant) in constants.iter().enumerate() {
        let name = &constant.name;
        if constants[..ix].iter().any(|c| &c.name == name) {
            return Err(constant_error(name, "bound twice"));
        }
        let input = graph
            .input
            .iter()
            .find(|i| &i.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
                constant_error(
                    name,
                    format!(
                        "not a graph input; the graph inputs are: {}",
                        names.join(", ")
                    ),
                )
            })?;
        check_fits(input, &constant.tensor).map_err(|message| constant_error(name, message))?;
        for (param, n) in symbolic_dims(input).zip(&constant.tensor.dims) {
            if let Some(param) = param
                && sizes.insert(param.clone(), *n).is_some_and(|m| m != *n)
            {
                return Err(constant_error(
                    name,
                    format!("`{param}` is bound to two sizes by the constants"),
                ));
            }
        }
        graph.initializer.retain(|t| &t.name != name);
        graph.initializer.push(TensorProto {
            name: name.clone(),
            ..constant.tensor.clone()
        });
    }
    Ok(sizes)
}

fn constant_error(name: &str, message: impl Into<String>) -> ConvertError {
    ConvertError::Constant {
        name: name.to_owned(),
        message: message.into(),
    }
}

/// The symbol naming each dimension of an input's declared shape (`None`
/// for a fixed or unnamed one).
fn symbolic_dims(input: &ValueInfoProto) -> impl Iterator<Item = Option<&String>> {
    let shape = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(Value::TensorType(t)) => t.shape.as_ref(),
        _ => None,
    };
    shape
        .into_iter()
        .flat_map(|s| &s.dim)
        .map(|d| match &d.value {
            Some(dimension::Value::DimParam(p)) => Some(p),
            _ => None,
        })
}

/// An ONNX element type's name (`FLOAT`, `INT64`, ...).
fn type_name(data_type: i32) -> String {
    DataType::try_from(data_type).map_or_else(
        |_| format!("element type {data_type}"),
        |t| t.as_str_name().to_owned(),
    )
}

/// Whether a tensor has the element type and shape the input declares
/// (symbolic or undeclared dimensions take any size); why not otherwise.
fn check_fits(input: &ValueInfoProto, tensor: &TensorProto) -> Result<(), String> {
    let Some(Value::TensorType(declared)) = input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Ok(());
    };
    if declared.elem_type != tensor.data_type {
        return Err(format!(
            "the tensor is {}, the input takes {}",
            type_name(tensor.data_type),
            type_name(declared.elem_type)
        ));
    }
    let Some(shape) = &declared.shape else {
        return Ok(());
    };
    let dims: Vec<String> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(n)) => n.to_string(),
            Some(dimension::Value::DimParam(p)) => p.clone(),
            None => "?".to_owned(),
        })
        .collect();
    let fits = shape.dim.len() == tensor.dims.len()
        && shape
            .dim
            .iter()
            .zip(&tensor.dims)
            .all(|(d, &n)| match d.value {
                Some(dimension::Value::DimValue(want)) => want == n,
                _ => true,
            });
    if fits {
        Ok(())
    } else {
        Err(format!(
            "the tensor has shape {:?}, the input takes [{}]",
            tensor.dims,
            dims.join(", ")
        ))
    }
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
    let onnx = crate::reader::onnx();
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
    let mut symbols = HashMap::new();
    for spec in shapes {
        let ix = match &spec.name {
            Some(name) => names.iter().position(|n| n == name),
            None if names.len() == 1 => Some(0),
            None => None,
        }
        .ok_or_else(|| ConvertError::InputShape {
            spec: spec.to_string(),
            message: match &spec.name {
                Some(_) => format!(
                    "no such input; the model's inputs are: {}",
                    names.join(", ")
                ),
                None => format!(
                    "the model has {} inputs: name one (NAME=DIMS): {}",
                    names.len(),
                    names.join(", ")
                ),
            },
        })?;
        let old = model
            .input_fact(ix)
            .map_err(|e| ConvertError::tract("reading input facts", e))?
            .clone();
        bind_symbols(&old, spec, &mut symbols)?;
        let dt = old.datum_type.concretize().unwrap_or(DatumType::F32);
        model
            .set_input_fact(ix, InferenceFact::dt_shape(dt, spec.dims.clone()))
            .map_err(|e| ConvertError::tract("setting the input shape", e))?;
    }
    // The exporter's shapes of inner values (ONNX value_info) name the
    // symbols of a dynamic input (`seq`): they take the sizes given too, or
    // typing fails to unify `seq` with the input's size.
    substitute_all(&mut model, &symbols)?;
    for (ix, name) in names.iter().enumerate() {
        let fact = model
            .input_fact(ix)
            .map_err(|e| ConvertError::tract("reading input facts", e))?;
        if fact
            .shape
            .concretize()
            .is_none_or(|s| s.iter().any(|d| !matches!(d, TDim::Val(_))))
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

/// Every node's output facts with the bound symbols replaced by their sizes.
fn substitute_all(
    model: &mut InferenceModel,
    symbols: &HashMap<Symbol, TDim>,
) -> Result<(), ConvertError> {
    if symbols.is_empty() {
        return Ok(());
    }
    for node in &mut model.nodes {
        for output in &mut node.outputs {
            substitute(&mut output.fact, symbols)?;
        }
    }
    Ok(())
}

/// `fact` with the bound symbols replaced by their sizes.
fn substitute(
    fact: &mut InferenceFact,
    symbols: &HashMap<Symbol, TDim>,
) -> Result<(), ConvertError> {
    let mut dims = TVec::new();
    for d in fact.shape.dims() {
        dims.push(match d.concretize() {
            Some(t) => GenericFactoid::Only(
                t.substitute_all(symbols)
                    .map_err(|e| ConvertError::tract("setting symbolic dimensions", e))?,
            ),
            None => d.clone(),
        });
    }
    fact.shape = if fact.shape.is_open() {
        ShapeFactoid::open(dims)
    } else {
        ShapeFactoid::closed(dims)
    };
    Ok(())
}

/// Records the size `spec` gives each symbolic dimension of `fact`; the same
/// symbol given two sizes is an error.
fn bind_symbols(
    fact: &InferenceFact,
    spec: &InputShape,
    symbols: &mut HashMap<Symbol, TDim>,
) -> Result<(), ConvertError> {
    let fail = |message: String| ConvertError::InputShape {
        spec: spec.to_string(),
        message,
    };
    let Some(dims) = fact.shape.concretize() else {
        return Ok(());
    };
    if !dims.iter().any(|d| matches!(d, TDim::Sym(_))) {
        return Ok(());
    }
    if dims.len() != spec.dims.len() {
        return Err(fail(format!(
            "the input has rank {} ({})",
            dims.len(),
            fact.format_dt_shape()
        )));
    }
    for (d, &given) in dims.iter().zip(&spec.dims) {
        let TDim::Sym(s) = d else {
            continue;
        };
        let given_dim = TDim::Val(given as i64);
        match symbols.get(s) {
            Some(v) if *v != given_dim => {
                return Err(fail(format!("`{s}` is already {v}, not {given}")));
            }
            _ => {
                symbols.insert(s.clone(), given_dim);
            }
        }
    }
    Ok(())
}
