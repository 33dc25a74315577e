//! Transformers as `torch.onnx.export` writes them: the tiny GPT-2 exports
//! of `models/transformers` (see its README) convert, give torch's logits
//! on the native engine, and the VM gives the native engine's bits.

use std::path::{Path, PathBuf};

use verdict_converter::tensor_io::read_input;
use verdict_converter::{InputShape, Inputs, convert_file};
use verdict_dnn::engine::Compiled;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/transformers")
}

/// Converts `gpt2_tiny_{name}.onnx` (its input [1, 16] token ids), runs it
/// on both engines and compares with torch's logits.
fn check_export(name: &str) {
    let dir = dir();
    let model = dir.join(format!("gpt2_tiny_{name}.onnx"));
    let inputs = Inputs::from(vec![InputShape {
        name: Some("input_ids".into()),
        dims: vec![1, 16],
    }]);
    let converted =
        convert_file(&model, &inputs, &mut |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ids = read_input(
        &dir.join(format!("gpt2_tiny_{name}.input_ids.npy")),
        &[1, 16],
    )
    .unwrap();
    let want = read_input(
        &dir.join(format!("gpt2_tiny_{name}.logits.npy")),
        &[1, 16, 1000],
    )
    .unwrap();
    let compiled = Compiled::new(converted.model).unwrap();
    let native = compiled.run_native(&ids).unwrap().output();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let error = native
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{name}: max |native - torch| = {error:e} (logits up to {scale})");
    assert!(error <= 1e-4 * scale, "{name}: off torch by {error}");
    let vm = compiled.run_vm(&ids).unwrap().output;
    assert!(
        vm.iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits())),
        "{name}: the VM and the native engine differ"
    );
}

/// The default export: scaled-dot-product attention, whose softmax output
/// goes through `Where(IsNaN(p), 0, p)`.
#[test]
fn gpt2_sdpa_export_matches_torch() {
    check_export("sdpa");
}

/// The eager-attention export.
#[test]
fn gpt2_eager_export_matches_torch() {
    check_export("eager");
}
