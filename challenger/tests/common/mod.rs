//! Support shared by the agents' test binaries; each uses a part of it.
#![allow(dead_code)]

pub(crate) mod node;
pub(crate) mod proxy;

use std::path::Path;
use std::sync::Arc;

use verdict_challenger::model::ModelInfo;
use verdict_converter::Preprocess;
use verdict_converter::generate::{Generate, convert_generation};
use verdict_dnn::ir::Model;
use verdict_dnn::ops::decode::Encoding;
use verdict_dnn::package::Package;
use verdict_dnn::schema::{PartSchema, Schema};

/// The digits model's class labels.
pub(crate) const DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// The digits `model` with a schema: its input in [0, 1], its output's
/// classes [`DIGITS`].
pub(crate) fn labelled(mut model: Model) -> Model {
    model.schema = Some(Schema {
        inputs: vec![PartSchema {
            name: model.input_ports()[0].name.clone(),
            range: Some([0.0, 1.0]),
            ..PartSchema::default()
        }],
        outputs: vec![PartSchema {
            name: model.output_ports()[0].name.clone(),
            labels: DIGITS.iter().map(|w| (*w).to_owned()).collect(),
            ..PartSchema::default()
        }],
    });
    model
}

/// The index of the largest of `values`, the first among equals.
pub(crate) fn best(values: &[f32]) -> usize {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]).then(b.cmp(&a)))
        .unwrap()
}

/// The tiny GPT-2 decoder of `models/transformers` unrolled into a
/// generation package as `generate` says, its ids posted as u16.
pub(crate) fn tiny_gpt2(generate: &Generate) -> Package {
    let onnx =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/transformers/gpt2_tiny_past.onnx");
    let preprocess = Preprocess {
        encoding: Some(Encoding::U16),
        ..Preprocess::default()
    };
    let bytes = std::fs::read(onnx).unwrap();
    let model =
        convert_generation(&bytes, None, "gpt2", generate, &preprocess, &mut |_, _| {}).unwrap();
    Package::build(model).unwrap()
}

/// `real` with one weight changed, claiming `real`'s package hash: what
/// anyone can register, since the registry cannot check a package hash.
pub(crate) fn spoofed(real: &ModelInfo) -> Arc<ModelInfo> {
    let mut model = real.compiled.model.clone();
    let weights = model
        .tensors
        .iter_mut()
        .find_map(|t| t.data.as_mut())
        .expect("the model has weights");
    weights[0] += 1.0;
    let mut info = ModelInfo::new(Package::build(model).unwrap());
    info.package_hash = real.package_hash;
    Arc::new(info)
}
