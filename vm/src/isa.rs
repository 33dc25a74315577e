//! The instruction set: one table, and everything derived from it.
//!
//! `for_each_op!` is the single list of instructions. The [`Op`] enum, the
//! opcode bytes, the mnemonics, the operand forms and the gas classes all come
//! from it; docs/spec/vm.md §3 describes the same table in prose.

use crate::fault::Fault;

/// Size of one encoded instruction in bytes.
pub const INSTR_SIZE: u32 = 8;
/// Number of registers; register fields must be below it.
pub const NUM_REGS: usize = 32;

/// How an instruction's operands are written in assembly, and which fields it
/// uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `op rd, rs1, b` where `b` is `rs2`, `imm` or `rs2+imm`.
    Alu,
    /// `op rd, imm(rs1)`.
    Load,
    /// `op rs2, imm(rs1)`.
    Store,
    /// `op rs1, rs2, target`.
    Branch,
    /// `op rd, target`.
    Jal,
    /// `op rd, imm(rs1)`.
    Jalr,
    /// `op b`.
    Halt,
    /// `op rd, rs1, rs2`.
    Float2,
    /// `op rd, rs1`.
    Float1,
}

/// What an instruction costs to verify on-chain: instructions of one class
/// share a code path in the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Integer arithmetic and logic.
    Alu,
    /// Loads.
    Load,
    /// Stores.
    Store,
    /// Conditional branches.
    Branch,
    /// `jal` and `jalr`.
    Jump,
    /// `halt`.
    Halt,
    /// `fadd`, `fsub`.
    FAdd,
    /// `fmul`.
    FMul,
    /// `fmadd`.
    Fma,
    /// `fdiv`.
    FDiv,
    /// `fsqrt`.
    FSqrt,
    /// `fmin`, `fmax`, `feq`, `flt`, `fle`.
    FCmp,
    /// `ftoi`, `itof`.
    FCvt,
}

/// Calls `$m!` with the whole instruction table:
/// `Variant = byte, "mnemonic", Form, Class;` per instruction.
#[macro_export]
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            Add = 0x01, "add", Alu, Alu;
            Sub = 0x02, "sub", Alu, Alu;
            Mul = 0x03, "mul", Alu, Alu;
            Div = 0x04, "div", Alu, Alu;
            Divu = 0x05, "divu", Alu, Alu;
            Rem = 0x06, "rem", Alu, Alu;
            Remu = 0x07, "remu", Alu, Alu;
            And = 0x08, "and", Alu, Alu;
            Or = 0x09, "or", Alu, Alu;
            Xor = 0x0A, "xor", Alu, Alu;
            Sll = 0x0B, "sll", Alu, Alu;
            Srl = 0x0C, "srl", Alu, Alu;
            Sra = 0x0D, "sra", Alu, Alu;
            Slt = 0x0E, "slt", Alu, Alu;
            Sltu = 0x0F, "sltu", Alu, Alu;
            Lw = 0x10, "lw", Load, Load;
            Lbu = 0x11, "lbu", Load, Load;
            Sw = 0x12, "sw", Store, Store;
            Sb = 0x13, "sb", Store, Store;
            Beq = 0x20, "beq", Branch, Branch;
            Bne = 0x21, "bne", Branch, Branch;
            Blt = 0x22, "blt", Branch, Branch;
            Bge = 0x23, "bge", Branch, Branch;
            Bltu = 0x24, "bltu", Branch, Branch;
            Bgeu = 0x25, "bgeu", Branch, Branch;
            Jal = 0x26, "jal", Jal, Jump;
            Jalr = 0x27, "jalr", Jalr, Jump;
            Halt = 0x28, "halt", Halt, Halt;
            Fadd = 0x30, "fadd", Float2, FAdd;
            Fsub = 0x31, "fsub", Float2, FAdd;
            Fmul = 0x32, "fmul", Float2, FMul;
            Fdiv = 0x33, "fdiv", Float2, FDiv;
            Fmadd = 0x34, "fmadd", Float2, Fma;
            Fsqrt = 0x35, "fsqrt", Float1, FSqrt;
            Fmin = 0x36, "fmin", Float2, FCmp;
            Fmax = 0x37, "fmax", Float2, FCmp;
            Feq = 0x38, "feq", Float2, FCmp;
            Flt = 0x39, "flt", Float2, FCmp;
            Fle = 0x3A, "fle", Float2, FCmp;
            Ftoi = 0x3B, "ftoi", Float1, FCvt;
            Itof = 0x3C, "itof", Float1, FCvt;
        }
    };
}

macro_rules! define_ops {
    ($($name:ident = $byte:literal, $mnemonic:literal, $form:ident, $class:ident;)*) => {
        /// A VM instruction's operation. The discriminant is its opcode byte.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Op {
            $(
                #[doc = concat!("`", $mnemonic, "`")]
                $name = $byte,
            )*
        }

        impl Op {
            /// Every operation, in opcode order.
            pub const ALL: &'static [Op] = &[$(Op::$name),*];

            /// The operation with this opcode byte, if any.
            #[inline]
            pub const fn from_byte(byte: u8) -> Option<Op> {
                match byte {
                    $($byte => Some(Op::$name),)*
                    _ => None,
                }
            }

            /// The opcode byte.
            #[inline]
            pub const fn byte(self) -> u8 {
                self as u8
            }

            /// The assembly mnemonic.
            pub const fn mnemonic(self) -> &'static str {
                match self {
                    $(Op::$name => $mnemonic,)*
                }
            }

            /// The operation with this mnemonic, if any.
            pub fn from_mnemonic(mnemonic: &str) -> Option<Op> {
                match mnemonic {
                    $($mnemonic => Some(Op::$name),)*
                    _ => None,
                }
            }

            /// The operand form.
            pub const fn form(self) -> Form {
                match self {
                    $(Op::$name => Form::$form,)*
                }
            }

            /// The verification cost class.
            pub const fn class(self) -> Class {
                match self {
                    $(Op::$name => Class::$class,)*
                }
            }
        }
    };
}

for_each_op!(define_ops);

/// A decoded instruction. Register fields are below [`NUM_REGS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// The operation.
    pub op: Op,
    /// Destination register.
    pub rd: u8,
    /// First source register.
    pub rs1: u8,
    /// Second source register.
    pub rs2: u8,
    /// Immediate.
    pub imm: u32,
}

impl Instr {
    /// An instruction with every field given.
    pub const fn new(op: Op, rd: u8, rs1: u8, rs2: u8, imm: u32) -> Instr {
        Instr {
            op,
            rd,
            rs1,
            rs2,
            imm,
        }
    }

    /// Encodes the instruction (docs/spec/vm.md §2).
    pub fn encode(&self) -> [u8; INSTR_SIZE as usize] {
        let imm = self.imm.to_le_bytes();
        [
            self.op.byte(),
            self.rd,
            self.rs1,
            self.rs2,
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// Decodes 8 instruction bytes.
    ///
    /// # Errors
    ///
    /// [`Fault::IllegalInstruction`] for an unknown opcode or a register field
    /// of 32 or more.
    #[inline]
    pub fn decode(bytes: [u8; INSTR_SIZE as usize]) -> Result<Instr, Fault> {
        let op = Op::from_byte(bytes[0]).ok_or(Fault::IllegalInstruction)?;
        let [rd, rs1, rs2] = [bytes[1], bytes[2], bytes[3]];
        if rd as usize >= NUM_REGS || rs1 as usize >= NUM_REGS || rs2 as usize >= NUM_REGS {
            return Err(Fault::IllegalInstruction);
        }
        let imm = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        Ok(Instr {
            op,
            rd,
            rs1,
            rs2,
            imm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_round_trips_and_nothing_else_decodes() {
        let mut defined = 0;
        for byte in 0..=u8::MAX {
            match Op::from_byte(byte) {
                Some(op) => {
                    defined += 1;
                    assert_eq!(op.byte(), byte);
                    assert_eq!(Op::from_mnemonic(op.mnemonic()), Some(op));
                }
                None => assert!(Op::ALL.iter().all(|op| op.byte() != byte)),
            }
        }
        assert_eq!(defined, Op::ALL.len());
        assert_eq!(Op::from_byte(0), None, "opcode 0 must stay undefined");
    }

    /// `VerdictVM.sol` dispatches by opcode range (`op <= OP_SLTU` integer
    /// ALU, `<= OP_SB` loads and stores, `<= OP_HALT` control flow, then
    /// float): opcodes must ascend and each of those families must be one
    /// unbroken run ending at the opcode the contract names.
    #[test]
    fn opcode_families_are_ascending_ranges() {
        let family = |op: Op| match op.class() {
            Class::Alu => 0,
            Class::Load | Class::Store => 1,
            Class::Branch | Class::Jump | Class::Halt => 2,
            _ => 3,
        };
        for pair in Op::ALL.windows(2) {
            assert!(pair[0].byte() < pair[1].byte(), "{pair:?} out of order");
            assert!(
                family(pair[0]) <= family(pair[1]),
                "{pair:?} interleave families"
            );
        }
        let last = |f| Op::ALL.iter().rev().find(|&&op| family(op) == f).copied();
        assert_eq!(last(0), Some(Op::Sltu));
        assert_eq!(last(1), Some(Op::Sb));
        assert_eq!(last(2), Some(Op::Halt));
    }

    #[test]
    fn register_fields_are_checked() {
        let good = Instr::new(Op::Add, 31, 31, 31, 7).encode();
        assert!(Instr::decode(good).is_ok());
        for field in 1..4 {
            let mut bad = good;
            bad[field] = 32;
            assert_eq!(Instr::decode(bad), Err(Fault::IllegalInstruction));
        }
    }
}
