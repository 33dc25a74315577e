//! The `verdict` binary against an embedded devnet: deploy, register, submit,
//! status, with settings from the environment and the key never on the
//! command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use verdict_challenger::devnet::{Devnet, DevnetConfig};

fn verdict(dir: &Path, url: &str, key: Option<String>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verdict"));
    cmd.args(args)
        .env("VERDICT_RPC_URL", url)
        .env("VERDICT_DEPLOYMENT", dir.join("deployment.json"))
        .env("VERDICT_DATA_DIR", dir.join("data"))
        .env_remove("VERDICT_KEYSTORE")
        .env_remove("VERDICT_CONFIG");
    match key {
        Some(k) => cmd.env("VERDICT_PRIVATE_KEY", k),
        None => cmd.env_remove("VERDICT_PRIVATE_KEY"),
    };
    cmd.output().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "verdict failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verdict-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_register_submit_and_status() {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let url = devnet.url();
    let key = Some(devnet.accounts()[1].private_key.to_string());
    let dir = scratch();

    let missing = verdict(&dir, &url, None, &["deploy"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("VERDICT_PRIVATE_KEY"),
        "a missing key is named"
    );

    let deployed = json(&verdict(&dir, &url, key.clone(), &["deploy", "--json"]));
    assert!(deployed["manager"].as_str().unwrap().starts_with("0x"));
    assert!(dir.join("deployment.json").is_file());

    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let (model, inputs) = verdict_challenger::demo::bundled(&models).unwrap();
    let package = dir.join("digits.dnn");
    std::fs::write(&package, model_bytes(&models)).unwrap();
    let registered = json(&verdict(
        &dir,
        &url,
        key.clone(),
        &["model", "register", package.to_str().unwrap(), "--json"],
    ));
    assert_eq!(
        registered["model_id"].as_str().unwrap(),
        model.model_id().to_string()
    );

    let input = dir.join("x.json");
    std::fs::write(&input, serde_json::to_vec(&inputs[0]).unwrap()).unwrap();
    let args = [
        "claim",
        "submit",
        "--model",
        package.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--no-defend",
        "--json",
    ];
    let submitted = json(&verdict(&dir, &url, key.clone(), &args));
    assert_eq!(submitted["claim_id"], 1);
    assert_eq!(submitted["output"].as_array().unwrap().len(), 10);

    let status = json(&verdict(
        &dir,
        &url,
        None,
        &["claim", "status", "1", "--json"],
    ));
    assert_eq!(status["status"], "Pending");
    assert_eq!(status["open_games"], 0);

    let bad = verdict(
        &dir,
        &url,
        None,
        &["claim", "status", "1", "--rpc-url", "not a url"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a url"));
}

/// The bundled digits MLP as `.dnn` package bytes.
fn model_bytes(models: &Path) -> Vec<u8> {
    let onnx = models.join("digits_mlp.onnx");
    let converted = verdict_converter::convert_file(
        &onnx,
        &verdict_converter::Inputs::default(),
        &mut |_, _| {},
    )
    .unwrap();
    verdict_dnn::package::Package::build(converted.model)
        .unwrap()
        .to_bytes()
}
