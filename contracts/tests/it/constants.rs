//! The Solidity verifier's constants against the VM's tables: opcodes
//! (both ways), state and proof layout, fault codes, statuses. The constants
//! live in the verifier and in the two libraries it shares with the claim
//! manager: `MerkleTree` (the memory tree) and `VMState` (the state encoding).

use std::collections::BTreeMap;

use verdict_vm::isa::NUM_REGS;
use verdict_vm::merkle::{LEAF_SIZE, TREE_DEPTH};
use verdict_vm::proof::{DATA_LEAF_OFFSET, DATA_PATH_OFFSET, INSTR_LEAF_OFFSET, INSTR_PATH_OFFSET};
use verdict_vm::state::{
    EXIT_OFFSET, MEM_ROOT_OFFSET, PC_OFFSET, REGS_OFFSET, STATUS_OFFSET, STEP_OFFSET,
};
use verdict_vm::{CODE_END, Fault, Op, PROOF_SIZE, STATE_SIZE, Status};

/// The sources, each after the ones it refers to.
const SOURCES: [&str; 3] = [
    include_str!("../../src/MerkleTree.sol"),
    include_str!("../../src/VMState.sol"),
    include_str!("../../src/VerdictVM.sol"),
];

/// Every constant of the verifier's sources.
fn constants() -> BTreeMap<String, u64> {
    constants_in(&SOURCES)
}

/// Every `uintN internal|public constant NAME = expression;` of `sources`,
/// its expression evaluated: a literal, or a sum and products of earlier
/// constants, named bare or as `Library.NAME`.
pub(crate) fn constants_in(sources: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let code: String = sources
        .iter()
        .flat_map(|source| source.lines())
        .map(|line| line.split("//").next().unwrap_or_default().trim())
        .collect::<Vec<_>>()
        .join(" ");
    for statement in code.split(';') {
        let Some((_, decl)) = ["internal constant ", "public constant "]
            .iter()
            .find_map(|k| statement.split_once(k))
        else {
            continue;
        };
        let (name, expr) = decl.split_once(" = ").expect(decl);
        let eval_term =
            |term: &str| -> u64 { term.split(" * ").map(|f| value(f.trim(), &out)).product() };
        let v = expr.trim().split(" + ").map(eval_term).sum();
        out.insert(name.to_owned(), v);
    }
    out
}

fn value(token: &str, known: &BTreeMap<String, u64>) -> u64 {
    if let Some(hex) = token.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).expect(token)
    } else if token.starts_with(|c: char| c.is_ascii_digit()) {
        token.replace('_', "").parse().expect(token)
    } else {
        let name = token.rsplit('.').next().unwrap_or(token);
        *known
            .get(name)
            .unwrap_or_else(|| panic!("unknown constant {token}"))
    }
}

#[test]
fn opcodes_match_the_vm_table() {
    let sol: BTreeMap<String, u64> = constants()
        .into_iter()
        .filter_map(|(name, v)| Some((name.strip_prefix("OP_")?.to_lowercase(), v)))
        .collect();
    let vm: BTreeMap<String, u64> = Op::ALL
        .iter()
        .map(|op| (op.mnemonic().to_owned(), u64::from(op.byte())))
        .collect();
    assert_eq!(sol, vm);
}

#[test]
fn layout_and_codes_match_the_vm() {
    let c = constants();
    let usize_of = |name: &str| usize::try_from(c[name]).expect(name);
    let expected = [
        ("REGISTER_COUNT", NUM_REGS),
        ("LEAF_SIZE", LEAF_SIZE),
        ("TREE_DEPTH", TREE_DEPTH),
        ("MEM_ROOT_OFFSET", MEM_ROOT_OFFSET),
        ("PC_OFFSET", PC_OFFSET),
        ("STEP_OFFSET", STEP_OFFSET),
        ("STATUS_OFFSET", STATUS_OFFSET),
        ("EXIT_OFFSET", EXIT_OFFSET),
        ("REGS_OFFSET", REGS_OFFSET),
        ("STATE_SIZE", STATE_SIZE),
        ("INSTRUCTION_LEAF_OFFSET", INSTR_LEAF_OFFSET),
        ("INSTRUCTION_PATH_OFFSET", INSTR_PATH_OFFSET),
        ("DATA_LEAF_OFFSET", DATA_LEAF_OFFSET),
        ("DATA_PATH_OFFSET", DATA_PATH_OFFSET),
        ("PROOF_SIZE", PROOF_SIZE),
        ("INSTRUCTION_SIZE", verdict_vm::isa::INSTR_SIZE as usize),
        ("CODE_END", CODE_END as usize),
    ];
    for (name, want) in expected {
        assert_eq!(usize_of(name), want, "{name}");
    }
    assert_eq!(1 << c["LEAF_INDEX_SHIFT"], LEAF_SIZE as u64);
    for fault in Fault::ALL {
        let name = format!("FAULT_{}", screaming_snake(&format!("{fault:?}")));
        assert_eq!(c[&name], u64::from(fault.code()), "{name}");
    }
    for status in [Status::Running, Status::Halted, Status::Faulted] {
        let name = format!("STATUS_{}", screaming_snake(&format!("{status:?}")));
        assert_eq!(c[&name], status as u64, "{name}");
    }
}

/// `MisalignedAccess` to `MISALIGNED_ACCESS`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}
