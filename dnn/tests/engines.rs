//! The VM and the native engine produce the same bits: the same output, the
//! same memory image at every op boundary, the same final state. The per-op
//! suite is `common::engine_suite!`, which the GPU engine runs too.

mod common;

use common::{mlp, values};
use proptest::prelude::*;
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::{Model, ModelBuilder};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::unary::{Unary, UnaryOp};

common::engine_suite!(check_engines_agree);

/// Runs both engines and checks every op boundary state and the end. The
/// native engine runs first on another input, so that the checked run
/// writes into the buffers that one left behind.
fn check_engines_agree(model: Model, input: &[f32]) -> Result<Compiled, TestCaseError> {
    let c = Compiled::new(model).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let vm = c
        .run_vm(input)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let other: Vec<f32> = input.iter().map(|x| 1.5 - x).collect();
    drop(c.run_native(&other));
    let native = c
        .run_native(input)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    prop_assert_eq!(bits(&vm.output), bits(&native.output()), "outputs differ");
    let inferred = c
        .infer(input)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(bits(&vm.output), bits(&inferred), "output-only run differs");
    let mut m = c.initial_machine(input).unwrap();
    for (op, &step) in c.program.boundaries.iter().enumerate() {
        m.run(step - m.core.step);
        prop_assert_eq!(m.core.step, step);
        prop_assert_eq!(m.core.pc, c.program.op_pcs[op], "pc at boundary {}", op);
        prop_assert_eq!(
            m.core.regs,
            [0; 32],
            "registers not canonical at boundary {}",
            op
        );
        prop_assert_eq!(
            m.state_hash(),
            native.state_at(op).unwrap().hash(),
            "state differs at boundary {}",
            op
        );
    }
    let mut end = vm.machine;
    prop_assert_eq!(
        end.state_hash(),
        native.final_state().hash(),
        "final state differs"
    );
    let boundaries = native.boundaries();
    prop_assert_eq!(boundaries.final_hash(), end.state_hash());
    for op in 0..c.program.boundaries.len() {
        prop_assert_eq!(
            boundaries.hash_at(op).unwrap(),
            native.state_at(op).unwrap().hash(),
            "boundary hash differs at {}",
            op
        );
    }
    drop(native);
    Ok(c)
}

/// Boundary images of a run of more ops than checkpoints: every hash from
/// the one pass and every machine rebuilt from a checkpoint equal the VM's
/// own state at that boundary.
#[test]
fn boundaries_rebuilt_from_checkpoints_equal_the_vm() {
    let mut b = ModelBuilder::new("chain", &[1, 40]);
    let mut t = b.input();
    for i in 0..100 {
        let op = if i % 2 == 0 {
            UnaryOp::Relu
        } else {
            UnaryOp::Neg
        };
        t = b
            .node(&format!("op{i}"), OpKind::Unary(Unary { op }), &[t])
            .unwrap();
    }
    let c = Compiled::new(b.finish(t)).unwrap();
    let input = values(5, 40);
    let boundaries = c.run_native(&input).unwrap().boundaries();
    assert!(
        (2..=40).contains(&boundaries.checkpoints()),
        "{} checkpoints",
        boundaries.checkpoints()
    );
    let mut m = c.initial_machine(&input).unwrap();
    for (op, &step) in c.program.boundaries.iter().enumerate() {
        m.run(step - m.core.step);
        let want = m.state_hash();
        assert_eq!(boundaries.hash_at(op).unwrap(), want, "hash at {op}");
        let rebuilt = boundaries.machine_at(&c, op).unwrap();
        assert_eq!(
            rebuilt.hashed_state().unwrap().hash(),
            want,
            "machine at {op}"
        );
    }
    assert!(
        boundaries
            .machine_at(&c, c.program.boundaries.len())
            .is_err()
    );
    m.run(u64::MAX);
    assert_eq!(boundaries.final_hash(), m.state_hash());
}

#[test]
fn mlp_runs_bit_exact_on_both_engines_in_few_steps() {
    let c = check_engines_agree(mlp(), &values(9, 784)).unwrap();
    let steps = c.program.total_steps;
    println!("784-56-10 MLP: {steps} VM steps");
    assert!(steps < 300_000, "784-56-10 MLP took {steps} steps");
}

/// An encoded input: the claim's bytes are the packed integers, the VM's
/// input region holds exactly them, decoding gives the values back, and a
/// value the encoding cannot hold or bytes of the wrong length are refused.
#[test]
fn encoded_inputs_round_trip_and_refuse_what_they_cannot_hold() {
    use verdict_dnn::engine::RunError;
    use verdict_dnn::ops::decode::Encoding;

    let mut mb = ModelBuilder::new("bytes", &[2, 3]);
    let x = mb.decoded_input(Encoding::U16).unwrap();
    let y = mb
        .node("neg", OpKind::Unary(Unary { op: UnaryOp::Neg }), &[x])
        .unwrap();
    let c = Compiled::new(mb.finish(y)).unwrap();
    let input = [0.0, 1.0, 255.0, 256.0, 4097.0, 65535.0];
    let bytes = c.encode_input(&input).unwrap();
    assert_eq!(bytes, [0, 0, 1, 0, 255, 0, 0, 1, 1, 16, 255, 255]);
    assert_eq!(c.decode_input(&bytes).unwrap(), input);
    let m = c.initial_machine(&input).unwrap();
    let region = c.program.layout.input;
    assert_eq!(region.size, 32);
    assert_eq!(m.read_bytes(region.addr, 12), bytes);
    assert_eq!(c.run_vm(&input).unwrap().output[5], -65535.0);
    for bad in [65536.0, -1.0, 0.5, f32::NAN] {
        let e = c.encode_input(&[bad, 0., 0., 0., 0., 0.]).unwrap_err();
        assert!(matches!(e, RunError::InputValue { index: 0, .. }), "{e}");
        assert!(e.to_string().contains("0 to 65535"), "{e}");
    }
    let e = c.decode_input(&bytes[1..]).unwrap_err();
    assert_eq!(e.to_string(), "input has 11 bytes, the model takes 12");
}

/// Only Decode reads an encoded input, and Decode reads nothing else.
#[test]
fn an_encoded_input_read_by_another_op_is_malformed() {
    use verdict_dnn::ops::decode::Encoding;

    let mut mb = ModelBuilder::new("bytes", &[4]);
    let input = mb.input();
    mb.decoded_input(Encoding::U8).unwrap();
    let y = mb
        .node("raw", OpKind::Unary(Unary { op: UnaryOp::Neg }), &[input])
        .unwrap();
    let e = mb.finish(y).validate().unwrap_err();
    assert!(
        e.to_string().contains("Decode nodes of its encoding alone"),
        "{e}"
    );
    let mut mb = ModelBuilder::new("late", &[4]);
    let neg = OpKind::Unary(Unary { op: UnaryOp::Neg });
    mb.node("first", neg, &[mb.input()]).unwrap();
    assert!(mb.decoded_input(Encoding::U8).is_err());
}

/// Sample draws as its rule says: greedy at temperature 0 and with top-k
/// 1 or a top-p the largest weight alone holds; otherwise about as often as
/// the softmax weights (3 : 1 for logits 0 and ln 3), different seeds
/// giving different draws and the same seed the same one.
#[test]
fn sampling_follows_the_weights() {
    use verdict_dnn::ops::sample::Sample;
    use verdict_dnn::ops::slice::{Range, Slice};

    let mut mb = ModelBuilder::new("sample", &[7]);
    let part = |start, len| {
        OpKind::Slice(Slice {
            ranges: vec![Range {
                start,
                step: 1,
                len,
            }],
        })
    };
    let x = mb.node("x", part(0, 2), &[mb.input()]).unwrap();
    let p = mb.node("p", part(2, 5), &[mb.input()]).unwrap();
    let y = mb
        .node("sample", OpKind::Sample(Sample { step: 0 }), &[x, p])
        .unwrap();
    let c = Compiled::new(mb.finish(y)).unwrap();
    let draw = |seed: u32, [t, k, p]: [f32; 3]| {
        let x = [0.0, 3f32.ln()];
        let params = [(seed & 0xFFFF) as f32, (seed >> 16) as f32, t, k, p];
        c.infer(&[&x[..], &params].concat()).unwrap()[0]
    };
    for params in [
        [0.0, 0.0, 10000.0],
        [1000.0, 1.0, 10000.0],
        [1000.0, 0.0, 5000.0],
    ] {
        assert!((0..200).all(|s| draw(s, params) == 1.0), "{params:?}");
    }
    let plain = [1000.0, 0.0, 10000.0];
    let ones = (0..4000).filter(|&s| draw(s * 7919, plain) == 1.0).count();
    assert!((2800..3200).contains(&ones), "{ones} of 4000 draw token 1");
    assert_eq!(draw(42, plain), draw(42, plain));
    assert!((0..64).any(|s| draw(s, plain) != draw(s + 1, plain)));
}
