//! Recipes evaluated a block of elements at a time. A recipe recorded once
//! as a [`Trace`] is interpreted over blocks of [`LANES`] values: each
//! operation is one loop over the block, which the compiler vectorizes, so
//! the cost of choosing the operation is shared by the whole block instead
//! of paid per element (a transcendental recipe is 30 to 50 operations).
//!
//! Every operation computes the bits of `verdict_vm::semantics`' function of
//! the same name, lane by lane: the IEEE operation, then each NaN replaced by
//! the canonical one, decided on the result's bits after an optimization
//! barrier (the rule and its reason are `semantics::canonicalize`'s). The
//! interpreter is compiled three times, for AVX-512, for AVX2 with FMA and
//! for the baseline, and chosen at run time; without a hardware fused
//! multiply-add, `fmadd` is the VM's own.

use verdict_vm::Op;
use verdict_vm::semantics::{self, CANONICAL_NAN};

use crate::emit::{SOp, Trace};
use crate::kernels::Isa;

/// Values a block holds: four AVX-512 vectors, eight AVX2 ones. The
/// recipe's blocks stay in the first-level cache.
pub(crate) const LANES: usize = 64;

/// One value of a recipe, for every lane.
type Block = [u32; LANES];

/// A recipe of one input, ready to run over slices.
pub(crate) struct Lanes {
    trace: Trace,
    /// One block per recorded op: constants filled once, the others
    /// overwritten by each block of input.
    regs: Vec<Block>,
    isa: Isa,
}

impl Lanes {
    /// The recipe `trace` (one input, [`Trace::record`]).
    pub(crate) fn new(trace: Trace) -> Lanes {
        Lanes::on(trace, Isa::detect())
    }

    fn on(trace: Trace, isa: Isa) -> Lanes {
        let regs = trace
            .ops
            .iter()
            .map(|op| match *op {
                SOp::Const(bits) => [bits; LANES],
                _ => [0; LANES],
            })
            .collect();
        Lanes { trace, regs, isa }
    }

    /// `ys[i] = recipe(xs[i])` for every `i`.
    pub(crate) fn run(&mut self, xs: &[u32], ys: &mut [u32]) {
        assert_eq!(xs.len(), ys.len());
        for (xs, ys) in xs.chunks(LANES).zip(ys.chunks_mut(LANES)) {
            // A short last block computes on zeros past its end.
            let mut x = [0; LANES];
            x[..xs.len()].copy_from_slice(xs);
            self.block(&x);
            ys.copy_from_slice(&self.regs[self.trace.result][..ys.len()]);
        }
    }

    /// Runs the recipe on one full block of inputs, into `self.regs`.
    fn block(&mut self, x: &Block) {
        let (trace, regs) = (&self.trace, &mut self.regs);
        match self.isa {
            // SAFETY: `Isa::detect` found AVX-512F, AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::block_avx512(trace, regs, x) },
            // SAFETY: `Isa::detect` found AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::block_avx2(trace, regs, x) },
            _ => interpret::<false>(trace, regs, x),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Block, Trace, interpret};

    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) fn block_avx512(trace: &Trace, regs: &mut [Block], x: &Block) {
        interpret::<true>(trace, regs, x);
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn block_avx2(trace: &Trace, regs: &mut [Block], x: &Block) {
        interpret::<true>(trace, regs, x);
    }
}

/// The interpreter, inlined into each instruction set's function above.
/// `FMA`: the caller enabled a hardware fused multiply-add.
#[inline(always)]
fn interpret<const FMA: bool>(trace: &Trace, regs: &mut [Block], x: &Block) {
    for (i, op) in trace.ops.iter().enumerate() {
        let (done, rest) = regs.split_at_mut(i);
        let out = &mut rest[0];
        match *op {
            SOp::Input(_) => *out = *x,
            SOp::Const(_) => {}
            SOp::Float(op, a, b) => {
                let (a, b) = (&done[a], &done[b]);
                float(op, a, b, out);
            }
            SOp::Fma(a, b, c) => {
                let (a, b, c) = (&done[a], &done[b], &done[c]);
                if FMA {
                    lanes3(a, b, c, out, |a, b, c| {
                        f32::from_bits(a)
                            .mul_add(f32::from_bits(b), f32::from_bits(c))
                            .to_bits()
                    });
                    canonical(out);
                } else {
                    lanes3(a, b, c, out, semantics::f32_fma);
                }
            }
            SOp::Int(op, a, b) => {
                let (a, b) = (&done[a], &done[b]);
                int(op, a, b, out);
            }
        }
    }
}

/// A float instruction over a block, as `semantics::float`.
#[inline(always)]
fn float(op: Op, a: &Block, b: &Block, out: &mut Block) {
    let f = f32::from_bits;
    match op {
        Op::Fadd => arithmetic(a, b, out, |x, y| f(x) + f(y)),
        Op::Fsub => arithmetic(a, b, out, |x, y| f(x) - f(y)),
        Op::Fmul => arithmetic(a, b, out, |x, y| f(x) * f(y)),
        Op::Fdiv => arithmetic(a, b, out, |x, y| f(x) / f(y)),
        Op::Fsqrt => arithmetic(a, b, out, |x, _| f(x).sqrt()),
        Op::Fmin => lanes(a, b, out, |x, y| {
            let smaller = if f(y) < f(x) { y } else { x };
            extremum(x, y, x | y, smaller)
        }),
        Op::Fmax => lanes(a, b, out, |x, y| {
            let larger = if f(y) > f(x) { y } else { x };
            extremum(x, y, x & y, larger)
        }),
        Op::Feq => lanes(a, b, out, |x, y| u32::from(f(x) == f(y))),
        Op::Flt => lanes(a, b, out, |x, y| u32::from(f(x) < f(y))),
        Op::Fle => lanes(a, b, out, |x, y| u32::from(f(x) <= f(y))),
        Op::Ftoi => lanes(a, b, out, |x, _| f(x) as i32 as u32),
        Op::Itof => lanes(a, b, out, |x, _| (x as i32 as f32).to_bits()),
        op => lanes(a, b, out, |x, y| {
            semantics::float(op, x, y, 0).expect("a float instruction")
        }),
    }
}

/// `minimum` or `maximum` of `x` and `y` from the ordered choice: the
/// canonical NaN if either is a NaN, `zeros` if both are zeros (`-0 < +0`).
#[inline(always)]
fn extremum(x: u32, y: u32, zeros: u32, ordered: u32) -> u32 {
    let r = if (x | y) & 0x7FFF_FFFF == 0 {
        zeros
    } else {
        ordered
    };
    if semantics::is_nan(x) || semantics::is_nan(y) {
        CANONICAL_NAN
    } else {
        r
    }
}

/// An integer instruction over a block, as `semantics::alu`.
#[inline(always)]
fn int(op: Op, a: &Block, b: &Block, out: &mut Block) {
    match op {
        Op::Add => lanes(a, b, out, semantics::i32_add),
        Op::Sub => lanes(a, b, out, semantics::i32_sub),
        Op::Mul => lanes(a, b, out, semantics::i32_mul),
        Op::And => lanes(a, b, out, |x, y| x & y),
        Op::Or => lanes(a, b, out, |x, y| x | y),
        Op::Xor => lanes(a, b, out, |x, y| x ^ y),
        Op::Sll => lanes(a, b, out, semantics::i32_sll),
        Op::Srl => lanes(a, b, out, semantics::i32_srl),
        Op::Sra => lanes(a, b, out, semantics::i32_sra),
        Op::Slt => lanes(a, b, out, semantics::i32_slt),
        Op::Sltu => lanes(a, b, out, semantics::i32_sltu),
        op => lanes(a, b, out, |x, y| {
            semantics::alu(op, x, y).expect("an integer instruction")
        }),
    }
}

#[inline(always)]
fn lanes(a: &Block, b: &Block, out: &mut Block, f: impl Fn(u32, u32) -> u32) {
    for ((y, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *y = f(a, b);
    }
}

#[inline(always)]
fn lanes3(a: &Block, b: &Block, c: &Block, out: &mut Block, f: impl Fn(u32, u32, u32) -> u32) {
    for (((y, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
        *y = f(a, b, c);
    }
}

/// A float operation whose NaN results are then made canonical.
#[inline(always)]
fn arithmetic(a: &Block, b: &Block, out: &mut Block, f: impl Fn(u32, u32) -> f32) {
    lanes(a, b, out, |x, y| f(x, y).to_bits());
    canonical(out);
}

/// Every NaN of `out` made the canonical one (see [`canonical_run`]).
#[inline(always)]
fn canonical(out: &mut Block) {
    canonical_run(out);
}

/// Every NaN of `ys`, just written by float operations, made the canonical
/// one, decided on the bits. The empty `asm` block takes the run's address
/// and may, for all the compiler knows, rewrite it: the floats are stored
/// before it and read back as integers after, so no optimizer can fold the
/// test into the float operation that made them (see
/// `semantics::canonicalize`).
#[inline(always)]
pub(crate) fn canonical_run(ys: &mut [u32]) {
    // SAFETY: the template is empty (a comment naming the operand); it
    // reads one register, touches no stack and no flags.
    unsafe {
        std::arch::asm!("/* {0} */", in(reg) ys.as_mut_ptr(), options(nostack, preserves_flags));
    }
    for y in ys.iter_mut() {
        if semantics::is_nan(*y) {
            *y = CANONICAL_NAN;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ops::unary::UnaryOp;
    use crate::scalar::{Eval, Scalar};

    /// The recipes of every unary op that has one, and a few operations
    /// no recipe uses yet.
    fn recipes() -> Vec<(String, Trace)> {
        let with_attributes = [
            UnaryOp::LeakyRelu { alpha: 0.1 },
            UnaryOp::Clip { lo: -1.0, hi: 2.0 },
        ];
        let ops = UnaryOp::WITHOUT_ATTRIBUTES
            .into_iter()
            .chain(with_attributes);
        let mut all: Vec<(String, Trace)> = ops
            .map(|op| {
                (
                    op.name().to_string(),
                    Trace::record(1, |t, x| op.apply(t, x[0])),
                )
            })
            .collect();
        for op in [
            Op::Fle,
            Op::Div,
            Op::Divu,
            Op::Rem,
            Op::Remu,
            Op::Mul,
            Op::Sll,
            Op::Srl,
            Op::Sra,
            Op::Slt,
            Op::Sltu,
            Op::Fmin,
            Op::Fmax,
            Op::Fdiv,
            Op::Ftoi,
        ] {
            let trace = Trace::record(1, |t, x| {
                let c = t.constant(0x4040_0001);
                if semantics::float(op, 0, 0, 0).is_some() {
                    t.float(op, x[0], c)
                } else {
                    t.int(op, x[0], c)
                }
            });
            all.push((format!("{op:?}"), trace));
        }
        all
    }

    /// Every recipe on every instruction set this CPU has gives the scalar
    /// evaluation's bits.
    fn check(values: &[u32]) {
        let isas = Isa::detect().and_below();
        for (name, trace) in recipes() {
            for &isa in isas {
                let mut ys = vec![0; values.len()];
                Lanes::on(trace.clone(), isa).run(values, &mut ys);
                for (&x, &y) in values.iter().zip(&ys) {
                    let want = eval(&trace, x);
                    assert_eq!(
                        y, want,
                        "{name}({x:#010x}) on {isa:?}: {y:#010x}, not {want:#010x}"
                    );
                }
            }
        }
    }

    /// The trace evaluated one element at a time by [`Eval`].
    fn eval(trace: &Trace, x: u32) -> u32 {
        let mut v = Vec::with_capacity(trace.ops.len());
        for op in &trace.ops {
            let y = match *op {
                SOp::Input(_) => x,
                SOp::Const(bits) => bits,
                SOp::Float(op, a, b) => Eval.float(op, v[a], v[b]),
                SOp::Fma(a, b, c) => Eval.fma(v[a], v[b], v[c]),
                SOp::Int(op, a, b) => Eval.int(op, v[a], v[b]),
            };
            v.push(y);
        }
        v[trace.result]
    }

    #[test]
    fn special_values_match_the_scalar_evaluation() {
        let mut values = crate::kernels::SPECIAL_BITS.to_vec();
        // Around the limits of `ftoi` and `sqrt`, a subnormal's edge, and
        // tanh's largest error.
        values.extend([
            0x4F00_0000,
            0xCF00_0000,
            0x4F00_0001,
            0xCF00_0001,
            0x007F_FFFF,
            0x3F10_1FB8,
        ]);
        // Not a multiple of the block: the last block is partial.
        values.extend((0..100u32).map(|i| i.wrapping_mul(0x9E37_79B9)));
        check(&values);
    }

    proptest! {
        #[test]
        fn any_bits_match_the_scalar_evaluation(values in prop::collection::vec(any::<u32>(), 1..300)) {
            check(&values);
        }
    }
}
