//! Strategies shared by the VM's property tests.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use verdict_vm::isa::{Instr, Op};
use verdict_vm::{CODE_END, Machine};

/// Float bit patterns with the special values well represented.
pub fn f32_bits() -> impl Strategy<Value = u32> {
    let special = prop::sample::select(vec![
        0x0000_0000u32,
        0x8000_0000,
        0x0000_0001,
        0x8000_0001,
        0x007F_FFFF,
        0x807F_FFFF,
        0x0080_0000,
        0x8080_0000,
        0x3F80_0000,
        0xBF80_0000,
        0x3F80_0001,
        0x3FC0_0000,
        0x3F7F_FFFF,
        0x7F7F_FFFF,
        0xFF7F_FFFF,
        0x7F80_0000,
        0xFF80_0000,
        0x7FC0_0000,
        0xFFC0_0000,
        0x7F80_0001,
        0xFFBF_FFFF,
        0x7FFF_FFFF,
        0x4F00_0000,
        0xCF00_0000,
        0x4EFF_FFFF,
        0x3400_0000,
        0x0C00_0000,
        0x1F80_0000,
    ]);
    prop_oneof![
        3 => any::<u32>(),
        2 => special,
        // NaNs with payloads, signalling ones (quiet bit clear) and quiet.
        1 => (any::<bool>(), any::<bool>(), 1u32..0x40_0000)
            .prop_map(|(s, q, p)| (s as u32) << 31 | 0x7F80_0000 | (q as u32) << 22 | p),
        // Tiny values, whose products underflow into subnormals or zero.
        2 => (any::<bool>(), 0u32..0x0A00_0000).prop_map(|(s, m)| m | (s as u32) << 31),
        // Values near 1, where sums and products round.
        2 => (any::<bool>(), 0x3E00_0000u32..0x4100_0000).prop_map(|(s, m)| m | (s as u32) << 31),
    ]
}

/// Register values that hit memory, code, float specials and integer edges.
pub fn reg_value() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => any::<u32>(),
        2 => 0u32..64,
        2 => (0u32..256).prop_map(|o| CODE_END + 4 * o),
        1 => (0u32..64).prop_map(|o| 4 * o),
        1 => prop::sample::select(vec![0x8000_0000u32, 0xFFFF_FFFF, 0x7FFF_FFFF, 32, 33, CODE_END - 4]),
        2 => f32_bits(),
    ]
}

/// One encoded instruction: mostly legal, some illegal.
pub fn instr_bytes(program_len: u32) -> impl Strategy<Value = [u8; 8]> {
    let reg = prop_oneof![20 => 0u8..32, 1 => 32u8..=255];
    let imm = prop_oneof![
        3 => -16i32..16,
        2 => (0..program_len.max(1)).prop_map(|i| (i * 8) as i32),
        1 => any::<i32>(),
        1 => (0u32..64).prop_map(|o| (CODE_END + 4 * o) as i32),
    ];
    let op = prop_oneof![20 => prop::sample::select(Op::ALL.to_vec()).prop_map(Op::byte), 1 => any::<u8>()];
    (op, reg.clone(), reg.clone(), reg, imm).prop_map(|(op, rd, rs1, rs2, imm)| {
        let imm = (imm as u32).to_le_bytes();
        [op, rd, rs1, rs2, imm[0], imm[1], imm[2], imm[3]]
    })
}

/// A legal, canonically encoded instruction (unused fields zero).
pub fn canonical_instr() -> impl Strategy<Value = Instr> {
    use verdict_vm::isa::Form;
    (
        prop::sample::select(Op::ALL.to_vec()),
        0u8..32,
        0u8..32,
        0u8..32,
        any::<u32>(),
    )
        .prop_map(|(op, rd, rs1, rs2, imm)| match op.form() {
            Form::Alu => Instr::new(op, rd, rs1, rs2, imm),
            Form::Load | Form::Jalr => Instr::new(op, rd, rs1, 0, imm),
            Form::Store => Instr::new(op, 0, rs1, rs2, imm),
            Form::Branch => Instr::new(op, 0, rs1, rs2, imm),
            Form::Jal => Instr::new(op, rd, 0, 0, imm),
            Form::Halt => Instr::new(op, 0, 0, rs2, imm),
            Form::Float2 => Instr::new(op, rd, rs1, rs2, 0),
            Form::Float1 => Instr::new(op, rd, rs1, 0, 0),
        })
}

/// A machine with a random program at 0, random registers, random data
/// around `CODE_END` and a pc near the program.
pub fn machine() -> impl Strategy<Value = Machine> {
    (
        prop::collection::vec(instr_bytes(24), 1..24),
        prop::array::uniform32(reg_value()),
        prop::collection::vec(any::<u8>(), 0..1024),
        prop_oneof![8 => (0u32..24).prop_map(|i| i * 8), 1 => any::<u32>()],
    )
        .prop_map(|(program, regs, data, pc)| {
            let mut m = Machine::new();
            let code: Vec<u8> = program.concat();
            m.load_program(&code);
            m.write_bytes(CODE_END, &data);
            m.core.regs = regs;
            m.core.regs[0] = 0;
            m.core.pc = pc;
            m
        })
}
