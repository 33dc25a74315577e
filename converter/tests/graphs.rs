//! Small hand-built ONNX graphs for the lowering paths the single-input
//! node tests do not reach: batched and transposed products, Einsum with a
//! constant operand, Clip, Expand, Gather of an integer input, RmsNorm. Each is checked against tract, and the
//! VM against the native engine bit for bit.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::Dimension;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as Type};
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::Framework;
use verdict_converter::check::{Diff, run_tract};
use verdict_converter::{load, lower};
use verdict_dnn::engine::Compiled;

fn node(op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec!["y".into()],
        attribute: attributes,
        ..NodeProto::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..AttributeProto::default()
    }
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..AttributeProto::default()
    }
}

fn floats(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: (0..n)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0)
            .collect(),
        ..TensorProto::default()
    }
}

fn int64s(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..TensorProto::default()
    }
}

/// A model computing `nodes` (the last one writes `y`) on input `x`.
fn model(shape: &[i64], mut nodes: Vec<NodeProto>, initializer: Vec<TensorProto>) -> ModelProto {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/digits_mlp.onnx");
    let mut proto = tract_onnx::onnx()
        .proto_model_for_path(path)
        .expect("template model");
    let graph = proto.graph.as_mut().expect("graph");
    let n = nodes.len();
    for (i, node) in nodes.iter_mut().enumerate().take(n - 1) {
        node.output = vec![format!("t{i}")];
    }
    graph.node = nodes;
    graph.initializer = initializer;
    graph.output[0].name = "y".into();
    graph.output[0].r#type = None;
    input_type(&mut proto).shape.as_mut().expect("shape").dim = shape
        .iter()
        .map(|&d| Dimension {
            value: Some(Dim::DimValue(d)),
            ..Dimension::default()
        })
        .collect();
    proto
}

/// Converts and checks the model; returns its verdict op names.
fn check(proto: &ModelProto, shape: &[usize]) -> Vec<&'static str> {
    let inference = load::parse_proto(proto, None).expect("parses");
    let typed = load::typed_model(inference, &[]).expect("types");
    let model = lower::lower(&typed, "graph", &Default::default(), &mut |_, _| {}).expect("lowers");
    let ops = model.nodes.iter().map(|n| n.op.name()).collect();
    let compiled = Compiled::new(model).expect("compiles");
    let x: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 4.0)
        .collect();
    let native = compiled.run_native(&x).expect("native").output();
    let vm = compiled.run_vm(&x).expect("VM").output;
    assert!(
        vm.iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits()))
    );
    let want = run_tract(&typed, shape, &x).expect("tract");
    assert!(
        Diff::within(&native, &want, 1e-5, 1e-6),
        "{:?}",
        Diff::of(&native, &want)
    );
    ops
}

fn count(ops: &[&str], op: &str) -> usize {
    ops.iter().filter(|&&o| o == op).count()
}

/// One batched Gemm, not a Gemm and two slices per batch item.
#[test]
fn batched_matmul_with_a_constant() {
    let m = model(
        &[2, 3, 4],
        vec![node("MatMul", &["x", "w"], vec![])],
        vec![floats("w", &[2, 4, 5])],
    );
    let ops = check(&m, &[2, 3, 4]);
    assert_eq!(
        (count(&ops, "Gemm"), count(&ops, "Slice")),
        (1, 0),
        "{ops:?}"
    );
}

#[test]
fn batched_matmul_of_the_input_with_itself() {
    let nodes = vec![
        node("Transpose", &["x"], vec![ints("perm", &[0, 2, 1])]),
        node("MatMul", &["x", "t0"], vec![]),
    ];
    let ops = check(&model(&[2, 3, 4], nodes, vec![]), &[2, 3, 4]);
    assert_eq!(
        (count(&ops, "Gemm"), count(&ops, "Slice")),
        (1, 0),
        "{ops:?}"
    );
}

#[test]
fn einsum_with_a_transposed_constant() {
    let nodes = vec![node(
        "Einsum",
        &["x", "w"],
        vec![string("equation", "bij,kj->kbi")],
    )];
    check(
        &model(&[2, 3, 4], nodes, vec![floats("w", &[5, 4])]),
        &[2, 3, 4],
    );
}

#[test]
fn clip_and_expand() {
    let lo = TensorProto {
        dims: vec![],
        float_data: vec![-0.5],
        ..floats("lo", &[])
    };
    let hi = TensorProto {
        dims: vec![],
        float_data: vec![0.75],
        ..floats("hi", &[])
    };
    let nodes = vec![
        node("Clip", &["x", "lo", "hi"], vec![]),
        node("Expand", &["t0", "shape"], vec![]),
    ];
    let m = model(&[3, 1], nodes, vec![lo, hi, int64s("shape", &[2, 3, 4])]);
    let ops = check(&m, &[3, 1]);
    assert!(
        count(&ops, "Concat") >= 2 && count(&ops, "Min") == 1,
        "{ops:?}"
    );
}

/// `model` with an int64 input.
fn integer_input(mut proto: ModelProto) -> ModelProto {
    input_type(&mut proto).elem_type = DataType::Int64 as i32;
    proto
}

/// The type of the model's input.
fn input_type(proto: &mut ModelProto) -> &mut TensorType {
    let graph = proto.graph.as_mut().expect("graph");
    let Some(Type::TensorType(t)) = graph.input[0]
        .r#type
        .as_mut()
        .and_then(|t| t.value.as_mut())
    else {
        panic!("tensor input");
    };
    t
}

#[test]
fn embedding_lookup_of_integer_input() {
    // Token ids in, rows of a [10, 6] table out; negative ids count from
    // the end. Bit-exact with tract: a gather only copies.
    let nodes = vec![node("Gather", &["w", "x"], vec![])];
    let m = integer_input(model(&[2, 3], nodes, vec![floats("w", &[10, 6])]));
    let inference = load::parse_proto(&m, None).expect("parses");
    let typed = load::typed_model(inference, &[]).expect("types");
    let model = lower::lower(&typed, "graph", &Default::default(), &mut |_, _| {}).expect("lowers");
    assert_eq!(
        model.nodes.iter().map(|n| n.op.name()).collect::<Vec<_>>(),
        ["Gather"]
    );
    let compiled = Compiled::new(model).expect("compiles");
    let ids = [3.0f32, -1.0, 0.0, 9.0, -10.0, 4.0];
    let native = compiled.run_native(&ids).expect("native").output();
    let vm = compiled.run_vm(&ids).expect("VM").output;
    assert_eq!(native, vm);
    let want = run_tract(&typed, &[2, 3], &ids).expect("tract");
    assert!(
        native
            .iter()
            .map(|v| v.to_bits())
            .eq(want.iter().map(|v| v.to_bits()))
    );
}

#[test]
fn gather_with_constant_indices_and_rms_normalization() {
    let axis = |v: i64| AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..AttributeProto::default()
    };
    let nodes = vec![
        node("Gather", &["x", "idx"], vec![axis(1)]),
        node("RMSNormalization", &["t0", "scale"], vec![axis(-1)]),
    ];
    let initializer = vec![int64s("idx", &[2, 0, -1, 2]), floats("scale", &[5])];
    let mut m = model(&[3, 4, 5], nodes, initializer);
    m.opset_import[0].version = 23;
    let ops = check(&m, &[3, 4, 5]);
    assert_eq!(count(&ops, "Gather"), 1, "{ops:?}");
    assert_eq!(count(&ops, "RmsNorm"), 1, "{ops:?}");
}

#[test]
fn layer_normalization_is_one_op_with_a_broadcast_scale() {
    let axis = AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Int as i32,
        i: 1,
        ..AttributeProto::default()
    };
    // The optional mean output is named but read by nothing.
    let mut layer_norm = node("LayerNormalization", &["x", "scale", "bias"], vec![axis]);
    layer_norm.output.push("mean".into());
    let nodes = vec![layer_norm];
    let initializer = vec![floats("scale", &[4, 1]), floats("bias", &[5])];
    let mut m = model(&[3, 4, 5], nodes, initializer);
    m.opset_import[0].version = 17;
    let ops = check(&m, &[3, 4, 5]);
    assert_eq!(ops, ["LayerNormalization"]);
}

#[test]
fn pointwise_convolutions_stay_convolutions() {
    // tract turns a 1x1 Conv into an einsum; verdict keeps it a Conv, with
    // no transpose on either side, batched or not.
    let nodes = vec![
        node("Conv", &["x", "w"], vec![]),
        node("Relu", &["t0"], vec![]),
        node("Conv", &["t1", "v"], vec![]),
    ];
    let m = model(
        &[1, 4, 5, 6],
        nodes,
        vec![floats("w", &[8, 4, 1, 1]), floats("v", &[3, 8, 1, 1])],
    );
    let ops = check(&m, &[1, 4, 5, 6]);
    assert_eq!(count(&ops, "Conv"), 2, "{ops:?}");
    assert_eq!(count(&ops, "Transpose") + count(&ops, "Gemm"), 0, "{ops:?}");
}

#[test]
fn batch_normalization_folds_into_the_convolution_before_it() {
    // tract leaves an inference BatchNormalization as a per-channel Mul and
    // Add; both fold into the Conv before them, 3x3 or 1x1, with a bias or
    // without, and a Relu after them fuses into it.
    let positive = |name: &str| TensorProto {
        float_data: vec![0.5, 1.5, 2.0],
        ..floats(name, &[3])
    };
    let nodes = vec![
        node("Conv", &["x", "w", "b"], vec![ints("pads", &[1, 1, 1, 1])]),
        node(
            "BatchNormalization",
            &["t0", "g", "beta", "mean", "var"],
            vec![],
        ),
        node("Relu", &["t1"], vec![]),
        node("Conv", &["t2", "v"], vec![]),
        node(
            "BatchNormalization",
            &["t3", "g", "beta", "mean", "var"],
            vec![],
        ),
    ];
    let initializer = vec![
        floats("w", &[3, 2, 3, 3]),
        floats("b", &[3]),
        floats("v", &[3, 3, 1, 1]),
        floats("g", &[3]),
        floats("beta", &[3]),
        floats("mean", &[3]),
        positive("var"),
    ];
    let ops = check(&model(&[1, 2, 5, 5], nodes, initializer), &[1, 2, 5, 5]);
    // The Relu after the first is fused into it too.
    assert_eq!(ops, ["Conv", "Conv"]);
}

/// A dynamic export: the input is `[1, seq]`, and the exporter's shapes of
/// inner values (value_info) name `seq` too. Given `--input-shape 1x5`,
/// `seq` is 5 everywhere, where tract alone fails to unify `seq` with 5.
#[test]
fn symbolic_dimension_takes_the_given_size_throughout() {
    let symbolic = |names: &[&str]| {
        names
            .iter()
            .map(|&n| Dimension {
                value: Some(if n == "1" {
                    Dim::DimValue(1)
                } else {
                    Dim::DimParam(n.into())
                }),
                ..Dimension::default()
            })
            .collect::<Vec<_>>()
    };
    let nodes = vec![
        node("Reshape", &["x", "flat"], vec![]),
        node("Mul", &["t0", "t0"], vec![]),
    ];
    let mut m = model(&[1, 5], nodes, vec![int64s("flat", &[-1])]);
    input_type(&mut m).shape.as_mut().expect("shape").dim = symbolic(&["1", "seq"]);
    let graph = m.graph.as_mut().expect("graph");
    let mut inner = graph.input[0].clone();
    inner.name = "t0".into();
    if let Some(Type::TensorType(t)) = inner.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        t.shape.as_mut().expect("shape").dim = symbolic(&["seq"]);
    }
    graph.value_info.push(inner);
    let shape = load::InputShape {
        name: None,
        dims: vec![1, 5],
    };
    let inference = load::parse_proto(&m, None).expect("parses");
    let typed = load::typed_model(inference, &[shape]).expect("types with seq = 5");
    let model = lower::lower(&typed, "graph", &Default::default(), &mut |_, _| {}).expect("lowers");
    assert_eq!(model.tensors[model.output].shape, [5]);
    let compiled = Compiled::new(model).expect("compiles");
    let x = [1.0f32, -2.0, 3.0, 0.5, 4.0];
    let native = compiled.run_native(&x).expect("native").output();
    assert_eq!(native, [1.0, 4.0, 9.0, 0.25, 16.0]);
}

/// Masked attention as EZKL-style exports write it: `Where` with a constant
/// boolean mask picks the scores or a large negative fill, and a comparison
/// of the input feeds another `Where`.
#[test]
fn where_with_a_constant_mask_and_a_computed_condition() {
    let mask = TensorProto {
        name: "mask".into(),
        dims: vec![4, 4],
        data_type: DataType::Bool as i32,
        int32_data: (0..16).map(|i| i32::from(i % 4 <= i / 4)).collect(),
        ..TensorProto::default()
    };
    let nodes = vec![
        node("Where", &["mask", "x", "fill"], vec![]),
        node("Less", &["t0", "zero"], vec![]),
        node("Where", &["t1", "zero", "t0"], vec![]),
    ];
    let fill = TensorProto {
        float_data: vec![-1e9],
        dims: vec![],
        ..floats("fill", &[])
    };
    let zero = TensorProto {
        float_data: vec![0.0],
        dims: vec![],
        ..floats("zero", &[])
    };
    let ops = check(&model(&[4, 4], nodes, vec![mask, fill, zero]), &[4, 4]);
    assert_eq!(ops, ["Where", "Less", "Where"]);
}

/// GELU's `x³` (and any power 2, 3 or 4 by a constant) is multiplications,
/// not the general `pow` recipe; another exponent stays a Pow.
#[test]
fn small_integer_powers_are_multiplications() {
    let exponent = |e: f32| TensorProto {
        float_data: vec![e],
        dims: vec![],
        ..floats("e", &[])
    };
    let cube = model(
        &[2, 3],
        vec![node("Pow", &["x", "e"], vec![])],
        vec![exponent(3.0)],
    );
    assert_eq!(check(&cube, &[2, 3]), ["Mul", "Mul"]);
    let root = model(
        &[2, 3],
        vec![node("Pow", &["x", "e"], vec![])],
        vec![exponent(1.5)],
    );
    assert_eq!(check(&root, &[2, 3]), ["Pow"]);
}
