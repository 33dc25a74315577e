//! `dnnc`: convert, inspect, run and check verdict models.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tracing::info;
use verdict_converter::args::{PromptArgs, SamplingArgs};
use verdict_converter::check::{Diff, run_tract};
use verdict_converter::generate::{Generate, convert_generation};
use verdict_converter::inspect::Summary;
use verdict_converter::profile::Profile;
use verdict_converter::tensor_io::Pixels;
use verdict_converter::text::TextStream;
use verdict_converter::{Constant, InputShape, Inputs, Preprocess, load, registry, tensor_io};
use verdict_dnn::engine::Compiled;
use verdict_dnn::generation::Sampling;
use verdict_dnn::ir::{Port, split};
use verdict_dnn::ops::decode::Encoding;
use verdict_dnn::package::Package;
use verdict_dnn::schema::{PartSchema, Schema};

/// ONNX models to verdict `.dnn` packages, and tools to look at and run them.
#[derive(Parser)]
#[command(name = "dnnc", version, about)]
struct Cli {
    /// Log more (repeat for more); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an ONNX model into a `.dnn` package.
    Convert {
        /// The ONNX model.
        model: PathBuf,
        /// Where to write the package.
        #[arg(short, long)]
        output: PathBuf,
        /// Fix an input shape: `NAME=1x3x224x224` (or `1x3x224x224` for the
        /// only input). Needed when the model's input shape is symbolic.
        #[arg(long = "input-shape", env = "DNNC_INPUT_SHAPE", value_delimiter = ';')]
        input_shape: Vec<String>,
        /// Bind a graph input to a constant: `NAME=FILE`, FILE a `.npy` or
        /// ONNX `.pb` tensor of the input's element type (int64 indices,
        /// shapes, axes, weights). Repeat for several; the model must keep
        /// exactly one other input.
        #[arg(long = "constant", value_name = "NAME=FILE")]
        constant: Vec<String>,
        /// Convert only this graph output, for a model with several.
        #[arg(long = "graph-output", value_name = "NAME")]
        graph_output: Option<String>,
        /// Take the input as packed integers, `u8` (image bytes) or `u16`
        /// (token ids): a quarter or half the calldata of a claim. The
        /// VM program widens them before the graph reads them.
        #[arg(long = "input-encoding", value_name = "u8|u16", value_parser = parse_encoding)]
        input_encoding: Option<Encoding>,
        /// Divide every input value by this first (255: bytes to [0, 1]).
        #[arg(long = "input-divide", value_name = "D")]
        input_divide: Option<f32>,
        /// Then subtract these, one per channel (axis 1) or one for all:
        /// `0.485,0.456,0.406`.
        #[arg(long = "input-mean", value_name = "M,...", value_delimiter = ',')]
        input_mean: Vec<f32>,
        /// Then divide by these, one per channel (axis 1) or one for all:
        /// `0.229,0.224,0.225`.
        #[arg(long = "input-std", value_name = "S,...", value_delimiter = ',')]
        input_std: Vec<f32>,
        /// Unroll a decoder exported with its KV cache (past key and value
        /// inputs, present outputs) into a generation program: it prefills
        /// `--prompt-len` token ids and decodes `--max-new-tokens` tokens
        /// greedily. Its input is the prompt, its output the new tokens.
        #[arg(long, requires_all = ["prompt_len", "max_new_tokens"])]
        generate: bool,
        /// Tokens in every prompt of a generation package.
        #[arg(long, value_name = "N", requires = "generate")]
        prompt_len: Option<usize>,
        /// Tokens a generation package generates.
        #[arg(long, value_name = "N", requires = "generate")]
        max_new_tokens: Option<usize>,
        /// End-of-sequence id: every token generated after it is this id.
        #[arg(long, value_name = "ID", requires = "generate")]
        eos: Option<u32>,
        /// Draw tokens with a seed, temperature, top-k and top-p that every
        /// prompt carries (`dnnc generate --seed ...`), instead of greedily.
        #[arg(long, requires = "generate")]
        sample: bool,
        /// What the input and output parts mean (JSON, docs/spec/package.md,
        /// "Schema"): value ranges, class labels, image layout. The package
        /// carries it; `dnnc run`, `verdict` and the gateway check inputs
        /// against it and name the top classes.
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        /// The output's class labels, one a line (for a model with one
        /// output; added to `--schema`).
        #[arg(long, value_name = "FILE")]
        labels: Option<PathBuf>,
        /// A `tokenizer.json` for the generation package to carry (and
        /// commit by its hash): `dnnc generate --prompt TEXT`, `verdict`
        /// and the gateway read text through it.
        #[arg(long, value_name = "FILE", requires = "generate")]
        tokenizer: Option<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Generate tokens with a generation package (`dnnc convert
    /// --generate`), printing each as soon as it is made.
    Generate {
        /// The package.
        package: PathBuf,
        #[command(flatten)]
        prompt: PromptArgs,
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Which engine runs it (the native engine and the VM show each
        /// token as its pass ends; the GPU gives them all at the end).
        #[arg(long, value_enum, default_value_t = Engine::Native)]
        engine: Engine,
        /// The OpenCL device of `--engine gpu` (see `dnnc run`).
        #[arg(long, env = "VERDICT_GPU_DEVICE", default_value = "default")]
        device: String,
        /// Print JSON lines: one per token, then a summary.
        #[arg(long)]
        json: bool,
        /// Generate this many times (the tokens shown once, every run
        /// checked to give them) and report the median timings.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
    },
    /// Show a package: ops, shapes, parameters, memory, VM steps, image root.
    Inspect {
        /// The package.
        package: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a package on one input.
    Run {
        /// The package.
        package: PathBuf,
        /// The input: `.npy`, `.json` (nested arrays) or `.png` (image
        /// models; values scaled to [0, 1]). A model converted from a graph
        /// with several inputs takes each as `NAME=FILE`.
        #[arg(short, long, value_name = "[NAME=]FILE", required = true)]
        input: Vec<String>,
        /// Which engine runs it.
        #[arg(long, value_enum, default_value_t = Engine::Native)]
        engine: Engine,
        /// The OpenCL device of `--engine gpu`: `default` (the first exact
        /// GPU, else the first exact device) or PLATFORM:DEVICE from `dnnc
        /// devices`.
        #[arg(long, env = "VERDICT_GPU_DEVICE", default_value = "default")]
        device: String,
        /// Write the output here (`.npy` or `.json`) instead of printing it;
        /// for a model with several outputs, a folder that receives
        /// `NAME.npy` for each.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Run this many times and report the median time.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Time every op (median over `--repeat`) and print where the time
        /// goes, with the VM steps of each op and, on `--engine vm`, the
        /// VM's speed on it.
        #[arg(long)]
        profile: bool,
        /// Print JSON (output, argmax, timing).
        #[arg(long)]
        json: bool,
    },
    /// Compare a package with tract's own inference of the ONNX model, and
    /// the VM with the native engine.
    Check {
        /// The ONNX model.
        model: PathBuf,
        /// The package converted from it.
        package: PathBuf,
        /// The input: `.npy`, `.json` or `.png`.
        #[arg(short, long)]
        input: PathBuf,
        /// The constants the package was converted with: `NAME=FILE`.
        #[arg(long = "constant", value_name = "NAME=FILE")]
        constant: Vec<String>,
        /// The graph output the package was converted for.
        #[arg(long = "graph-output", value_name = "NAME")]
        graph_output: Option<String>,
        /// Skip the VM (slow on large models).
        #[arg(long)]
        no_vm: bool,
        /// Relative tolerance against tract.
        #[arg(long, default_value_t = 1e-4)]
        rtol: f32,
        /// Absolute tolerance against tract.
        #[arg(long, default_value_t = 1e-5)]
        atol: f32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the OpenCL devices and whether each can run the GPU engine
    /// bit-exactly (needs a build with the `gpu` feature).
    Devices {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the supported ops (the table of docs/ops.md).
    Ops {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// The native fast path.
    Native,
    /// The dispute VM (the reference; slow).
    Vm,
    /// The OpenCL engine (a build with the `gpu` feature), same bits.
    Gpu,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default = ["warn", "info", "debug", "trace"][usize::from(cli.verbose.min(3))];
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", report(&e));
            std::process::ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the
/// message already holds (library errors often print their source).
fn report(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// Writes to stdout; a closed pipe (`dnnc ... | head`) is not an error.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Runs a command; `Ok(false)` when a check found a mismatch.
fn run(command: Command) -> Result<bool> {
    match command {
        Command::Convert {
            model,
            output,
            input_shape,
            constant,
            graph_output,
            input_encoding,
            input_divide,
            input_mean,
            input_std,
            generate,
            prompt_len,
            max_new_tokens,
            eos,
            sample,
            schema,
            labels,
            tokenizer,
            json,
        } => {
            let schema = read_schema(schema.as_deref(), labels.as_deref())?;
            let tokenizer = tokenizer
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading tokenizer {}", path.display()))
                })
                .transpose()?;
            let generate = generate.then(|| Generate {
                prompt_len: prompt_len.unwrap_or_default(),
                max_new_tokens: max_new_tokens.unwrap_or_default(),
                eos,
                sampled: sample,
                tokenizer,
            });
            let inputs = Inputs {
                shapes: input_shape
                    .iter()
                    .map(|s| s.parse::<InputShape>())
                    .collect::<Result<_, _>>()?,
                constants: constants(&constant)?,
                output: graph_output,
                preprocess: Preprocess {
                    encoding: input_encoding,
                    divide: input_divide,
                    mean: input_mean,
                    std: input_std,
                },
            };
            let how = (generate.as_ref(), schema);
            convert(&model, &output, &inputs, how, json).map(|()| true)
        }
        Command::Generate {
            package,
            prompt,
            sampling,
            engine,
            device,
            json,
            repeat,
        } => {
            if !prompt.given() {
                bail!("give the prompt: --prompt-ids ID,... or --prompt TEXT");
            }
            let prompt = (&prompt, sampling.sampling());
            generate_tokens(&package, prompt, (engine, &device), (json, repeat)).map(|()| true)
        }
        Command::Inspect { package, json } => {
            let summary = Summary::of(&load_package(&package)?);
            if json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&summary)?))?;
            } else {
                emit(&summary.to_string())?;
            }
            Ok(true)
        }
        Command::Run {
            package,
            input,
            engine,
            device,
            output,
            repeat,
            profile,
            json,
        } => run_package(
            &package,
            &input,
            (engine, &device),
            (repeat, profile),
            output.as_deref(),
            json,
        )
        .map(|()| true),
        Command::Devices { json } => list_devices(json).map(|()| true),
        Command::Check {
            model,
            package,
            input,
            constant,
            graph_output,
            no_vm,
            rtol,
            atol,
            json,
        } => check(
            &model,
            &package,
            (&input, &constants(&constant)?, graph_output.as_deref()),
            !no_vm,
            (rtol, atol),
            json,
        ),
        Command::Ops { json } => {
            if json {
                let ops: Vec<_> = registry::REGISTRY
                    .iter()
                    .map(|e| json!({"tract": e.tract, "onnx": e.onnx, "verdict": e.verdict}))
                    .collect();
                emit(&format!("{}\n", serde_json::to_string_pretty(&ops)?))?;
            } else {
                emit(&registry::markdown())?;
            }
            Ok(true)
        }
    }
}

fn load_package(path: &Path) -> Result<Package> {
    Package::load(path).with_context(|| format!("loading package {}", path.display()))
}

/// Parses `--input-encoding`.
fn parse_encoding(name: &str) -> Result<Encoding, String> {
    Encoding::parse(name).ok_or_else(|| format!("`{name}`: expected u8 or u16"))
}

/// Reads `--constant NAME=FILE` arguments.
fn constants(specs: &[String]) -> Result<Vec<Constant>> {
    specs
        .iter()
        .map(|spec| {
            let (name, file) = spec
                .split_once('=')
                .filter(|(name, file)| !name.is_empty() && !file.is_empty())
                .with_context(|| format!("--constant `{spec}`: expected NAME=FILE"))?;
            let tensor = tensor_io::read_tensor(Path::new(file))?;
            Ok(Constant {
                name: name.to_owned(),
                tensor,
            })
        })
        .collect()
}

/// The schema `--schema` and `--labels` give, if any: the file's, with the
/// labels as its one output's.
fn read_schema(schema: Option<&Path>, labels: Option<&Path>) -> Result<Option<Schema>> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    let mut parsed = match schema {
        Some(path) => Some(
            serde_json::from_str::<Schema>(&read(path)?)
                .with_context(|| format!("{} is not a schema", path.display()))?,
        ),
        None => None,
    };
    if let Some(path) = labels {
        let labels: Vec<String> = read(path)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let schema = parsed.get_or_insert_with(Schema::default);
        match &mut schema.outputs[..] {
            [] => schema.outputs.push(PartSchema {
                labels,
                ..PartSchema::default()
            }),
            [one] => one.labels = labels,
            _ => bail!("--labels names one output's classes; the schema names several outputs"),
        }
    }
    Ok(parsed)
}

fn convert(
    model: &Path,
    output: &Path,
    inputs: &Inputs,
    (generate, schema): (Option<&Generate>, Option<Schema>),
    json: bool,
) -> Result<()> {
    let start = Instant::now();
    let unit = if generate.is_some() {
        "passes"
    } else {
        "nodes"
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(&format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit}"))
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message("converting");
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let mut lowered = match generate {
        Some(generate) => {
            let bytes =
                std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
            let name = model
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model");
            convert_generation(
                &bytes,
                model.parent(),
                name,
                generate,
                &inputs.preprocess,
                &mut progress,
            )
            .with_context(|| model.display().to_string())?
        }
        None => verdict_converter::convert_file(model, inputs, &mut progress)?.model,
    };
    bar.finish_and_clear();
    if let Some(mut schema) = schema {
        // `--labels` alone names the one output part, whatever its name.
        if let ([part], [port]) = (&mut schema.outputs[..], &lowered.output_ports()[..])
            && part.name.is_empty()
        {
            part.name.clone_from(&port.name);
        }
        schema.check(&lowered).context("--schema")?;
        lowered.schema = Some(schema);
    }
    info!(
        nodes = lowered.nodes.len(),
        seconds = start.elapsed().as_secs_f64(),
        "lowered"
    );
    let package =
        Package::build(lowered).with_context(|| format!("compiling {}", model.display()))?;
    package
        .save(output)
        .with_context(|| format!("writing {}", output.display()))?;
    let summary = Summary::of(&package);
    let seconds = start.elapsed().as_secs_f64();
    if json {
        let v = json!({
            "package": output.display().to_string(),
            "nodes": summary.ops.len(),
            "parameters": summary.parameters,
            "total_steps": summary.total_steps,
            "image_root": summary.image_root,
            "seconds": seconds,
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        emit(&format!(
            "{} -> {}: {} ops, {} parameters, {} VM steps, image root {} ({seconds:.2} s)\n",
            model.display(),
            output.display(),
            summary.ops.len(),
            summary.parameters,
            summary.total_steps,
            summary.image_root
        ))?;
    }
    Ok(())
}

/// The model's input from `--input` values: one `[NAME=]FILE` for a model
/// with one input, `NAME=FILE` for each of several, packed in the model's
/// order.
fn read_inputs(package: &Package, given: &[String]) -> Result<Vec<f32>> {
    let ports = package.model.input_ports();
    let named: Vec<(Option<&str>, &Path)> = given
        .iter()
        .map(|g| match g.split_once('=') {
            Some((name, file)) if ports.iter().any(|p| p.name == name) => {
                (Some(name), Path::new(file))
            }
            _ => (None, Path::new(g.as_str())),
        })
        .collect();
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    let pixels = Pixels::for_encoding(package.model.input_encoding);
    let read = |port: &Port, file: &Path| -> Result<Vec<f32>> {
        let values = tensor_io::read_input(file, &port.shape, pixels)?;
        if let Some((i, why)) = values
            .iter()
            .enumerate()
            .find_map(|(i, &v)| port.kind.check(v).map(|why| (i, why)))
        {
            bail!(
                "input `{}` takes {why} at every element; {} holds {} at element {i}",
                port.name,
                file.display(),
                values[i]
            );
        }
        Ok(values)
    };
    if let ([port], [(_, file)]) = (&ports[..], &named[..]) {
        return read(port, file);
    }
    let mut x = Vec::new();
    for port in &ports {
        let Some((_, file)) = named.iter().find(|(n, _)| *n == Some(port.name.as_str())) else {
            bail!(
                "the model has inputs {}: give each as --input NAME=FILE (`{}` is missing)",
                names.join(", "),
                port.name
            );
        };
        x.extend(read(port, file)?);
    }
    if let Some((_, file)) = named.iter().find(|(n, _)| n.is_none()) {
        bail!(
            "`{}` names none of the model's inputs ({}): give each as --input NAME=FILE",
            file.display(),
            names.join(", ")
        );
    }
    Ok(x)
}

fn input_shape(package: &Package) -> Vec<usize> {
    package.model.tensors[package.model.input].shape.clone()
}

#[cfg(feature = "gpu")]
fn run_gpu(compiled: &Compiled, x: &[f32], device: &str) -> Result<Vec<f32>> {
    let choice = device.parse().map_err(anyhow::Error::msg)?;
    let engine = verdict_dnn::gpu::GpuEngine::new(std::sync::Arc::new(compiled.clone()), choice)?;
    info!(device = %engine.device(), "gpu engine");
    Ok(engine.run(x)?.output())
}

#[cfg(not(feature = "gpu"))]
fn run_gpu(_: &Compiled, _: &[f32], _: &str) -> Result<Vec<f32>> {
    bail!(NO_GPU)
}

#[cfg(not(feature = "gpu"))]
const NO_GPU: &str = "this dnnc was built without the GPU engine: build it with `--features gpu`";

#[cfg(feature = "gpu")]
fn list_devices(json: bool) -> Result<()> {
    let devices = verdict_dnn::gpu::devices()?;
    if json {
        let list: Vec<_> = devices
            .iter()
            .map(|d| json!({"device": d.to_string(), "exact": d.is_exact()}))
            .collect();
        emit(&format!("{}\n", serde_json::to_string_pretty(&list)?))
    } else {
        let lines: String = devices.iter().map(|d| format!("{d}\n")).collect();
        emit(&lines)
    }
}

#[cfg(not(feature = "gpu"))]
fn list_devices(_: bool) -> Result<()> {
    bail!(NO_GPU)
}

/// `dnnc generate`: runs a generation package on a prompt, printing each
/// token (or, with `json`, a JSON line) as soon as its pass is done; then
/// `repeat - 1` more times, silently, for the median timings.
fn generate_tokens(
    path: &Path,
    (prompt, sampling): (&PromptArgs, Option<Sampling>),
    (engine, device): (Engine, &str),
    (json, repeat): (bool, u32),
) -> Result<()> {
    let package = if engine == Engine::Native {
        Package::load_for_native(path)
            .with_context(|| format!("loading package {}", path.display()))?
    } else {
        load_package(path)?
    };
    let generation = package.model.generation.clone().with_context(|| {
        format!(
            "{} is not a generation package: convert a decoder with `dnnc convert --generate`",
            path.display()
        )
    })?;
    let text = prompt.text(generation.tokenizer.as_deref())?;
    let ids = generation.input(&package.model, &prompt.ids(text.as_ref())?, sampling)?;
    let compiled = Compiled::from_parts(package.model, package.program);
    let mut runs = Vec::new();
    let mut tokens: Option<Vec<u32>> = None;
    for _ in 0..repeat {
        let shown = tokens.is_none();
        let start = Instant::now();
        let mut first = None;
        let mut made = Vec::new();
        let mut stream = text.as_ref().filter(|_| shown).map(TextStream::new);
        let mut show = |id: u32| -> Result<()> {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            first.get_or_insert(ms);
            made.push(id);
            if !shown {
                return Ok(());
            }
            let piece = stream.as_mut().map(|s| s.push(id)).transpose()?;
            let line = match (json, piece) {
                (true, piece) => {
                    format!(
                        "{}\n",
                        json!({"index": made.len() - 1, "token": id, "text": piece, "ms": ms})
                    )
                }
                (false, Some(piece)) => piece,
                (false, None) => format!("{id} "),
            };
            emit(&line)
        };
        match engine {
            Engine::Native => {
                let mut shown = Ok(());
                compiled.infer_observed(&ids, |n, words| {
                    if shown.is_ok()
                        && let Some(id) = generation.token_of(&compiled.model, n, words)
                    {
                        shown = show(id);
                    }
                })?;
                shown?;
            }
            Engine::Vm => {
                let mut shown = Ok(());
                let nodes = generation.token_nodes(&compiled.model);
                compiled.run_vm_observed(&ids, &nodes, |_, words| {
                    if shown.is_ok() {
                        shown = show(f32::from_bits(words[0]) as u32);
                    }
                })?;
                shown?;
            }
            // The GPU gives its tokens when the whole run ends.
            Engine::Gpu => {
                for id in run_gpu(&compiled, &ids, device)? {
                    show(id as u32)?;
                }
            }
        }
        runs.push((start.elapsed().as_secs_f64(), first.unwrap_or_default()));
        match &tokens {
            Some(before) if *before != made => {
                bail!("a repeated generation gave other tokens: {made:?}, not {before:?}")
            }
            Some(_) => {}
            None => tokens = Some(made),
        }
    }
    let made = tokens.unwrap_or_default();
    let median = |at: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(at).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (seconds, first) = (median(|r| r.0), median(|r| r.1));
    let rate = made.len() as f64 / seconds;
    let text = text.as_ref().map(|t| t.decode(&made)).transpose()?;
    if json {
        let v = json!({"tokens": made, "text": text, "seconds": seconds,
                       "time_to_first_token_ms": first, "tokens_per_second": rate,
                       "runs": repeat});
        emit(&format!("{v}\n"))?;
    } else {
        emit("\n")?;
        let median = if repeat > 1 { " (medians)" } else { "" };
        eprintln!(
            "{} tokens in {seconds:.3} s: first after {first:.1} ms, {rate:.1} tokens/s{median}",
            made.len()
        );
    }
    Ok(())
}

fn argmax(v: &[f32]) -> Option<usize> {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]))
}

fn run_package(
    path: &Path,
    input: &[String],
    (engine, device): (Engine, &str),
    (repeat, profile): (u32, bool),
    output: Option<&Path>,
    json: bool,
) -> Result<()> {
    if profile && engine == Engine::Gpu {
        bail!("--profile times the native engine's ops or the VM's: not `--engine gpu`");
    }
    // A native run never reads the memory image: its root is not checked.
    let package = if engine == Engine::Native {
        Package::load_for_native(path)
            .with_context(|| format!("loading package {}", path.display()))?
    } else {
        load_package(path)?
    };
    let x = read_inputs(&package, input)?;
    if let Some(schema) = &package.model.schema {
        schema.check_input(&package.model, &x)?;
    }
    let out_shape = package.model.tensors[package.model.output].shape.clone();
    let out_ports = package.model.output_ports();
    let compiled = Compiled::from_parts(package.model, package.program);
    let mut times = Vec::new();
    let mut op_times = Vec::new();
    let mut y = Vec::new();
    for _ in 0..repeat {
        let start = Instant::now();
        y = match engine {
            Engine::Native if profile => {
                let (y, ops) = compiled.infer_profiled(&x)?;
                op_times.push(ops);
                y
            }
            Engine::Native => compiled.infer(&x)?,
            Engine::Vm if profile => {
                let (y, ops) = compiled.run_vm_profiled(&x)?;
                op_times.push(ops);
                y
            }
            Engine::Vm => compiled.run_vm(&x)?.output,
            Engine::Gpu => run_gpu(&compiled, &x, device)?,
        };
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    info!(seconds, runs = repeat, "ran");
    let classes = compiled
        .model
        .schema
        .as_ref()
        .map_or_else(Vec::new, |schema| {
            schema.top_classes(&compiled.model, &y, verdict_dnn::schema::TOP_CLASSES)
        });
    let profile = profile.then(|| {
        let engine = if engine == Engine::Vm { "vm" } else { "native" };
        let boundaries = &compiled.program.boundaries;
        Profile::of(engine, &compiled.model, boundaries, &op_times)
    });
    if let Some(out) = output {
        if let [_] = out_ports[..] {
            tensor_io::write_output(out, &out_shape, &y)?;
        } else {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            for (port, part) in out_ports.iter().zip(split(&out_ports, &y)) {
                let file = out.join(format!("{}.npy", port.name));
                tensor_io::write_output(&file, &port.shape, part)?;
            }
        }
    }
    if json {
        let v = json!({
            "shape": out_shape,
            "output": if output.is_none() { tensor_io::to_json(&out_shape, &y) } else { json!(null) },
            "argmax": argmax(&y),
            "classes": classes,
            "seconds": seconds,
            "runs": repeat,
            "profile": profile,
        });
        emit(&format!("{}\n", serde_json::to_string(&v)?))?;
    } else {
        if output.is_none() {
            emit(&format!("{}\n", tensor_io::to_json(&out_shape, &y)))?;
        }
        for c in &classes {
            emit(&format!(
                "{} {}: {} ({})\n",
                c.part, c.index, c.label, c.value
            ))?;
        }
        if let Some(profile) = profile {
            emit(&profile.to_string())?;
        }
    }
    Ok(())
}

fn check(
    model: &Path,
    package: &Path,
    (input, constants, output): (&Path, &[Constant], Option<&str>),
    vm: bool,
    (rtol, atol): (f32, f32),
    json: bool,
) -> Result<bool> {
    let package = load_package(package)?;
    if package.model.input_ports().len() > 1 || package.model.output_ports().len() > 1 {
        bail!(
            "`dnnc check` compares models of one input and one output; this one packs several \
             (compare its outputs with `dnnc run -o DIR` instead)"
        );
    }
    if let Some(encoding) = package.model.input_encoding {
        bail!(
            "`dnnc check` gives tract and the package the same input; this package takes its \
             input as {} and preprocesses it (convert the model again without the --input-* \
             options to check its graph)",
            encoding.name()
        );
    }
    let shape = input_shape(&package);
    let x = tensor_io::read_input(input, &shape, Pixels::Unit)?;
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let inference = load::parse_onnx(&bytes, model.parent(), constants, output)
        .with_context(|| format!("loading {}", model.display()))?;
    let spec = InputShape {
        name: None,
        dims: shape.clone(),
    };
    let typed = load::typed_model(inference, &[spec])
        .with_context(|| format!("typing {}", model.display()))?;
    let start = Instant::now();
    let want = run_tract(&typed, &shape, &x)?;
    let tract_seconds = start.elapsed().as_secs_f64();
    let compiled = Compiled::from_parts(package.model, package.program);
    let start = Instant::now();
    let native = compiled.run_native(&x)?.output();
    let native_seconds = start.elapsed().as_secs_f64();
    if native.len() != want.len() {
        bail!(
            "verdict gives {} values, tract {}",
            native.len(),
            want.len()
        );
    }
    let diff = Diff::of(&native, &want);
    let close = Diff::within(&native, &want, rtol, atol);
    let vm_equal = if vm {
        let y = compiled.run_vm(&x)?.output;
        Some(
            y.iter()
                .map(|v| v.to_bits())
                .eq(native.iter().map(|v| v.to_bits())),
        )
    } else {
        None
    };
    let ok = close && vm_equal != Some(false);
    if json {
        let v = json!({
            "ok": ok,
            "tract_vs_native": diff,
            "within_tolerance": close,
            "vm_equals_native": vm_equal,
            "argmax": {"tract": argmax(&want), "verdict": argmax(&native)},
            "seconds": {"tract": tract_seconds, "native": native_seconds},
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        let vm_line = match vm_equal {
            Some(true) => "bit-identical",
            Some(false) => "DIFFERENT BITS",
            None => "not run (--no-vm)",
        };
        emit(&format!(
            "tract vs verdict: max abs {:e}, max rel {:e}{} ({})\nVM vs native: {vm_line}\n\
             argmax: tract {:?}, verdict {:?}; time: tract {tract_seconds:.3} s, native {native_seconds:.3} s\n",
            diff.max_abs,
            diff.max_rel,
            if diff.nan_mismatches > 0 {
                format!(", {} NaN mismatches", diff.nan_mismatches)
            } else {
                String::new()
            },
            if close {
                "within tolerance"
            } else {
                "OUT OF TOLERANCE"
            },
            argmax(&want),
            argmax(&native)
        ))?;
    }
    Ok(ok)
}
