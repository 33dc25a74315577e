//! The `dnnc` command line: convert, inspect, run and check a demo model,
//! and clear errors for bad input.

use std::path::PathBuf;
use std::process::Command;

fn dnnc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dnnc"))
        .args(args)
        .output()
        .expect("dnnc runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn convert_inspect_run_check() {
    let dir = std::env::temp_dir().join(format!("dnnc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let onnx = root().join("models/digits_cnn.onnx");
    let (pkg, input, out) = (dir.join("cnn.dnn"), dir.join("x.json"), dir.join("y.npy"));
    let x: Vec<f32> = (0..64).map(|i| (i % 7) as f32 / 7.0).collect();
    std::fs::write(&input, serde_json::to_string(&x).expect("json")).expect("write input");
    let s = |p: &PathBuf| p.display().to_string();

    let o = dnnc(&["convert", &s(&onnx), "-o", &s(&pkg), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("convert --json");
    assert!(v["total_steps"].as_u64().expect("steps") > 0);

    let o = dnnc(&["inspect", &s(&pkg), "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    assert_eq!(v["input_shape"], serde_json::json!([1, 1, 8, 8]));
    assert!(v["image_root"].as_str().expect("root").starts_with("0x"));

    for engine in ["native", "vm"] {
        let o = dnnc(&[
            "run",
            &s(&pkg),
            "-i",
            &s(&input),
            "--engine",
            engine,
            "-o",
            &s(&out),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = dnnc(&["check", &s(&onnx), &s(&pkg), "-i", &s(&input), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check --json");
    assert_eq!(v["vm_equals_native"], true);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors_name_the_problem() {
    let o = dnnc(&["convert", "/nonexistent/model.onnx", "-o", "/tmp/x.dnn"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/model.onnx"));

    let o = dnnc(&[
        "inspect",
        &root().join("models/samples.json").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad magic"));
}
