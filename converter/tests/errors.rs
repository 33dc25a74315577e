//! Conversion errors name the problem: symbolic input shapes, models with
//! several inputs, unsupported nodes (all of them at once), graph outputs
//! that nothing produces; a model with several outputs converts the one
//! selected.

use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as Type;
use tract_onnx::prelude::Framework;
use verdict_converter::error::ConvertError;
use verdict_converter::{InputShape, Inputs, convert_bytes, load, lower};

fn digits_mlp() -> ModelProto {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/digits_mlp.onnx");
    tract_onnx::onnx()
        .proto_model_for_path(path)
        .expect("models/digits_mlp.onnx")
}

fn convert(proto: &ModelProto, shapes: &[InputShape]) -> Result<(), ConvertError> {
    let model = load::parse_proto(proto, None)?;
    let typed = load::typed_model(model, shapes)?;
    lower::lower(&typed, "test", &Default::default(), &mut |_, _| {}).map(|_| ())
}

/// The MLP with a symbolic batch dimension `N`.
fn symbolic() -> ModelProto {
    let mut proto = digits_mlp();
    let graph = proto.graph.as_mut().expect("graph");
    for io in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        let Some(Type::TensorType(t)) = io.r#type.as_mut().and_then(|t| t.value.as_mut()) else {
            panic!("tensor type");
        };
        t.shape.as_mut().expect("shape").dim[0].value = Some(Dim::DimParam("N".into()));
    }
    proto
}

#[test]
fn symbolic_input_asks_for_a_shape() {
    let e = convert(&symbolic(), &[]).expect_err("symbolic");
    let message = e.to_string();
    assert!(matches!(e, ConvertError::SymbolicInput { .. }), "{message}");
    assert!(message.contains("--input-shape x="), "{message}");
    let shape: InputShape = "x=1x64".parse().expect("parses");
    convert(&symbolic(), &[shape]).expect("converts with the shape given");
}

#[test]
fn bad_input_shapes_are_rejected() {
    for spec in ["x=1x0", "x=1xq", "=1x64"] {
        assert!(spec.parse::<InputShape>().is_err(), "{spec}");
    }
    let wrong: InputShape = "y=1x64".parse().expect("parses");
    let e = convert(&digits_mlp(), &[wrong]).expect_err("no input y");
    assert!(e.to_string().contains("inputs are: x"), "{e}");
    assert!(e.to_string().contains("`y=1x64`"), "{e}");
}

#[test]
fn a_second_input_of_the_wrong_shape_is_named() {
    let mut proto = digits_mlp();
    let graph = proto.graph.as_mut().expect("graph");
    // Make the first weight a graph input instead of an initializer, with
    // the first input's shape, which does not fit the product.
    let w1 = graph.initializer.remove(0);
    let mut input = graph.input[0].clone();
    input.name = w1.name.clone();
    graph.input.push(input);
    let e = convert(&proto, &[]).expect_err("a weight of the input's shape");
    assert!(matches!(e, ConvertError::Tract { .. }), "{e}");
}

#[test]
fn every_unsupported_node_is_listed() {
    let mut proto = digits_mlp();
    let graph = proto.graph.as_mut().expect("graph");
    for node in &mut graph.node {
        if node.op_type == "Relu" {
            node.op_type = "Floor".into();
        }
        if node.op_type == "Softmax" {
            node.op_type = "Round".into();
            node.attribute.clear();
        }
    }
    let e = convert(&proto, &[]).expect_err("unsupported");
    let ConvertError::Unsupported(nodes) = &e else {
        panic!("{e}");
    };
    assert_eq!(nodes.0.len(), 2, "{e}");
    let message = e.to_string();
    assert!(
        message.contains("Floor") && message.contains("Round"),
        "{message}"
    );
    assert!(message.contains("supported tract ops: EinSum"), "{message}");
}

#[test]
fn an_output_nothing_produces_is_named() {
    let mut proto = digits_mlp();
    proto.graph.as_mut().expect("graph").output[0].name = "prob".into();
    let e = convert(&proto, &[]).expect_err("undefined output");
    let message = e.to_string();
    assert!(
        message.contains("graph output `prob` is produced by no node"),
        "{message}"
    );
}

#[test]
fn one_of_several_outputs_is_selected_by_name() {
    let mut proto = digits_mlp();
    let graph = proto.graph.as_mut().expect("graph");
    let hidden = graph.node[0].output[0].clone();
    let mut second = graph.output[0].clone();
    second.name.clone_from(&hidden);
    second.r#type = None;
    graph.output.push(second);
    let bytes = proto.encode_to_vec();
    let with = |output: Option<&str>| Inputs {
        output: output.map(str::to_owned),
        ..Inputs::default()
    };
    let convert = |inputs: &Inputs| convert_bytes(&bytes, None, "two", inputs, &mut |_, _| {});
    // Both outputs, packed one after the other and named by the ports.
    let both = convert(&with(None)).expect("two outputs");
    let names: Vec<String> = both
        .model
        .output_ports()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&hidden), "{names:?}");
    let e = convert(&with(Some("nope"))).expect_err("no such output");
    assert!(matches!(e, ConvertError::Output { .. }), "{e}");
    assert!(e.to_string().contains(&hidden), "{e}");
    // The 64-32-10 MLP's first layer, not its ten scores.
    let first = convert(&with(Some(&hidden))).expect("the hidden layer");
    assert_eq!(first.model.tensors[first.model.output].shape, [1, 32]);
}
