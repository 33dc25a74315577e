//! Signalling NaNs as model inputs. Claim inputs are bytes anyone chooses,
//! and a NaN payload that one build of the Rust VM lets through (LLVM treats
//! payloads as unspecified) would make an honest party's step disagree with
//! the Solidity verifier's. For models whose first op is each arithmetic
//! family, on inputs of signalling NaNs (all of them, or a few among
//! ordinary values), every step of that op is proven by the Rust VM and
//! checked in revm, the native engine's state after it is the VM's, and its
//! output is what `verdict_vm::semantics` gives when a caller inlines it
//! (the call site where a release build kept a payload).

use verdict_contracts::StepVerifier;
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::{Model, ModelBuilder};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::unary::{Unary, UnaryOp};
use verdict_vm::Status;
use verdict_vm::semantics as s;

use crate::common::check_machine_step;
use crate::players::values;

/// Elements of the input.
const N: usize = 24;

/// `n` signalling NaNs: both signs, payloads spread over the 22 bits.
fn signalling_nans(n: usize) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let payload = i.wrapping_mul(0x2_9E37) % 0x3F_FFFF + 1;
            f32::from_bits((i & 1) << 31 | 0x7F80_0000 | payload)
        })
        .collect()
}

/// Ordinary values with a signalling NaN at every fifth position.
fn mixed(n: usize) -> Vec<f32> {
    let nans = signalling_nans(n);
    let mut x = values(41, n);
    for i in (1..n).step_by(5) {
        x[i] = nans[i];
    }
    x
}

/// `first` on the input (with `weight`, if any, as its second operand),
/// then a Relu, so that op 0 ends at a boundary the native engine states.
fn model(first: OpKind, weight: Option<(&[usize], Vec<f32>)>) -> Model {
    let mut b = ModelBuilder::new("first", &[4, N / 4]);
    let mut inputs = vec![b.input()];
    if let Some((shape, data)) = weight {
        inputs.push(b.weight("w", shape, data).unwrap());
    }
    let y = b.node("first", first, &inputs).unwrap();
    let relu = OpKind::Unary(Unary { op: UnaryOp::Relu });
    let y = b.node("relu", relu, &[y]).unwrap();
    b.finish(y)
}

fn models() -> Vec<(&'static str, Model)> {
    let binary = |op| OpKind::Binary(Binary { op });
    let w = || Some((&[N / 4][..], values(42, N / 4)));
    vec![
        (
            "Sqrt",
            model(OpKind::Unary(Unary { op: UnaryOp::Sqrt }), None),
        ),
        ("Add", model(binary(BinaryOp::Add), w())),
        ("Mul", model(binary(BinaryOp::Mul), w())),
        ("Div", model(binary(BinaryOp::Div), w())),
        (
            "Gemm",
            model(
                OpKind::Gemm(Gemm::default()),
                Some((&[N / 4, 5], values(43, 5 * N / 4))),
            ),
        ),
    ]
}

/// Op 0's output by the spec (docs/spec/kernels.md), each element computed
/// by the semantics' functions inlined here: the weight broadcast along the
/// last axis, and for Gemm `acc = fma(x[i,k], w[k,j], acc)` from `+0`.
fn reference(name: &str, x: &[u32], w: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    if name == "Gemm" {
        let k = x.len() / 4;
        for o in 0..4 * 5 {
            let (i, j) = (o / 5, o % 5);
            let mut acc = 0;
            for kk in 0..k {
                acc = s::f32_fma(x[i * k + kk], w[kk * 5 + j], acc);
            }
            out.push(acc);
        }
        return out;
    }
    for (i, &a) in x.iter().enumerate() {
        let b = w.get(i % w.len().max(1)).copied().unwrap_or(0);
        out.push(match name {
            "Sqrt" => s::f32_sqrt(a),
            "Add" => s::f32_add(a, b),
            "Mul" => s::f32_mul(a, b),
            "Div" => s::f32_div(a, b),
            _ => unreachable!("no reference for {name}"),
        });
    }
    out
}

#[test]
fn first_op_on_signalling_nans_every_step_in_revm() {
    let mut verifier = StepVerifier::deploy().expect("deploys");
    for (name, model) in models() {
        let c = Compiled::new(model).expect("compiles");
        let weight: Vec<u32> = c
            .model
            .tensors
            .iter()
            .find_map(|t| t.data.as_ref())
            .map_or(vec![], |d| d.iter().map(|v| v.to_bits()).collect());
        for (kind, input) in [("all NaN", signalling_nans(N)), ("mixed", mixed(N))] {
            let mut m = c.initial_machine(&input).expect("input fits");
            let end = c.program.boundaries[1];
            while m.core.step < end {
                assert_eq!(m.core.status, Status::Running, "{name}, {kind}");
                check_machine_step(&mut verifier, &mut m);
            }
            let native = c.run_native(&input).expect("runs");
            assert_eq!(
                m.state_hash(),
                native.state_at(1).expect("boundary 1").hash(),
                "{name}, {kind}: the native state after op 0 is not the VM's"
            );
            let out = c.model.nodes[0].output;
            let len: usize = c.model.tensors[out].shape.iter().product();
            let got: Vec<u32> = m
                .read_bytes(c.program.layout.tensors[out], 4 * len)
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
                .collect();
            let bits: Vec<u32> = input.iter().map(|v| v.to_bits()).collect();
            let want = reference(name, &bits, &weight);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g, w,
                    "{name}, {kind}: element {i} is {g:#010x}, the spec gives {w:#010x}"
                );
            }
            assert!(
                got.contains(&s::CANONICAL_NAN),
                "{name}, {kind}: no NaN reached the output"
            );
        }
    }
}
