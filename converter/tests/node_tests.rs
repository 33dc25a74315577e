//! The ONNX backend node tests (from the `onnx` wheel that `scripts/test`
//! installs): every single-input, single-output float test whose model
//! converts is run on both engines against the expected output. The tests
//! listed in `node_tests.txt` must pass; newly passing ones are printed.
//! `VERDICT_NODE_TESTS_VERBOSE=1` prints why each other test fails;
//! `VERDICT_NODE_TESTS_WRITE=FILE` writes the list of passing tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use verdict_converter::check::Diff;
use verdict_converter::tensor_io::read_pb;
use verdict_converter::{InputShape, convert_bytes};
use verdict_dnn::engine::Compiled;

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;
/// Models whose VM run would take longer than this are checked natively.
const MAX_VM_STEPS: u64 = 50_000_000;

/// The node test folder, or `None` when skipping is asked for.
fn data_dir() -> Option<PathBuf> {
    match std::env::var_os("VERDICT_ONNX_NODE_DATA") {
        Some(dir) if Path::new(&dir).is_dir() => Some(dir.into()),
        _ if std::env::var("VERDICT_SKIP_ONNX").as_deref() == Ok("1") => None,
        dir => panic!(
            "the ONNX node test data is missing (VERDICT_ONNX_NODE_DATA = {dir:?}): run \
             scripts/test, which installs the onnx wheel into .venv and sets it, or set \
             VERDICT_SKIP_ONNX=1 to skip these tests explicitly"
        ),
    }
}

/// Runs one node test: `Ok(())` if it passes, else why not.
fn run_case(dir: &Path) -> Result<(), String> {
    let set = dir.join("test_data_set_0");
    let [input, output] = ["input_0.pb", "output_0.pb"].map(|f| set.join(f));
    if set.join("input_1.pb").exists() || set.join("output_1.pb").exists() {
        return Err("several inputs or outputs".into());
    }
    let x = read_pb(&input).map_err(|e| e.to_string())?;
    let want = read_pb(&output).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let shape = InputShape {
        name: None,
        dims: x.shape.clone(),
    };
    let converted = convert_bytes(&bytes, Some(dir), "node", &[shape], &mut |_, _| {})
        .map_err(|e| e.to_string())?;
    let compiled = Compiled::new(converted.model).map_err(|e| e.to_string())?;
    let native = compiled
        .run_native(&x.data)
        .map_err(|e| e.to_string())?
        .output();
    if !Diff::within(&native, &want.data, RTOL, ATOL) {
        return Err(format!(
            "native output off: {:?}",
            Diff::of(&native, &want.data)
        ));
    }
    if compiled.program.total_steps <= MAX_VM_STEPS {
        let vm = compiled.run_vm(&x.data).map_err(|e| e.to_string())?.output;
        if !vm
            .iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits()))
        {
            return Err("VM and native outputs differ".into());
        }
    }
    Ok(())
}

fn expected() -> BTreeSet<String> {
    include_str!("node_tests.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn onnx_node_tests() {
    let Some(data) = data_dir() else {
        eprintln!("VERDICT_SKIP_ONNX=1: ONNX node tests skipped");
        return;
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&data)
        .expect("node test folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() > 1000,
        "only {} node tests in {}",
        dirs.len(),
        data.display()
    );
    let mut passing = BTreeSet::new();
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        match run_case(dir) {
            Ok(()) => {
                passing.insert(name);
            }
            Err(why) => failures.push((name, why)),
        }
    }
    let listed = expected();
    let regressed: Vec<_> = failures
        .iter()
        .filter(|(n, _)| listed.contains(n))
        .collect();
    let new: Vec<_> = passing.difference(&listed).collect();
    eprintln!(
        "{} of {} node tests pass ({} listed)",
        passing.len(),
        dirs.len(),
        listed.len()
    );
    if !new.is_empty() {
        eprintln!("newly passing (add them to converter/tests/node_tests.txt):");
        for n in &new {
            eprintln!("  {n}");
        }
    }
    if std::env::var("VERDICT_NODE_TESTS_VERBOSE").as_deref() == Ok("1") {
        for (n, why) in &failures {
            eprintln!("  fails: {n}: {why}");
        }
    }
    if let Ok(path) = std::env::var("VERDICT_NODE_TESTS_WRITE") {
        let text: String = passing.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(path, text).expect("write the pass list");
    }
    let missing: Vec<_> = listed
        .iter()
        .filter(|n| !passing.contains(*n) && !failures.iter().any(|(f, _)| f == *n))
        .collect();
    assert!(
        missing.is_empty(),
        "listed node tests not found: {missing:?}"
    );
    assert!(
        regressed.is_empty(),
        "listed node tests regressed:\n{}",
        regressed
            .iter()
            .map(|(n, why)| format!("  {n}: {why}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
