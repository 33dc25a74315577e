//! The `verdict` binary against an embedded devnet: deploy, register, submit,
//! status, with settings from the environment and the key never on the
//! command line.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use verdict_devnet::{Devnet, DevnetConfig, DevnetHandle};

mod common;

fn verdict(dir: &Path, url: &str, key: Option<String>, args: &[&str]) -> Output {
    command(dir, url, key, args).output().unwrap()
}

/// `verdict args` with its settings from the environment.
fn command(dir: &Path, url: &str, key: Option<String>, args: &[&str]) -> Command {
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
    cmd
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "verdict failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verdict-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// An embedded devnet with the contracts deployed through `verdict deploy`
/// (the deployment file in `dir`) and the digits package written to `dir`;
/// the commands sign with dev account `account`'s key.
struct Deployed {
    devnet: DevnetHandle,
    url: String,
    key: Option<String>,
    dir: PathBuf,
    package: PathBuf,
}

async fn deployed(name: &str, account: usize) -> Deployed {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let url = devnet.url();
    let key = Some(devnet.accounts()[account].private_key.to_string());
    let dir = scratch(name);
    let deployment = json(&verdict(&dir, &url, key.clone(), &["deploy", "--json"]));
    assert!(deployment["manager"].as_str().unwrap().starts_with("0x"));
    assert!(dir.join("deployment.json").is_file());
    let package = dir.join("digits.dnn");
    std::fs::write(&package, model_bytes(&models())).unwrap();
    Deployed {
        devnet,
        url,
        key,
        dir,
        package,
    }
}

impl Deployed {
    /// `verdict model register` of the package, as the fixture's account.
    fn register(&self, extra: &[&str]) -> Output {
        let args = [
            &["model", "register", self.package.to_str().unwrap()],
            extra,
        ]
        .concat();
        verdict(&self.dir, &self.url, self.key.clone(), &args)
    }
}

/// The arguments of `claim submit` of `package` on `input`, then `extra`.
fn claim_submit<'a>(package: &'a Path, input: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let args = [
        "claim",
        "submit",
        "--model",
        package.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    [&args[..], extra].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_register_submit_and_status() {
    let d = deployed("story", 1).await;
    let (url, key, dir, package) = (&d.url, d.key.clone(), &d.dir, &d.package);

    let missing = verdict(dir, url, None, &["deploy"]);
    assert_eq!(missing.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("VERDICT_PRIVATE_KEY"),
        "a missing key is named"
    );

    let (model, inputs) = verdict_challenger::demo::bundled(&models()).unwrap();
    let registered = json(&d.register(&["--json"]));
    assert_eq!(
        registered["model_id"].as_str().unwrap(),
        model.model_id().to_string()
    );

    let input = dir.join("x.json");
    std::fs::write(&input, serde_json::to_vec(&inputs[0]).unwrap()).unwrap();
    let args = claim_submit(package, &input, &["--no-defend", "--json"]);
    let submitted = json(&verdict(dir, url, key.clone(), &args));
    assert_eq!(submitted["claim_id"], 1);
    assert_eq!(submitted["resumed"], false);
    assert_eq!(submitted["output"].as_array().unwrap().len(), 10);

    let status = json(&verdict(
        dir,
        url,
        None,
        &["claim", "status", "1", "--json"],
    ));
    assert_eq!(status["status"], "Pending");
    assert_eq!(status["open_games"], 0);

    // Run again (after a kill, say), it resumes the pending claim, from the
    // record or, with the record lost, from the chain; --new posts another.
    let again = json(&verdict(dir, url, key.clone(), &args));
    assert_eq!(again["claim_id"], 1);
    assert_eq!(again["resumed"], true);
    assert_eq!(again["output"], submitted["output"]);
    assert_eq!(again["final_state_hash"], submitted["final_state_hash"]);
    std::fs::remove_dir_all(dir.join("data")).unwrap();
    let again = json(&verdict(dir, url, key.clone(), &args));
    assert_eq!(again["claim_id"], 1);
    assert_eq!(again["resumed"], true);
    let another = json(&verdict(
        dir,
        url,
        key.clone(),
        &[&args[..], &["--new"]].concat(),
    ));
    assert_eq!(another["claim_id"], 2);
    assert_eq!(another["resumed"], false);
    let no_second = verdict(dir, url, None, &["claim", "status", "3"]);
    assert_eq!(
        no_second.status.code(),
        Some(1),
        "one claim posted per --new"
    );

    let bad = verdict(
        dir,
        url,
        None,
        &["claim", "status", "1", "--rpc-url", "not a url"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a url"));

    // What operators list and look up.
    let info = json(&verdict(
        dir,
        url,
        None,
        &["model", "info", package.to_str().unwrap(), "--json"],
    ));
    assert_eq!(info["model_id"], registered["model_id"]);
    assert_eq!(info["ops"], 4);
    let listed = json(&verdict(dir, url, None, &["claim", "list", "--json"]));
    let ids: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["claim_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [2, 1], "newest first");
    let rejected = json(&verdict(
        dir,
        url,
        None,
        &["claim", "list", "--status", "rejected", "--json"],
    ));
    assert_eq!(rejected, serde_json::json!([]));
    let games = json(&verdict(dir, url, None, &["game", "list", "--json"]));
    assert_eq!(games, serde_json::json!([]));
    let nothing = verdict(dir, url, key.clone(), &["withdraw"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("no credit"));
    let completions = verdict(dir, url, None, &["completions", "bash"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("verdict"));

    // Past the window, anyone may finalize a claim with no game open.
    let chain = verdict_challenger::chain::Chain::connect(
        url,
        alloy::signers::local::PrivateKeySigner::random(),
    )
    .unwrap();
    let deadline = status["challenge_deadline"].as_u64().unwrap();
    chain.advance_past(deadline).await.unwrap();
    let finalized = json(&verdict(
        dir,
        url,
        key.clone(),
        &["claim", "finalize", "1", "--json"],
    ));
    assert_eq!(finalized["claim_id"], 1);
    assert!(finalized["tx"]["hash"].as_str().unwrap().starts_with("0x"));
    let status = json(&verdict(
        dir,
        url,
        None,
        &["claim", "status", "1", "--json"],
    ));
    assert_eq!(status["status"], "Finalized");
    // Its bond is now the submitter's credit.
    let withdrawn = json(&verdict(dir, url, key, &["withdraw", "--json"]));
    assert_eq!(withdrawn["amount"], "1000000000000000000");
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

/// Waits up to 30 s for `child` to exit.
fn wait(child: &mut std::process::Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "verdict did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_stop_cleanly_and_bad_input_is_refused() {
    let d = deployed("signals", 2).await;
    let (url, key, dir, package) = (&d.url, d.key.clone(), &d.dir, &d.package);

    // A package whose program is not its model's is refused by name.
    let mut bad = verdict_dnn::package::Package::from_bytes(&model_bytes(&models())).unwrap();
    bad.program.boundaries[1] += 1;
    let bad_path = dir.join("bad.dnn");
    bad.save(&bad_path).unwrap();
    let refused = verdict(
        dir,
        url,
        key.clone(),
        &["model", "register", bad_path.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.dnn"), "{stderr}");
    assert!(stderr.contains("does not match its model"), "{stderr}");

    // SIGINT and SIGTERM stop a watchdog with its record saved.
    let record = dir.join("data/watch/agent.json");
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let _ = std::fs::remove_file(&record);
        let mut child = command(
            dir,
            url,
            key.clone(),
            &["watch", "--model", package.to_str().unwrap()],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !record.is_file() {
            assert!(Instant::now() < deadline, "the watchdog saved no record");
            std::thread::sleep(Duration::from_millis(50));
        }
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = wait(&mut child);
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(code), "{signal}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let saved: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        assert!(saved["cursor"].as_u64().unwrap() > 0, "{saved}");
    }

    // Output to a closed pipe ends the output, not in a panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = command(dir, url, key, &["deploy", "--json"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut child);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// `.npy` bytes of a little-endian f32 array.
fn f32_npy(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let comma = if shape.len() == 1 { "," } else { "" };
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}{comma}), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    values
        .iter()
        .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ids_and_inputs_are_refused() {
    let d = deployed("refused", 3).await;
    let (url, key, dir, package) = (&d.url, d.key.clone(), &d.dir, &d.package);

    // Records the manager never made are errors, not all-zero records.
    for args in [
        ["claim", "status", "0"],
        ["claim", "status", "999"],
        ["game", "status", "999"],
    ] {
        let out = verdict(dir, url, None, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("no {} {}", args[0], args[2])),
            "{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    assert!(d.register(&[]).status.success());
    let submit = |input: &Path, extra: &[&str]| {
        let args = claim_submit(package, input, &[&["--no-defend"], extra].concat());
        verdict(dir, url, key.clone(), &args)
    };

    // An input of another shape with as many values is not reshaped.
    let values: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
    let square = dir.join("square.npy");
    std::fs::write(&square, f32_npy(&[4, 16], &values)).unwrap();
    let nested = dir.join("nested.json");
    let rows: Vec<&[f32]> = values.chunks(16).collect();
    std::fs::write(&nested, serde_json::to_vec(&rows).unwrap()).unwrap();
    for input in [&square, &nested] {
        let out = submit(input, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("[4, 16]"), "{stderr}");
        assert!(stderr.contains("[1, 64]"), "{stderr}");
    }

    // NaN and infinities are claimed only when asked for.
    let mut odd = values.clone();
    odd[5] = f32::NAN;
    odd[9] = f32::INFINITY;
    let odd_path = dir.join("odd.npy");
    std::fs::write(&odd_path, f32_npy(&[1, 64], &odd)).unwrap();
    let out = submit(&odd_path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("value 5 is NaN"), "{stderr}");
    assert!(stderr.contains("--allow-non-finite"), "{stderr}");
    let nothing = verdict(dir, url, None, &["claim", "status", "1"]);
    assert_eq!(nothing.status.code(), Some(1), "nothing was claimed");

    let out = submit(&odd_path, &["--allow-non-finite", "--json"]);
    assert_eq!(json(&out)["claim_id"], 1);
}

/// `claim submit --falsify` posts a wrong claim on a development chain only
/// (unless confirmed); `watch --json` refutes it and reports each step as a
/// typed JSON line with its transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_falsified_claim_is_refuted_and_reported_as_json_events() {
    let d = deployed("falsify", 4).await;
    let (url, key, dir, package) = (&d.url, d.key.clone(), &d.dir, &d.package);
    assert!(d.register(&[]).status.success());
    let (_, inputs) = verdict_challenger::demo::bundled(&models()).unwrap();
    let input = dir.join("x.json");
    std::fs::write(&input, serde_json::to_vec(&inputs[1]).unwrap()).unwrap();
    let submit = claim_submit(package, &input, &["--falsify", "--json"]);

    // On a chain that is not a development chain: refused, nothing sent.
    let live = Devnet::start(DevnetConfig {
        chain_id: 5,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let refused = verdict(dir, &live.url(), key.clone(), &submit);
    assert_eq!(refused.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&refused.stdout).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("chain 5"), "{message}");
    assert!(
        message.contains("--i-know-this-loses-the-bond"),
        "{message}"
    );
    assert_eq!(error["exit_code"], 2);

    let watchdog_key = Some(d.devnet.accounts()[5].private_key.to_string());
    let metrics = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    let mut watch = command(
        dir,
        url,
        watchdog_key,
        &[
            "watch",
            "--model",
            package.to_str().unwrap(),
            "--json",
            "--metrics",
            &metrics,
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let events = json_lines(&mut watch);

    // The falsifier defends its claim until it is rejected: exit 1.
    let defended = verdict(dir, url, key, &submit);
    assert_eq!(
        defended.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&defended.stderr)
    );
    let stdout = String::from_utf8(defended.stdout).unwrap();
    let mut out = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap());
    let claim = out.next().unwrap();
    assert_eq!(claim["claim_id"], 1);
    let claimed: Vec<f32> = serde_json::from_value(claim["output"].clone()).unwrap();
    let truth = verdict_challenger::trace::Trace::new(
        verdict_challenger::demo::bundled(&models()).unwrap().0,
        &inputs[1],
    )
    .unwrap()
    .output();
    assert_eq!(claimed[0], truth[0] + 1.0, "value 0 raised by 1");
    assert_eq!(claimed[1..], truth[1..]);
    let lost: Vec<Value> = out.filter(|e| e["event"] == "game_ended").collect();
    assert_eq!(
        lost,
        [serde_json::json!({"event": "game_ended", "game_id": 1, "status": "Lost"})]
    );

    // The withdrawal may come a tick before the agent reads the game's end.
    let mut seen = vec![];
    let deadline = Instant::now() + Duration::from_secs(60);
    let has = |seen: &[Value], event: &str| seen.iter().any(|e| e["event"] == event);
    while !(has(&seen, "withdrew") && has(&seen, "game_ended")) {
        let left = deadline.saturating_duration_since(Instant::now());
        seen.push(
            events
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no withdrawal: {seen:?}")),
        );
    }
    let tx_of = |e: &Value| {
        let hash = e["tx"]["hash"].as_str().unwrap();
        assert!(hash.len() == 66 && hash.starts_with("0x"), "{e}");
        assert!(e["tx"]["gas"].as_u64().unwrap() > 21_000, "{e}");
    };
    let challenged = &seen[0];
    assert_eq!(challenged["event"], "challenged", "{seen:?}");
    assert_eq!(
        (&challenged["claim_id"], &challenged["game_id"]),
        (&1.into(), &1.into())
    );
    tx_of(challenged);
    let moves: Vec<&Value> = seen.iter().filter(|e| e["event"] == "moved").collect();
    assert!(!moves.is_empty(), "{seen:?}");
    moves.iter().for_each(|e| tx_of(e));
    assert!(
        seen.contains(&serde_json::json!({"event": "game_ended", "game_id": 1, "status": "Won"}))
    );
    let withdrew = seen.iter().find(|e| e["event"] == "withdrew").unwrap();
    // The challenge bond back and half the claim's bond: 0.5 + 0.5 ether.
    assert_eq!(withdrew["amount"], "1000000000000000000", "{withdrew}");

    // What the operator's Prometheus and health check read meanwhile.
    let (status, text) = get(&metrics, "/metrics");
    assert_eq!(status, 200, "{text}");
    for line in [
        "verdict_claims_seen_total 1",
        "verdict_claims_judged_total{verdict=\"false\"} 1",
        "verdict_games_open 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("verdict_last_block "), "{text}");
    assert_eq!(get(&metrics, "/healthz"), (200, "ok\n".to_owned()));

    let killed = Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(wait(&mut watch).code(), Some(143));
}

/// The lines `child` prints on its piped stdout, each parsed as JSON (a
/// line that is not fails the test).
fn json_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<Value> {
    let (lines, events) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.unwrap();
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if lines.send(value).is_err() {
                break;
            }
        }
    });
    events
}

/// The first line of `events` with event `name`, within a minute.
fn next_event(events: &std::sync::mpsc::Receiver<Value>, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {name:?} event"));
        if e["event"] == name {
            return e;
        }
    }
}

/// `request submit` by one account, `verdict node` on another: the node
/// answers, fulfils once its claim is final and is paid the fee; `request
/// status` and `request list` show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_served_by_verdict_node() {
    let d = deployed("node", 1).await;
    let (url, dir, package) = (&d.url, &d.dir, d.package.to_str().unwrap());
    assert!(d.register(&[]).status.success());
    let (_, inputs) = verdict_challenger::demo::bundled(&models()).unwrap();
    let input = dir.join("x.json");
    std::fs::write(&input, serde_json::to_vec(&inputs[0]).unwrap()).unwrap();
    let requester = Some(d.devnet.accounts()[2].private_key.to_string());
    let args = [
        "request",
        "submit",
        "--model",
        package,
        "--input",
        input.to_str().unwrap(),
        "--json",
    ];
    let no_fee = verdict(dir, url, requester.clone(), &args);
    assert_eq!(no_fee.status.code(), Some(2), "--fee is required");
    let requested = json(&verdict(
        dir,
        url,
        requester.clone(),
        &[&args[..], &["--fee", "0.1"]].concat(),
    ));
    assert_eq!(requested["request_id"], 1);
    let status = json(&verdict(
        dir,
        url,
        None,
        &["request", "status", "1", "--json"],
    ));
    assert_eq!(status["status"], "Open");
    assert_eq!(status["fee"], "100000000000000000");

    let mut node = command(
        dir,
        url,
        d.key.clone(),
        &["node", "--model", package, "--json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let events = json_lines(&mut node);
    let answered = next_event(&events, "answered");
    assert_eq!(answered["request_id"], 1);
    let claim = answered["claim_id"].as_u64().unwrap().to_string();
    let claimed = json(&verdict(
        dir,
        url,
        None,
        &["claim", "status", &claim, "--json"],
    ));
    let chain = verdict_challenger::chain::Chain::connect(
        url,
        alloy::signers::local::PrivateKeySigner::random(),
    )
    .unwrap();
    chain
        .advance_past(claimed["challenge_deadline"].as_u64().unwrap())
        .await
        .unwrap();
    let fulfilled = next_event(&events, "fulfilled");
    assert_eq!(fulfilled["claim_id"], answered["claim_id"]);
    assert_eq!(fulfilled["fee"], "100000000000000000");
    let withdrew = next_event(&events, "withdrew");
    assert_eq!(withdrew["amount"], "1100000000000000000", "bond and fee");
    let killed = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(wait(&mut node).code(), Some(143));

    let listed = json(&verdict(
        dir,
        url,
        None,
        &["request", "list", "--status", "fulfilled", "--json"],
    ));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["request_id"], 1);
    let missing = verdict(dir, url, None, &["request", "status", "2"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no request 2"));

    // The gateway spends the account's funds: it needs API tokens.
    let open = command(dir, url, d.key.clone(), &["serve", "--model", package])
        .env_remove("VERDICT_API_TOKENS")
        .output()
        .unwrap();
    assert_eq!(open.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&open.stderr).contains("API tokens"));
}

/// The status and body of `GET path` from the HTTP server at `addr`.
fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// `keys new` and `keys import` write keystores that `--keystore` opens;
/// an existing file is never replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystores_are_made_imported_and_used() {
    let d = deployed("keys", 6).await;
    let (url, dir) = (&d.url, &d.dir);
    let with_password = |args: &[&str], key: Option<String>| {
        command(dir, url, key, args)
            .env("VERDICT_KEYSTORE_PASSWORD", "correct horse")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let fresh = dir.join("keys/fresh.json");
    let made = json(&with_password(
        &["keys", "new", fresh.to_str().unwrap(), "--json"],
        None,
    ));
    assert!(fresh.is_file());
    let again = with_password(&["keys", "new", fresh.to_str().unwrap()], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));

    let imported = dir.join("keys/imported.json");
    let out = json(&with_password(
        &["keys", "import", imported.to_str().unwrap(), "--json"],
        d.key.clone(),
    ));
    let address: alloy_primitives::Address = out["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(address, d.devnet.accounts()[6].address);
    assert_ne!(out["address"], made["address"]);

    // The imported keystore signs: a withdrawal with no credit is refused
    // by name for that account. Without the password, it cannot open.
    let keystore = ["--keystore", imported.to_str().unwrap()];
    let refused = with_password(&[&["withdraw"][..], &keystore].concat(), None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&address.to_string()), "{stderr}");
    let locked = command(dir, url, None, &[&["withdraw"][..], &keystore].concat())
        .env_remove("VERDICT_KEYSTORE_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(locked.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&locked.stderr).contains("VERDICT_KEYSTORE_PASSWORD"));
}

/// `verdict devnet --dump-state` writes the chain on SIGTERM, and
/// `--load-state` serves it again: the deployment on it still answers.
#[test]
fn a_devnet_dumped_and_loaded_keeps_its_contracts() {
    let dir = scratch("devnet-state");
    let state = dir.join("chain.json");
    let serve = |flag: &str| {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let child = Command::new(env!("CARGO_BIN_EXE_verdict"))
            .args([
                "devnet",
                "--port",
                &port.to_string(),
                flag,
                state.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the devnet did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        (child, format!("http://127.0.0.1:{port}"))
    };
    let key = Some(
        verdict_devnet::dev_accounts(1).unwrap()[0]
            .private_key
            .to_string(),
    );
    let (mut first, url) = serve("--dump-state");
    json(&verdict(&dir, &url, key, &["deploy", "--json"]));
    let killed = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(wait(&mut first).success());
    assert!(state.is_file());

    let (mut second, url) = serve("--load-state");
    let listed = json(&verdict(&dir, &url, None, &["claim", "list", "--json"]));
    assert_eq!(listed, serde_json::json!([]), "the manager is there");
    let _ = second.kill();
    let _ = second.wait();
}

/// `verdict demo --json` with `args` after `demo`, its records under `dir`.
fn demo(dir: &Path, args: &[&str]) -> Output {
    let args = [&["demo", "--json"], args].concat();
    verdict(dir, "http://127.0.0.1:1", None, &args)
}

/// The report of a demo on the digits CNN with the fraud placed `at`:
/// passed, with the fraudulent claim's game ended at the one step from
/// the placement's step, inside its op; returns the report and the op.
fn cnn_demo(dir: &Path, at: &str, extra: &[&str]) -> (Value, u64) {
    let cnn = models().join("digits_cnn.onnx");
    let args = [&["--model", cnn.to_str().unwrap(), "--fraud-at", at], extra].concat();
    let report = json(&demo(dir, &args));
    assert_eq!(report["ok"], true, "{report:#}");
    let fraud = &report["fraud"];
    assert_eq!(fraud["at"], at);
    let (step, op) = (
        fraud["step"].as_u64().unwrap(),
        fraud["op"].as_u64().unwrap(),
    );
    let (info, _) = verdict_challenger::demo::load_model(&cnn, &[]).unwrap();
    let points = &info.points;
    assert!(points[op as usize] < step && step <= points[op as usize + 1]);
    assert_eq!(
        fraud["op_steps"].as_u64().unwrap(),
        points[op as usize + 1] - points[op as usize]
    );
    let fraud_id = report["fraudulent_claim"][0].clone();
    let game = report["games"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["claim_id"] == fraud_id)
        .unwrap();
    assert_eq!(game["level"], 2);
    assert_eq!(game["lo"].as_u64().unwrap(), step - 1);
    assert_eq!(game["hi"].as_u64().unwrap(), step);
    assert!(game["winner"].as_str().unwrap().starts_with("walter"));
    (report, op)
}

/// `verdict demo --model` on the digits CNN: the story passes with the
/// fraud in the op of the most steps, in op n/2 (on a given input) and in
/// op 1, and `--json` prints the typed report.
#[test]
fn the_demo_plays_on_a_given_model_with_the_fraud_where_asked() {
    let dir = scratch("demo-model");
    let cnn = models().join("digits_cnn.onnx");
    let (info, _) = verdict_challenger::demo::load_model(&cnn, &[]).unwrap();
    let steps: Vec<u64> = info.points.windows(2).map(|w| w[1] - w[0]).collect();
    let largest = steps[..info.ops() as usize].iter().max().unwrap();

    let (report, op) = cnn_demo(&dir, "largest-op", &[]);
    assert_eq!(steps[op as usize], *largest);
    let kinds: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert!(p["seconds"].as_f64().unwrap() >= 0.0);
            assert!(p["process_peak_rss_kib"].as_u64().unwrap() > 0);
            assert!(p["name"].is_string());
            p["kind"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "convert",
            "deploy",
            "register",
            "honest_claim",
            "fraudulent_claim",
            "games",
            "resolution"
        ]
    );
    assert_eq!(report["games"].as_array().unwrap().len(), 2);
    assert!(report["challenge_latency_ms"].as_f64().is_some());
    assert_eq!(report["accounts"].as_array().unwrap().len(), 5);
    for key in ["burned", "honest_claim", "seconds", "failures"] {
        assert!(report.get(key).is_some(), "{key} in {report:#}");
    }

    let input = dir.join("x.npy");
    let values: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
    std::fs::write(&input, f32_npy(&[1, 1, 8, 8], &values)).unwrap();
    let (_, op) = cnn_demo(&dir, "middle-op", &["--input", input.to_str().unwrap()]);
    assert_eq!(op, info.ops() / 2);
    assert_ne!(steps[op as usize], *largest, "another op than the largest");
    let (_, op) = cnn_demo(&dir, "op:1", &[]);
    assert_eq!(op, 1);
}

/// A missing model, a model that does not convert, an input of the wrong
/// size and a fraud placed in an op the model lacks are refused (exit
/// status 2) with an error naming the problem.
#[test]
fn the_demo_refuses_a_bad_model_or_input_naming_it() {
    let dir = scratch("demo-refusals");
    let refused = |args: &[&str], says: &[&str]| {
        let out = demo(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let error: Value = serde_json::from_slice(&out.stdout).unwrap();
        let message = error["error"].as_str().unwrap();
        for s in says {
            assert!(message.contains(s), "{s:?} in {message}");
        }
    };
    let missing = dir.join("missing.onnx");
    refused(&["--model", missing.to_str().unwrap()], &["missing.onnx"]);
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"not a model").unwrap();
    refused(&["--model", garbage.to_str().unwrap()], &["garbage.onnx"]);
    let cnn = models().join("digits_cnn.onnx");
    let input = dir.join("short.npy");
    std::fs::write(&input, f32_npy(&[10], &[0.5; 10])).unwrap();
    refused(
        &[
            "--model",
            cnn.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
        ],
        &["short.npy", "10 values", "64"],
    );
    let ops = verdict_challenger::demo::load_model(&cnn, &[])
        .unwrap()
        .0
        .compiled
        .model
        .nodes
        .len();
    refused(
        &[
            "--model",
            cnn.to_str().unwrap(),
            "--fraud-at",
            &format!("op:{ops}"),
        ],
        &[&format!("op:{ops}"), &format!("{ops} ops")],
    );
    let out = demo(
        &dir,
        &["--model", cnn.to_str().unwrap(), "--fraud-at", "op:x"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("op:N"));
}

/// The demo on ResNet50 (the onnx wheel's light model, 1×3×224×224), with
/// the fraud in its largest op (1.14e9 of its 3.28e10 VM steps): a
/// real-size model's dispute end to end. The package takes its image as
/// bytes and scales and normalizes it in the VM program, so a claim posts
/// 150,528 bytes of input: as binary32 values (602,112 bytes) the calldata
/// alone would cost 24.2 M gas, over a transaction's 2^24. Needs
/// `VERDICT_ONNX_NODE_DATA` (scripts/test sets it).
#[test]
fn the_demo_refutes_a_fraud_inside_resnet50_posted_as_bytes() {
    use verdict_converter::{InputShape, Inputs, Preprocess, convert_file};
    use verdict_dnn::ops::decode::Encoding;
    use verdict_dnn::package::Package;

    let node = std::env::var_os("VERDICT_ONNX_NODE_DATA")
        .expect("VERDICT_ONNX_NODE_DATA is not set: run scripts/test");
    let onnx = PathBuf::from(node).join("../light/light_resnet50.onnx");
    let dir = scratch("demo-resnet50");
    let inputs = Inputs {
        shapes: vec!["1x3x224x224".parse::<InputShape>().unwrap()],
        preprocess: Preprocess {
            encoding: Some(Encoding::U8),
            divide: Some(255.0),
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        },
        ..Inputs::default()
    };
    let converted = convert_file(&onnx, &inputs, &mut |_, _| {}).unwrap();
    let package = dir.join("resnet50.dnn");
    Package::build(converted.model)
        .unwrap()
        .save(&package)
        .unwrap();
    let report = json(&demo(&dir, &["--model", package.to_str().unwrap()]));
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["fraud"]["at"], "largest-op");
    assert_eq!(report["honest_claim"][1], "Finalized");
    assert_eq!(report["fraudulent_claim"][1], "Rejected");
    let claimed = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "honest_claim")
        .unwrap();
    let name = claimed["name"].as_str().unwrap();
    assert!(name.contains("150528 input bytes"), "{name}");
}

/// The tiny GPT-2 decoder of `models/transformers` unrolled into a
/// generation package (8-token prompt as u16 ids, `tokens` greedy tokens)
/// in `dir`.
fn generation_package(dir: &Path, tokens: usize) -> PathBuf {
    let generate = verdict_converter::generate::Generate {
        prompt_len: 8,
        max_new_tokens: tokens,
        ..Default::default()
    };
    let package = dir.join("gpt2_generate.dnn");
    common::tiny_gpt2(&generate).save(&package).unwrap();
    package
}

/// torch's prompt and greedy tokens for the tiny GPT-2 (see
/// models/transformers/README.md).
const PROMPT: &str = "845,139,124,368,263,313,491,341";
const GREEDY: [u32; 8] = [341, 341, 341, 341, 670, 670, 670, 670];

/// `claim submit --prompt-ids` on a generation package streams each token
/// as a JSON line before the claim of them is posted; a prompt of the wrong
/// length or with an id outside the vocabulary is refused, naming it, and
/// nothing is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_is_streamed_then_claimed_and_bad_prompts_are_refused() {
    let d = deployed("generation", 1).await;
    let (url, key, dir) = (&d.url, d.key.clone(), &d.dir);
    let package = generation_package(dir, 8);
    let package = package.to_str().unwrap();
    let registered = verdict(dir, url, key.clone(), &["model", "register", package]);
    assert!(registered.status.success());
    let info = json(&verdict(
        dir,
        url,
        None,
        &["model", "info", package, "--json"],
    ));
    assert_eq!(
        (
            &info["generation"]["prompt_len"],
            &info["generation"]["max_new_tokens"]
        ),
        (&Value::from(8), &Value::from(8))
    );
    let submit = |prompt: &str, extra: &[&str]| {
        let args = [
            &[
                "claim",
                "submit",
                "--model",
                package,
                "--prompt-ids",
                prompt,
            ][..],
            &["--no-defend"],
            extra,
        ]
        .concat();
        verdict(dir, url, key.clone(), &args)
    };
    for (prompt, says) in [
        (
            "1,2,3",
            "the prompt has 3 tokens; this package takes exactly 8",
        ),
        (
            "845,139,124,368,263,313,491,1000",
            "prompt token 7 is 1000, not a token id from 0 to 999",
        ),
    ] {
        let out = submit(prompt, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    let greedy = submit(PROMPT, &["--seed", "3"]);
    let stderr = String::from_utf8_lossy(&greedy.stderr);
    assert_eq!(greedy.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("generates greedily"), "{stderr}");
    let nothing = verdict(dir, url, None, &["claim", "status", "1"]);
    assert_eq!(nothing.status.code(), Some(1), "nothing was claimed");

    let out = submit(PROMPT, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (tokens, claim) = lines.split_at(GREEDY.len());
    for (i, (line, want)) in tokens.iter().zip(GREEDY).enumerate() {
        assert_eq!(line["event"], "token");
        assert_eq!(
            (line["index"].as_u64(), line["token"].as_u64()),
            (Some(i as u64), Some(u64::from(want)))
        );
    }
    let claimed: Vec<u32> = claim[0]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as u32)
        .collect();
    assert_eq!(
        (claim[0]["claim_id"].as_u64(), claimed),
        (Some(1), GREEDY.to_vec())
    );
}

/// The demo on a generation package: a fraudulent claim that changes one
/// generated token is refuted by the watchdog. 104 tokens make 8,741 ops,
/// more than a model registers level-1 points for, so each level-1
/// segment spans two ops and the level-2 game crosses an op boundary.
#[test]
fn the_demo_refutes_a_changed_token_in_a_generation() {
    let dir = scratch("demo-generation");
    let package = generation_package(&dir, 104);
    let info = verdict_challenger::model::ModelInfo::load(&package).unwrap();
    let ops = info.compiled.program.boundaries.len();
    assert!(
        info.points.len() < ops,
        "{} points for {ops} ops",
        info.points.len()
    );
    let report = json(&demo(&dir, &["--model", package.to_str().unwrap()]));
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["honest_claim"][1], "Finalized");
    assert_eq!(report["fraudulent_claim"][1], "Rejected");
    let phases = report["phases"].as_array().unwrap();
    let fraud = phases
        .iter()
        .find(|p| p["kind"] == "fraudulent_claim")
        .unwrap();
    let name = fraud["name"].as_str().unwrap();
    assert!(name.contains("= tokens ["), "{name}");
}

/// `request`'s status and JSON body, retried until the gateway is up and
/// has read the chain.
async fn ask(request: alloy::transports::http::reqwest::RequestBuilder) -> (u16, Value) {
    loop {
        let attempt = request.try_clone().expect("a body that clones");
        if let Ok(response) = attempt.send().await {
            let status = response.status().as_u16();
            if let Ok(text) = response.text().await
                && status != 503
            {
                return (status, serde_json::from_str(&text).unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Load through the gateway: `verdict serve` (a process of its own) on a
/// devnet that mines a block a second, a 10-second challenge window; 100
/// clients post 1,000 distinct inferences at once and follow each until it
/// is final; the gateway is killed with SIGKILL a third of the way through
/// and started again, and clients retry what failed. Every inference is
/// answered with its own claim, none claimed twice, and all become final.
/// Prints the latency of the provisional answer and of finality (figures
/// in benches/README.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load benchmark: cargo test --workspace --test cli -- --ignored gateway_load --nocapture"]
async fn gateway_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const CLIENTS: usize = 100;
    const INFERENCES: usize = 1000;
    const WINDOW: u64 = 10;
    let devnet = Devnet::start(DevnetConfig {
        block_time: Some(Duration::from_secs(1)),
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let url = devnet.url();
    let key = Some(devnet.accounts()[2].private_key.to_string());
    let dir = scratch("gateway-load");
    let window = WINDOW.to_string();
    let deploy = ["deploy", "--challenge-window", &window, "--json"];
    json(&verdict(&dir, &url, key.clone(), &deploy));
    let package = dir.join("digits.dnn");
    std::fs::write(&package, model_bytes(&models())).unwrap();
    let package = package.to_str().unwrap();
    let registered = json(&verdict(
        &dir,
        &url,
        key.clone(),
        &["model", "register", package, "--json"],
    ));
    let model = registered["model_id"].as_str().unwrap().to_owned();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = addr.to_string();
    let serve = || {
        let args = [
            "serve",
            "--model",
            package,
            "--listen",
            &listen,
            "--rate-limit",
            "1000000",
        ];
        command(&dir, &url, key.clone(), &args)
            .env("VERDICT_API_TOKENS", "a")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut gateway = serve();

    let (_, inputs) = verdict_challenger::demo::bundled(&models()).unwrap();
    let client = alloy::transports::http::reqwest::Client::new();
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, base, answered) = (client.clone(), inputs[0].clone(), answered.clone());
            let model = model.clone();
            tokio::spawn(async move {
                let mut answers = vec![];
                for i in (c..INFERENCES).step_by(CLIENTS) {
                    let mut input = base.clone();
                    input[0] += i as f32 / INFERENCES as f32;
                    let body = serde_json::json!({ "model": model, "input": input }).to_string();
                    let asked = Instant::now();
                    let post = client
                        .post(format!("http://{addr}/v1/inferences"))
                        .bearer_auth("a")
                        .body(body);
                    let (status, answer) = ask(post).await;
                    assert!(matches!(status, 200 | 201), "{status} {answer}");
                    let provisional = asked.elapsed();
                    answered.fetch_add(1, Ordering::Relaxed);
                    let id = answer["id"].as_str().unwrap().to_owned();
                    loop {
                        let get = client.get(format!("http://{addr}/v1/inferences/{id}"));
                        let (status, view) = ask(get).await;
                        assert_eq!(status, 200, "{view}");
                        if view["status"] == "final" {
                            break;
                        }
                        assert_eq!(view["status"], "pending", "{view}");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    answers.push((
                        provisional,
                        asked.elapsed(),
                        id,
                        answer["claim_id"].as_u64().unwrap(),
                    ));
                }
                answers
            })
        })
        .collect();
    while answered.load(Ordering::Relaxed) < INFERENCES as u64 / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.kill().unwrap(); // SIGKILL
    gateway.wait().unwrap();
    let killed = started.elapsed();
    let mut gateway = serve();
    let mut answers = vec![];
    for c in clients {
        answers.extend(c.await.unwrap());
    }
    let wall = started.elapsed();
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    assert_eq!(answers.len(), INFERENCES);
    let ids: std::collections::HashSet<_> = answers.iter().map(|a| &a.2).collect();
    let claims: std::collections::HashSet<_> = answers.iter().map(|a| a.3).collect();
    assert_eq!((ids.len(), claims.len()), (INFERENCES, INFERENCES));
    let listed = json(&verdict(
        &dir,
        &url,
        None,
        &["claim", "list", "--last", "2000", "--json"],
    ));
    assert_eq!(
        listed.as_array().unwrap().len(),
        INFERENCES,
        "one claim each, kill or not"
    );
    let quantiles = |mut d: Vec<Duration>| {
        d.sort_unstable();
        let at = |q: usize| d[(d.len() * q / 100).min(d.len() - 1)].as_secs_f64() * 1e3;
        (at(50), at(99), at(100))
    };
    let provisional = quantiles(answers.iter().map(|a| a.0).collect());
    let finality = quantiles(answers.iter().map(|a| a.1).collect());
    println!(
        "{INFERENCES} inferences from {CLIENTS} clients, SIGKILL and restart of verdict serve at {:.1} s, all final after {:.1} s: \
         provisional answer p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; final ({WINDOW} s window, 1 s blocks) p50 {:.1} s, p99 {:.1} s, max {:.1} s",
        killed.as_secs_f64(),
        wall.as_secs_f64(),
        provisional.0,
        provisional.1,
        provisional.2,
        finality.0 / 1e3,
        finality.1 / 1e3,
        finality.2 / 1e3,
    );
}

/// `claim submit` on a package with a schema: an input outside its range is
/// refused before anything is sent, naming it; a good one is claimed with
/// its top classes named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_checked_against_the_schema_and_names_classes() {
    use verdict_dnn::package::Package;
    let d = deployed("schema", 1).await;
    let (url, key, dir) = (&d.url, d.key.clone(), &d.dir);
    let model = common::labelled(Package::from_bytes(&model_bytes(&models())).unwrap().model);
    let package = dir.join("labelled.dnn");
    Package::build(model).unwrap().save(&package).unwrap();
    let register = ["model", "register", package.to_str().unwrap()];
    assert!(verdict(dir, url, key.clone(), &register).status.success());
    let info = ["model", "info", package.to_str().unwrap(), "--json"];
    let info = json(&verdict(dir, url, None, &info));
    assert_eq!(info["schema"]["outputs"][0]["labels"][0], common::DIGITS[0]);
    assert_eq!(info["generation"], Value::Null);

    let (_, inputs) = verdict_challenger::demo::bundled(&models()).unwrap();
    let input = dir.join("x.json");
    let mut bad = inputs[0].clone();
    bad[2] = -1.0;
    std::fs::write(&input, serde_json::to_vec(&bad).unwrap()).unwrap();
    let refused = verdict(dir, url, key.clone(), &claim_submit(&package, &input, &[]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("value 2 is -1, outside its range [0, 1]"),
        "{stderr}"
    );

    std::fs::write(&input, serde_json::to_vec(&inputs[0]).unwrap()).unwrap();
    let args = claim_submit(&package, &input, &["--no-defend", "--json"]);
    let submitted = json(&verdict(dir, url, key, &args));
    assert_eq!(submitted["claim_id"], 1, "the refused input sent nothing");
    let output: Vec<f32> = serde_json::from_value(submitted["output"].clone()).unwrap();
    let best = common::DIGITS[common::best(&output)];
    assert_eq!(submitted["classes"][0]["label"], best);
}
