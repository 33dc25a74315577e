//! Transformers as `torch.onnx.export` writes them: the tiny GPT-2 exports
//! of `models/transformers` (see its README) with fixed and dynamic
//! sequence lengths convert, give torch's logits on the native engine, and
//! the VM gives the native engine's bits.

use std::path::{Path, PathBuf};

use verdict_converter::tensor_io::read_input;
use verdict_converter::{InputShape, Inputs, convert_file};
use verdict_dnn::engine::Compiled;

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
    let file = |what: &str, shape: &[usize]| {
        read_input(&dir.join(format!("gpt2_tiny_{name}.{what}.npy")), shape).unwrap()
    };
    let ids = file("input_ids", &[1, 16])[..len].to_vec();
    let want = file("logits", &[1, 16, 1000])[..len * 1000].to_vec();
    let compiled = Compiled::new(converted.model).unwrap();
    let native = compiled.run_native(&ids).unwrap().output();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let error = native
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{name}, {len} tokens: max |native - torch| = {error:e} (logits up to {scale})");
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
