//! DNN figures: native GEMM against this machine's peak, and whole models on
//! the VM against the native engine.

use std::time::Instant;

use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::{Model, ModelBuilder};
use verdict_dnn::kernels::matmul::{Epilogue, Lhs, Rhs, matmul_packed, pack_panels};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::unary::{Unary, UnaryOp};

use crate::{Figure, Options, median_time};

/// Deterministic values in `[-0.5, 0.5)`.
pub(crate) fn values(seed: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1 << 24) as f32
                - 0.5
        })
        .collect()
}

/// The CPU clock in GHz as the kernel reports it (0 if unknown).
fn clock_ghz() -> f64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        })
        .map_or(0.0, |mhz| mhz / 1e3)
}

fn gflops(m: usize, n: usize, k: usize, runs: usize) -> f64 {
    let (a, b) = (values(1, m * k), values(2, k * n));
    // Packed once, as the engine packs a weight matrix once per model.
    let b = pack_panels(k, n, |kk, j| b[kk * n + j]);
    let mut out = vec![0u32; m * n];
    let t = median_time(
        runs,
        || (),
        |()| {
            matmul_packed(
                Lhs::Rows(&a),
                Rhs::Packed(&b),
                (m, n, k),
                Epilogue::default(),
                &mut out,
            );
        },
    );
    2.0 * (m * n * k) as f64 / t.as_secs_f64() / 1e9
}

fn mlp() -> Model {
    let mut b = ModelBuilder::new("mlp", &[1, 784]);
    let w1 = b
        .weight("w1", &[56, 784], values(1, 56 * 784))
        .expect("sized");
    let b1 = b.weight("b1", &[56], values(2, 56)).expect("sized");
    let w2 = b.weight("w2", &[10, 56], values(3, 560)).expect("sized");
    let b2 = b.weight("b2", &[10], values(4, 10)).expect("sized");
    let gemm = OpKind::Gemm(Gemm {
        trans_b: true,
        ..Gemm::default()
    });
    let h = b
        .node("fc1", gemm.clone(), &[b.input(), w1, b1])
        .expect("fits");
    let h = b
        .node("relu", OpKind::Unary(Unary { op: UnaryOp::Relu }), &[h])
        .expect("fits");
    let y = b.node("fc2", gemm, &[h, w2, b2]).expect("fits");
    b.finish(y)
}

/// GPT-2 124M's LM head for one token, `[1, 768] x [50257, 768]ᵀ`: the
/// largest op of its disputes, which replay one op at a time on the VM.
/// `vocab` narrows it for a quick run.
fn lm_head(vocab: usize) -> Model {
    let mut b = ModelBuilder::new("lm_head", &[1, 768]);
    let w = b
        .weight("wte", &[vocab, 768], values(5, vocab * 768))
        .expect("sized");
    let gemm = OpKind::Gemm(Gemm {
        trans_b: true,
        ..Gemm::default()
    });
    let y = b.node("lm_head", gemm, &[b.input(), w]).expect("fits");
    b.finish(y)
}

/// The VM's speed on [`lm_head`]: the op's own steps over its own time,
/// median of `runs` (the image is built outside the timing).
fn lm_head_vm_steps_per_s(vocab: usize, runs: usize) -> f64 {
    let c = Compiled::new(lm_head(vocab)).expect("the LM head compiles");
    let input = values(6, 768);
    let steps = c.program.boundaries[1] - c.program.boundaries[0];
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let (_, t) = c.run_vm_profiled(&input).expect("runs");
            t[0].as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    steps as f64 / times[runs / 2]
}

pub(crate) fn run(opts: &Options) -> Vec<Figure> {
    let runs = if opts.quick { 3 } else { 9 };
    let mut out = Vec::new();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let ghz = clock_ghz();
    out.push(Figure {
        name: "cpu_clock_ghz".into(),
        value: ghz,
        unit: "GHz (/proc/cpuinfo)",
    });
    let g1 = one.install(|| gflops(512, 512, 512, runs));
    out.push(Figure {
        name: "gemm_512_gflops_1core".into(),
        value: g1,
        unit: "GFLOP/s",
    });
    if ghz > 0.0 {
        out.push(Figure {
            name: "gemm_512_fraction_of_peak_1core".into(),
            value: g1 / (32.0 * ghz),
            unit: "of 32 FLOP/cycle",
        });
    }
    // A convolution's shapes (ResNet50's 3x3 stages: 64 to 512 channels,
    // k = 9 x channels): how the speed holds as `k` outgrows the caches.
    for k in [64, 576, 1152, 4608] {
        out.push(Figure {
            name: format!("gemm_256x784x{k}_gflops_1core"),
            value: one.install(|| gflops(256, 784, k, runs)),
            unit: "GFLOP/s",
        });
    }
    out.push(Figure {
        name: "gemm_512_gflops_all_cores".into(),
        value: gflops(512, 512, 512, runs),
        unit: "GFLOP/s",
    });
    out.push(Figure {
        name: "gemv_1024_gflops".into(),
        value: gflops(1, 1024, 1024, runs),
        unit: "GFLOP/s",
    });

    let c = Compiled::new(mlp()).expect("the MLP compiles");
    let input = values(9, 784);
    let t_native = median_time(
        runs,
        || (),
        |()| c.run_native(&input).expect("runs").output(),
    );
    let t0 = Instant::now();
    let vm = c.run_vm(&input).expect("runs");
    let t_vm = t0.elapsed().min(median_time(
        runs.min(5),
        || (),
        |()| c.run_vm(&input).expect("runs").output,
    ));
    out.push(Figure {
        name: "mlp_784_56_10_vm_steps".into(),
        value: vm.machine.core.step as f64,
        unit: "steps",
    });
    out.push(Figure {
        name: "mlp_784_56_10_vm_ms".into(),
        value: t_vm.as_secs_f64() * 1e3,
        unit: "ms",
    });
    out.push(Figure {
        name: "mlp_784_56_10_native_us".into(),
        value: t_native.as_secs_f64() * 1e6,
        unit: "µs",
    });
    out.push(Figure {
        name: "mlp_vm_over_native".into(),
        value: t_vm.as_secs_f64() / t_native.as_secs_f64(),
        unit: "x",
    });
    let vocab = if opts.quick { 4_096 } else { 50_257 };
    out.push(Figure {
        name: "vm_lm_head_m_steps_per_s".into(),
        value: lm_head_vm_steps_per_s(vocab, runs.min(5)) / 1e6,
        unit: "M steps/s ([1,768]x[vocab,768]T, one thread)",
    });
    out
}
