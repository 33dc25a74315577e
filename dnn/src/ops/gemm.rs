//! Gemm and MatMul: `Y = alpha * op(A) op(B) + beta * C`.
//!
//! Canonical semantics, for every output `(i, j)` in row-major order:
//!
//! ```text
//! acc = +0.0
//! for k in 0..K: acc = fma(A[i,k], B[k,j], acc)
//! if alpha != 1: acc = acc * alpha
//! if C present:  acc = (beta == 1) ? acc + C[i,j] : fma(beta, C[i,j], acc)
//! Y[i,j] = acc
//! ```
//!
//! The native kernel keeps this order for every element: it vectorises
//! across `j` and blocks across `i`, never across `k`; each element's
//! accumulator stays in a register from `k = 0` to the end.
//!
//! A 3-D `B` makes a batch of products, as attention takes them over its
//! heads: `A` `[batch, M, K]` by `B` `[batch, K, N]` (`[batch, N, K]` read
//! transposed) gives `[batch, M, N]`, product `b` of `A[b]` and `B[b]`, one
//! op where unrolling would make a slice of each operand and a Gemm per
//! batch item, then a concatenation.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::builder::Reg;
use verdict_vm::semantics;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{GEMM_THREADS, GEMM_TILE, Plan, Site, int};
#[cfg(feature = "gpu")]
use crate::gpu::params::{GemmParams, Operand};
use crate::ir::numel;
use crate::kernels::matmul::{Epilogue, Lhs, Rhs, as_floats, matmul_packed, pack_strided};
use crate::ops::binary::{broadcast, broadcast_strides};
use crate::ops::{Io, NativeIo, ShapeError};

/// `K` elements handled per iteration of the VM's inner loop.
const UNROLL: usize = 4;

/// Outputs of a row the VM computes side by side, each in a register.
const COLS: usize = 8;

/// Gemm attributes; MatMul is the default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gemm {
    /// Read `A` as `[K, M]`.
    pub trans_a: bool,
    /// Read `B` as `[N, K]`.
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of `C`.
    pub beta: f32,
}

impl Default for Gemm {
    fn default() -> Self {
        Gemm {
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 1.0,
        }
    }
}

/// The problem in element strides.
#[derive(Clone, Copy, Debug)]
struct Dims {
    /// Products in the batch; 1 with a 2-D `B`.
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: (usize, usize),
    b: (usize, usize),
    c: (usize, usize),
}

impl Gemm {
    /// `(M, K)`, `(K, N)` and the output shape, with leading dimensions of a
    /// non-transposed `A` folded into `M`.
    fn dims(&self, inputs: &[&[usize]]) -> Result<(Dims, Vec<usize>), ShapeError> {
        let (a, b) = match inputs {
            [a, b] | [a, b, _] => (*a, *b),
            _ => {
                return Err(ShapeError::Arity {
                    expected: "2 or 3",
                    got: inputs.len(),
                });
            }
        };
        let (batch, m, k, lead) = match (b.len(), a.len(), self.trans_a) {
            (2, 2, true) => (1, a[1], a[0], vec![]),
            (2, r, false) if r >= 2 => (1, numel(&a[..r - 1]), a[r - 1], a[..r - 2].to_vec()),
            (2, ..) => return Err(ShapeError::operand("A", "2-D (or N-D without transA)", a)),
            (3, 3, false) if a[0] == b[0] && inputs.len() == 2 => (a[0], a[1], a[2], vec![a[0]]),
            (3, ..) => {
                return Err(ShapeError::operand(
                    "A",
                    format!("[{}, M, K] without transA or C, for a batched B", b[0]),
                    a,
                ));
            }
            _ => return Err(ShapeError::operand("B", "2-D (or 3-D: batched)", b)),
        };
        let (kb, n) = if self.trans_b {
            (b[b.len() - 1], b[b.len() - 2])
        } else {
            (b[b.len() - 2], b[b.len() - 1])
        };
        if k != kb {
            return Err(ShapeError::Mismatch(format!(
                "inner dimensions differ: A {a:?}, B {b:?}"
            )));
        }
        let mut out = lead;
        if a.len() >= 2 && !self.trans_a {
            out.push(a[a.len() - 2]);
        } else {
            out.push(m);
        }
        out.push(n);
        let c = match inputs.get(2) {
            Some(c) if c.len() <= 2 => {
                let full = broadcast(c, &[m, n])?;
                if full != [m, n] {
                    return Err(ShapeError::operand(
                        "C",
                        format!("broadcastable to [{m}, {n}]"),
                        c,
                    ));
                }
                let s = broadcast_strides(c, &[m, n]);
                (s[0], s[1])
            }
            Some(c) => return Err(ShapeError::operand("C", "at most 2-D", c)),
            None => (0, 0),
        };
        let a_strides = if self.trans_a { (1, m) } else { (k, 1) };
        let b_strides = if self.trans_b { (1, k) } else { (n, 1) };
        Ok((
            Dims {
                batch,
                m,
                n,
                k,
                a: a_strides,
                b: b_strides,
                c,
            },
            out,
        ))
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        Ok(self.dims(inputs)?.1)
    }

    fn shapes(io: &Io) -> Vec<&[usize]> {
        io.inputs.iter().map(|o| o.shape.as_slice()).collect()
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let (d, _) = self.dims(&Self::shapes(io)).expect("validated model");
        let has_c = io.inputs.len() == 3;
        let w = |s: usize| (4 * s) as i32;
        let alpha = (self.alpha != 1.0).then(|| e.constant(self.alpha.to_bits()));
        let beta = (has_c && self.beta != 1.0).then(|| e.constant(self.beta.to_bits()));
        let a_row = e.constant(io.inputs[0].addr);
        let c_row = has_c.then(|| e.constant(io.inputs[2].addr));
        let y = e.constant(io.output.addr);
        // `A`'s rows and `Y` run on from one product into the next; each
        // product's `B` starts `K·N` words after the last one's.
        let b_item = (d.batch > 1).then(|| e.constant(io.inputs[1].addr));
        let product = |e: &mut Emitter| {
            e.repeat(d.m as u32, |e| {
                let b_col = match b_item {
                    Some(item) => {
                        let b_col = e.reg();
                        e.b.mv(b_col, item);
                        b_col
                    }
                    None => e.constant(io.inputs[1].addr),
                };
                let c = c_row.map(|r| {
                    let c = e.reg();
                    e.b.mv(c, r);
                    c
                });
                // Blocks of `COLS` outputs of the row, then the rest.
                for (count, cols) in [(d.n / COLS, COLS), (1, d.n % COLS)] {
                    if cols > 0 {
                        e.repeat(count as u32, |e| {
                            self.emit_block(e, (d, cols), (a_row, b_col, c, y), (alpha, beta));
                        });
                    }
                }
                e.b.addi(a_row, a_row, w(d.a.0));
                if let (Some(c), Some(c_row)) = (c, c_row) {
                    e.b.addi(c_row, c_row, w(d.c.0));
                    e.free(c);
                }
                e.free(b_col);
            });
            if let Some(item) = b_item {
                e.b.addi(item, item, w(d.k * d.n));
            }
        };
        match b_item {
            Some(_) => e.repeat(d.batch as u32, product),
            None => product(e),
        }
        for r in [alpha, beta, Some(a_row), c_row, Some(y), b_item]
            .into_iter()
            .flatten()
        {
            e.free(r);
        }
    }

    /// Outputs `j..j + cols` of row `i`, each its own chain over `k` in
    /// one register: `A[i, k]` is loaded once for all of them, and `B`'s
    /// row `k` is read `cols` words at a time rather than a column a
    /// word at a time, which for a row-major `B` strides a whole row per
    /// load and misses the cache on most. Advances `y`, `b_col` and `c`
    /// past the block.
    fn emit_block(
        &self,
        e: &mut Emitter,
        (d, cols): (Dims, usize),
        (a_row, b_col, c, y): (Reg, Reg, Option<Reg>, Reg),
        (alpha, beta): (Option<Reg>, Option<Reg>),
    ) {
        let w = |s: usize| (4 * s) as i32;
        let acc: Vec<Reg> = (0..cols).map(|_| e.reg()).collect();
        let (pa, pb, x, z) = (e.reg(), e.reg(), e.reg(), e.reg());
        for &r in &acc {
            e.b.mv(r, 0);
        }
        e.b.mv(pa, a_row);
        e.b.mv(pb, b_col);
        let step = |e: &mut Emitter, u: usize| {
            e.b.load(Op::Lw, x, pa, w(u * d.a.1));
            for (j, &r) in acc.iter().enumerate() {
                e.b.load(Op::Lw, z, pb, w(u * d.b.0 + j * d.b.1));
                e.b.float(Op::Fmadd, r, x, z);
            }
        };
        e.repeat((d.k / UNROLL) as u32, |e| {
            for u in 0..UNROLL {
                step(e, u);
            }
            e.b.addi(pa, pa, w(UNROLL * d.a.1));
            e.b.addi(pb, pb, w(UNROLL * d.b.0));
        });
        for u in 0..d.k % UNROLL {
            step(e, u);
        }
        for (j, &r) in acc.iter().enumerate() {
            if let Some(alpha) = alpha {
                e.b.float(Op::Fmul, r, r, alpha);
            }
            if let Some(c) = c {
                e.b.load(Op::Lw, x, c, w(j * d.c.1));
                match beta {
                    Some(beta) => e.b.float(Op::Fmadd, r, beta, x),
                    None => e.b.float(Op::Fadd, r, r, x),
                }
            }
            e.b.store(Op::Sw, r, y, w(j));
        }
        e.b.addi(y, y, w(cols));
        e.b.addi(b_col, b_col, w(cols * d.b.1));
        if let Some(c) = c {
            e.b.addi(c, c, w(cols * d.c.1));
        }
        for r in acc.into_iter().chain([pa, pb, x, z]) {
            e.free(r);
        }
    }

    /// `B` packed into panels ([`pack_panels`]), when it is a weight.
    pub(crate) fn prepare(&self, io: &Io, weights: &[Option<&[u32]>]) -> Option<Vec<f32>> {
        let (d, _) = self
            .dims(&Self::shapes(io))
            .ok()
            .filter(|(d, _)| d.batch == 1)?;
        weights
            .get(1)
            .copied()
            .flatten()
            .map(|b| pack_b(b, d.k, d.n, d.b))
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (d, _) = self.dims(&Self::shapes(io)).expect("validated model");
        let c = data.inputs.get(2).copied();
        if d.batch > 1 {
            let (a, b) = (data.inputs[0], data.inputs[1]);
            let (a_len, b_len) = (d.m * d.k, d.k * d.n);
            data.output
                .par_chunks_mut(d.m * d.n)
                .enumerate()
                .for_each(|(i, y)| {
                    let b = pack_b(&b[i * b_len..(i + 1) * b_len], d.k, d.n, d.b);
                    let a = as_floats(&a[i * a_len..(i + 1) * a_len]);
                    matmul_packed(
                        Lhs::Rows(a),
                        Rhs::Packed(&b),
                        (d.m, d.n, d.k),
                        Epilogue::default(),
                        y,
                    );
                });
        } else {
            // A row-major `A` is read in place.
            let packed_a;
            let a: &[f32] = if d.a == (d.k, 1) {
                as_floats(data.inputs[0])
            } else {
                packed_a = pack(data.inputs[0], d.m, d.k, d.a, d.k);
                &packed_a
            };
            let packed;
            let b: &[f32] = match data.prepared {
                Some(b) => b,
                None => {
                    packed = pack_b(data.inputs[1], d.k, d.n, d.b);
                    &packed
                }
            };
            matmul_packed(
                Lhs::Rows(a),
                Rhs::Packed(b),
                (d.m, d.n, d.k),
                Epilogue::default(),
                data.output,
            );
        }
        if self.alpha == 1.0 && c.is_none() {
            return;
        }
        let (alpha, beta) = (self.alpha.to_bits(), self.beta.to_bits());
        for (idx, y) in data.output.iter_mut().enumerate() {
            let (i, j) = (idx / d.n, idx % d.n);
            let mut acc = *y;
            if self.alpha != 1.0 {
                acc = semantics::f32_mul(acc, alpha);
            }
            if let Some(c) = c {
                let cv = c[i * d.c.0 + j * d.c.1];
                acc = if self.beta == 1.0 {
                    semantics::f32_add(acc, cv)
                } else {
                    semantics::f32_fma(beta, cv, acc)
                };
            }
            *y = acc;
        }
    }
}

/// Copies a strided `rows x cols` matrix of bit patterns into a row-major
/// `f32` matrix with `ld` columns.
fn pack(src: &[u32], rows: usize, cols: usize, (rs, cs): (usize, usize), ld: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * ld];
    for r in 0..rows {
        for c in 0..cols {
            out[r * ld + c] = f32::from_bits(src[r * rs + c * cs]);
        }
    }
    out
}

/// A strided `k x n` matrix of bit patterns packed into panels.
fn pack_b(src: &[u32], k: usize, n: usize, strides: (usize, usize)) -> Vec<f32> {
    pack_strided(k, n, as_floats(src), strides)
}

#[cfg(feature = "gpu")]
impl Gemm {
    /// The OpenCL launch (`gemm.cl`): blocked work groups, or one output a
    /// work item below a block's height, where most of a block would idle.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let (d, _) = self.dims(&s.shapes()).expect("validated model");
        let at = |o: Operand, words: usize| [o[0], o[1] + int(words)];
        (0..d.batch)
            .map(|i| {
                let p = GemmParams {
                    a: at(s.input(0), i * d.m * d.k),
                    b: at(s.input(1), i * d.k * d.n),
                    c: s.input(2),
                    y: s.y() + int(i * d.m * d.n),
                    m: d.m,
                    n: d.n,
                    k: d.k,
                    a_stride_i: d.a.0,
                    a_stride_k: d.a.1,
                    b_stride_k: d.b.0,
                    b_stride_j: d.b.1,
                    c_stride_i: d.c.0,
                    c_stride_j: d.c.1,
                    has_c: s.inputs() == 3,
                    has_alpha: self.alpha != 1.0,
                    alpha: self.alpha,
                    unit_beta: self.beta == 1.0,
                    beta: self.beta,
                };
                let (kernel, global) = if d.m < GEMM_TILE {
                    ("gemm_thin", vec![d.n, d.m])
                } else {
                    let blocks = |x: usize| x.div_ceil(GEMM_TILE) * GEMM_THREADS;
                    ("gemm", vec![blocks(d.n), blocks(d.m)])
                };
                let local = vec![GEMM_THREADS, GEMM_THREADS];
                Plan::new(kernel, p, global, Some(local))
            })
            .collect()
    }
}
