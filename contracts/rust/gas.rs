//! What one on-chain step costs, per instruction class, measured in revm.
//!
//! Each row proves one step of a small machine with the Rust VM, runs the
//! proof through the deployed `VerdictVM`, checks that the post-state is the
//! VM's, and records the gas. `cargo run -p verdict-contracts --example gas`
//! prints the table that docs/gas.md shows.

use std::fmt::Write as _;

use alloy_primitives::B256;
use verdict_vm::asm::assemble;
use verdict_vm::{CODE_END, Machine, VerifyError};

use crate::evm::Gas;
use crate::verifier::{StepVerifier, VerifierError};

/// The register values every row starts from: floats 1.7, 3.3 and 0.25 in
/// r1..r3, a data address in r4.
pub const REGISTERS: [(usize, u32); 4] = [
    (1, 0x3FD9_999A),
    (2, 0x4053_3333),
    (3, 0x3E80_0000),
    (4, DATA_ADDR),
];

/// Where the load and store rows access memory.
pub const DATA_ADDR: u32 = CODE_END + 0x100;

/// A machine state the table measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// A running machine about to execute this one instruction (assembler syntax).
    Instr(&'static str),
    /// A running machine whose pc holds zeroed memory: opcode 0x00, fault 1.
    Fault,
    /// A halted machine: the step is the fixed point.
    Halted,
}

/// The rows of the table: a class name and the state measured.
pub const CASES: &[(&str, Case)] = &[
    ("alu", Case::Instr("add r5, r1, r2")),
    ("load", Case::Instr("lw r5, 0(r4)")),
    ("store", Case::Instr("sw r1, 4(r4)")),
    ("branch", Case::Instr("beq r1, r1, 0x100")),
    ("jump", Case::Instr("jal r31, 0x100")),
    ("halt", Case::Instr("halt 7")),
    ("fadd", Case::Instr("fadd r5, r1, r2")),
    ("fmul", Case::Instr("fmul r5, r1, r2")),
    ("fma", Case::Instr("fmadd r3, r1, r2")),
    ("fdiv", Case::Instr("fdiv r5, r1, r2")),
    ("fsqrt", Case::Instr("fsqrt r5, r1")),
    ("fcmp", Case::Instr("flt r5, r1, r2")),
    ("fcvt", Case::Instr("ftoi r5, r2")),
    ("fault", Case::Fault),
    ("halted (fixed point)", Case::Halted),
];

/// The cost of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GasRow {
    /// Instruction class.
    pub class: &'static str,
    /// What was measured.
    pub case: Case,
    /// Gas of the `step` transaction.
    pub gas: Gas,
    /// Calldata bytes of the transaction.
    pub calldata_len: usize,
}

/// A row the verifier did not measure correctly.
#[derive(Debug, thiserror::Error)]
pub enum GasError {
    /// The call itself failed.
    #[error(transparent)]
    Verifier(#[from] VerifierError),
    /// The verifier's result is not the VM's.
    #[error("{class}: the verifier gave {got:?}, the VM {want}")]
    Mismatch {
        /// The row.
        class: &'static str,
        /// The verifier's result.
        got: Result<B256, VerifyError>,
        /// The VM's post-state hash.
        want: B256,
    },
}

/// The machine `case` measures.
///
/// # Panics
///
/// If an instruction of [`CASES`] does not assemble (a test runs them all).
pub fn machine(case: Case) -> Machine {
    let source = match case {
        Case::Instr(source) => source,
        Case::Fault => "",
        Case::Halted => "halt 0",
    };
    let mut m = Machine::new();
    m.load_program(&assemble(source).unwrap_or_else(|e| panic!("`{source}`: {e}")));
    for (r, value) in REGISTERS {
        m.core.regs[r] = value;
    }
    m.write_bytes(DATA_ADDR, &[0x5A; 32]);
    if case == Case::Halted {
        m.step();
    }
    m
}

/// Measures `case` in `verifier`.
///
/// # Errors
///
/// [`GasError`] if the call fails or its result is not the VM's.
pub fn measure_case(
    verifier: &mut StepVerifier,
    class: &'static str,
    case: Case,
) -> Result<GasRow, GasError> {
    let mut m = machine(case);
    let proof = m.prove_step();
    let outcome = verifier.step(proof.pre_state_hash(), &proof.to_bytes())?;
    let want = m.state_hash();
    if outcome.result != Ok(want) {
        return Err(GasError::Mismatch {
            class,
            got: outcome.result,
            want,
        });
    }
    Ok(GasRow {
        class,
        case,
        gas: outcome.gas,
        calldata_len: outcome.calldata_len,
    })
}

/// Measures every row of [`CASES`] on a freshly deployed verifier.
///
/// # Errors
///
/// As [`measure_case`], or if the deployment fails.
pub fn measure() -> Result<Vec<GasRow>, GasError> {
    let mut verifier = StepVerifier::deploy()?;
    CASES
        .iter()
        .map(|&(class, case)| measure_case(&mut verifier, class, case))
        .collect()
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[GasRow]) -> String {
    let mut out = String::from(
        "| class | step measured | execution gas | calldata bytes | intrinsic gas | \
         calldata floor | tx gas |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let case = match row.case {
            Case::Instr(source) => format!("`{source}`"),
            Case::Fault => "opcode 0x00 (fault 1)".to_owned(),
            Case::Halted => "any, halted state".to_owned(),
        };
        let g = row.gas;
        let _ = writeln!(
            out,
            "| {} | {case} | {} | {} | {} | {} | {} |",
            row.class, g.execution, row.calldata_len, g.intrinsic, g.floor, g.tx
        );
    }
    out
}

/// The moves of one played game, with their gas, as a Markdown table with a
/// total row.
pub fn moves_markdown(moves: &[(&str, Gas)]) -> String {
    let mut out = String::from(
        "| # | move | execution gas | intrinsic gas | calldata floor | tx gas |\n\
         | ---: | --- | ---: | ---: | ---: | ---: |\n",
    );
    for (i, (name, g)) in moves.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{name}` | {} | {} | {} | {} |",
            i + 1,
            g.execution,
            g.intrinsic,
            g.floor,
            g.tx
        );
    }
    let total: u64 = moves.iter().map(|(_, g)| g.tx).sum();
    let _ = writeln!(out, "| | **total** | | | | **{total}** |");
    out
}
