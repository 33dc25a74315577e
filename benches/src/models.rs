//! Whole ONNX models: conversion time, then the native engine's inference
//! (`Compiled::infer`) against tract's optimized plan on the same input in
//! the same process, with one rayon thread and with all of them; the
//! native run that keeps every tensor (a challenger's) on one thread; the
//! VM too where it is quick; and onnxruntime, the engine users pick, on the
//! same input with one thread and with as many as rayon has
//! (`models/ort_time.py` in the test environment's Python, timed inside
//! Python: no start-up).
//!
//! The digits models and the tiny transformers are bundled; the onnx
//! wheel's light models are read from `$VERDICT_ONNX_NODE_DATA/../light`
//! (as the converter's tests do), GPT-2 124M from the directory
//! `$VERDICT_BENCH_GPT2` that `models/export_gpt2.py DIR 16` writes; each is
//! skipped with a note when absent. `--quick` runs the digits models only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tract_onnx::prelude::{IntoRunnable, TypedModel};
use verdict_converter::check::{Diff, TractPlan, run_plan};
use verdict_converter::npy::{self, Array};
use verdict_converter::tensor_io::{Pixels, read_input};
use verdict_converter::{Converted, InputShape, Inputs, convert_file};
use verdict_dnn::engine::Compiled;

use crate::dnn::values;
use crate::{Figure, Options, median_time};

/// A model to measure.
struct Case {
    /// Name used in the figures.
    name: &'static str,
    file: PathBuf,
    /// Its inputs, in the graph's order.
    feeds: Vec<Feed>,
    /// Run the VM too (only where it takes milliseconds).
    vm: bool,
}

/// One input of a case.
struct Feed {
    /// The graph's name for it (needed where a graph has several).
    name: Option<&'static str>,
    shape: Vec<usize>,
    /// The `.npy` file of its values; pseudo-random values in [-0.5, 0.5)
    /// when none.
    file: Option<PathBuf>,
}

impl Feed {
    fn random(shape: &[usize]) -> Feed {
        Feed {
            name: None,
            shape: shape.to_vec(),
            file: None,
        }
    }

    fn values(&self) -> Result<Vec<f32>> {
        match &self.file {
            None => Ok(values(7, self.shape.iter().product())),
            Some(file) => read_input(file, &self.shape, Pixels::Unit)
                .with_context(|| format!("reading {}", file.display())),
        }
    }
}

/// The light models that convert, cheapest first.
const LIGHT: &[(&str, &str)] = &[
    ("squeezenet", "light_squeezenet"),
    ("shufflenet", "light_shufflenet"),
    ("resnet50", "light_resnet50"),
    ("densenet121", "light_densenet121"),
    ("inception_v2", "light_inception_v2"),
    ("vgg19", "light_vgg19"),
];

/// The bundled transformers (`models/transformers`, torch's exports) and
/// their inputs, each of shape [1, 16], read from `{stem}.{input}.npy`.
const TRANSFORMERS: &[(&str, &str, &[&str])] = &[
    ("gpt2_tiny", "gpt2_tiny_sdpa", &["input_ids"]),
    (
        "bert_tiny",
        "bert_tiny",
        &["input_ids", "attention_mask", "token_type_ids"],
    ),
    ("llama_tiny", "llama_tiny", &["input_ids"]),
];

/// A transformer of `dir` whose inputs are token rows of 16.
fn transformer(name: &'static str, dir: &Path, stem: &str, inputs: &[&'static str]) -> Case {
    Case {
        name,
        file: dir.join(format!("{stem}.onnx")),
        feeds: inputs
            .iter()
            .map(|&input| Feed {
                name: Some(input),
                shape: vec![1, 16],
                file: Some(dir.join(format!("{stem}.{input}.npy"))),
            })
            .collect(),
        vm: false,
    }
}

fn cases(opts: &Options) -> Vec<Case> {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut cases = vec![
        Case {
            name: "digits_mlp",
            file: bundled.join("digits_mlp.onnx"),
            feeds: vec![Feed::random(&[1, 64])],
            vm: true,
        },
        Case {
            name: "digits_cnn",
            file: bundled.join("digits_cnn.onnx"),
            feeds: vec![Feed::random(&[1, 1, 8, 8])],
            vm: true,
        },
    ];
    if opts.quick {
        return cases;
    }
    let dir = bundled.join("transformers");
    cases.extend(
        TRANSFORMERS
            .iter()
            .map(|&(name, stem, inputs)| transformer(name, &dir, stem, inputs)),
    );
    match std::env::var_os("VERDICT_ONNX_NODE_DATA") {
        Some(node) => {
            let light = PathBuf::from(node).join("../light");
            cases.extend(LIGHT.iter().map(|&(name, stem)| Case {
                name,
                file: light.join(format!("{stem}.onnx")),
                feeds: vec![Feed::random(&[1, 3, 224, 224])],
                vm: false,
            }));
        }
        None => eprintln!(
            "note: VERDICT_ONNX_NODE_DATA is not set; the onnx light models are skipped \
             (scripts/test installs them under .venv)"
        ),
    }
    match std::env::var_os("VERDICT_BENCH_GPT2") {
        Some(gpt2) => cases.push(transformer(
            "gpt2_124m",
            Path::new(&gpt2),
            "gpt2_124m",
            &["input_ids"],
        )),
        None => eprintln!(
            "note: VERDICT_BENCH_GPT2 is not set; GPT-2 124M is skipped \
             (benches/models/export_gpt2.py DIR 16 writes it)"
        ),
    }
    cases
}

pub(crate) fn run(opts: &Options) -> Vec<Figure> {
    let runs = if opts.quick { 3 } else { 7 };
    let one = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("note: no single-thread pool ({e}); the model figures are skipped");
            return Vec::new();
        }
    };
    let mut out = vec![Figure {
        name: "models_rayon_threads".into(),
        value: rayon::current_num_threads() as f64,
        unit: "threads (all-threads figures)",
    }];
    for case in cases(opts) {
        if !case.file.exists() {
            eprintln!(
                "note: {} skipped: {} does not exist",
                case.name,
                case.file.display()
            );
            continue;
        }
        match measure(&case, runs, &one) {
            Ok(figures) => out.extend(figures),
            Err(e) => eprintln!("note: {} skipped: {e:#}", case.name),
        }
    }
    out
}

/// tract's optimized plan, as `dnnc check` runs it.
fn tract_plan(model: TypedModel) -> Result<TractPlan> {
    model
        .into_optimized()
        .context("optimizing the tract model")?
        .into_runnable()
        .context("planning the tract model")
}

fn measure(case: &Case, runs: usize, one: &rayon::ThreadPool) -> Result<Vec<Figure>> {
    let specs: Vec<InputShape> = case
        .feeds
        .iter()
        .map(|f| InputShape {
            name: f.name.map(Into::into),
            dims: f.shape.clone(),
        })
        .collect();
    let start = Instant::now();
    let Converted { tract, model } =
        convert_file(&case.file, &Inputs::from(specs), &mut |_, _| {})?;
    let compiled = Compiled::new(model).context("compiling the converted model")?;
    let convert_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let plan = tract_plan(tract)?;
    let optimize_s = start.elapsed().as_secs_f64();
    let parts = case
        .feeds
        .iter()
        .map(Feed::values)
        .collect::<Result<Vec<_>>>()?;
    let tract_inputs: Vec<(&[usize], &[f32])> = case
        .feeds
        .iter()
        .zip(&parts)
        .map(|(f, v)| (f.shape.as_slice(), v.as_slice()))
        .collect();
    let x = native_input(&compiled, case, &parts)?;

    let native = compiled
        .run_native(&x)
        .context("running natively")?
        .output();
    let want = run_plan(&plan, &tract_inputs)?;
    let diff = Diff::of(&native, &want);

    let inferred = compiled
        .infer(&x)
        .context("running natively, output only")?;
    let t_tract = median_time(runs, || (), |()| run_plan(&plan, &tract_inputs));
    let t_native = median_time(runs, || (), |()| compiled.infer(&x));
    let t_native_1 = one.install(|| median_time(runs, || (), |()| compiled.infer(&x)));
    // Keeping every tensor, as a challenger does to rebuild any op
    // boundary's state.
    let t_states_1 = one.install(|| {
        median_time(
            runs,
            || (),
            |()| compiled.run_native(&x).map(|r| r.output()),
        )
    });

    let ms = |t: Duration| t.as_secs_f64() * 1e3;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let name = case.name;
    let mut figures = vec![
        Figure {
            name: format!("{name}_convert_s"),
            value: convert_s,
            unit: "s (ONNX to compiled model)",
        },
        Figure {
            name: format!("{name}_tract_optimize_s"),
            value: optimize_s,
            unit: "s (tract plan)",
        },
        Figure {
            name: format!("{name}_tract_ms"),
            value: ms(t_tract),
            unit: "ms (tract optimized plan)",
        },
        Figure {
            name: format!("{name}_native_ms_1thread"),
            value: ms(t_native_1),
            unit: "ms",
        },
        Figure {
            name: format!("{name}_native_ms"),
            value: ms(t_native),
            unit: "ms (all threads)",
        },
        Figure {
            name: format!("{name}_native_with_states_ms_1thread"),
            value: ms(t_states_1),
            unit: "ms (every tensor kept)",
        },
        Figure {
            name: format!("{name}_native_1thread_over_tract"),
            value: t_native_1.as_secs_f64() / t_tract.as_secs_f64(),
            unit: "x (target <= 1)",
        },
        Figure {
            name: format!("{name}_native_over_tract"),
            value: t_native.as_secs_f64() / t_tract.as_secs_f64(),
            unit: "x (target <= 1)",
        },
        Figure {
            name: format!("{name}_program_steps"),
            value: compiled.program.total_steps as f64,
            unit: "VM steps",
        },
        Figure {
            name: format!("{name}_max_abs_diff_vs_tract"),
            value: f64::from(diff.max_abs),
            unit: "",
        },
        Figure {
            name: format!("{name}_output_only_equals_native"),
            value: f64::from(u8::from(bits(&inferred) == bits(&native))),
            unit: "(1 = same bits)",
        },
    ];
    if case.vm {
        let vm = compiled.run_vm(&x).context("running on the VM")?;
        let same = vm
            .output
            .iter()
            .map(|v| v.to_bits())
            .eq(native.iter().map(|v| v.to_bits()));
        let t_vm = median_time(runs, || (), |()| compiled.run_vm(&x).map(|r| r.output));
        figures.extend([
            Figure {
                name: format!("{name}_vm_steps"),
                value: vm.machine.core.step as f64,
                unit: "steps",
            },
            Figure {
                name: format!("{name}_vm_ms"),
                value: ms(t_vm),
                unit: "ms",
            },
            Figure {
                name: format!("{name}_vm_equals_native"),
                value: f64::from(u8::from(same)),
                unit: "(1 = same bits)",
            },
        ]);
    }
    match onnxruntime(case, &parts, runs) {
        Ok(Some(ort)) => {
            let all = rayon::current_num_threads();
            figures.extend([
                Figure {
                    name: format!("{name}_onnxruntime_ms_1thread"),
                    value: ms(ort.one),
                    unit: "ms (onnxruntime)",
                },
                Figure {
                    name: format!("{name}_onnxruntime_ms"),
                    value: ms(ort.all),
                    unit: "ms (onnxruntime, as many threads as rayon)",
                },
                Figure {
                    name: format!("{name}_native_1thread_over_onnxruntime"),
                    value: t_native_1.as_secs_f64() / ort.one.as_secs_f64(),
                    unit: "x (one thread each)",
                },
                Figure {
                    name: format!("{name}_native_over_onnxruntime"),
                    value: t_native.as_secs_f64() / ort.all.as_secs_f64(),
                    unit: if all == 1 {
                        "x (one thread each)"
                    } else {
                        "x (all threads each)"
                    },
                },
                Figure {
                    name: format!("{name}_max_abs_diff_vs_onnxruntime"),
                    value: f64::from(Diff::of(&native, &ort.output).max_abs),
                    unit: "",
                },
            ]);
        }
        Ok(None) => {}
        Err(e) => eprintln!("note: {name}: onnxruntime skipped: {e:#}"),
    }
    Ok(figures)
}

/// The native engine's one input: the parts in the order of the model's
/// input ports.
fn native_input(compiled: &Compiled, case: &Case, parts: &[Vec<f32>]) -> Result<Vec<f32>> {
    if let [one] = parts {
        return Ok(one.clone());
    }
    let mut x = Vec::new();
    for port in compiled.model.input_ports() {
        let i = case
            .feeds
            .iter()
            .position(|f| f.name == Some(port.name.as_str()))
            .with_context(|| format!("no values for the input `{}`", port.name))?;
        x.extend_from_slice(&parts[i]);
    }
    Ok(x)
}

/// onnxruntime's figures on one case.
struct Ort {
    /// Median time on one thread.
    one: Duration,
    /// Median time on as many threads as rayon has.
    all: Duration,
    /// Its first output.
    output: Vec<f32>,
}

/// The Python that runs onnxruntime: `$VERDICT_PYTHON`, else the test
/// environment's `.venv`.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("VERDICT_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        PathBuf::from,
    );
    python.exists().then_some(python)
}

/// onnxruntime on the case's inputs (`None`, with a note, without Python):
/// `models/ort_time.py` in a child process, fed the case's `.npy` files, or
/// files written here for pseudo-random inputs.
fn onnxruntime(case: &Case, parts: &[Vec<f32>], runs: usize) -> Result<Option<Ort>> {
    let Some(python) = python() else {
        eprintln!(
            "note: no Python at $VERDICT_PYTHON or .venv/bin/python; the onnxruntime figures \
             are skipped (scripts/test installs the .venv)"
        );
        return Ok(None);
    };
    let scratch = std::env::temp_dir().join(format!(
        "verdict-benches-{}-{}",
        std::process::id(),
        case.name
    ));
    std::fs::create_dir_all(&scratch).context("creating a scratch directory")?;
    let result = (|| {
        let mut files = Vec::new();
        for (i, (feed, values)) in case.feeds.iter().zip(parts).enumerate() {
            files.push(match &feed.file {
                Some(file) => file.clone(),
                None => {
                    let file = scratch.join(format!("input{i}.npy"));
                    let array = Array {
                        shape: feed.shape.clone(),
                        data: values.clone(),
                    };
                    std::fs::write(&file, npy::write(&array)).context("writing an input")?;
                    file
                }
            });
        }
        let out = scratch.join("output.npy");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ort_time.py");
        let time = |threads: usize| -> Result<Duration> {
            let run = Command::new(&python)
                .arg(&script)
                .arg(&case.file)
                .arg(threads.to_string())
                .arg(runs.to_string())
                .arg(&out)
                .args(&files)
                .output()
                .with_context(|| format!("starting {}", python.display()))?;
            if !run.status.success() {
                bail!("{}", String::from_utf8_lossy(&run.stderr).trim());
            }
            let ms: f64 = String::from_utf8_lossy(&run.stdout)
                .trim()
                .parse()
                .context("reading onnxruntime's time")?;
            Ok(Duration::from_secs_f64(ms / 1e3))
        };
        let one = time(1)?;
        let all = time(rayon::current_num_threads())?;
        let output = npy::read(&std::fs::read(&out).context("reading onnxruntime's output")?)?.data;
        Ok(Some(Ort { one, all, output }))
    })();
    // A scratch file left behind is harmless; its error would hide the result's.
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
