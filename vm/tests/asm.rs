//! The disassembler's output assembles back to the same bytes.

mod common;

use proptest::prelude::*;
use verdict_vm::asm::{assemble, format_instr};
use verdict_vm::isa::Instr;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn format_then_assemble_round_trips(instrs in prop::collection::vec(common::canonical_instr(), 1..20)) {
        let text: String = instrs.iter().map(|i| format_instr(i) + "\n").collect();
        let bytes = assemble(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let want: Vec<u8> = instrs.iter().flat_map(Instr::encode).collect();
        prop_assert_eq!(bytes, want, "{}", text);
    }
}
