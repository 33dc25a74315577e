//! The committed digits models (scripts/models/train_digits.py): converted,
//! run on both engines, and compared with tract, with the numpy model's
//! predictions recorded by the training script, and with the labels.

use std::path::PathBuf;

use verdict_converter::check::{Diff, run_tract};
use verdict_converter::{InputShape, convert_file};
use verdict_dnn::engine::Compiled;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len())
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .unwrap_or(0)
}

fn check(file: &str, shape: &[usize]) {
    let samples: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(models().join("samples.json")).expect("samples.json"),
    )
    .expect("samples.json parses");
    let stem = file.trim_end_matches(".onnx");
    let predicted: Vec<u64> = samples["predictions"][stem]
        .as_array()
        .expect("predictions")
        .iter()
        .map(|p| p.as_u64().expect("class"))
        .collect();
    let samples = samples["samples"].as_array().expect("samples");
    let spec = InputShape {
        name: None,
        dims: shape.to_vec(),
    };
    let converted =
        convert_file(&models().join(file), &vec![spec].into(), &mut |_, _| {}).expect("converts");
    let tract = converted.tract.clone();
    let compiled = Compiled::new(converted.model).expect("compiles");
    let mut correct = 0;
    for (s, &numpy) in samples.iter().zip(&predicted) {
        let x: Vec<f32> = s["input"]
            .as_array()
            .expect("input")
            .iter()
            .map(|v| v.as_f64().expect("number") as f32)
            .collect();
        let label = s["label"].as_u64().expect("label") as usize;
        let native = compiled.run_native(&x).expect("native run").output();
        let vm = compiled.run_vm(&x).expect("VM run").output;
        assert!(
            vm.iter()
                .map(|v| v.to_bits())
                .eq(native.iter().map(|v| v.to_bits())),
            "{file}: VM and native differ"
        );
        let want = run_tract(&tract, shape, &x).expect("tract runs");
        assert!(
            Diff::within(&native, &want, 1e-4, 1e-6),
            "{file}: tract differs: {:?}",
            Diff::of(&native, &want)
        );
        assert_eq!(
            argmax(&native),
            argmax(&want),
            "{file}: tract predicts otherwise"
        );
        assert_eq!(
            argmax(&native),
            numpy as usize,
            "{file}: the trained model predicts otherwise"
        );
        correct += usize::from(argmax(&native) == label);
    }
    assert!(
        correct * 4 >= samples.len() * 3,
        "{file}: {correct} of {} samples right",
        samples.len()
    );
}

#[test]
fn digits_mlp() {
    check("digits_mlp.onnx", &[1, 64]);
}

#[test]
fn digits_cnn() {
    check("digits_cnn.onnx", &[1, 1, 8, 8]);
}
