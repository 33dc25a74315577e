//! The value semantics of every instruction, as pure functions on bit patterns.
//!
//! The interpreter, the proof verifier, the native DNN path and the test
//! oracles all call these, so each rule exists once. Float functions use the
//! hardware where IEEE-754 makes it exact (add, sub, mul, div, sqrt,
//! comparisons, conversions are correctly rounded on every supported target)
//! and hardware FMA only where the CPU has it; [`crate::soft`] is the
//! independent software reference they are tested against bit for bit.

use crate::isa::Op;

/// The value an integer instruction writes: `f(a, b)` with `a = R[rs1]`,
/// `b = R[rs2] + imm`. `None` for instructions that are not integer ALU ops.
#[inline(always)]
pub fn alu(op: Op, a: u32, b: u32) -> Option<u32> {
    Some(match op {
        Op::Add => i32_add(a, b),
        Op::Sub => i32_sub(a, b),
        Op::Mul => i32_mul(a, b),
        Op::Div => i32_div(a, b),
        Op::Divu => i32_divu(a, b),
        Op::Rem => i32_rem(a, b),
        Op::Remu => i32_remu(a, b),
        Op::And => a & b,
        Op::Or => a | b,
        Op::Xor => a ^ b,
        Op::Sll => i32_sll(a, b),
        Op::Srl => i32_srl(a, b),
        Op::Sra => i32_sra(a, b),
        Op::Slt => i32_slt(a, b),
        Op::Sltu => i32_sltu(a, b),
        _ => return None,
    })
}

/// The value a float instruction writes, from `a = R[rs1]`, `b = R[rs2]` and
/// `c = R[rd]` (the addend of `fmadd`). `None` for non-float instructions.
#[inline(always)]
pub fn float(op: Op, a: u32, b: u32, c: u32) -> Option<u32> {
    Some(match op {
        Op::Fadd => f32_add(a, b),
        Op::Fsub => f32_sub(a, b),
        Op::Fmul => f32_mul(a, b),
        Op::Fdiv => f32_div(a, b),
        Op::Fmadd => f32_fma(a, b, c),
        Op::Fsqrt => f32_sqrt(a),
        Op::Fmin => f32_min(a, b),
        Op::Fmax => f32_max(a, b),
        Op::Feq => f32_eq(a, b),
        Op::Flt => f32_lt(a, b),
        Op::Fle => f32_le(a, b),
        Op::Ftoi => f32_to_i32(a),
        Op::Itof => i32_to_f32(a),
        _ => return None,
    })
}

/// The one NaN the VM ever produces.
pub const CANONICAL_NAN: u32 = 0x7FC0_0000;

/// Replaces any NaN by [`CANONICAL_NAN`], deciding on the result's bits.
///
/// LLVM treats the payload of a NaN that a float operation returns as
/// unspecified, so it may fold `is_nan(r) ? CANONICAL_NAN : r` into `r` (a
/// release build kept `sqrt(0x7F800386)` as `0x7FC00386`), and it may turn
/// an integer test of `r`'s bits back into a float compare. The bits
/// therefore pass through [`opaque`] first: the test and the select then act
/// on an integer the optimizer knows nothing about, in every build.
#[inline(always)]
pub fn canonicalize(x: f32) -> u32 {
    let bits = opaque(x.to_bits());
    if is_nan(bits) { CANONICAL_NAN } else { bits }
}

/// `bits`, unchanged, through an empty inline `asm` block: the optimizer
/// cannot see that the value came from a float operation. It costs no
/// instruction (the value is in an integer register for the test anyway).
#[inline(always)]
fn opaque(mut bits: u32) -> u32 {
    // SAFETY: the template is empty (a comment naming the operand); it
    // touches one register, no memory, no stack and no flags.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("/* {0:e} */", inout(reg) bits, options(pure, nomem, nostack, preserves_flags));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("/* {0:w} */", inout(reg) bits, options(pure, nomem, nostack, preserves_flags));
    }
    bits
}

/// `true` for any NaN bit pattern.
#[inline(always)]
pub const fn is_nan(x: u32) -> bool {
    x & 0x7FFF_FFFF > 0x7F80_0000
}

/// `add`.
#[inline(always)]
pub const fn i32_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// `sub`.
#[inline(always)]
pub const fn i32_sub(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b)
}

/// `mul`: the low 32 bits of the product.
#[inline(always)]
pub const fn i32_mul(a: u32, b: u32) -> u32 {
    a.wrapping_mul(b)
}

/// `div`: signed, toward zero; `x / 0 = -1`, `MIN / -1 = MIN`.
#[inline]
pub const fn i32_div(a: u32, b: u32) -> u32 {
    if b == 0 {
        u32::MAX
    } else {
        (a as i32).wrapping_div(b as i32) as u32
    }
}

/// `divu`: `x / 0 = 0xFFFFFFFF`.
#[inline]
pub const fn i32_divu(a: u32, b: u32) -> u32 {
    match a.checked_div(b) {
        Some(q) => q,
        None => u32::MAX,
    }
}

/// `rem`: signed, sign of the dividend; `x % 0 = x`, `MIN % -1 = 0`.
#[inline]
pub const fn i32_rem(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        (a as i32).wrapping_rem(b as i32) as u32
    }
}

/// `remu`: `x % 0 = x`.
#[inline]
pub const fn i32_remu(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { a % b }
}

/// `sll`: shift by the low 5 bits of `b`.
#[inline(always)]
pub const fn i32_sll(a: u32, b: u32) -> u32 {
    a << (b & 31)
}

/// `srl`: logical shift by the low 5 bits of `b`.
#[inline(always)]
pub const fn i32_srl(a: u32, b: u32) -> u32 {
    a >> (b & 31)
}

/// `sra`: arithmetic shift by the low 5 bits of `b`.
#[inline(always)]
pub const fn i32_sra(a: u32, b: u32) -> u32 {
    ((a as i32) >> (b & 31)) as u32
}

/// `slt`: signed less-than as 0 or 1.
#[inline(always)]
pub const fn i32_slt(a: u32, b: u32) -> u32 {
    ((a as i32) < (b as i32)) as u32
}

/// `sltu`: unsigned less-than as 0 or 1.
#[inline(always)]
pub const fn i32_sltu(a: u32, b: u32) -> u32 {
    (a < b) as u32
}

/// `fadd`.
#[inline(always)]
pub fn f32_add(a: u32, b: u32) -> u32 {
    canonicalize(f32::from_bits(a) + f32::from_bits(b))
}

/// `fsub`.
#[inline(always)]
pub fn f32_sub(a: u32, b: u32) -> u32 {
    canonicalize(f32::from_bits(a) - f32::from_bits(b))
}

/// `fmul`.
#[inline(always)]
pub fn f32_mul(a: u32, b: u32) -> u32 {
    canonicalize(f32::from_bits(a) * f32::from_bits(b))
}

/// `fdiv`.
#[inline(always)]
pub fn f32_div(a: u32, b: u32) -> u32 {
    canonicalize(f32::from_bits(a) / f32::from_bits(b))
}

/// `fmadd`: `a * b + c` rounded once.
#[inline(always)]
pub fn f32_fma(a: u32, b: u32, c: u32) -> u32 {
    hw::fma(a, b, c).unwrap_or_else(|| crate::soft::fma(a, b, c))
}

/// `fsqrt`: correctly rounded; `sqrt(-0) = -0`, negative gives NaN.
#[inline(always)]
pub fn f32_sqrt(a: u32) -> u32 {
    canonicalize(f32::from_bits(a).sqrt())
}

/// `fmin`: IEEE 754-2019 `minimum` (NaN propagates, `-0 < +0`).
#[inline]
pub fn f32_min(a: u32, b: u32) -> u32 {
    if is_nan(a) || is_nan(b) {
        CANONICAL_NAN
    } else if (a | b) & 0x7FFF_FFFF == 0 {
        a | b
    } else if f32::from_bits(b) < f32::from_bits(a) {
        b
    } else {
        a
    }
}

/// `fmax`: IEEE 754-2019 `maximum` (NaN propagates, `-0 < +0`).
#[inline]
pub fn f32_max(a: u32, b: u32) -> u32 {
    if is_nan(a) || is_nan(b) {
        CANONICAL_NAN
    } else if (a | b) & 0x7FFF_FFFF == 0 {
        a & b
    } else if f32::from_bits(b) > f32::from_bits(a) {
        b
    } else {
        a
    }
}

/// `feq`: 1 if equal (NaN never is, `-0 = +0`).
#[inline(always)]
pub fn f32_eq(a: u32, b: u32) -> u32 {
    (f32::from_bits(a) == f32::from_bits(b)) as u32
}

/// `flt`: 1 if `a < b`.
#[inline(always)]
pub fn f32_lt(a: u32, b: u32) -> u32 {
    (f32::from_bits(a) < f32::from_bits(b)) as u32
}

/// `fle`: 1 if `a <= b`.
#[inline(always)]
pub fn f32_le(a: u32, b: u32) -> u32 {
    (f32::from_bits(a) <= f32::from_bits(b)) as u32
}

/// `ftoi`: toward zero, saturating, NaN gives 0.
#[inline(always)]
pub fn f32_to_i32(a: u32) -> u32 {
    f32::from_bits(a) as i32 as u32
}

/// `itof`: signed integer to binary32, round to nearest even.
#[inline(always)]
pub fn i32_to_f32(a: u32) -> u32 {
    (a as i32 as f32).to_bits()
}

/// Hardware fused multiply-add, where the CPU has one.
mod hw {
    /// `Some(fma)` on a CPU with a fused multiply-add instruction.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn fma(a: u32, b: u32, c: u32) -> Option<u32> {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports FMA, checked just above.
            Some(super::canonicalize(unsafe { fma_x86(a, b, c) }))
        } else {
            None
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    fn fma_x86(a: u32, b: u32, c: u32) -> f32 {
        use std::arch::x86_64::{_mm_cvtss_f32, _mm_fmadd_ss, _mm_set_ss};
        let [a, b, c] = [a, b, c].map(|x| _mm_set_ss(f32::from_bits(x)));
        _mm_cvtss_f32(_mm_fmadd_ss(a, b, c))
    }

    /// Every AArch64 CPU has a fused multiply-add, and `mul_add` compiles to it.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub(super) fn fma(a: u32, b: u32, c: u32) -> Option<u32> {
        let [a, b, c] = [a, b, c].map(f32::from_bits);
        Some(super::canonicalize(a.mul_add(b, c)))
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[inline(always)]
    pub(super) fn fma(_: u32, _: u32, _: u32) -> Option<u32> {
        None
    }
}
