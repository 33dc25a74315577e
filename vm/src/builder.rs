//! Emitting VM code from Rust: instructions, labels and counted loops.
//!
//! The DNN code generator and the assembler both build programs through this.

use crate::isa::{Form, INSTR_SIZE, Instr, NUM_REGS, Op};

/// A register number, `0..32`.
pub type Reg = u8;

/// The always-zero register.
pub const ZERO: Reg = 0;

/// A position in the code, bound once with [`Builder::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(usize);

/// Why a program could not be finished.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A label was used but never bound.
    #[error("label {0} used but never bound")]
    UnboundLabel(usize),
    /// A register number of 32 or more.
    #[error("instruction {index} names register {reg}, registers are r0..r31")]
    BadRegister {
        /// Index of the instruction.
        index: usize,
        /// The register number.
        reg: u8,
    },
}

/// Builds a program placed at a base address.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    base: u32,
    code: Vec<Instr>,
    labels: Vec<Option<u32>>,
    /// Instructions whose `imm` is a label's address.
    fixups: Vec<(usize, Label)>,
}

impl Builder {
    /// A builder for code placed at address 0.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The address the next instruction will have.
    pub fn here(&self) -> u32 {
        self.base + self.code.len() as u32 * INSTR_SIZE
    }

    /// Number of instructions so far.
    pub fn len(&self) -> usize {
        self.code.len()
    }

    /// `true` if nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction's address.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.here());
    }

    /// Emits an instruction as given.
    pub fn emit(&mut self, instr: Instr) {
        self.code.push(instr);
    }

    /// `op rd, rs1, rs2+imm` for integer ops.
    pub fn alu(&mut self, op: Op, rd: Reg, rs1: Reg, rs2: Reg, imm: i32) {
        debug_assert_eq!(op.form(), Form::Alu);
        self.emit(Instr::new(op, rd, rs1, rs2, imm as u32));
    }

    /// `rd = rs1 + imm`.
    pub fn addi(&mut self, rd: Reg, rs1: Reg, imm: i32) {
        self.alu(Op::Add, rd, rs1, ZERO, imm);
    }

    /// `rd = imm`.
    pub fn li(&mut self, rd: Reg, imm: u32) {
        self.emit(Instr::new(Op::Add, rd, ZERO, ZERO, imm));
    }

    /// `rd = rs`.
    pub fn mv(&mut self, rd: Reg, rs: Reg) {
        self.alu(Op::Add, rd, rs, ZERO, 0);
    }

    /// A load: `rd = mem[rs1 + offset]`.
    pub fn load(&mut self, op: Op, rd: Reg, rs1: Reg, offset: i32) {
        debug_assert_eq!(op.form(), Form::Load);
        self.emit(Instr::new(op, rd, rs1, ZERO, offset as u32));
    }

    /// A store: `mem[rs1 + offset] = rs2`.
    pub fn store(&mut self, op: Op, rs2: Reg, rs1: Reg, offset: i32) {
        debug_assert_eq!(op.form(), Form::Store);
        self.emit(Instr::new(op, ZERO, rs1, rs2, offset as u32));
    }

    /// A float op; `rs2` is ignored by one-operand ops.
    pub fn float(&mut self, op: Op, rd: Reg, rs1: Reg, rs2: Reg) {
        debug_assert!(matches!(op.form(), Form::Float1 | Form::Float2));
        self.emit(Instr::new(op, rd, rs1, rs2, 0));
    }

    /// A conditional branch to `target`.
    pub fn branch(&mut self, op: Op, rs1: Reg, rs2: Reg, target: Label) {
        debug_assert_eq!(op.form(), Form::Branch);
        self.fixups.push((self.code.len(), target));
        self.emit(Instr::new(op, ZERO, rs1, rs2, 0));
    }

    /// `jal rd, target`.
    pub fn jal(&mut self, rd: Reg, target: Label) {
        self.fixups.push((self.code.len(), target));
        self.emit(Instr::new(Op::Jal, rd, ZERO, ZERO, 0));
    }

    /// `halt rs+imm`.
    pub fn halt(&mut self, rs: Reg, imm: u32) {
        self.emit(Instr::new(Op::Halt, ZERO, ZERO, rs, imm));
    }

    /// Emits `body` `count` times as a loop counted down in `counter`:
    /// three instructions of overhead plus two steps per iteration, with
    /// control flow that does not depend on data. `count = 0` emits nothing.
    pub fn repeat(&mut self, counter: Reg, count: u32, body: impl FnOnce(&mut Builder)) {
        if count == 0 {
            return;
        }
        self.li(counter, count);
        let top = self.label();
        self.bind(top);
        body(self);
        self.addi(counter, counter, -1);
        self.branch(Op::Bne, counter, ZERO, top);
    }

    /// The instructions, with labels resolved.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for an unbound label or a register out of range.
    pub fn instructions(&self) -> Result<Vec<Instr>, BuildError> {
        let mut code = self.code.clone();
        for &(index, label) in &self.fixups {
            code[index].imm = self.labels[label.0].ok_or(BuildError::UnboundLabel(label.0))?;
        }
        for (index, i) in code.iter().enumerate() {
            if let Some(&reg) = [i.rd, i.rs1, i.rs2]
                .iter()
                .find(|&&r| r as usize >= NUM_REGS)
            {
                return Err(BuildError::BadRegister { index, reg });
            }
        }
        Ok(code)
    }

    /// The encoded program.
    ///
    /// # Errors
    ///
    /// As [`Builder::instructions`].
    pub fn finish(&self) -> Result<Vec<u8>, BuildError> {
        Ok(self
            .instructions()?
            .iter()
            .flat_map(Instr::encode)
            .collect())
    }
}
