//! VM figures: interpreter speed, Merkle hashing, proof size.

use alloy_primitives::{B256, keccak256};
use verdict_vm::builder::Builder;
use verdict_vm::keccak::{Backend, hash_chunks_with, hash_pairs_with};
use verdict_vm::{CODE_END, Machine, Op, PROOF_SIZE};

use crate::{Figure, Options, median_time};

/// An integer-only loop: eight ALU instructions and the loop's own two.
fn integer_loop(iterations: u32) -> Machine {
    let mut b = Builder::new();
    b.li(1, 0x9E37_79B9);
    b.li(2, 7);
    b.repeat(10, iterations, |b| {
        b.alu(Op::Add, 3, 3, 1, 0);
        b.alu(Op::Xor, 4, 4, 3, 0);
        b.alu(Op::Sll, 5, 4, 0, 3);
        b.alu(Op::Srl, 6, 3, 2, 0);
        b.alu(Op::Or, 7, 5, 6, 0);
        b.alu(Op::Sub, 8, 7, 2, 0);
        b.alu(Op::Mul, 9, 8, 1, 0);
        b.alu(Op::And, 3, 9, 0, 0x7FFF_FFFF);
    });
    b.halt(3, 0);
    let mut m = Machine::new();
    m.load_program(&b.finish().expect("valid program"));
    m
}

/// `acc = fma(x[k], y[k], acc)` over `n` elements: two loads, one `fmadd`,
/// two pointer increments and the loop's two instructions per element.
fn dot_loop(n: u32) -> Machine {
    let (x, y) = (CODE_END, CODE_END + 4 * n);
    let mut b = Builder::new();
    b.li(1, x);
    b.li(2, y);
    b.repeat(10, n, |b| {
        b.load(Op::Lw, 4, 1, 0);
        b.load(Op::Lw, 5, 2, 0);
        b.float(Op::Fmadd, 3, 4, 5);
        b.addi(1, 1, 4);
        b.addi(2, 2, 4);
    });
    b.halt(3, 0);
    let mut m = Machine::new();
    m.load_program(&b.finish().expect("valid program"));
    let data: Vec<u8> = (0..2 * n)
        .flat_map(|i| (i as f32 * 0.001 - 1.0).to_le_bytes())
        .collect();
    m.write_bytes(x, &data);
    m
}

/// A machine whose memory holds `bytes` of non-zero data above `CODE_END`.
fn image(bytes: usize) -> Machine {
    let mut m = Machine::new();
    let chunk: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 1)
        .collect();
    for off in (0..bytes).step_by(chunk.len()) {
        m.write_bytes(
            CODE_END + off as u32,
            &chunk[..chunk.len().min(bytes - off)],
        );
    }
    m
}

pub(crate) fn run(opts: &Options) -> Vec<Figure> {
    let runs = if opts.quick { 3 } else { 7 };
    let iterations: u32 = if opts.quick { 1_000_000 } else { 10_000_000 };
    let mut out = Vec::new();

    let int_steps = integer_loop(iterations).run(u64::MAX) as f64;
    let t = median_time(
        runs,
        || integer_loop(iterations),
        |mut m| {
            m.run(u64::MAX);
            m
        },
    );
    out.push(Figure {
        name: "vm_int_steps_per_s".into(),
        value: int_steps / t.as_secs_f64(),
        unit: "steps/s",
    });

    let n = iterations / 4;
    let dot_steps = dot_loop(n).run(u64::MAX) as f64;
    let t = median_time(
        runs,
        || dot_loop(n),
        |mut m| {
            m.run(u64::MAX);
            m
        },
    );
    out.push(Figure {
        name: "vm_dot_steps_per_s".into(),
        value: dot_steps / t.as_secs_f64(),
        unit: "steps/s",
    });
    out.push(Figure {
        name: "vm_fma_per_s".into(),
        value: f64::from(n) / t.as_secs_f64(),
        unit: "fma/s",
    });

    let pair = [0x5Au8; 64];
    let count = 1_000_000;
    let t = median_time(
        runs,
        || (),
        |()| {
            let mut h = B256::from_slice(&pair[..32]);
            for _ in 0..count {
                h = verdict_vm::merkle::hash_pair(&h, &h);
            }
            h
        },
    );
    out.push(Figure {
        name: "keccak_64b_ns".into(),
        value: t.as_secs_f64() * 1e9 / f64::from(count),
        unit: "ns",
    });

    // The batched keccak on one thread, per backend this CPU has: a tree
    // level of 4096 parents at a time, as a page table's upper levels are.
    let children: Vec<B256> = (0..8192u32).map(|i| keccak256(i.to_le_bytes())).collect();
    let mut parents = vec![B256::ZERO; children.len() / 2];
    let levels = if opts.quick { 50 } else { 250 };
    for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
        let t = median_time(
            runs,
            || (),
            |()| {
                for _ in 0..levels {
                    hash_pairs_with(backend, &children, &mut parents);
                    std::hint::black_box(&mut parents);
                }
            },
        );
        out.push(Figure {
            name: format!("keccak_64b_batch_{}_ns", backend.name()),
            value: t.as_secs_f64() * 1e9 / (levels * parents.len()) as f64,
            unit: "ns",
        });
    }

    // A long string hashed in 1 MiB chunks on one thread, per backend: a
    // package's body digest, each chunk in a vector lane.
    let body: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
        let t = median_time(
            runs.min(3),
            || (),
            |()| std::hint::black_box(hash_chunks_with(backend, &body, 1 << 20)),
        );
        out.push(Figure {
            name: format!("keccak_1mib_chunks_{}_mib_per_s", backend.name()),
            value: (body.len() >> 20) as f64 / t.as_secs_f64(),
            unit: "MiB/s",
        });
    }

    let image_bytes = if opts.quick { 32 << 20 } else { 256 << 20 };
    let t = median_time(
        runs.min(3),
        || image(image_bytes),
        |mut m| {
            m.state_hash();
            m
        },
    );
    out.push(Figure {
        name: "merkle_full_root_256mib_s".into(),
        value: t.as_secs_f64() * (256 << 20) as f64 / image_bytes as f64,
        unit: "s (scaled to 256 MiB)",
    });
    out.push(Figure {
        name: "merkle_full_mib_per_s".into(),
        value: image_bytes as f64 / (1 << 20) as f64 / t.as_secs_f64(),
        unit: "MiB/s",
    });

    // Measured on the whole 1 GiB in full mode; --quick scales 128 MiB.
    let large_bytes: usize = if opts.quick { 128 << 20 } else { 1 << 30 };
    let t = median_time(
        runs.min(3),
        || image(large_bytes),
        |mut m| {
            m.state_hash();
            m
        },
    );
    out.push(Figure {
        name: "merkle_full_root_1gib_s".into(),
        value: t.as_secs_f64() * (1u64 << 30) as f64 / large_bytes as f64,
        unit: "s (scaled to 1 GiB)",
    });

    let touched: Vec<u8> = vec![0x5A; 1 << 20];
    let t = median_time(
        runs,
        || {
            let mut m = image(image_bytes);
            m.state_hash();
            m
        },
        |mut m| {
            // 1 MiB touched as 256 pages spread across the image.
            let stride = (image_bytes / 256) as u32;
            for k in 0..256u32 {
                m.write_bytes(CODE_END + k * stride, &touched[..4096]);
            }
            m.state_hash();
            m
        },
    );
    out.push(Figure {
        name: "merkle_incremental_1mib_ms".into(),
        value: t.as_secs_f64() * 1e3,
        unit: "ms",
    });

    let mut m = dot_loop(16);
    m.run(20);
    let t = median_time(
        runs,
        || {
            let mut m = m.clone();
            m.state_hash();
            m
        },
        |mut m| {
            let proof = m.prove_step();
            (m, proof)
        },
    );
    out.push(Figure {
        name: "prove_step_us".into(),
        value: t.as_secs_f64() * 1e6,
        unit: "µs",
    });
    out.push(Figure {
        name: "proof_bytes".into(),
        value: PROOF_SIZE as f64,
        unit: "bytes",
    });
    out
}
