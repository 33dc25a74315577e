//! The GPU engine computes the VM's bits: the same output and the same
//! memory image, byte for byte, at every op boundary (`common::engine_suite!`,
//! the per-op suite the native engine runs too, against the OpenCL engine).
//! Needs an OpenCL device (PoCL on the CPU will do): without one these tests
//! fail, they do not skip.
#![cfg(feature = "gpu")]

mod common;

use std::sync::Arc;

use common::{chain, cnn, mlp, values};
use proptest::prelude::*;
use verdict_dnn::engine::Compiled;
use verdict_dnn::gpu::{DeviceChoice, GpuEngine, devices};
use verdict_dnn::ir::{Model, ModelBuilder, numel};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::gemm::Gemm;

common::engine_suite!(check_gpu_matches_vm);

/// The device `VERDICT_GPU_DEVICE` names (`PLATFORM:DEVICE`), else the
/// default one.
fn choice() -> DeviceChoice {
    std::env::var("VERDICT_GPU_DEVICE").map_or(DeviceChoice::Default, |s| {
        s.parse()
            .unwrap_or_else(|e| panic!("VERDICT_GPU_DEVICE: {e}"))
    })
}

/// The engine for `c` on the chosen device, or a failure that says why
/// there is none.
fn engine(c: &Compiled) -> GpuEngine {
    GpuEngine::new(Arc::new(c.clone()), choice()).unwrap_or_else(|e| {
        panic!("the GPU tests need an OpenCL device (scripts/test installs PoCL): {e}")
    })
}

/// Runs the VM and the GPU engine and compares the output, every byte the
/// ops wrote and the state at every op boundary, and the final state.
fn check_gpu_matches_vm(model: Model, input: &[f32]) -> Result<Compiled, TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let c = Compiled::new(model).map_err(|e| fail(&e))?;
    let vm = c.run_vm(input).map_err(|e| fail(&e))?;
    let gpu_engine = engine(&c);
    let gpu = gpu_engine.run(input).map_err(|e| fail(&e))?;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    prop_assert_eq!(bits(&vm.output), bits(&gpu.output()), "outputs differ");
    let p = &c.program;
    let mut m = c.initial_machine(input).map_err(|e| fail(&e))?;
    let mut vm_hashes = Vec::new();
    for (op, &step) in p.boundaries.iter().enumerate() {
        m.run(step - m.core.step);
        let g = gpu.machine_at(op).map_err(|e| fail(&e))?;
        if op > 0 {
            let n = op - 1;
            let node = &c.model.nodes[n];
            let mut regions = vec![(
                format!("output of `{}` ({})", node.name, node.op.name()),
                p.layout.tensors[node.output],
                numel(&c.model.tensors[node.output].shape),
            )];
            for (i, &(addr, words)) in p.layout.scratch[n].iter().enumerate() {
                regions.push((format!("scratch {i} of `{}`", node.name), addr, words));
            }
            for (what, addr, words) in regions {
                let (want, got) = (m.read_bytes(addr, 4 * words), g.read_bytes(addr, 4 * words));
                if let Some(i) =
                    (0..words).find(|&i| want[4 * i..4 * i + 4] != got[4 * i..4 * i + 4])
                {
                    let word =
                        |b: &[u8]| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
                    prop_assert!(
                        false,
                        "{} differs at word {}: VM {:#010x}, GPU {:#010x}",
                        what,
                        i,
                        word(&want),
                        word(&got)
                    );
                }
            }
        }
        let mut g = g;
        prop_assert_eq!(
            m.state_hash(),
            g.state_hash(),
            "state (memory image) differs at boundary {}",
            op
        );
        vm_hashes.push(m.state_hash());
    }
    let boundaries = gpu.boundaries().map_err(|e| fail(&e))?;
    prop_assert_eq!(
        boundaries.hashes(),
        &vm_hashes[..],
        "boundary hashes differ"
    );
    let mut end = vm.machine;
    prop_assert_eq!(
        end.state_hash(),
        gpu.final_state().map_err(|e| fail(&e))?.hash(),
        "final state differs"
    );
    Ok(c)
}

#[test]
fn an_exact_opencl_device_is_present() {
    let list = devices().unwrap_or_else(|e| panic!("{e}"));
    for d in &list {
        println!("{d}");
    }
    assert!(
        list.iter().any(|d| d.is_exact()),
        "no OpenCL device has denormals, IEEE fma and correctly rounded divide and sqrt"
    );
}

/// A number from the environment, if set.
fn env_number(name: &str) -> Option<f64> {
    let v = std::env::var(name).ok()?;
    Some(v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
}

/// Median wall time of `runs` calls of `f`, in seconds.
fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// One op on an input of `shape`, with weights of `weights` shapes.
fn single(name: &str, op: OpKind, shape: &[usize], weights: &[&[usize]]) -> Model {
    let mut mb = ModelBuilder::new(name, shape);
    let mut inputs = vec![mb.input()];
    for (i, w) in weights.iter().enumerate() {
        inputs.push(
            mb.weight(&format!("w{i}"), w, values(50 + i as u64, numel(w)))
                .unwrap(),
        );
    }
    let y = mb.node(name, op, &inputs).unwrap();
    mb.finish(y)
}

/// Representative sizes of each op family, as in a small image or text
/// model, with their floating-point operation counts where they matter.
fn per_op_models() -> Vec<(&'static str, Model, Option<f64>)> {
    use verdict_dnn::ops::binary::{Binary, BinaryOp};
    use verdict_dnn::ops::conv::Conv;
    use verdict_dnn::ops::gather::Gather;
    use verdict_dnn::ops::norm::{Norm, NormKind};
    use verdict_dnn::ops::pool::{Pool, PoolKind};
    use verdict_dnn::ops::reduce::{Reduce, ReduceKind};
    use verdict_dnn::ops::softmax::Softmax;
    use verdict_dnn::ops::transpose::Transpose;
    use verdict_dnn::ops::unary::{Unary, UnaryOp};
    use verdict_dnn::ops::window::Window;
    let image = [1, 32, 56, 56];
    let conv = Conv {
        window: Window {
            pads: [1; 4],
            ..Window::new([3, 3])
        },
        group: 1,
        relu: false,
    };
    let conv_flop = 2.0 * (32 * 56 * 56 * 32 * 9) as f64;
    let max_pool = Pool {
        kind: PoolKind::Max,
        window: Window {
            strides: [2, 2],
            ..Window::new([2, 2])
        },
    };
    let layer_norm = Norm {
        kind: NormKind::Layer,
        axes: 1..2,
        epsilon: 1e-5,
    };
    let mut mb = ModelBuilder::new("gather", &[128]);
    let table = mb
        .weight("table", &[1000, 256], values(60, 256_000))
        .unwrap();
    let rows = mb
        .node(
            "gather",
            OpKind::Gather(Gather { axis: 0 }),
            &[table, mb.input()],
        )
        .unwrap();
    let gather = mb.finish(rows);
    vec![
        (
            "Conv 3x3 32->32 on 56x56",
            single(
                "conv",
                OpKind::Conv(conv),
                &image,
                &[&[32, 32, 3, 3], &[32]],
            ),
            Some(conv_flop),
        ),
        (
            "MaxPool 2x2/2 on 32x56x56",
            single("pool", OpKind::Pool(max_pool), &image, &[]),
            None,
        ),
        (
            "Add 32x56x56 + per-channel",
            single(
                "add",
                OpKind::Binary(Binary { op: BinaryOp::Add }),
                &image,
                &[&[32, 1, 1]],
            ),
            None,
        ),
        (
            "Gelu (erf) 32x56x56",
            single(
                "gelu",
                OpKind::Unary(Unary {
                    op: UnaryOp::GeluExact,
                }),
                &image,
                &[],
            ),
            None,
        ),
        (
            "Transpose NCHW->NHWC 32x56x56",
            single(
                "transpose",
                OpKind::Transpose(Transpose {
                    perm: vec![0, 2, 3, 1],
                }),
                &image,
                &[],
            ),
            None,
        ),
        (
            "ReduceMean over HW 32x56x56",
            single(
                "reduce",
                OpKind::Reduce(Reduce {
                    kind: ReduceKind::Mean,
                    axes: vec![2, 3],
                    keepdims: true,
                }),
                &image,
                &[],
            ),
            None,
        ),
        (
            "Softmax 128 rows of 1000",
            single(
                "softmax",
                OpKind::Softmax(Softmax {
                    axis: 1,
                    log: false,
                }),
                &[128, 1000],
                &[],
            ),
            None,
        ),
        (
            "LayerNorm 128 rows of 768",
            single(
                "norm",
                OpKind::Norm(layer_norm),
                &[128, 768],
                &[&[768], &[768]],
            ),
            None,
        ),
        ("Gather 128 rows of 256 from 1000", gather, None),
    ]
}

/// Throughput of the GPU engine against the native engine, same process:
/// three whole models (the digits-sized MLP and CNN, the op-family chain),
/// a square GEMM and one model per op family. Whole
/// runs are timed: input upload, every launch, output download
/// (`scripts/gpu-check` runs it; `cargo test -p verdict-dnn --features gpu
/// --test gpu -- --ignored --nocapture throughput`).
#[test]
#[ignore = "a benchmark: run explicitly"]
fn throughput() {
    // A real GPU needs a larger product to fill it: scripts/gpu-check sets
    // 2048; the device's fp32 FMA peak, if given, turns GFLOP/s into a share.
    let size = env_number("VERDICT_GEMM_SIZE").map_or(256, |s| s as usize);
    let peak = env_number("VERDICT_GPU_PEAK_GFLOPS");
    let mut mb = ModelBuilder::new("gemm", &[size, size]);
    let w = mb
        .weight("b", &[size, size], values(41, size * size))
        .unwrap();
    let y = mb
        .node("gemm", OpKind::Gemm(Gemm::default()), &[mb.input(), w])
        .unwrap();
    let gemm = mb.finish(y);
    let flop = 2.0 * (size * size * size) as f64;
    let mut cases = vec![
        ("784-56-10 MLP", mlp(), None),
        ("digits CNN", cnn(), None),
        ("op-family chain", chain(), None),
        ("GEMM", gemm, Some(flop)),
    ];
    cases.extend(per_op_models());
    for (name, model, flop) in cases {
        let c = Compiled::new(model).unwrap();
        let n = numel(&c.model.tensors[c.model.input].shape);
        // Token ids for the embedding lookup, values in [-1, 1) elsewhere.
        let input = if name.starts_with("Gather") {
            (0..n).map(|i| (i * 7919 % 1000) as f32).collect()
        } else {
            values(42, n)
        };
        let e = engine(&c);
        assert_eq!(
            e.run(&input).unwrap().output(),
            c.run_native(&input).unwrap().output()
        );
        let native = median_seconds(9, || {
            c.run_native(&input).unwrap();
        });
        let gpu = median_seconds(9, || {
            e.run(&input).unwrap();
        });
        let rate = |s: f64| flop.map_or(String::new(), |f| format!(", {:.2} GFLOP/s", f / s / 1e9));
        let share = match (flop, peak) {
            (Some(f), Some(p)) => format!(" ({:.1} % of {p} GFLOP/s)", 100.0 * f / gpu / 1e9 / p),
            _ => String::new(),
        };
        let name = if name == "GEMM" {
            format!("GEMM {size}x{size}x{size}")
        } else {
            name.to_string()
        };
        println!(
            "{name}: native {:.3} ms{}, GPU engine on {} {:.3} ms{}{share}",
            native * 1e3,
            rate(native),
            e.device().name,
            gpu * 1e3,
            rate(gpu)
        );
    }
}
