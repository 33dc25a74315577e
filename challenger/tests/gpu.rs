//! The agents computing claims on the GPU engine (PoCL where there is no
//! GPU): the same boundary states as the native engine, and the same demo.

#![cfg(feature = "gpu")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use verdict_challenger::demo::{self, DemoConfig};
use verdict_devnet::{Devnet, DevnetConfig};
use verdict_dnn::gpu::DeviceChoice;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_with_gpu_traces() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let (native, inputs) = demo::bundled(&models).unwrap();
    let (gpu, _) = demo::bundled(&models).unwrap();
    let mut gpu = Arc::try_unwrap(gpu).unwrap();
    gpu.use_gpu(DeviceChoice::Default).unwrap_or_else(|e| {
        panic!("the GPU tests need an OpenCL device (scripts/test installs PoCL): {e}")
    });
    for input in &inputs {
        let a = native.boundaries(input).unwrap();
        let b = gpu.boundaries(input).unwrap();
        assert_eq!(a.hashes(), b.hashes());
        assert_eq!(a.final_hash(), b.final_hash());
    }

    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let keys: Vec<_> = devnet.accounts()[..5]
        .iter()
        .map(|a| a.signer().unwrap())
        .collect();
    let dir = std::env::temp_dir().join(format!("verdict-gpu-demo-{}", std::process::id()));
    let config = DemoConfig {
        rpc_url: devnet.url(),
        keys: keys.try_into().unwrap(),
        model: Arc::new(gpu),
        inputs,
        fraud_at: demo::FraudAt::LastStep,
        prelude: vec![],
        data_dir: dir,
        phase_timeout: Duration::from_secs(120),
    };
    let report = demo::run(config, &|line| eprintln!("{line}"))
        .await
        .unwrap();
    assert!(report.ok, "demo failures: {:?}", report.failures);
}
