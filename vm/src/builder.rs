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

/// An open counted loop; see [`Builder::loop_start`].
#[derive(Debug)]
#[must_use = "a loop must be closed with Builder::loop_end"]
pub struct LoopMark {
    top: Label,
    counter: Reg,
    count: u32,
    before: Option<u64>,
}

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
#[derive(Clone, Debug)]
pub struct Builder {
    base: u32,
    code: Vec<Instr>,
    labels: Vec<Option<u32>>,
    /// Instructions whose `imm` is a label's address.
    fixups: Vec<(usize, Label)>,
    /// Steps the code takes from start to end, while its control flow is
    /// structured (straight lines and [`Builder::repeat`]); `None` once a
    /// free branch or jump is emitted.
    steps: Option<u64>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            base: 0,
            code: Vec::new(),
            labels: Vec::new(),
            fixups: Vec::new(),
            steps: Some(0),
        }
    }
}

impl Builder {
    /// A builder for code placed at address 0.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The number of steps the code emitted so far takes when run straight
    /// through, if its control flow is structured (see [`Builder::repeat`]).
    /// This is how a compiler knows the step count of every piece of code
    /// without running it.
    pub fn static_steps(&self) -> Option<u64> {
        self.steps
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

    /// Emits an instruction as given. A branch or jump makes the step count
    /// unknown.
    pub fn emit(&mut self, instr: Instr) {
        if matches!(instr.op.form(), Form::Branch | Form::Jal | Form::Jalr) {
            self.steps = None;
        }
        self.push(instr);
    }

    fn push(&mut self, instr: Instr) {
        self.code.push(instr);
        self.steps = self.steps.map(|s| s + 1);
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
    ///
    /// The step count stays known: `1 + count * (body + 2)`.
    pub fn repeat(&mut self, counter: Reg, count: u32, body: impl FnOnce(&mut Builder)) {
        if let Some(mark) = self.loop_start(counter, count) {
            body(self);
            self.loop_end(mark);
        }
    }

    /// Opens a counted loop, as [`Builder::repeat`] does, for callers that
    /// emit the body through a wrapper of their own. `None` (nothing emitted)
    /// when `count = 0`: the body must then be skipped.
    pub fn loop_start(&mut self, counter: Reg, count: u32) -> Option<LoopMark> {
        if count == 0 {
            return None;
        }
        self.li(counter, count);
        let top = self.label();
        self.bind(top);
        Some(LoopMark {
            top,
            counter,
            count,
            before: self.steps,
        })
    }

    /// Closes a loop opened by [`Builder::loop_start`].
    pub fn loop_end(&mut self, mark: LoopMark) {
        let body_steps = match (mark.before, self.steps) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        };
        self.addi(mark.counter, mark.counter, -1);
        self.fixups.push((self.code.len(), mark.top));
        self.push(Instr::new(Op::Bne, ZERO, mark.counter, ZERO, 0));
        self.steps = match (mark.before, body_steps) {
            (Some(b), Some(body)) => Some(b + u64::from(mark.count) * (body + 2)),
            _ => None,
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Machine, Status};

    #[test]
    fn static_steps_equal_the_steps_a_run_takes() {
        let mut b = Builder::new();
        b.li(1, 5);
        b.repeat(2, 3, |b| {
            b.addi(1, 1, 1);
            b.repeat(3, 4, |b| b.alu(Op::Xor, 4, 4, 1, 0));
            b.repeat(5, 0, |b| b.addi(1, 1, 1));
        });
        b.halt(1, 0);
        let steps = b.static_steps().expect("structured code");
        let mut m = Machine::new();
        m.load_program(&b.finish().unwrap());
        m.run(1000);
        assert_eq!(m.core.status, Status::Halted);
        assert_eq!(m.core.step, steps);
        let end = b.label();
        b.jal(0, end);
        assert_eq!(
            b.static_steps(),
            None,
            "a free jump makes the count unknown"
        );
    }
}
