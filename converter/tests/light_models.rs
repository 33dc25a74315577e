//! The "light" real models of the onnx wheel (ResNet50, SqueezeNet, ...,
//! with constant weights): converted, run natively, and compared with
//! tract and with the expected output the wheel ships. SqueezeNet,
//! ShuffleNet and Inception v1 run by default; the heavy ones when
//! `VERDICT_LIGHT_MODELS=1`.
//! Each model's conversion time and both run times are printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tract_onnx::prelude::IntoRunnable;
use verdict_converter::check::{Diff, run_plan};
use verdict_converter::tensor_io::read_pb;
use verdict_converter::{InputShape, convert_file};
use verdict_dnn::engine::Compiled;

/// Models quick enough for every test run.
const QUICK: &[&str] = &["light_squeezenet", "light_shufflenet", "light_inception_v1"];

/// Models that convert and must keep matching, run on request.
const HEAVY: &[&str] = &[
    "light_bvlc_alexnet",
    "light_densenet121",
    "light_inception_v2",
    "light_resnet50",
    "light_vgg19",
    "light_zfnet512",
];

const SHAPE: [usize; 4] = [1, 3, 224, 224];

/// The light model folder, next to the node tests.
fn light_dir() -> Option<PathBuf> {
    let node = std::env::var_os("VERDICT_ONNX_NODE_DATA");
    match node {
        Some(node) => Some(PathBuf::from(node).join("../light")),
        None if std::env::var("VERDICT_SKIP_ONNX").as_deref() == Ok("1") => None,
        None => panic!(
            "VERDICT_ONNX_NODE_DATA is not set: run scripts/test (or set VERDICT_SKIP_ONNX=1)"
        ),
    }
}

fn check(dir: &Path, name: &str) {
    let x: Vec<f32> = (0..SHAPE.iter().product::<usize>())
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5)
        .collect();
    let spec = InputShape {
        name: None,
        dims: SHAPE.to_vec(),
    };
    let start = Instant::now();
    let converted = convert_file(
        &dir.join(format!("{name}.onnx")),
        &vec![spec].into(),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let lowered = start.elapsed().as_secs_f64();
    let compiled = Compiled::new(converted.model).expect("compiles");
    let convert_s = start.elapsed().as_secs_f64();
    let plan = converted
        .tract
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .expect("tract plan");
    let t = Instant::now();
    let want = run_plan(&plan, &[(&SHAPE, &x)]).expect("tract runs");
    let tract_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let got = compiled.run_native(&x).expect("native runs").output();
    let native_s = t.elapsed().as_secs_f64();
    let diff = Diff::of(&got, &want);
    eprintln!(
        "{name}: lowered in {lowered:.2} s, compiled by {convert_s:.2} s; \
         tract {tract_s:.3} s, native {native_s:.3} s; vs tract {diff:?}"
    );
    assert!(Diff::within(&got, &want, 1e-3, 1e-5), "{name}: {diff:?}");
    let expected = read_pb(&dir.join(format!("{name}_output_0.pb"))).expect("expected output");
    assert!(
        Diff::within(&got, &expected.data, 1e-3, 1e-5),
        "{name} vs its expected output: {:?}",
        Diff::of(&got, &expected.data)
    );
}

#[test]
fn quick_light_models_match() {
    let Some(dir) = light_dir() else { return };
    for name in QUICK {
        check(&dir, name);
    }
}

#[test]
fn heavy_light_models_match() {
    let Some(dir) = light_dir() else { return };
    if std::env::var("VERDICT_LIGHT_MODELS").as_deref() != Ok("1") {
        eprintln!("heavy light models skipped: set VERDICT_LIGHT_MODELS=1 to run them");
        return;
    }
    for name in HEAVY {
        check(&dir, name);
    }
}
