//! Transformers as `torch.onnx.export` writes them: the tiny GPT-2, BERT
//! and Llama exports of `models/transformers` (see its README), GPT-2 with
//! fixed and dynamic sequence lengths and with a KV cache, convert, give
//! torch's outputs on the native engine, and the VM gives the native
//! engine's bits.

use std::path::{Path, PathBuf};

use verdict_converter::tensor_io::{Pixels, read_input};
use verdict_converter::{InputShape, Inputs, convert_file};
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::split;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/transformers")
}

/// Converts `gpt2_tiny_{name}.onnx` for the first `len` of its 16 reference
/// token ids, runs it on both engines and compares with torch's logits for
/// them (the model is causal: a prefix's logits are those of the whole
/// sequence's first positions).
fn check_export(name: &str, len: usize) {
    let dir = dir();
    let model = dir.join(format!("gpt2_tiny_{name}.onnx"));
    let inputs = Inputs::from(vec![InputShape {
        name: Some("input_ids".into()),
        dims: vec![1, len],
    }]);
    let converted =
        convert_file(&model, &inputs, &mut |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    // The LM head reads the token embedding's table where it is stored:
    // the package holds no more values than the model's 541,184 parameters.
    let stored: usize = converted
        .model
        .tensors
        .iter()
        .filter_map(|t| t.data.as_ref().map(Vec::len))
        .sum();
    assert!(stored <= 541_184, "{name}: {stored} values stored");
    let file = |what: &str, shape: &[usize]| {
        read_input(
            &dir.join(format!("gpt2_tiny_{name}.{what}.npy")),
            shape,
            Pixels::Unit,
        )
        .unwrap()
    };
    let ids = file("input_ids", &[1, 16])[..len].to_vec();
    let want = file("logits", &[1, 16, 1000])[..len * 1000].to_vec();
    let compiled = Compiled::new(converted.model).unwrap();
    let native = compiled.run_native(&ids).unwrap().output();
    assert_near(&format!("{name}, {len} tokens"), &native, &want);
    assert_vm_equals_native(&compiled, &ids, &native);
}

/// `got` within 1e-4 of `want`'s largest magnitude, element by element.
fn assert_near(what: &str, got: &[f32], want: &[f32]) {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let error = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{what}: max |native - torch| = {error:e} (values up to {scale})");
    assert!(error <= 1e-4 * scale, "{what}: off torch by {error}");
}

/// The VM's output on `x` is the native engine's, bit for bit.
fn assert_vm_equals_native(compiled: &Compiled, x: &[f32], native: &[f32]) {
    let vm = compiled.run_vm(x).unwrap().output;
    assert!(
        vm.iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits())),
        "the VM and the native engine differ"
    );
}

/// The default export: scaled-dot-product attention, whose softmax output
/// goes through `Where(IsNaN(p), 0, p)`.
#[test]
fn gpt2_sdpa_export_matches_torch() {
    check_export("sdpa", 16);
}

/// The eager-attention export.
#[test]
fn gpt2_eager_export_matches_torch() {
    check_export("eager", 16);
}

/// The export with a dynamic sequence length, at the length given: its
/// positions come from `CumSum` over a cast mask and `Range(0, seq)`, which
/// fold to constants once `seq` has its size.
#[test]
fn gpt2_dynamic_export_matches_torch_at_each_length() {
    for len in [1, 7, 16] {
        check_export("dynamic", len);
    }
}

/// Converts `{name}.onnx` with the input shapes given, feeds each input
/// port from `{name}.{port}.npy`, and compares each output port with torch's
/// `{name}.{port}.npy`; the VM gives the native engine's bits. Returns the
/// output ports' names.
fn check_ports(name: &str, shapes: Vec<InputShape>) -> Vec<String> {
    let dir = dir();
    let model = dir.join(format!("{name}.onnx"));
    let converted = convert_file(&model, &Inputs::from(shapes), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let file = |what: &str, shape: &[usize]| {
        read_input(&dir.join(format!("{name}.{what}.npy")), shape, Pixels::Unit).unwrap()
    };
    let ports = converted.model.input_ports();
    let x: Vec<f32> = ports.iter().flat_map(|p| file(&p.name, &p.shape)).collect();
    let outputs = converted.model.output_ports();
    let compiled = Compiled::new(converted.model).unwrap();
    let native = compiled.run_native(&x).unwrap().output();
    for (port, got) in outputs.iter().zip(split(&outputs, &native)) {
        let want = file(&port.name, &port.shape);
        assert_near(&format!("{name}, {}", port.name), got, &want);
    }
    assert_vm_equals_native(&compiled, &x, &native);
    outputs.iter().map(|p| p.name.clone()).collect()
}

/// An input of the given name and shape.
fn shape(name: &str, dims: &[usize]) -> InputShape {
    InputShape {
        name: Some(name.into()),
        dims: dims.to_vec(),
    }
}

/// One decoder step with a KV cache: five inputs (the new token's id and
/// each layer's past keys and values) packed into the model's one input,
/// five outputs (the logits and each layer's present keys and values)
/// into its one output, each named by the model's ports.
#[test]
fn gpt2_decoder_step_with_past_key_values_matches_torch() {
    let pasts = ["past_key_0", "past_value_0", "past_key_1", "past_value_1"];
    let mut shapes = vec![shape("input_ids", &[1, 1])];
    shapes.extend(pasts.iter().map(|p| shape(p, &[1, 4, 8, 32])));
    let outputs = check_ports("gpt2_tiny_past", shapes);
    assert_eq!(
        outputs,
        [
            "logits",
            "present_key_0",
            "present_value_0",
            "present_key_1",
            "present_value_1"
        ]
    );
}

/// A BERT encoder: three int64 inputs (ids, a padding mask whose last four
/// positions are padding, two token types), exact GELU, and two outputs
/// (the last hidden state and the pooler's tanh over the first position).
/// The mask reaches attention through `GatherND` with constant indices.
#[test]
fn bert_export_matches_torch() {
    let shapes = ["input_ids", "attention_mask", "token_type_ids"]
        .iter()
        .map(|n| shape(n, &[1, 16]))
        .collect();
    let outputs = check_ports("bert_tiny", shapes);
    assert_eq!(outputs, ["last_hidden_state", "pooler_output"]);
}

/// A Llama-style decoder: RMSNorm, rotary embeddings, a SwiGLU MLP and
/// grouped-query attention (four query heads over two key/value heads).
#[test]
fn llama_export_matches_torch() {
    let outputs = check_ports("llama_tiny", vec![shape("input_ids", &[1, 16])]);
    assert_eq!(outputs, ["logits"]);
}
