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

/// `.npy` bytes of an int64 vector.
fn int64_npy(values: &[i64]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    header.push_str(&" ".repeat(63 - (10 + header.len()) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).expect("short").to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[test]
fn constant_binds_an_int64_input() {
    let dir = std::env::temp_dir().join(format!("dnnc-constant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Reshape(data, shape): `shape` is an int64 graph input.
    let onnx = root().join("converter/tests/data/reshape_reordered_all_dims.onnx");
    let (pkg, shape, input) = (dir.join("r.dnn"), dir.join("shape.npy"), dir.join("x.json"));
    std::fs::write(&shape, int64_npy(&[4, 2, 3])).expect("write shape");
    let x: Vec<f32> = (0..24).map(|i| i as f32).collect();
    std::fs::write(&input, serde_json::to_string(&x).expect("json")).expect("write input");
    let s = |p: &PathBuf| p.display().to_string();
    let constant = format!("shape={}", s(&shape));

    let o = dnnc(&["convert", &s(&onnx), "-o", &s(&pkg)]);
    assert_eq!(o.status.code(), Some(2), "one input is left unbound");

    let o = dnnc(&[
        "convert",
        &s(&onnx),
        "-o",
        &s(&pkg),
        "--constant",
        &constant,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dnnc(&["inspect", &s(&pkg), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    assert_eq!(v["input_shape"], serde_json::json!([2, 3, 4]));
    assert_eq!(v["output_shape"], serde_json::json!([4, 2, 3]));
    let o = dnnc(&["run", &s(&pkg), "-i", &s(&input), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("run --json");
    let flat: Vec<f64> = v["output"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|m| m.as_array().expect("matrix").iter())
        .flat_map(|r| r.as_array().expect("row").iter())
        .map(|x| x.as_f64().expect("number"))
        .collect();
    assert_eq!(flat, (0..24).map(f64::from).collect::<Vec<_>>());
    // Per-op times of the native engine, over three runs.
    let o = dnnc(&[
        "run",
        &s(&pkg),
        "-i",
        &s(&input),
        "--repeat",
        "3",
        "--profile",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("run --profile --json");
    assert_eq!(v["runs"], 3);
    let nodes = v["profile"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), op_count(&pkg));
    assert!(
        nodes
            .iter()
            .all(|n| n["ms"].as_f64().is_some_and(|ms| ms >= 0.0))
    );
    // The VM's time and speed on every op.
    let o = dnnc(&[
        "run",
        &s(&pkg),
        "-i",
        &s(&input),
        "--profile",
        "--engine",
        "vm",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("run --profile --json");
    assert_eq!(v["profile"]["engine"], "vm");
    let nodes = v["profile"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), op_count(&pkg));
    assert!(
        nodes
            .iter()
            .all(|n| n["steps"].as_u64().is_some_and(|steps| steps > 0))
    );
    let o = dnnc(&[
        "check",
        &s(&onnx),
        &s(&pkg),
        "-i",
        &s(&input),
        "--constant",
        &constant,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn constant_errors_name_the_input() {
    let dir = std::env::temp_dir().join(format!("dnnc-constant-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let onnx = root().join("converter/tests/data/reshape_reordered_all_dims.onnx");
    let (pkg, shape, long) = (dir.join("r.dnn"), dir.join("s.npy"), dir.join("l.npy"));
    std::fs::write(&shape, int64_npy(&[4, 2, 3])).expect("write");
    std::fs::write(&long, int64_npy(&[4, 2, 3, 1])).expect("write");
    let floats = root().join("models/samples.json");
    let s = |p: &PathBuf| p.display().to_string();
    let cases = [
        (
            format!("nope={}", s(&shape)),
            "constant for input `nope`: not a graph input; the graph inputs are: data, shape",
        ),
        (
            format!("shape={}", s(&long)),
            "constant for input `shape`: the tensor has shape [4], the input takes [3]",
        ),
        (
            format!("data={}", s(&shape)),
            "constant for input `data`: the tensor is INT64, the input takes FLOAT",
        ),
        (
            format!("shape={}", s(&floats)),
            "unknown extension `json`: use .npy or .pb",
        ),
        ("shape".to_owned(), "--constant `shape`: expected NAME=FILE"),
    ];
    for (spec, message) in cases {
        let o = dnnc(&["convert", &s(&onnx), "-o", &s(&pkg), "--constant", &spec]);
        assert_eq!(o.status.code(), Some(2), "{spec}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(message), "{spec}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The number of ops in a package, by `dnnc inspect --json`.
fn op_count(pkg: &std::path::Path) -> usize {
    let o = dnnc(&["inspect", &pkg.display().to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    v["ops"].as_array().expect("ops").len()
}

/// A graph of several inputs and outputs (one GPT-2 decoder step with its
/// KV cache): each input given as `NAME=FILE`, each output written as
/// `NAME.npy`; a missing input or a bare file is refused naming the inputs.
#[test]
fn several_inputs_and_outputs_by_name() {
    let dir = std::env::temp_dir().join(format!("dnnc-ports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let models = root().join("models/transformers");
    let onnx = models.join("gpt2_tiny_past.onnx");
    let pkg = dir.join("past.dnn");
    let s = |p: &PathBuf| p.display().to_string();
    let names = [
        "input_ids",
        "past_key_0",
        "past_value_0",
        "past_key_1",
        "past_value_1",
    ];
    let mut convert = vec!["convert".to_string(), s(&onnx), "-o".into(), s(&pkg)];
    for name in names {
        let dims = if name == "input_ids" {
            "1x1"
        } else {
            "1x4x8x32"
        };
        convert.extend(["--input-shape".into(), format!("{name}={dims}")]);
    }
    let args: Vec<&str> = convert.iter().map(String::as_str).collect();
    let o = dnnc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = dnnc(&["inspect", &s(&pkg), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    assert_eq!(v["inputs"][1]["name"], "past_key_0");
    assert_eq!(v["outputs"][0]["name"], "logits");

    let given: Vec<String> = names
        .iter()
        .map(|n| {
            let file = models.join(format!("gpt2_tiny_past.{n}.npy"));
            format!("{n}={}", file.display())
        })
        .collect();
    let out = dir.join("out");
    let mut run = vec!["run".to_string(), s(&pkg), "-o".into(), s(&out)];
    for g in &given {
        run.extend(["-i".into(), g.clone()]);
    }
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    let o = dnnc(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["logits", "present_key_0", "present_value_1"] {
        assert!(out.join(format!("{name}.npy")).is_file(), "{name}.npy");
    }

    let o = dnnc(&["run", &s(&pkg), "-i", &given[0]]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`past_key_0` is missing"), "{err}");

    // Token ids are integers: a float id is refused, naming the input.
    let ids = dir.join("ids.json");
    std::fs::write(&ids, "[[1.5]]").expect("write ids");
    let mut run = vec!["run".to_string(), s(&pkg), "-i".into()];
    run.push(format!("input_ids={}", ids.display()));
    for g in &given[1..] {
        run.extend(["-i".into(), g.clone()]);
    }
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    let o = dnnc(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("input `input_ids` takes an integer") && err.contains("1.5"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `--input-encoding u8 --input-divide 255 --input-mean … --input-std …`:
/// the package takes the image as bytes (a quarter of the claim's input
/// bytes) and computes in the VM program what a float pipeline computes
/// before the graph, `(x / 255 - mean) / std`, to the bit; preprocessing
/// that does not fit the input is refused, naming it.
#[test]
fn input_bytes_are_decoded_and_normalized_in_the_program() {
    use verdict_converter::{Inputs, Preprocess, convert_file};
    use verdict_dnn::engine::Compiled;
    use verdict_dnn::ops::decode::Encoding;

    let onnx = root().join("models/digits_cnn.onnx");
    let compile = |inputs: &Inputs| {
        Compiled::new(convert_file(&onnx, inputs, &mut |_, _| {}).unwrap().model).unwrap()
    };
    let plain = compile(&Inputs::default());
    let bytes = compile(&Inputs {
        preprocess: Preprocess {
            encoding: Some(Encoding::U8),
            divide: Some(255.0),
            mean: vec![0.5],
            std: vec![0.25],
        },
        ..Inputs::default()
    });
    assert_eq!(bytes.model.input_bytes(), 64);
    let x: Vec<f32> = (0..64).map(|i| ((i * 37) % 256) as f32).collect();
    let floats: Vec<f32> = x.iter().map(|b| (b / 255.0 - 0.5) / 0.25).collect();
    let want = plain.run_native(&floats).unwrap().output();
    let got = bytes.run_native(&x).unwrap().output();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&want));
    assert_eq!(bits(&bytes.run_vm(&x).unwrap().output), bits(&want));

    let dir = std::env::temp_dir().join(format!("dnnc-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pkg = dir.join("cnn.dnn").display().to_string();
    let convert = |extra: &[&str]| {
        let args = [&["convert", onnx.to_str().unwrap(), "-o", &pkg], extra].concat();
        dnnc(&args)
    };
    let o = convert(&["--input-encoding", "u8", "--input-mean", "0.5,0.5"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("2 mean values for an input of shape [1, 1, 8, 8]"),
        "{err}"
    );
    let o = convert(&["--input-encoding", "u32"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("expected u8 or u16"), "{err}");
    let o = convert(&["--input-encoding", "u8", "--input-divide", "255"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dnnc(&["inspect", &pkg]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Decode(u8)"), "{text}");
    let input = dir.join("x.json");
    std::fs::write(&input, serde_json::to_string(&vec![300.0f32; 64]).unwrap()).unwrap();
    let o = dnnc(&["run", &pkg, "-i", input.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not an integer from 0 to 255"), "{err}");
    // tract takes the graph's own input, not the posted bytes: refused.
    let o = dnnc(&[
        "check",
        onnx.to_str().unwrap(),
        &pkg,
        "-i",
        input.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("takes its input as u8"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `dnnc convert --generate` then `dnnc generate`: tokens streamed as JSON
/// lines, equal on the native engine and the VM and to torch's greedy
/// tokens; a text prompt through a local `tokenizer.json` (the word-level
/// one of `models/transformers`) or the one a package carries, the
/// tokens shown as text; a sampled package's seed; a tokenizer past the
/// vocabulary and bad prompts refused naming the problem.
#[test]
fn a_generation_streams_tokens_and_text() {
    let dir = std::env::temp_dir().join(format!("dnnc-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let s = |p: &PathBuf| p.display().to_string();
    let onnx = root().join("models/transformers/gpt2_tiny_past.onnx");
    let tok = root().join("models/transformers/tokenizer.json");
    // The same tokenizer with one word more than the model's vocabulary.
    let mut big: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tok).expect("tokenizer")).expect("JSON");
    big["model"]["vocab"]["w1000"] = serde_json::json!(1000);
    let too_big = dir.join("big.json");
    std::fs::write(&too_big, big.to_string()).expect("write tokenizer");
    let (greedy, sampled) = (dir.join("greedy.dnn"), dir.join("sampled.dnn"));
    let convert = |pkg: &PathBuf, extra: &[&str]| {
        let mut args = vec![
            "convert",
            "--generate",
            "--prompt-len",
            "8",
            "--max-new-tokens",
            "8",
        ];
        args.extend(["--input-encoding", "u16"]);
        args.extend(extra);
        let (onnx, pkg) = (s(&onnx), s(pkg));
        args.extend([onnx.as_str(), "-o", pkg.as_str()]);
        dnnc(&args)
    };
    let o = convert(&greedy, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The sampled package carries the tokenizer.
    let o = convert(&sampled, &["--sample", "--tokenizer", &s(&tok)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = convert(&dir.join("no.dnn"), &["--tokenizer", &s(&too_big)]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("the tokenizer has 1001 tokens, past the model's vocabulary of 1000"),
        "{stderr}"
    );
    let o = dnnc(&["inspect", &s(&sampled), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    let g = &v["generation"];
    assert_eq!(
        (&g["prompt_len"], &g["max_new_tokens"]),
        (&serde_json::json!(8), &serde_json::json!(8))
    );
    assert_eq!(
        (&g["vocab"], &g["sampled"], &g["tokenizer"]),
        (
            &serde_json::json!(1000),
            &serde_json::json!(true),
            &serde_json::json!(true)
        )
    );
    let prompt = "845,139,124,368,263,313,491,341";
    let want = [341, 341, 341, 341, 670, 670, 670, 670];
    // The native engine runs three times: its tokens are shown once, its
    // timings are medians. The VM streams its tokens too.
    for (engine, repeat) in [("native", "3"), ("vm", "1")] {
        let o = dnnc(&[
            "generate",
            &s(&greedy),
            "--prompt-ids",
            prompt,
            "--engine",
            engine,
            "--json",
            "--repeat",
            repeat,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 9, "{engine}: 8 tokens and the summary");
        assert_eq!(lines[8]["runs"], repeat.parse::<u32>().unwrap(), "{engine}");
        let streamed: Vec<u64> = lines[..8]
            .iter()
            .map(|l| l["token"].as_u64().unwrap())
            .collect();
        assert_eq!(streamed, want, "{engine}");
        assert_eq!(lines[8]["tokens"], serde_json::json!(want), "{engine}");
        assert!(lines[8]["time_to_first_token_ms"].as_f64().is_some());
        // Each token is shown as its pass ends, not all at the run's end.
        let ms = |l: &serde_json::Value| l["ms"].as_f64().unwrap();
        assert!(
            ms(&lines[0]) < ms(&lines[7]),
            "{engine}: the tokens streamed"
        );
    }

    let text = "w845 w139 w124 w368 w263 w313 w491 w341";
    let o = dnnc(&[
        "generate",
        &s(&greedy),
        "--prompt",
        text,
        "--tokenizer",
        &s(&tok),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["text"], "w341 w341 w341 w341 w670 w670 w670 w670");

    let draw = |seed: &str, prompt: [&str; 2]| {
        let o = dnnc(&[
            "generate",
            &s(&sampled),
            prompt[0],
            prompt[1],
            "--seed",
            seed,
            "--top-k",
            "20",
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap()
            .to_owned()
    };
    let ids = ["--prompt-ids", prompt];
    let json = |line: String| serde_json::from_str::<serde_json::Value>(&line).unwrap();
    let tokens = |line: String| json(line)["tokens"].clone();
    assert_eq!(tokens(draw("5", ids)), tokens(draw("5", ids)));
    assert_ne!(tokens(draw("5", ids)), tokens(draw("6", ids)));
    // A text prompt read by the package's own tokenizer: the same draw,
    // shown as text.
    let by_text = json(draw("5", ["--prompt", text]));
    assert_eq!(by_text["tokens"], tokens(draw("5", ids)));
    let words: Vec<String> = by_text["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("w{t}"))
        .collect();
    assert_eq!(by_text["text"], words.join(" "));

    for (args, says) in [
        (
            vec!["--prompt-ids", "1,2"],
            "the prompt has 2 tokens; this package takes exactly 8",
        ),
        (
            vec!["--prompt-ids", "1,2,3,4,5,6,7,4000"],
            "prompt token 7 is 4000",
        ),
        (
            vec!["--prompt-ids", prompt, "--seed", "1"],
            "generates greedily",
        ),
        (vec![], "give the prompt"),
        (
            vec!["--prompt", "w1", "--tokenizer", "/nonexistent.json"],
            "tokenizer /nonexistent.json",
        ),
        (vec!["--prompt", "w1"], "this package carries none"),
    ] {
        let o = dnnc(&[&["generate", &s(&greedy)], &args[..]].concat());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `dnnc convert --schema --labels`: the package carries the schema,
/// `inspect` shows it, `run` names the top classes with their labels and
/// refuses an input outside its range; a schema that does not fit the
/// model is refused at conversion, naming the part.
#[test]
fn a_schema_checks_inputs_and_names_classes() {
    let dir = std::env::temp_dir().join(format!("dnnc-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let s = |p: &PathBuf| p.display().to_string();
    let onnx = root().join("models/digits_mlp.onnx");
    let o = dnnc(&["convert", &s(&onnx), "-o", &s(&dir.join("bare.dnn"))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = dnnc(&["inspect", &s(&dir.join("bare.dnn")), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect --json");
    let input = v["inputs"][0]["name"]
        .as_str()
        .expect("input name")
        .to_owned();

    let (schema, labels) = (dir.join("schema.json"), dir.join("labels.txt"));
    let image = serde_json::json!({"height": 8, "width": 8, "channels": "L", "layout": "NCHW"});
    let shape = v["input_shape"].clone();
    let described = serde_json::json!({"inputs": [{
        "name": input, "description": "an 8×8 digit, 0 white to 1 black", "range": [0.0, 1.0],
        "image": if shape.as_array().is_some_and(|s| s.len() == 4) { image } else { serde_json::Value::Null },
    }]});
    std::fs::write(&schema, described.to_string()).expect("write schema");
    let words = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    std::fs::write(&labels, words.join("\n")).expect("write labels");
    let pkg = dir.join("digits.dnn");
    let o = dnnc(&[
        "convert",
        &s(&onnx),
        "-o",
        &s(&pkg),
        "--schema",
        &s(&schema),
        "--labels",
        &s(&labels),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = dnnc(&["inspect", &s(&pkg)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("values in [0, 1]"), "{text}");
    assert!(
        text.contains("10 labels (zero, one, two, three, four, …)"),
        "{text}"
    );

    let samples: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("models/samples.json")).unwrap())
            .unwrap();
    let sample = &samples["samples"][0];
    let x = dir.join("x.json");
    std::fs::write(&x, sample["input"].to_string()).expect("write input");
    let o = dnnc(&["run", &s(&pkg), "-i", &s(&x), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("run --json");
    let top = &v["classes"][0];
    assert_eq!(top["index"], v["argmax"]);
    assert_eq!(top["label"], words[v["argmax"].as_u64().unwrap() as usize]);
    assert_eq!(v["classes"].as_array().unwrap().len(), 5);

    let mut out_of_range: Vec<f32> = serde_json::from_value(sample["input"].clone()).unwrap();
    out_of_range[9] = 16.0;
    std::fs::write(&x, serde_json::to_string(&out_of_range).unwrap()).expect("write input");
    let o = dnnc(&["run", &s(&pkg), "-i", &s(&x)]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("value 9 is 16, outside its range [0, 1]"),
        "{stderr}"
    );

    std::fs::write(&labels, words[..9].join("\n")).expect("write labels");
    let o = dnnc(&[
        "convert",
        &s(&onnx),
        "-o",
        &s(&pkg),
        "--labels",
        &s(&labels),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("9 labels for a last axis of 10"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
