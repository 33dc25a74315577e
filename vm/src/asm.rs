//! A text assembler and a disassembler, for tests, examples and debugging.
//!
//! Syntax, one instruction per line (`#` or `;` starts a comment):
//!
//! ```text
//! loop:                     # a label
//!   add  r1, r2, r3         # b = r3
//!   add  r1, r2, 5          # b = 5
//!   add  r1, r2, r3-4       # b = r3 + (-4)
//!   lw   r1, 8(r2)          # loads and jalr: imm(rs1)
//!   sw   r3, 8(r2)          # stores: rs2, imm(rs1)
//!   bne  r1, r0, loop       # branch to a label or an address
//!   jal  r31, loop
//!   fmadd r4, r5, r6        # floats: rd, rs1[, rs2]
//!   halt 0                  # halt b
//! ```
//!
//! Pseudo-instructions: `li rd, imm`, `mv rd, rs`, `j target`, `nop`.
//! Numbers are decimal (optionally negative) or `0x` hex.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::builder::{Builder, Label, ZERO};
use crate::isa::{Form, INSTR_SIZE, Instr, NUM_REGS, Op};

/// A line that does not assemble.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AsmError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Assembles `source` into program bytes placed at address 0.
///
/// # Errors
///
/// [`AsmError`] naming the first bad line.
pub fn assemble(source: &str) -> Result<Vec<u8>, AsmError> {
    let mut asm = Assembler {
        builder: Builder::new(),
        labels: HashMap::new(),
    };
    for (n, raw) in source.lines().enumerate() {
        let err = |message: String| AsmError {
            line: n + 1,
            message,
        };
        let line = raw.split(['#', ';']).next().unwrap_or("").trim();
        let line = match line.split_once(':') {
            Some((name, rest)) if is_ident(name.trim()) => {
                let label = asm.label(name.trim());
                asm.builder.bind(label);
                rest.trim()
            }
            _ => line,
        };
        if !line.is_empty() {
            asm.instruction(line).map_err(err)?;
        }
    }
    asm.builder.finish().map_err(|e| AsmError {
        line: 0,
        message: e.to_string(),
    })
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

struct Assembler {
    builder: Builder,
    labels: HashMap<String, Label>,
}

enum Target {
    Label(Label),
    Addr(u32),
}

impl Assembler {
    fn label(&mut self, name: &str) -> Label {
        if let Some(&l) = self.labels.get(name) {
            return l;
        }
        let l = self.builder.label();
        self.labels.insert(name.to_owned(), l);
        l
    }

    fn target(&mut self, s: &str) -> Result<Target, String> {
        if is_ident(s) {
            Ok(Target::Label(self.label(s)))
        } else {
            Ok(Target::Addr(number(s)?))
        }
    }

    fn instruction(&mut self, line: &str) -> Result<(), String> {
        let (mnemonic, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let args: Vec<&str> = if rest.trim().is_empty() {
            vec![]
        } else {
            rest.split(',').map(str::trim).collect()
        };
        let want = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "`{mnemonic}` takes {n} operands, got {}",
                    args.len()
                ))
            }
        };
        let b = &mut self.builder;
        match mnemonic {
            "nop" => {
                want(0)?;
                b.mv(ZERO, ZERO);
                return Ok(());
            }
            "li" => {
                want(2)?;
                b.li(reg(args[0])?, number(args[1])?);
                return Ok(());
            }
            "mv" => {
                want(2)?;
                b.mv(reg(args[0])?, reg(args[1])?);
                return Ok(());
            }
            "j" => {
                want(1)?;
                return self.jump(ZERO, args[0]);
            }
            _ => {}
        }
        let op =
            Op::from_mnemonic(mnemonic).ok_or_else(|| format!("unknown mnemonic `{mnemonic}`"))?;
        match op.form() {
            Form::Alu => {
                want(3)?;
                let (rs2, imm) = operand_b(args[2])?;
                b.emit(Instr::new(op, reg(args[0])?, reg(args[1])?, rs2, imm));
            }
            Form::Load | Form::Jalr => {
                want(2)?;
                let (rs1, imm) = memory_operand(args[1])?;
                b.emit(Instr::new(op, reg(args[0])?, rs1, ZERO, imm));
            }
            Form::Store => {
                want(2)?;
                let (rs1, imm) = memory_operand(args[1])?;
                b.emit(Instr::new(op, ZERO, rs1, reg(args[0])?, imm));
            }
            Form::Branch => {
                want(3)?;
                let (rs1, rs2) = (reg(args[0])?, reg(args[1])?);
                match self.target(args[2])? {
                    Target::Label(l) => self.builder.branch(op, rs1, rs2, l),
                    Target::Addr(a) => self.builder.emit(Instr::new(op, ZERO, rs1, rs2, a)),
                }
            }
            Form::Jal => {
                want(2)?;
                return self.jump(reg(args[0])?, args[1]);
            }
            Form::Halt => {
                want(1)?;
                let (rs2, imm) = operand_b(args[0])?;
                b.halt(rs2, imm);
            }
            Form::Float2 => {
                want(3)?;
                b.float(op, reg(args[0])?, reg(args[1])?, reg(args[2])?);
            }
            Form::Float1 => {
                want(2)?;
                b.float(op, reg(args[0])?, reg(args[1])?, ZERO);
            }
        }
        Ok(())
    }

    fn jump(&mut self, rd: u8, target: &str) -> Result<(), String> {
        match self.target(target)? {
            Target::Label(l) => self.builder.jal(rd, l),
            Target::Addr(a) => self.builder.emit(Instr::new(Op::Jal, rd, ZERO, ZERO, a)),
        }
        Ok(())
    }
}

fn reg(s: &str) -> Result<u8, String> {
    s.strip_prefix('r')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|&n| (n as usize) < NUM_REGS)
        .ok_or_else(|| format!("`{s}` is not a register (r0..r31)"))
}

fn number(s: &str) -> Result<u32, String> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => digits.parse::<u32>().ok(),
    }
    .ok_or_else(|| format!("`{s}` is not a 32-bit number"))?;
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// `rN`, `imm`, or `rN+imm` / `rN-imm`.
fn operand_b(s: &str) -> Result<(u8, u32), String> {
    if !s.starts_with('r') {
        return Ok((ZERO, number(s)?));
    }
    match s.find(['+', '-']) {
        Some(i) => Ok((reg(&s[..i])?, number(&s[i..])?)),
        None => Ok((reg(s)?, 0)),
    }
}

/// `imm(rN)` or `(rN)`.
fn memory_operand(s: &str) -> Result<(u8, u32), String> {
    let (imm, rest) = s
        .split_once('(')
        .ok_or_else(|| format!("`{s}` is not `imm(reg)`"))?;
    let r = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("`{s}` is not `imm(reg)`"))?;
    let imm = if imm.trim().is_empty() {
        0
    } else {
        number(imm.trim())?
    };
    Ok((reg(r.trim())?, imm))
}

fn signed(imm: u32) -> String {
    let v = imm as i32;
    if v.unsigned_abs() >= 0x1000 {
        format!("{imm:#x}")
    } else {
        v.to_string()
    }
}

/// One instruction in the assembler's syntax; [`assemble`] reads it back to
/// the same bytes when unused fields are zero.
pub fn format_instr(i: &Instr) -> String {
    let m = i.op.mnemonic();
    let b = match (i.rs2, i.imm) {
        (rs2, 0) => format!("r{rs2}"),
        (0, imm) => signed(imm),
        (rs2, imm) if (imm as i32) < 0 => format!("r{rs2}-{}", (imm as i32).unsigned_abs()),
        (rs2, imm) => format!("r{rs2}+{imm}"),
    };
    match i.op.form() {
        Form::Alu => format!("{m} r{}, r{}, {b}", i.rd, i.rs1),
        Form::Load | Form::Jalr => format!("{m} r{}, {}(r{})", i.rd, signed(i.imm), i.rs1),
        Form::Store => format!("{m} r{}, {}(r{})", i.rs2, signed(i.imm), i.rs1),
        Form::Branch => format!("{m} r{}, r{}, {:#x}", i.rs1, i.rs2, i.imm),
        Form::Jal => format!("{m} r{}, {:#x}", i.rd, i.imm),
        Form::Halt => format!("{m} {b}"),
        Form::Float2 => format!("{m} r{}, r{}, r{}", i.rd, i.rs1, i.rs2),
        Form::Float1 => format!("{m} r{}, r{}", i.rd, i.rs1),
    }
}

/// A listing of `code` placed at `base`: one `address: instruction` line per
/// 8 bytes; undecodable words are shown as `.illegal` with their bytes.
pub fn disassemble(code: &[u8], base: u32) -> String {
    let mut out = String::new();
    for (n, chunk) in code.chunks(INSTR_SIZE as usize).enumerate() {
        let addr = base + n as u32 * INSTR_SIZE;
        let text = match <[u8; 8]>::try_from(chunk).ok().map(Instr::decode) {
            Some(Ok(i)) => format_instr(&i),
            _ => format!(
                ".illegal 0x{}",
                chunk.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        };
        let _ = writeln!(out, "{addr:#010x}: {text}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_forward_and_backward() {
        let code = assemble(
            "  j end\nloop: addi_is_not_an_op: add r1, r1, 1\nend: bne r1, r0, loop\nhalt r1",
        )
        .unwrap_err();
        assert_eq!(code.line, 2);
        let code =
            assemble("  j end\nloop: add r1, r1, 1\nend: bne r1, r0, loop\nhalt r1+3").unwrap();
        let text = disassemble(&code, 0);
        assert_eq!(
            text,
            "0x00000000: jal r0, 0x10\n0x00000008: add r1, r1, 1\n\
             0x00000010: bne r1, r0, 0x8\n0x00000018: halt r1+3\n"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = assemble("add r1, r2, r3\nlw r1, r2").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("imm(reg)"), "{e}");
        assert!(assemble("add r32, r0, r0").is_err());
        assert!(
            assemble("frob r1")
                .unwrap_err()
                .message
                .contains("unknown mnemonic")
        );
    }
}
