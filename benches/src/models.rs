//! Whole ONNX models: conversion time, then the native engine's inference
//! (`Compiled::infer`) against tract's optimized plan on the same input in
//! the same process, with one rayon thread and with all of them; the
//! native run that keeps every tensor (a challenger's) on one thread; the
//! VM too where it is quick.
//!
//! The digits models are bundled; the onnx wheel's light models are read
//! from `$VERDICT_ONNX_NODE_DATA/../light` (as the converter's tests do) and
//! skipped with a note when absent. `--quick` runs the digits models only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use tract_onnx::prelude::{IntoRunnable, TypedModel};
use verdict_converter::check::{Diff, TractPlan, run_plan};
use verdict_converter::{Converted, InputShape, Inputs, convert_file};
use verdict_dnn::engine::Compiled;

use crate::dnn::values;
use crate::{Figure, Options, median_time};

/// A model to measure.
struct Case {
    /// Name used in the figures.
    name: &'static str,
    file: PathBuf,
    shape: Vec<usize>,
    /// Run the VM too (only where it takes milliseconds).
    vm: bool,
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

fn cases(opts: &Options) -> Vec<Case> {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut cases = vec![
        Case {
            name: "digits_mlp",
            file: bundled.join("digits_mlp.onnx"),
            shape: vec![1, 64],
            vm: true,
        },
        Case {
            name: "digits_cnn",
            file: bundled.join("digits_cnn.onnx"),
            shape: vec![1, 1, 8, 8],
            vm: true,
        },
    ];
    if opts.quick {
        return cases;
    }
    let Some(node) = std::env::var_os("VERDICT_ONNX_NODE_DATA") else {
        eprintln!(
            "note: VERDICT_ONNX_NODE_DATA is not set; the onnx light models are skipped \
             (scripts/test installs them under .venv)"
        );
        return cases;
    };
    let light = PathBuf::from(node).join("../light");
    cases.extend(LIGHT.iter().map(|&(name, stem)| Case {
        name,
        file: light.join(format!("{stem}.onnx")),
        shape: vec![1, 3, 224, 224],
        vm: false,
    }));
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
    let spec = InputShape {
        name: None,
        dims: case.shape.clone(),
    };
    let start = Instant::now();
    let Converted { tract, model } =
        convert_file(&case.file, &Inputs::from(vec![spec]), &mut |_, _| {})?;
    let compiled = Compiled::new(model).context("compiling the converted model")?;
    let convert_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let plan = tract_plan(tract)?;
    let optimize_s = start.elapsed().as_secs_f64();
    let x = values(7, case.shape.iter().product());

    let native = compiled
        .run_native(&x)
        .context("running natively")?
        .output();
    let want = run_plan(&plan, &case.shape, &x)?;
    let diff = Diff::of(&native, &want);

    let inferred = compiled
        .infer(&x)
        .context("running natively, output only")?;
    let t_tract = median_time(runs, || (), |()| run_plan(&plan, &case.shape, &x));
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

    let ms = |t: std::time::Duration| t.as_secs_f64() * 1e3;
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
    Ok(figures)
}
