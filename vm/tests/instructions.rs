//! Expected-state instruction tests: from a seeded random pre-state, each
//! instruction changes exactly the fields it should.

mod common;

use proptest::prelude::*;
use verdict_vm::isa::{Form, Instr, Op};
use verdict_vm::semantics as s;
use verdict_vm::{CODE_END, Core, Fault, Machine, Status};

const PC: u32 = 0x100;

fn run_one(instr: Instr, regs: [u32; 32]) -> (Core, Machine) {
    let mut m = Machine::new();
    let mut code = vec![0u8; PC as usize];
    code.extend_from_slice(&instr.encode());
    m.load_program(&code);
    m.core.pc = PC;
    m.core.step = 41;
    m.core.regs = regs;
    m.core.regs[0] = 0;
    let pre = m.core;
    m.step();
    (pre, m)
}

fn expect_write(pre: &Core, rd: u8, value: u32, pc: u32) -> Core {
    let mut c = *pre;
    if rd != 0 {
        c.regs[rd as usize] = value;
    }
    c.pc = pc;
    c.step += 1;
    c
}

fn stopped(pre: &Core, status: Status, exit: u32) -> Core {
    let mut c = *pre;
    c.status = status;
    c.exit = exit;
    c.step += 1;
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn alu_and_float_ops_change_only_rd_and_pc(
        op in prop::sample::select(
            Op::ALL.iter().copied().filter(|op| matches!(op.form(), Form::Alu | Form::Float1 | Form::Float2)).collect::<Vec<_>>()
        ),
        rd in 0u8..32, rs1 in 0u8..32, rs2 in 0u8..32, imm in any::<u32>(),
        regs in prop::array::uniform32(common::reg_value()),
    ) {
        let imm = if op.form() == Form::Alu { imm } else { 0 };
        let (pre, m) = run_one(Instr::new(op, rd, rs1, rs2, imm), regs);
        let a = pre.regs[rs1 as usize];
        let r2 = pre.regs[rs2 as usize];
        let b = r2.wrapping_add(imm);
        let value = match op {
            Op::Add => a.wrapping_add(b),
            Op::Sub => a.wrapping_sub(b),
            Op::Mul => a.wrapping_mul(b),
            Op::Div => if b == 0 { u32::MAX } else { (a as i32).wrapping_div(b as i32) as u32 },
            Op::Divu => a.checked_div(b).unwrap_or(u32::MAX),
            Op::Rem => if b == 0 { a } else { (a as i32).wrapping_rem(b as i32) as u32 },
            Op::Remu => a.checked_rem(b).unwrap_or(a),
            Op::And => a & b,
            Op::Or => a | b,
            Op::Xor => a ^ b,
            Op::Sll => a.wrapping_shl(b),
            Op::Srl => a.wrapping_shr(b),
            Op::Sra => (a as i32).wrapping_shr(b) as u32,
            Op::Slt => ((a as i32) < (b as i32)) as u32,
            Op::Sltu => (a < b) as u32,
            Op::Fadd => s::f32_add(a, r2),
            Op::Fsub => s::f32_sub(a, r2),
            Op::Fmul => s::f32_mul(a, r2),
            Op::Fdiv => s::f32_div(a, r2),
            Op::Fmadd => s::f32_fma(a, r2, pre.regs[rd as usize]),
            Op::Fsqrt => s::f32_sqrt(a),
            Op::Fmin => s::f32_min(a, r2),
            Op::Fmax => s::f32_max(a, r2),
            Op::Feq => s::f32_eq(a, r2),
            Op::Flt => s::f32_lt(a, r2),
            Op::Fle => s::f32_le(a, r2),
            Op::Ftoi => s::f32_to_i32(a),
            Op::Itof => s::i32_to_f32(a),
            _ => unreachable!("filtered above"),
        };
        let by_op = s::alu(op, a, b).or_else(|| s::float(op, a, r2, pre.regs[rd as usize]));
        prop_assert_eq!(by_op, Some(value), "semantics::alu/float dispatch agrees");
        prop_assert_eq!(m.core, expect_write(&pre, rd, value, PC + 8));
    }

    #[test]
    fn branches_jumps_and_halt(
        op in prop::sample::select(vec![Op::Beq, Op::Bne, Op::Blt, Op::Bge, Op::Bltu, Op::Bgeu, Op::Jal, Op::Jalr, Op::Halt]),
        rd in 0u8..32, rs1 in 0u8..32, rs2 in 0u8..32, imm in any::<u32>(),
        regs in prop::array::uniform32(common::reg_value()),
    ) {
        let (pre, m) = run_one(Instr::new(op, rd, rs1, rs2, imm), regs);
        let (a, r2) = (pre.regs[rs1 as usize], pre.regs[rs2 as usize]);
        let branch = |taken: bool| expect_write(&pre, 0, 0, if taken { imm } else { PC + 8 });
        let want = match op {
            Op::Beq => branch(a == r2),
            Op::Bne => branch(a != r2),
            Op::Blt => branch((a as i32) < (r2 as i32)),
            Op::Bge => branch((a as i32) >= (r2 as i32)),
            Op::Bltu => branch(a < r2),
            Op::Bgeu => branch(a >= r2),
            Op::Jal => expect_write(&pre, rd, PC + 8, imm),
            Op::Jalr => expect_write(&pre, rd, PC + 8, a.wrapping_add(imm)),
            _ => stopped(&pre, Status::Halted, r2.wrapping_add(imm)),
        };
        prop_assert_eq!(m.core, want);
    }

    #[test]
    fn loads_and_stores(
        op in prop::sample::select(vec![Op::Lw, Op::Lbu, Op::Sw, Op::Sb]),
        base in common::reg_value(), offset in -64i32..64, value in any::<u32>(),
    ) {
        let mut regs = [0u32; 32];
        regs[1] = base;
        regs[2] = value;
        let rd = if matches!(op, Op::Lw | Op::Lbu) { 3 } else { 0 };
        let (pre, mut m) = run_one(Instr::new(op, rd, 1, 2, offset as u32), regs);
        let addr = base.wrapping_add(offset as u32);
        let fault = |f: Fault| stopped(&pre, Status::Faulted, f.code());
        let word = matches!(op, Op::Lw | Op::Sw);
        if word && addr % 4 != 0 {
            prop_assert_eq!(m.core, fault(Fault::MisalignedAccess));
        } else if matches!(op, Op::Sw | Op::Sb) && addr < CODE_END {
            prop_assert_eq!(m.core, fault(Fault::StoreToCode));
        } else if op == Op::Sw {
            prop_assert_eq!(m.core, expect_write(&pre, 0, 0, PC + 8));
            prop_assert_eq!(m.read_bytes(addr, 4), value.to_le_bytes().to_vec());
        } else if op == Op::Sb {
            prop_assert_eq!(m.core, expect_write(&pre, 0, 0, PC + 8));
            prop_assert_eq!(m.read_bytes(addr, 1), vec![value as u8]);
        } else {
            let bytes = m.read_bytes(addr, 4);
            let want = if op == Op::Lw { u32::from_le_bytes(bytes.try_into().unwrap()) } else { u32::from(bytes[0]) };
            prop_assert_eq!(m.core, expect_write(&pre, 3, want, PC + 8));
        }
        let _ = m.state_hash();
    }
}

#[test]
fn integer_edge_cases() {
    assert_eq!(s::i32_div(7, 0), u32::MAX);
    assert_eq!(s::i32_div(0x8000_0000, u32::MAX), 0x8000_0000);
    assert_eq!(s::i32_rem(0x8000_0000, u32::MAX), 0);
    assert_eq!(s::i32_rem((-7i32) as u32, 2), (-1i32) as u32);
    assert_eq!(s::i32_remu(7, 0), 7);
    assert_eq!(s::i32_sll(1, 32), 1, "shift amounts use the low 5 bits");
    assert_eq!(s::i32_sra(0x8000_0000, 31), u32::MAX);
    assert_eq!(s::i32_add(u32::MAX, 1), 0);
}

#[test]
fn writes_to_r0_are_dropped_and_running_off_the_code_faults() {
    let (_, m) = run_one(Instr::new(Op::Add, 0, 0, 0, 5), [0; 32]);
    assert_eq!(m.core.regs[0], 0);
    let mut m = m;
    m.step();
    assert_eq!(
        m.core.fault(),
        Some(Fault::IllegalInstruction),
        "zeroed code is opcode 0"
    );
}
