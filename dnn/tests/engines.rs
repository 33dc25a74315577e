//! The VM and the native engine produce the same bits: the same output, the
//! same memory image at every op boundary, the same final state. The per-op
//! suite is `common::engine_suite!`, which the GPU engine runs too.

mod common;

use common::{mlp, values};
use proptest::prelude::*;
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::Model;

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
    drop(native);
    Ok(c)
}

#[test]
fn mlp_runs_bit_exact_on_both_engines_in_few_steps() {
    let c = check_engines_agree(mlp(), &values(9, 784)).unwrap();
    let steps = c.program.total_steps;
    println!("784-56-10 MLP: {steps} VM steps");
    assert!(steps < 300_000, "784-56-10 MLP took {steps} steps");
}
