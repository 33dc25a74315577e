//! Golden step vectors: one or more per instruction, per fault and per proof
//! error, committed in `tests/golden/steps.json` for the Solidity verifier.
//!
//! The test regenerates them and fails if the file differs; run with
//! `VERDICT_BLESS=1` to rewrite it after a deliberate change of semantics.

use std::path::Path;

use serde_json::{Value, json};
use verdict_vm::isa::{Form, Instr, Op};
use verdict_vm::proof::{DATA_PATH_OFFSET, INSTR_PATH_OFFSET};
use verdict_vm::{CODE_END, Machine, Status, verify_step};

const DATA: u32 = CODE_END + 0x1000;

/// A machine about to execute `instr` at 0x40, registers set for `op`.
fn machine_for(instr: Instr, regs: &[(u8, u32)]) -> Machine {
    let mut m = Machine::new();
    let mut code = vec![0u8; 0x40];
    code.extend_from_slice(&instr.encode());
    m.load_program(&code);
    m.write_bytes(
        DATA,
        &(0..64u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(1))
            .collect::<Vec<_>>(),
    );
    m.write_bytes(0x20, &[0xAA; 8]);
    m.core.pc = 0x40;
    for &(r, v) in regs {
        m.core.regs[r as usize] = v;
    }
    m
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn vector(name: &str, mut m: Machine) -> Value {
    let proof = m.prove_step();
    let bytes = proof.to_bytes();
    let post = verify_step(proof.pre_state_hash(), &bytes).expect("honest proof");
    assert_eq!(post, m.state_hash(), "{name}");
    json!({
        "name": name,
        "pre_state_hash": proof.pre_state_hash().to_string(),
        "proof": hex(&bytes),
        "post_state_hash": post.to_string(),
    })
}

fn error_vector(name: &str, pre: alloy_primitives::B256, bytes: &[u8]) -> Value {
    let err = verify_step(pre, bytes).expect_err(name);
    json!({ "name": name, "pre_state_hash": pre.to_string(), "proof": hex(bytes), "error": err.name() })
}

fn vectors() -> Vec<Value> {
    let f = |x: f32| x.to_bits();
    let mut out = Vec::new();
    let int_pairs: [(u32, u32); 4] = [
        (7, 3),
        (0x8000_0000, 0xFFFF_FFFF),
        (5, 0),
        (0xFFFF_FFF0, 35),
    ];
    let float_pairs: [(u32, u32); 4] = [
        (f(1.5), f(-2.25)),
        (0x0080_0000, 0x3F00_0000),
        (0x7F80_0000, 0xFF80_0000),
        (0x8000_0000, 0x0000_0000),
    ];
    for &op in Op::ALL {
        let m = op.mnemonic();
        match op.form() {
            Form::Alu => {
                for (k, (a, b)) in int_pairs.into_iter().enumerate() {
                    let i = Instr::new(op, 5, 1, 2, 0);
                    out.push(vector(
                        &format!("{m} {k}"),
                        machine_for(i, &[(1, a), (2, b)]),
                    ));
                }
                let i = Instr::new(op, 5, 1, 0, 0xFFFF_FFFE);
                out.push(vector(&format!("{m} imm"), machine_for(i, &[(1, 1000)])));
            }
            Form::Load => {
                let i = Instr::new(op, 6, 1, 0, 8);
                out.push(vector(
                    &format!("{m} data"),
                    machine_for(i, &[(1, DATA + 4)]),
                ));
                out.push(vector(&format!("{m} code"), machine_for(i, &[(1, 0x18)])));
                out.push(vector(
                    &format!("{m} zero page"),
                    machine_for(i, &[(1, 0x9000_0000)]),
                ));
            }
            Form::Store => {
                let i = Instr::new(op, 0, 1, 2, 4);
                let regs = [(1, DATA + 8), (2, 0xCAFE_BABE)];
                out.push(vector(&format!("{m} data"), machine_for(i, &regs)));
                let fresh = [(1, 0xF000_0000), (2, 0x1234_5678)];
                out.push(vector(&format!("{m} fresh page"), machine_for(i, &fresh)));
                out.push(vector(
                    &format!("{m} to code"),
                    machine_for(i, &[(1, 0x100), (2, 1)]),
                ));
            }
            Form::Branch => {
                for (k, (a, b)) in [(1, 1), (1, 2), (0xFFFF_FFFF, 1)].into_iter().enumerate() {
                    let i = Instr::new(op, 0, 1, 2, 0x200);
                    out.push(vector(
                        &format!("{m} {k}"),
                        machine_for(i, &[(1, a), (2, b)]),
                    ));
                }
            }
            Form::Jal => out.push(vector(m, machine_for(Instr::new(op, 31, 0, 0, 0x80), &[]))),
            Form::Jalr => {
                let i = Instr::new(op, 1, 1, 0, 8);
                out.push(vector(m, machine_for(i, &[(1, 0x100)])));
            }
            Form::Halt => out.push(vector(
                m,
                machine_for(Instr::new(op, 0, 0, 3, 2), &[(3, 40)]),
            )),
            Form::Float2 => {
                for (k, (a, b)) in float_pairs.into_iter().enumerate() {
                    let i = Instr::new(op, 4, 1, 2, 0);
                    let regs = [(1, a), (2, b), (4, f(0.5))];
                    out.push(vector(&format!("{m} {k}"), machine_for(i, &regs)));
                }
            }
            Form::Float1 => {
                for (k, a) in [
                    f(2.0),
                    0x8000_0000,
                    f(-3.7),
                    0x7FC0_0001,
                    0x4F80_0000,
                    0x0000_0001,
                ]
                .into_iter()
                .enumerate()
                {
                    let i = Instr::new(op, 4, 1, 0, 0);
                    out.push(vector(&format!("{m} {k}"), machine_for(i, &[(1, a)])));
                }
            }
        }
    }
    // Faults.
    let add = Instr::new(Op::Add, 1, 1, 1, 0);
    let mut illegal = machine_for(add, &[]);
    illegal.write_bytes(0x40, &[0xFF, 0, 0, 0]);
    out.push(vector("fault illegal opcode", illegal));
    let mut bad_reg = machine_for(add, &[]);
    bad_reg.write_bytes(0x42, &[32]);
    out.push(vector("fault illegal register", bad_reg));
    let mut zero = machine_for(add, &[]);
    zero.core.pc = 0x48;
    out.push(vector("fault zero opcode", zero));
    let mut misfetch = machine_for(add, &[]);
    misfetch.core.pc = 0x44;
    out.push(vector("fault misaligned pc", misfetch));
    let mut outside = machine_for(add, &[]);
    outside.core.pc = CODE_END;
    out.push(vector("fault pc outside code", outside));
    let lw = Instr::new(Op::Lw, 2, 1, 0, 1);
    out.push(vector("fault misaligned lw", machine_for(lw, &[(1, DATA)])));
    let sw = Instr::new(Op::Sw, 0, 1, 2, 2);
    out.push(vector(
        "fault misaligned sw",
        machine_for(sw, &[(1, 0x100)]),
    ));
    // A pre-state whose r0 field is not zero: r0 still reads as 0.
    let mut r0 = machine_for(Instr::new(Op::Add, 5, 0, 1, 0), &[(1, 7)]);
    r0.core.regs[0] = 0xDEAD_BEEF;
    out.push(vector("r0 field nonzero", r0));
    // Fixed points.
    let mut halted = machine_for(add, &[]);
    halted.core.status = Status::Halted;
    halted.core.exit = 7;
    out.push(vector("halted is a fixed point", halted));
    let mut faulted = machine_for(add, &[]);
    faulted.run(1);
    faulted.core.status = Status::Faulted;
    faulted.core.exit = 1;
    out.push(vector("faulted is a fixed point", faulted));
    // Rejected proofs.
    let mut m = machine_for(Instr::new(Op::Lw, 2, 1, 0, 0), &[(1, DATA)]);
    let proof = m.prove_step();
    let (pre, good) = (proof.pre_state_hash(), proof.to_bytes());
    out.push(error_vector(
        "error short proof",
        pre,
        &good[..good.len() - 1],
    ));
    out.push(error_vector(
        "error long proof",
        pre,
        &[good.clone(), vec![0]].concat(),
    ));
    let mut wrong_hash = good.clone();
    wrong_hash[40] ^= 1;
    out.push(error_vector("error state hash mismatch", pre, &wrong_hash));
    let mut bad_instr = good.clone();
    bad_instr[INSTR_PATH_OFFSET + 100] ^= 1;
    out.push(error_vector("error bad instruction path", pre, &bad_instr));
    let mut bad_data = good.clone();
    bad_data[DATA_PATH_OFFSET + 500] ^= 1;
    out.push(error_vector("error bad data path", pre, &bad_data));
    let mut status = good;
    status[44] = 3;
    let pre = alloy_primitives::keccak256(&status[..verdict_vm::STATE_SIZE]);
    out.push(error_vector("error invalid status", pre, &status));
    out
}

#[test]
fn golden_vectors_are_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/steps.json");
    let fresh = serde_json::to_string_pretty(&vectors()).expect("json") + "\n";
    if std::env::var_os("VERDICT_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write golden vectors");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: the VM's semantics or encodings changed. If deliberate, rerun with VERDICT_BLESS=1 and review the diff.",
        path.display()
    );
}
