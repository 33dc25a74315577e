//! The VM code emitter kernels write through: register allocation, counted
//! and strided loops, and scalar recipes turned into VM instructions.
//!
//! Every loop is a counted [`Builder`] loop, so control flow never depends
//! on data and the step count of every kernel is known at compile time.

use verdict_vm::Op;
use verdict_vm::builder::{Builder, Reg, ZERO};
use verdict_vm::isa::{Form, NUM_REGS};

use crate::scalar::Scalar;

/// A kernel needs more registers than the VM has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("kernel needs more than {} registers", NUM_REGS - 1)]
pub struct OutOfRegisters;

/// Emits kernel code into a [`Builder`], allocating registers `r1..r31`.
#[derive(Debug, Default)]
pub struct Emitter {
    /// The code so far.
    pub b: Builder,
    /// Registers in use.
    live: u32,
    /// Registers used since the last [`Emitter::end_op`].
    touched: u32,
}

impl Emitter {
    /// An empty emitter.
    pub fn new() -> Emitter {
        Emitter::default()
    }

    /// A free register.
    ///
    /// # Panics
    ///
    /// If all 31 are in use: kernels are written to stay well below that.
    pub fn reg(&mut self) -> Reg {
        self.try_reg().expect("kernel register budget exceeded")
    }

    fn try_reg(&mut self) -> Result<Reg, OutOfRegisters> {
        let free = !self.live & !1;
        if free == 0 {
            return Err(OutOfRegisters);
        }
        let r = free.trailing_zeros();
        self.live |= 1 << r;
        self.touched |= 1 << r;
        Ok(r as Reg)
    }

    /// Returns a register to the pool.
    pub fn free(&mut self, r: Reg) {
        debug_assert!(self.live & (1 << r) != 0, "r{r} freed twice");
        self.live &= !(1 << r);
    }

    /// Number of registers free now.
    pub fn free_count(&self) -> u32 {
        (!self.live & !1).count_ones()
    }

    /// A register holding `value`.
    pub fn constant(&mut self, value: u32) -> Reg {
        let r = self.reg();
        self.b.li(r, value);
        r
    }

    /// Ends an op: zeroes every register it used, so each op starts and ends
    /// with all registers zero (the canonical state at op boundaries).
    pub fn end_op(&mut self) {
        debug_assert_eq!(
            self.live, 0,
            "registers still allocated at the end of an op"
        );
        let mut touched = self.touched;
        while touched != 0 {
            let r = touched.trailing_zeros();
            self.b.li(r as Reg, 0);
            touched &= touched - 1;
        }
        self.touched = 0;
    }

    /// Emits `body` `count` times (nothing if `count = 0`).
    pub fn repeat(&mut self, count: u32, body: impl FnOnce(&mut Emitter)) {
        if count == 0 {
            return;
        }
        let counter = self.reg();
        let mark = self
            .b
            .loop_start(counter, count)
            .expect("count is not zero");
        body(self);
        self.b.loop_end(mark);
        self.free(counter);
    }

    /// Loops over `dims` (outermost first), with one pointer register per
    /// operand starting at `bases[i]` and advancing `strides[i][d]` bytes
    /// per step of dimension `d`; `body` runs once per innermost element with
    /// the pointer registers. Empty loops (a zero dimension) emit nothing;
    /// no dimensions at all is one iteration.
    pub fn nd_loop(
        &mut self,
        dims: &[usize],
        bases: &[u32],
        strides: &[Vec<i64>],
        body: impl FnOnce(&mut Emitter, &[Reg]),
    ) {
        if dims.contains(&0) {
            return;
        }
        let ptrs: Vec<Reg> = bases.iter().map(|&a| self.constant(a)).collect();
        self.nd_loop_from(dims, &ptrs, strides, body);
        for p in ptrs {
            self.free(p);
        }
    }

    /// As [`Emitter::nd_loop`], with the pointers already in `ptrs`; they
    /// are advanced in place (and end past the loop).
    pub fn nd_loop_from(
        &mut self,
        dims: &[usize],
        ptrs: &[Reg],
        strides: &[Vec<i64>],
        body: impl FnOnce(&mut Emitter, &[Reg]),
    ) {
        if dims.contains(&0) {
            return;
        }
        if dims.is_empty() {
            body(self, ptrs);
            return;
        }
        let mut body = Some(body);
        self.nd_level(dims, strides, ptrs, 0, &mut body);
    }

    /// Copies registers into fresh ones.
    pub fn copies(&mut self, regs: &[Reg]) -> Vec<Reg> {
        regs.iter()
            .map(|&r| {
                let c = self.reg();
                self.b.mv(c, r);
                c
            })
            .collect()
    }

    fn nd_level<F: FnOnce(&mut Emitter, &[Reg])>(
        &mut self,
        dims: &[usize],
        strides: &[Vec<i64>],
        ptrs: &[Reg],
        d: usize,
        body: &mut Option<F>,
    ) {
        self.repeat(dims[d] as u32, |e| {
            if d + 1 == dims.len() {
                (body.take().expect("the innermost body is emitted once"))(e, ptrs);
            } else {
                e.nd_level(dims, strides, ptrs, d + 1, body);
            }
            for (p, s) in ptrs.iter().zip(strides) {
                // Advance this level, undoing the inner level's full sweep.
                let inner = if d + 1 < dims.len() {
                    s[d + 1] * dims[d + 1] as i64
                } else {
                    0
                };
                let delta = s[d] - inner;
                if delta != 0 {
                    e.b.addi(*p, *p, delta as i32);
                }
            }
        });
    }

    /// Emits a scalar recipe: `f` is called once with a [`Tracer`] to record
    /// it, then the recorded ops are emitted reading `inputs` and writing the
    /// result to `out`. Constants come from `hoisted` when present there, or
    /// are loaded right before their first use.
    pub fn recipe(&mut self, trace: &Trace, inputs: &[Reg], out: Reg, hoisted: &Hoisted) {
        let ops = &trace.ops;
        let mut last_use: Vec<Option<usize>> = vec![None; ops.len()];
        for (i, op) in ops.iter().enumerate() {
            for a in op.args() {
                last_use[a] = Some(i);
            }
        }
        let mut reg: Vec<Option<Reg>> = vec![None; ops.len()];
        // Registers this emission owns (not inputs, not hoisted constants).
        let mut owned = vec![false; ops.len()];
        for (i, op) in ops.iter().enumerate() {
            for a in op.args() {
                if reg[a].is_none() {
                    let SOp::Const(c) = ops[a] else {
                        unreachable!("non-constants are defined before use")
                    };
                    let r = self.constant(c);
                    reg[a] = Some(r);
                    owned[a] = true;
                }
            }
            let read = |v: usize| reg[v].expect("defined");
            let dest = |e: &mut Emitter, i: usize| if i == trace.result { out } else { e.reg() };
            match *op {
                SOp::Input(k) => reg[i] = Some(inputs[k]),
                SOp::Const(c) => {
                    if let Some(&r) = hoisted.map.get(&c) {
                        reg[i] = Some(r);
                    } else if i == trace.result {
                        self.b.li(out, c);
                        reg[i] = Some(out);
                    }
                }
                SOp::Float(op, a, b) => {
                    let ra = read(a);
                    let rb = if op.form() == Form::Float1 {
                        ZERO
                    } else {
                        read(b)
                    };
                    let d = dest(self, i);
                    self.b.float(op, d, ra, rb);
                    reg[i] = Some(d);
                    owned[i] = i != trace.result;
                }
                SOp::Int(op, a, b) => {
                    let (ra, rb) = (read(a), read(b));
                    let d = dest(self, i);
                    self.b.alu(op, d, ra, rb, 0);
                    reg[i] = Some(d);
                    owned[i] = i != trace.result;
                }
                SOp::Fma(a, b, c) => {
                    let (ra, rb, rc) = (read(a), read(b), read(c));
                    let d = dest(self, i);
                    if d != rc {
                        self.b.mv(d, rc);
                    }
                    self.b.float(Op::Fmadd, d, ra, rb);
                    reg[i] = Some(d);
                    owned[i] = i != trace.result;
                }
            }
            // Free what this op read for the last time.
            for a in op.args() {
                if last_use[a] == Some(i) && owned[a] {
                    owned[a] = false;
                    self.free(reg[a].expect("defined"));
                }
            }
            if last_use[i].is_none() && owned[i] {
                owned[i] = false;
                self.free(reg[i].expect("defined"));
            }
        }
        if reg[trace.result] != Some(out) {
            self.b.mv(out, reg[trace.result].expect("result defined"));
        }
    }

    /// Loads the constants of `trace` into registers, to be reused by every
    /// [`Emitter::recipe`] in a loop, as long as enough registers stay free
    /// for the recipe itself ([`Trace::pressure`]) and for the `reserve`
    /// registers the caller's loop still needs.
    pub fn hoist(&mut self, trace: &Trace, reserve: usize) -> Hoisted {
        let keep_free = (trace.pressure() + reserve) as u32;
        let mut map = std::collections::BTreeMap::new();
        for op in &trace.ops {
            if let SOp::Const(c) = *op
                && !map.contains_key(&c)
                && self.free_count() > keep_free
            {
                let r = self.constant(c);
                map.insert(c, r);
            }
        }
        Hoisted { map }
    }

    /// Frees hoisted constants.
    pub fn unhoist(&mut self, hoisted: Hoisted) {
        for r in hoisted.map.into_values() {
            self.free(r);
        }
    }
}

/// Constants loaded once outside a loop.
#[derive(Debug, Default)]
pub struct Hoisted {
    map: std::collections::BTreeMap<u32, Reg>,
}

/// One recorded scalar op; arguments are indices of earlier ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SOp {
    /// The recipe's k-th input.
    Input(usize),
    /// A constant bit pattern.
    Const(u32),
    /// A float instruction.
    Float(Op, usize, usize),
    /// `a * b + c`.
    Fma(usize, usize, usize),
    /// An integer ALU instruction.
    Int(Op, usize, usize),
}

impl SOp {
    /// The values this op reads.
    fn args(&self) -> impl Iterator<Item = usize> {
        let (a, b, c) = match *self {
            SOp::Input(_) | SOp::Const(_) => (None, None, None),
            SOp::Float(op, a, _) if op.form() == Form::Float1 => (Some(a), None, None),
            SOp::Float(_, a, b) | SOp::Int(_, a, b) => (Some(a), Some(b), None),
            SOp::Fma(a, b, c) => (Some(a), Some(b), Some(c)),
        };
        [a, b, c].into_iter().flatten()
    }
}

/// A recorded recipe.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The ops, in order.
    pub ops: Vec<SOp>,
    /// The op whose value is the result.
    pub result: usize,
}

impl Trace {
    /// Records `f` applied to `inputs` fresh inputs.
    pub fn record(inputs: usize, f: impl FnOnce(&mut Tracer, &[usize]) -> usize) -> Trace {
        let mut t = Tracer {
            ops: (0..inputs).map(SOp::Input).collect(),
        };
        let ins: Vec<usize> = (0..inputs).collect();
        let result = f(&mut t, &ins);
        Trace { ops: t.ops, result }
    }

    /// The most registers [`Emitter::recipe`] holds at once with no constant
    /// hoisted: values live from definition (a constant: from its first use)
    /// to their last use.
    pub fn pressure(&self) -> usize {
        let n = self.ops.len();
        let (mut first, mut last) = (vec![None; n], vec![None; n]);
        for (i, op) in self.ops.iter().enumerate() {
            for a in op.args() {
                first[a].get_or_insert(i);
                last[a] = Some(i);
            }
        }
        let mut delta = vec![0i64; n + 2];
        for (v, op) in self.ops.iter().enumerate() {
            let start = match op {
                SOp::Input(_) => continue,
                SOp::Const(_) => first[v].unwrap_or(v),
                _ => v,
            };
            let end = if v == self.result {
                n
            } else {
                last[v].unwrap_or(start)
            };
            delta[start] += 1;
            delta[end + 1] -= 1;
        }
        delta
            .iter()
            .scan(0i64, |live, d| {
                *live += d;
                Some(*live)
            })
            .max()
            .unwrap_or(0) as usize
    }

    /// Number of instructions one emission takes, constants excluded.
    pub fn instructions(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| !matches!(o, SOp::Input(_) | SOp::Const(_)))
            .count()
    }
}

/// The [`Scalar`] that records a recipe.
#[derive(Debug)]
pub struct Tracer {
    ops: Vec<SOp>,
}

impl Tracer {
    fn push(&mut self, op: SOp) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }
}

impl Scalar for Tracer {
    type V = usize;

    fn constant(&mut self, bits: u32) -> usize {
        self.push(SOp::Const(bits))
    }

    fn float(&mut self, op: Op, a: usize, b: usize) -> usize {
        self.push(SOp::Float(op, a, b))
    }

    fn fma(&mut self, a: usize, b: usize, c: usize) -> usize {
        self.push(SOp::Fma(a, b, c))
    }

    fn int(&mut self, op: Op, a: usize, b: usize) -> usize {
        self.push(SOp::Int(op, a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math;
    use crate::scalar::Eval;
    use verdict_vm::{CODE_END, Machine};

    type Recipe = fn(&mut Tracer, usize) -> usize;
    type Native = fn(&mut Eval, u32) -> u32;

    /// Every recipe fits the registers and, emitted in a loop over special
    /// and ordinary values, computes on the VM what it computes natively.
    #[test]
    fn emitted_recipes_equal_their_native_evaluation() {
        let recipes: [(&str, Recipe, Native); 7] = [
            ("exp", |t, x| math::exp(t, x), |s, x| math::exp(s, x)),
            ("log", |t, x| math::log(t, x), |s, x| math::log(s, x)),
            (
                "sigmoid",
                |t, x| math::sigmoid(t, x),
                |s, x| math::sigmoid(s, x),
            ),
            ("tanh", |t, x| math::tanh(t, x), |s, x| math::tanh(s, x)),
            ("erf", |t, x| math::erf(t, x), |s, x| math::erf(s, x)),
            (
                "gelu_exact",
                |t, x| math::gelu_exact(t, x),
                |s, x| math::gelu_exact(s, x),
            ),
            (
                "gelu_tanh",
                |t, x| math::gelu_tanh(t, x),
                |s, x| math::gelu_tanh(s, x),
            ),
        ];
        let inputs: Vec<u32> = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.5,
            3.7,
            -20.0,
            88.0,
            -104.0,
            1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]
        .iter()
        .map(|x| x.to_bits())
        .chain((0..200u32).map(|i| i.wrapping_mul(0x9E37_79B9)))
        .collect();
        for (name, record, eval) in recipes {
            let trace = Trace::record(1, |t, x| record(t, x[0]));
            let mut e = Emitter::new();
            let n = inputs.len();
            let hoisted = e.hoist(&trace, 5);
            e.nd_loop(
                &[n],
                &[CODE_END, CODE_END + 4096],
                &[vec![4], vec![4]],
                |e, p| {
                    let (x, y) = (e.reg(), e.reg());
                    e.b.load(Op::Lw, x, p[0], 0);
                    e.recipe(&trace, &[x], y, &hoisted);
                    e.b.store(Op::Sw, y, p[1], 0);
                    e.free(x);
                    e.free(y);
                },
            );
            e.unhoist(hoisted);
            e.end_op();
            e.b.halt(ZERO, 0);
            let mut m = Machine::new();
            m.load_program(&e.b.finish().unwrap());
            m.write_bytes(
                CODE_END,
                &inputs
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect::<Vec<u8>>(),
            );
            m.run(u64::MAX);
            let out = m.read_bytes(CODE_END + 4096, 4 * n);
            for (k, &x) in inputs.iter().enumerate() {
                let got = u32::from_le_bytes(out[4 * k..4 * k + 4].try_into().unwrap());
                assert_eq!(
                    got,
                    eval(&mut Eval, x),
                    "{name}({x:#010x}), pressure {}",
                    trace.pressure()
                );
            }
        }
    }
}
