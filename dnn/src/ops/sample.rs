//! Sample: a token drawn from logits with a seed, temperature, top-k and
//! top-p, by a counter-based generator written in the VM's own integer
//! instructions, so that the VM, the native engine and OpenCL draw the same
//! token.
//!
//! Inputs: `X` (`[.., V]`, a row of `V` logits per output) and `P` (five
//! values, integers as binary32: seed low 16 bits, seed high 16 bits,
//! temperature in thousandths, top-k, top-p in ten-thousandths). Output:
//! one token index per row, as a binary32 value. Scratch: `V` words, the
//! row's weights `w` as the last row leaves them.
//!
//! Canonical semantics per row `r` of `R` (integers are u32, wrapping;
//! `ftoi`, `itof`, `fle`, `flt`, `exp` as the VM and [`crate::math`] define
//! them; sums in index order from `+0`):
//!
//! ```text
//! t = ftoi(P2); k = ftoi(P3); q = ftoi(P4); seed = ftoi(P0) + (ftoi(P1) << 16)
//! g = the ArgMax index of x (first maximum, NaN the extreme)
//! T = itof(t) / 1000;  m = max_i (x_i / T)  (fmax from -inf)
//! w_i = exp(x_i / T - m)
//! kk = V if k = 0 or V < k, else k
//! search(c): lo = 0; hi = 0x3F800001; 30 times: mid = (lo + hi) >> 1;
//!            if c(mid) then lo = mid else hi = mid;  result lo
//! tk = search(b: count_i fle(b, w_i) >= kk)              (b read as a float)
//! target = (itof(q) / 10000) * sum_i [fle(tk, w_i)] w_i
//! tp = search(b: fle(target, sum_i [fle(b, w_i) & fle(tk, w_i)] w_i))
//! tau = max(tk, tp)  (unsigned);  keep_i = fle(tau, w_i)
//! S = sum_i [keep_i] w_i
//! h = seed + 0x9E3779B9 * (step * R + r + 1)
//! h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16
//! u = S * (itof(h >> 8) * 2^-24)
//! c = +0; walking i up: if keep_i: c = c + w_i, last = i, and the first
//!   such i with flt(u, c) is chosen
//! y = g if t = 0 (greedy), else the chosen i, else (no c passed u) last
//! ```
//!
//! The searches find the largest weight kept by top-k (ties at the edge all
//! kept), then the smallest set of the largest weights holding a fraction
//! `top_p` of the top-k mass; the draw walks the kept weights in index
//! order. `w` lies in `[0, 1]` (or is NaN, never kept), so its bit patterns
//! order as its values and 30 halvings of `[0, 0x3F800001)` end on one.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::builder::Reg;

use crate::emit::{Emitter, Trace};
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::SampleParams;
use crate::ir::numel;
use crate::math;
use crate::ops::argmax::ArgMax;
use crate::ops::{Io, NativeIo, ShapeError};
use crate::scalar::{Eval, Scalar};

/// The sampling parameters a [`Sample`] reads, in order.
pub const PARAMS: usize = 5;

/// Halvings of a threshold search.
const ROUNDS: u32 = 30;
/// One past the largest weight's bits (1.0).
const ABOVE_ONE: u32 = 0x3F80_0001;

/// ArgMax's rule for the greedy token.
const GREEDY: ArgMax = ArgMax {
    axis: 0,
    keepdims: false,
    min: false,
    last: false,
};

/// A token drawn from each row of logits (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Which draw this is (a generation's pass): the counter of the
    /// generator goes on from one to the next.
    pub step: u32,
}

/// `x / T`.
fn scaled<S: Scalar>(s: &mut S, x: S::V, temperature: S::V) -> S::V {
    s.div(x, temperature)
}

/// `exp(x / T - m)`.
fn weight<S: Scalar>(s: &mut S, x: S::V, temperature: S::V, m: S::V) -> S::V {
    let z = scaled(s, x, temperature);
    let d = s.sub(z, m);
    math::exp(s, d)
}

/// `itof(n) / scale`.
fn fraction<S: Scalar>(s: &mut S, n: S::V, scale: f32) -> S::V {
    let f = s.float(Op::Itof, n, n);
    let d = s.f32(scale);
    s.div(f, d)
}

/// `acc + fle(mid, w)`, integers.
fn count<S: Scalar>(s: &mut S, acc: S::V, mid: S::V, w: S::V) -> S::V {
    let le = s.float(Op::Fle, mid, w);
    s.int(Op::Add, acc, le)
}

/// `acc + (fle(a, w) & fle(b, w) ? w : +0)`.
fn mass<S: Scalar>(s: &mut S, acc: S::V, a: S::V, b: S::V, w: S::V) -> S::V {
    let la = s.float(Op::Fle, a, w);
    let lb = s.float(Op::Fle, b, w);
    let both = s.int(Op::And, la, lb);
    let zero = s.constant(0);
    let part = s.select(both, w, zero);
    s.add(acc, part)
}

/// `(lo + hi) >> 1`.
fn middle<S: Scalar>(s: &mut S, lo: S::V, hi: S::V) -> S::V {
    let sum = s.int(Op::Add, lo, hi);
    let one = s.constant(1);
    s.int(Op::Srl, sum, one)
}

/// Whether `count >= kk`: `1 - sltu(count, kk)`.
fn enough<S: Scalar>(s: &mut S, count: S::V, kk: S::V) -> S::V {
    let less = s.int(Op::Sltu, count, kk);
    let one = s.constant(1);
    s.int(Op::Sub, one, less)
}

/// `V` if `k = 0` or `V < k`, else `k`.
fn top_k<S: Scalar>(s: &mut S, k: S::V, v: u32) -> S::V {
    let n = s.constant(v);
    let one = s.constant(1);
    let zero = s.int(Op::Sltu, k, one);
    let over = s.int(Op::Sltu, n, k);
    let all = s.int(Op::Or, zero, over);
    s.select(all, n, k)
}

/// `max(a, b)`, unsigned.
fn umax<S: Scalar>(s: &mut S, a: S::V, b: S::V) -> S::V {
    let less = s.int(Op::Sltu, a, b);
    s.select(less, b, a)
}

/// `ftoi(lo) + (ftoi(hi) << 16)`.
fn seed<S: Scalar>(s: &mut S, lo: S::V, hi: S::V) -> S::V {
    let lo = s.float(Op::Ftoi, lo, lo);
    let hi = s.float(Op::Ftoi, hi, hi);
    let sixteen = s.constant(16);
    let hi = s.int(Op::Sll, hi, sixteen);
    s.int(Op::Add, lo, hi)
}

/// `u`: the kept mass `total` times the generator's `[0, 1)` value for
/// draw `counter` (the row's `step * R + r`).
fn threshold<S: Scalar>(s: &mut S, seed: S::V, counter: S::V, total: S::V) -> S::V {
    let one = s.constant(1);
    let n = s.int(Op::Add, counter, one);
    let golden = s.constant(0x9E37_79B9);
    let spread = s.int(Op::Mul, n, golden);
    let mut h = s.int(Op::Add, seed, spread);
    for (shift, factor) in [(16, Some(0x85EB_CA6B)), (13, Some(0xC2B2_AE35)), (16, None)] {
        let by = s.constant(shift);
        let high = s.int(Op::Srl, h, by);
        h = s.int(Op::Xor, h, high);
        if let Some(f) = factor {
            let f = s.constant(f);
            h = s.int(Op::Mul, h, f);
        }
    }
    let eight = s.constant(8);
    let bits = s.int(Op::Srl, h, eight);
    let f = s.float(Op::Itof, bits, bits);
    let scale = s.f32(1.0 / (1u32 << 24) as f32);
    let unit = s.mul(f, scale);
    s.mul(total, unit)
}

/// The running kept mass past weight `w`: `c + (fle(tau, w) ? w : +0)`.
fn walk<S: Scalar>(s: &mut S, tau: S::V, c: S::V, w: S::V) -> S::V {
    mass(s, c, tau, tau, w)
}

/// Whether index `i` is chosen: kept, past `u`, and none chosen before.
fn hit<S: Scalar>(s: &mut S, tau: S::V, u: S::V, next: S::V, found: S::V, w: S::V) -> S::V {
    let keep = s.float(Op::Fle, tau, w);
    let past = s.float(Op::Flt, u, next);
    let one = s.constant(1);
    let fresh = s.int(Op::Sub, one, found);
    let both = s.int(Op::And, keep, past);
    s.int(Op::And, both, fresh)
}

impl Sample {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [x, p] = inputs else {
            return Err(ShapeError::Arity {
                expected: "2",
                got: inputs.len(),
            });
        };
        let v = x.last().copied().unwrap_or(0);
        if v == 0 || v > 1 << 24 {
            return Err(ShapeError::operand(
                "X",
                "between 1 and 2^24 values in the last axis",
                x,
            ));
        }
        if numel(p) != PARAMS {
            return Err(ShapeError::operand("P", "five sampling parameters", p));
        }
        Ok(x[..x.len() - 1].to_vec())
    }

    pub(crate) fn scratch(&self, inputs: &[&[usize]]) -> Vec<usize> {
        vec![inputs[0].last().copied().unwrap_or(1)]
    }

    /// `(rows, V)`.
    fn split(x: &[usize]) -> (usize, usize) {
        let v = x[x.len() - 1];
        (numel(x) / v, v)
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (rows, v) = Self::split(&io.inputs[0].shape);
        let (x, p) = (data.inputs[0], data.inputs[1]);
        let NativeIo {
            output, scratch, ..
        } = data;
        let w = &mut *scratch.into_iter().next().expect("the weights' scratch");
        let s = &mut Eval;
        let t = s.float(Op::Ftoi, p[2], p[2]);
        let k = s.float(Op::Ftoi, p[3], p[3]);
        let q = s.float(Op::Ftoi, p[4], p[4]);
        let seed = seed(s, p[0], p[1]);
        let kk = top_k(s, k, v as u32);
        let temperature = fraction(s, t, 1000.0);
        let share = fraction(s, q, 10000.0);
        for (r, out) in output.iter_mut().enumerate() {
            let x = &x[r * v..(r + 1) * v];
            let (mut best, mut g) = (x[0], 0u32);
            for (i, &xi) in x.iter().enumerate().skip(1) {
                let take = GREEDY.take(s, best, xi);
                best = s.select(take, xi, best);
                g = s.select(take, i as u32, g);
            }
            let mut m = 0xFF80_0000;
            for &xi in x {
                let z = scaled(s, xi, temperature);
                m = s.max(m, z);
            }
            for (wi, &xi) in w.iter_mut().zip(x) {
                *wi = weight(s, xi, temperature, m);
            }
            let w: &[u32] = w;
            let search = |s: &mut Eval, enough_at: &dyn Fn(&mut Eval, u32) -> u32| {
                let (mut lo, mut hi) = (0, ABOVE_ONE);
                for _ in 0..ROUNDS {
                    let mid = middle(s, lo, hi);
                    let c = enough_at(s, mid);
                    lo = s.select(c, mid, lo);
                    hi = s.select(c, hi, mid);
                }
                lo
            };
            let tk = search(s, &|s, mid| {
                let n = w.iter().fold(0, |acc, &wi| count(s, acc, mid, wi));
                enough(s, n, kk)
            });
            let sk = w.iter().fold(0, |acc, &wi| mass(s, acc, tk, tk, wi));
            let target = s.mul(share, sk);
            let tp = search(s, &|s, mid| {
                let acc = w.iter().fold(0, |acc, &wi| mass(s, acc, mid, tk, wi));
                s.float(Op::Fle, target, acc)
            });
            let tau = umax(s, tk, tp);
            let total = w.iter().fold(0, |acc, &wi| mass(s, acc, tau, tau, wi));
            let counter = (self.step as usize * rows + r) as u32;
            let u = threshold(s, seed, counter, total);
            let (mut c, mut chosen, mut found, mut last) = (0, 0, 0, 0);
            for (i, &wi) in w.iter().enumerate() {
                let next = walk(s, tau, c, wi);
                let hit = hit(s, tau, u, next, found, wi);
                chosen = s.select(hit, i as u32, chosen);
                found = s.int(Op::Or, found, hit);
                let keep = s.float(Op::Fle, tau, wi);
                last = s.select(keep, i as u32, last);
                c = next;
            }
            let drawn = s.select(found, chosen, last);
            let one = s.constant(1);
            let greedy = s.int(Op::Sltu, t, one);
            let y = s.select(greedy, g, drawn);
            *out = s.float(Op::Itof, y, y);
        }
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (rows, v) = Self::split(&io.inputs[0].shape);
        let params = io.inputs[1].addr;
        let w_addr = io.scratch[0].addr;
        let none = Default::default();
        let rec = |n, f: fn(&mut crate::emit::Tracer, &[usize]) -> usize| Trace::record(n, f);
        let take = Trace::record(2, |t, a| GREEDY.take(t, a[0], a[1]));
        let select = rec(3, |t, a| t.select(a[0], a[1], a[2]));
        let ftoi = rec(1, |t, a| t.float(Op::Ftoi, a[0], a[0]));
        let seed_r = rec(2, |t, a| seed(t, a[0], a[1]));
        let temp_r = rec(1, |t, a| fraction(t, a[0], 1000.0));
        let share_r = rec(1, |t, a| fraction(t, a[0], 10000.0));
        let scaled_r = rec(2, |t, a| scaled(t, a[0], a[1]));
        let weight_r = rec(3, |t, a| weight(t, a[0], a[1], a[2]));
        let count_r = rec(3, |t, a| count(t, a[0], a[1], a[2]));
        let mass_r = rec(4, |t, a| mass(t, a[0], a[1], a[2], a[3]));
        let middle_r = rec(2, |t, a| middle(t, a[0], a[1]));
        let enough_r = rec(2, |t, a| enough(t, a[0], a[1]));
        let fle_r = rec(2, |t, a| t.float(Op::Fle, a[0], a[1]));
        let umax_r = rec(2, |t, a| umax(t, a[0], a[1]));
        let mul_r = rec(2, |t, a| t.mul(a[0], a[1]));
        let threshold_r = rec(3, |t, a| threshold(t, a[0], a[1], a[2]));
        let walk_r = rec(3, |t, a| walk(t, a[0], a[1], a[2]));
        let hit_r = rec(5, |t, a| hit(t, a[0], a[1], a[2], a[3], a[4]));
        let or_r = rec(2, |t, a| t.int(Op::Or, a[0], a[1]));
        let greedy_r = rec(1, |t, a| {
            let one = t.constant(1);
            t.int(Op::Sltu, a[0], one)
        });
        let itof_r = rec(1, |t, a| t.float(Op::Itof, a[0], a[0]));
        let top_k_r = Trace::record(1, |t, a| top_k(t, a[0], v as u32));

        // The parameters, once for all rows.
        let pp = e.constant(params);
        let (t, kk, share, seed_v, temperature, greedy) =
            (e.reg(), e.reg(), e.reg(), e.reg(), e.reg(), e.reg());
        let tmp = e.reg();
        e.b.load(Op::Lw, tmp, pp, 8);
        e.recipe(&ftoi, &[tmp], t, &none);
        e.recipe(&greedy_r, &[t], greedy, &none);
        e.recipe(&temp_r, &[t], temperature, &none);
        e.b.load(Op::Lw, tmp, pp, 12);
        e.recipe(&ftoi, &[tmp], tmp, &none);
        e.recipe(&top_k_r, &[tmp], kk, &none);
        e.b.load(Op::Lw, tmp, pp, 16);
        e.recipe(&ftoi, &[tmp], tmp, &none);
        e.recipe(&share_r, &[tmp], share, &none);
        let hi = e.reg();
        e.b.load(Op::Lw, tmp, pp, 0);
        e.b.load(Op::Lw, hi, pp, 4);
        e.recipe(&seed_r, &[tmp, hi], seed_v, &none);
        for r in [pp, hi, tmp, t] {
            e.free(r);
        }
        let counter = e.constant(self.step.wrapping_mul(rows as u32));
        let row_bytes = 4 * v as i64;
        let w_stride = vec![vec![4i64]];
        e.nd_loop(
            &[rows],
            &[io.inputs[0].addr, io.output.addr],
            &[vec![row_bytes], vec![4]],
            |e, p| {
                // The greedy index g.
                let (best, g, i, val, c) = (e.reg(), e.reg(), e.reg(), e.reg(), e.reg());
                e.b.load(Op::Lw, best, p[0], 0);
                e.b.li(g, 0);
                e.b.li(i, 1);
                let q = e.copies(&p[..1]);
                e.b.addi(q[0], q[0], 4);
                e.nd_loop_from(&[v - 1], &q, &[vec![4]], |e, q| {
                    e.b.load(Op::Lw, val, q[0], 0);
                    e.recipe(&take, &[best, val], c, &none);
                    e.recipe(&select, &[c, val, best], best, &none);
                    e.recipe(&select, &[c, i, g], g, &none);
                    e.b.addi(i, i, 1);
                });
                e.free(q[0]);
                // m = max_i x_i / T, then w_i.
                let m = e.constant(0xFF80_0000);
                let q = e.copies(&p[..1]);
                e.nd_loop_from(&[v], &q, &[vec![4]], |e, q| {
                    e.b.load(Op::Lw, val, q[0], 0);
                    e.recipe(&scaled_r, &[val, temperature], c, &none);
                    e.b.float(Op::Fmax, m, m, c);
                });
                e.free(q[0]);
                let q = e.copies(&p[..1]);
                let qw = e.constant(w_addr);
                e.nd_loop_from(&[v], &[q[0], qw], &[vec![4], vec![4]], |e, q| {
                    e.b.load(Op::Lw, val, q[0], 0);
                    e.recipe(&weight_r, &[val, temperature, m], c, &none);
                    e.b.store(Op::Sw, c, q[1], 0);
                });
                for r in [q[0], qw, m, best, i] {
                    e.free(r);
                }
                // A threshold search whose test at `mid` is `test`.
                let search = |e: &mut Emitter, test: &dyn Fn(&mut Emitter, Reg, Reg)| {
                    let (lo, hi, mid, ok) = (e.reg(), e.reg(), e.reg(), e.reg());
                    e.b.li(lo, 0);
                    e.b.li(hi, ABOVE_ONE);
                    e.repeat(ROUNDS, |e| {
                        e.recipe(&middle_r, &[lo, hi], mid, &none);
                        test(e, mid, ok);
                        e.recipe(&select, &[ok, mid, lo], lo, &none);
                        e.recipe(&select, &[ok, hi, mid], hi, &none);
                    });
                    for r in [hi, mid, ok] {
                        e.free(r);
                    }
                    lo
                };
                let sweep = |e: &mut Emitter, body: &dyn Fn(&mut Emitter, Reg)| {
                    let qw = e.constant(w_addr);
                    e.nd_loop_from(&[v], &[qw], &w_stride, |e, q| {
                        e.b.load(Op::Lw, val, q[0], 0);
                        body(e, val);
                    });
                    e.free(qw);
                };
                let tk = search(e, &|e, mid, ok| {
                    let n = e.constant(0);
                    sweep(e, &|e, w| e.recipe(&count_r, &[n, mid, w], n, &none));
                    e.recipe(&enough_r, &[n, kk], ok, &none);
                    e.free(n);
                });
                let target = e.constant(0);
                sweep(e, &|e, w| {
                    e.recipe(&mass_r, &[target, tk, tk, w], target, &none)
                });
                e.recipe(&mul_r, &[share, target], target, &none);
                let tp = search(e, &|e, mid, ok| {
                    let acc = e.constant(0);
                    sweep(e, &|e, w| e.recipe(&mass_r, &[acc, mid, tk, w], acc, &none));
                    e.recipe(&fle_r, &[target, acc], ok, &none);
                    e.free(acc);
                });
                let tau = e.reg();
                e.recipe(&umax_r, &[tk, tp], tau, &none);
                for r in [tk, tp, target] {
                    e.free(r);
                }
                let total = e.constant(0);
                sweep(e, &|e, w| {
                    e.recipe(&mass_r, &[total, tau, tau, w], total, &none)
                });
                let u = e.reg();
                e.recipe(&threshold_r, &[seed_v, counter, total], u, &none);
                e.free(total);
                // The walk.
                let (acc, chosen, found, last, next, idx) = (
                    e.constant(0),
                    e.constant(0),
                    e.constant(0),
                    e.constant(0),
                    e.reg(),
                    e.constant(0),
                );
                sweep(e, &|e, w| {
                    e.recipe(&walk_r, &[tau, acc, w], next, &none);
                    e.recipe(&hit_r, &[tau, u, next, found, w], c, &none);
                    e.recipe(&select, &[c, idx, chosen], chosen, &none);
                    e.recipe(&or_r, &[found, c], found, &none);
                    e.recipe(&fle_r, &[tau, w], c, &none);
                    e.recipe(&select, &[c, idx, last], last, &none);
                    e.b.mv(acc, next);
                    e.b.addi(idx, idx, 1);
                });
                e.recipe(&select, &[found, chosen, last], c, &none);
                e.recipe(&select, &[greedy, g, c], c, &none);
                e.recipe(&itof_r, &[c], c, &none);
                e.b.store(Op::Sw, c, p[1], 0);
                e.b.addi(counter, counter, 1);
                for r in [acc, chosen, found, last, next, idx, tau, u, g, val, c] {
                    e.free(r);
                }
            },
        );
        for r in [kk, share, seed_v, temperature, greedy, counter] {
            e.free(r);
        }
    }
}

#[cfg(feature = "gpu")]
impl Sample {
    /// The OpenCL launch (`sample.cl`): one row a work item, in order.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (rows, v) = Self::split(s.shape(0));
        let p = SampleParams {
            x: s.input(0),
            params: s.input(1),
            y: s.y(),
            w: s.scratch().expect("the weights' scratch"),
            rows,
            v,
            step: self.step,
        };
        vec![Plan::flat("sample", p, 1)]
    }
}
