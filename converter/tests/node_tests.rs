//! The ONNX backend node tests (from the `onnx` wheel that `scripts/test`
//! installs): every test whose first input is binary32, integer or boolean
//! (held as binary32 values) and whose model converts, with its other inputs bound as constants and its first output
//! selected, is run on both engines against that expected output. The tests
//! listed in `node_tests.txt` must pass; newly passing ones are printed.
//! `VERDICT_NODE_TESTS_VERBOSE=1` prints why each other test fails;
//! `VERDICT_NODE_TESTS_WRITE=FILE` writes the list of passing tests.
//!
//! It also prints the coverage of the op set verdict targets: the share of
//! the node tests made only of those ops that pass, and why the others fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tract_onnx::pb::GraphProto;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::prelude::Framework;
use verdict_converter::check::Diff;
use verdict_converter::tensor_io::{read_pb, read_tensor};
use verdict_converter::{Constant, ConvertError, InputShape, Inputs, convert_bytes};
use verdict_dnn::engine::Compiled;

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;
/// The ONNX ops verdict models are meant to cover; a node test is in the op
/// set when every node of its graph is one of these.
const OP_SET: &[&str] = &[
    "MatMul",
    "Gemm",
    "Conv",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Pow",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "Exp",
    "Log",
    "Sqrt",
    "Erf",
    "Gelu",
    "Softmax",
    "LogSoftmax",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Slice",
    "Gather",
    "Squeeze",
    "Unsqueeze",
    "Pad",
];
/// Why a test whose input verdict does not hold is skipped.
const NOT_FLOAT: &str = "skipped: input 0 is not f32, an integer or a boolean";
/// The element types of a first input verdict holds: f32 itself, integers
/// and booleans as binary32 values.
const HELD: &[DataType] = &[
    DataType::Float,
    DataType::Bool,
    DataType::Int8,
    DataType::Int16,
    DataType::Int32,
    DataType::Int64,
    DataType::Uint8,
    DataType::Uint16,
    DataType::Uint32,
    DataType::Uint64,
];
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

/// Why a node test does not pass: `reason` groups like failures, `detail`
/// is the whole message.
struct Failure {
    reason: String,
    detail: String,
}

impl Failure {
    fn new(reason: impl Into<String>, detail: impl ToString) -> Failure {
        Failure {
            reason: reason.into(),
            detail: detail.to_string(),
        }
    }

    fn convert(e: &ConvertError) -> Failure {
        let reason = match e {
            ConvertError::Unsupported(nodes) => {
                let ops: BTreeSet<&str> = nodes.0.iter().map(|u| u.op.as_str()).collect();
                format!(
                    "unsupported tract op(s): {}",
                    ops.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
            ConvertError::Tract { stage, .. } => format!("tract failed {stage}"),
            ConvertError::Arity { .. } => "no input or no output".into(),
            ConvertError::DatumType { what, .. } => format!("{what} not f32"),
            ConvertError::ConstantOutput(_) => "constant output".into(),
            other => other.to_string(),
        };
        Failure::new(reason, e)
    }
}

/// Runs one node test: `Ok(())` if it passes, else why not. The first input
/// is the model's input; the others are bound as constants.
fn run_case(dir: &Path, bytes: &[u8], graph: &GraphProto) -> Result<(), Failure> {
    let set = dir.join("test_data_set_0");
    // Several outputs: the first is converted and checked (verdict models
    // have one output).
    let output = graph.output.first().map(|o| o.name.clone());
    let files: Vec<PathBuf> = (0..)
        .map(|i| set.join(format!("input_{i}.pb")))
        .take_while(|p| p.exists())
        .collect();
    let initialized: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let names: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !initialized.contains(n))
        .collect();
    if files.is_empty() || files.len() != names.len() {
        return Err(Failure::new(
            "test data and graph inputs differ",
            format!("{} input files for inputs {names:?}", files.len()),
        ));
    }
    let tensor =
        |path: &Path| read_tensor(path).map_err(|e| Failure::new("reading the test data", e));
    let dt = tensor(&files[0])?.data_type;
    if !HELD.iter().any(|&h| h as i32 == dt) {
        return Err(Failure::new(NOT_FLOAT, ""));
    }
    let read = |path: &Path| read_pb(path).map_err(|e| Failure::new("reading the test data", e));
    let x = read(&files[0])?;
    let want = read(&set.join("output_0.pb"))?;
    let constants = names[1..]
        .iter()
        .zip(&files[1..])
        .map(|(name, file)| {
            Ok(Constant {
                name: (*name).to_owned(),
                tensor: tensor(file)?,
            })
        })
        .collect::<Result<_, Failure>>()?;
    let inputs = Inputs {
        shapes: vec![InputShape {
            name: Some(names[0].to_owned()),
            dims: x.shape.clone(),
        }],
        constants,
        output,
        ..Inputs::default()
    };
    let converted = convert_bytes(bytes, Some(dir), "node", &inputs, &mut |_, _| {})
        .map_err(|e| Failure::convert(&e))?;
    let compiled = Compiled::new(converted.model).map_err(|e| Failure::new("compiling", e))?;
    let native = compiled
        .run_native(&x.data)
        .map_err(|e| Failure::new("native run failed", e))?
        .output();
    if !Diff::within(&native, &want.data, RTOL, ATOL) {
        return Err(Failure::new(
            "native output off",
            format!("{:?}", Diff::of(&native, &want.data)),
        ));
    }
    if compiled.program.total_steps <= MAX_VM_STEPS {
        let vm = compiled
            .run_vm(&x.data)
            .map_err(|e| Failure::new("VM run failed", e))?
            .output;
        if !vm
            .iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits()))
        {
            return Err(Failure::new("VM and native outputs differ", ""));
        }
    }
    Ok(())
}

/// Whether every node of the graph is an op of [`OP_SET`].
fn in_op_set(graph: &GraphProto) -> bool {
    graph
        .node
        .iter()
        .all(|n| OP_SET.contains(&n.op_type.as_str()))
}

/// Prints how many of `cases` pass, and the others grouped by reason.
fn report_coverage(title: &str, cases: &[&(String, Result<(), Failure>)]) {
    let pass = cases.iter().filter(|(_, r)| r.is_ok()).count();
    let percent = 100.0 * pass as f64 / cases.len().max(1) as f64;
    eprintln!(
        "{title}: {pass} of {} node tests pass on both engines ({percent:.1} %)",
        cases.len()
    );
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, result) in cases {
        if let Err(f) = result {
            groups.entry(&f.reason).or_default().push(name);
        }
    }
    for (reason, names) in groups {
        eprintln!("  {reason} ({}): {}", names.len(), names.join(", "));
    }
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
    let mut results = Vec::new();
    let mut op_set = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let bytes = std::fs::read(dir.join("model.onnx")).expect("model.onnx");
        let graph = tract_onnx::onnx()
            .proto_model_for_read(&mut &*bytes)
            .ok()
            .and_then(|proto| proto.graph)
            .unwrap_or_else(|| panic!("{name}: model.onnx has no graph"));
        op_set.push(in_op_set(&graph));
        results.push((name, run_case(dir, &bytes, &graph)));
    }
    let passing: BTreeSet<String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| n.clone())
        .collect();
    let failures: Vec<(&String, &Failure)> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|f| (n, f)))
        .collect();
    let listed = expected();
    let regressed: Vec<_> = failures
        .iter()
        .filter(|(n, _)| listed.contains(*n))
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
            eprintln!("  fails: {n}: {}: {}", why.reason, why.detail);
        }
    }
    let in_set: Vec<_> = results
        .iter()
        .zip(&op_set)
        .filter_map(|(case, &in_set)| in_set.then_some(case))
        .collect();
    report_coverage("op set", &in_set);
    let unexpanded: Vec<_> = in_set
        .iter()
        .copied()
        .filter(|(n, _)| !n.ends_with("_expanded") && !n.ends_with("_expanded_ver18"))
        .collect();
    report_coverage("op set without the _expanded tests", &unexpanded);
    // verdict's tensors are f32 (integers and booleans as their values):
    // the f16 and f64 variants of an op test arithmetic verdict does not
    // define.
    let float: Vec<_> = in_set
        .iter()
        .copied()
        .filter(|(_, r)| !matches!(r, Err(f) if f.reason == NOT_FLOAT))
        .collect();
    report_coverage("op set, tests of types verdict holds", &float);
    if let Ok(path) = std::env::var("VERDICT_NODE_TESTS_WRITE") {
        let text: String = passing.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(path, text).expect("write the pass list");
    }
    let missing: Vec<_> = listed
        .iter()
        .filter(|n| !results.iter().any(|(r, _)| r == *n))
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
            .map(|(n, why)| format!("  {n}: {}: {}", why.reason, why.detail))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
