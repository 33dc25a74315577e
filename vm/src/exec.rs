//! One step of the VM, over any memory that implements [`Bus`].
//!
//! Execution does not know about proofs: the interpreter plugs in plain
//! memory, the prover a recorder, the verifier the two leaves of a proof. All
//! of them run this same code, so the rules of a step exist once.

use crate::fault::Fault;
use crate::isa::{INSTR_SIZE, Instr, Op};
use crate::semantics as s;
use crate::state::{Core, Status};

/// End of the read-only code region: fetches below it, stores at or above it.
pub const CODE_END: u32 = 0x4000_0000;

/// Memory as one step sees it. `Error` is a host failure (an invalid proof),
/// never a VM fault; plain memory uses [`std::convert::Infallible`].
pub trait Bus {
    /// Host failure.
    type Error;
    /// The instruction at `pc`, which is 8-aligned and below [`CODE_END`].
    ///
    /// # Errors
    ///
    /// A host failure.
    fn fetch(&mut self, pc: u32) -> Result<Result<Instr, Fault>, Self::Error>;
    /// The word at a 4-aligned address.
    ///
    /// # Errors
    ///
    /// A host failure.
    fn load_u32(&mut self, addr: u32) -> Result<u32, Self::Error>;
    /// The byte at `addr`.
    ///
    /// # Errors
    ///
    /// A host failure.
    fn load_u8(&mut self, addr: u32) -> Result<u8, Self::Error>;
    /// Writes the word at a 4-aligned address at or above [`CODE_END`].
    ///
    /// # Errors
    ///
    /// A host failure.
    fn store_u32(&mut self, addr: u32, value: u32) -> Result<(), Self::Error>;
    /// Writes the byte at an address at or above [`CODE_END`].
    ///
    /// # Errors
    ///
    /// A host failure.
    fn store_u8(&mut self, addr: u32, value: u8) -> Result<(), Self::Error>;
}

/// `true` if an instruction may be fetched from `pc`.
#[inline(always)]
pub const fn fetchable(pc: u32) -> bool {
    pc.is_multiple_of(INSTR_SIZE) && pc < CODE_END
}

/// Executes one step of `core` (docs/spec/vm.md §4, "a step is evaluated as").
///
/// # Errors
///
/// Only the bus's host failures; VM faults are recorded in `core`.
#[inline(always)]
pub fn step<B: Bus>(core: &mut Core, bus: &mut B) -> Result<(), B::Error> {
    if core.status != Status::Running {
        return Ok(());
    }
    // `r0` reads as zero, and every executed step leaves it zero.
    core.regs[0] = 0;
    let instr = if fetchable(core.pc) {
        bus.fetch(core.pc)?
    } else {
        Err(Fault::BadFetch)
    };
    match instr {
        Ok(instr) => execute(core, instr, bus),
        Err(fault) => {
            fault_core(core, fault);
            Ok(())
        }
    }
}

#[cold]
fn fault_core(core: &mut Core, fault: Fault) {
    core.status = Status::Faulted;
    core.exit = fault.code();
    core.step = core.step.wrapping_add(1);
}

/// Executes a decoded instruction fetched from `core.pc` of a running core.
///
/// # Errors
///
/// Only the bus's host failures.
#[inline(always)]
pub fn execute<B: Bus>(core: &mut Core, i: Instr, bus: &mut B) -> Result<(), B::Error> {
    let r = &core.regs;
    // Decoding guarantees register fields below 32; the masks let the
    // compiler drop the bounds checks.
    let reg = |n: u8| (n & 31) as usize;
    let a = r[reg(i.rs1)];
    let r2 = r[reg(i.rs2)];
    let b = r2.wrapping_add(i.imm);
    let next = core.pc.wrapping_add(INSTR_SIZE);
    let addr = a.wrapping_add(i.imm);
    let mut pc = next;
    let value = match i.op {
        Op::Add => s::i32_add(a, b),
        Op::Sub => s::i32_sub(a, b),
        Op::Mul => s::i32_mul(a, b),
        Op::Div => s::i32_div(a, b),
        Op::Divu => s::i32_divu(a, b),
        Op::Rem => s::i32_rem(a, b),
        Op::Remu => s::i32_remu(a, b),
        Op::And => a & b,
        Op::Or => a | b,
        Op::Xor => a ^ b,
        Op::Sll => s::i32_sll(a, b),
        Op::Srl => s::i32_srl(a, b),
        Op::Sra => s::i32_sra(a, b),
        Op::Slt => s::i32_slt(a, b),
        Op::Sltu => s::i32_sltu(a, b),
        Op::Lw => {
            if !addr.is_multiple_of(4) {
                fault_core(core, Fault::MisalignedAccess);
                return Ok(());
            }
            bus.load_u32(addr)?
        }
        Op::Lbu => u32::from(bus.load_u8(addr)?),
        Op::Sw | Op::Sb => {
            if i.op == Op::Sw && !addr.is_multiple_of(4) {
                fault_core(core, Fault::MisalignedAccess);
                return Ok(());
            }
            if addr < CODE_END {
                fault_core(core, Fault::StoreToCode);
                return Ok(());
            }
            if i.op == Op::Sw {
                bus.store_u32(addr, r2)?;
            } else {
                bus.store_u8(addr, r2 as u8)?;
            }
            core.pc = next;
            core.step = core.step.wrapping_add(1);
            return Ok(());
        }
        Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
            let taken = match i.op {
                Op::Beq => a == r2,
                Op::Bne => a != r2,
                Op::Blt => (a as i32) < (r2 as i32),
                Op::Bge => (a as i32) >= (r2 as i32),
                Op::Bltu => a < r2,
                _ => a >= r2,
            };
            core.pc = if taken { i.imm } else { next };
            core.step = core.step.wrapping_add(1);
            return Ok(());
        }
        Op::Jal => {
            pc = i.imm;
            next
        }
        Op::Jalr => {
            pc = addr;
            next
        }
        Op::Halt => {
            core.status = Status::Halted;
            core.exit = b;
            core.step = core.step.wrapping_add(1);
            return Ok(());
        }
        Op::Fadd => s::f32_add(a, r2),
        Op::Fsub => s::f32_sub(a, r2),
        Op::Fmul => s::f32_mul(a, r2),
        Op::Fdiv => s::f32_div(a, r2),
        Op::Fmadd => s::f32_fma(a, r2, r[reg(i.rd)]),
        Op::Fsqrt => s::f32_sqrt(a),
        Op::Fmin => s::f32_min(a, r2),
        Op::Fmax => s::f32_max(a, r2),
        Op::Feq => s::f32_eq(a, r2),
        Op::Flt => s::f32_lt(a, r2),
        Op::Fle => s::f32_le(a, r2),
        Op::Ftoi => s::f32_to_i32(a),
        Op::Itof => s::i32_to_f32(a),
    };
    core.regs[reg(i.rd)] = value;
    core.regs[0] = 0;
    core.pc = pc;
    core.step = core.step.wrapping_add(1);
    Ok(())
}
