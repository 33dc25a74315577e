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

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::semantics;

use crate::emit::Emitter;
use crate::ir::numel;
use crate::ops::binary::{broadcast, broadcast_strides};
use crate::ops::finish::{finish, finish_rows};
use crate::ops::{Io, NativeIo};

/// `K` elements handled per iteration of the VM's inner loop.
const UNROLL: usize = 8;

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
    fn dims(&self, inputs: &[&[usize]]) -> Result<(Dims, Vec<usize>), String> {
        let (a, b) = match inputs {
            [a, b] | [a, b, _] => (*a, *b),
            _ => return Err(format!("takes 2 or 3 inputs, got {}", inputs.len())),
        };
        if b.len() != 2 {
            return Err(format!("B must be 2-D, got {b:?}"));
        }
        let (m, k, lead) = match (a.len(), self.trans_a) {
            (2, true) => (a[1], a[0], vec![]),
            (r, false) if r >= 2 => (numel(&a[..r - 1]), a[r - 1], a[..r - 2].to_vec()),
            _ => return Err(format!("A must be 2-D (or N-D without transA), got {a:?}")),
        };
        let (kb, n) = if self.trans_b {
            (b[1], b[0])
        } else {
            (b[0], b[1])
        };
        if k != kb {
            return Err(format!("inner dimensions differ: A {a:?}, B {b:?}"));
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
                let full = broadcast(c, &[m, n]).map_err(|e| format!("C: {e}"))?;
                if full != [m, n] {
                    return Err(format!("C {c:?} does not broadcast to [{m}, {n}]"));
                }
                let s = broadcast_strides(c, &[m, n]);
                (s[0], s[1])
            }
            Some(c) => return Err(format!("C must be at most 2-D, got {c:?}")),
            None => (0, 0),
        };
        let a_strides = if self.trans_a { (1, m) } else { (k, 1) };
        let b_strides = if self.trans_b { (1, k) } else { (n, 1) };
        Ok((
            Dims {
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

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
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
        e.repeat(d.m as u32, |e| {
            let b_col = e.constant(io.inputs[1].addr);
            let c = c_row.map(|r| {
                let c = e.reg();
                e.b.mv(c, r);
                c
            });
            e.repeat(d.n as u32, |e| {
                let (acc, pa, pb, x, z) = (e.reg(), e.reg(), e.reg(), e.reg(), e.reg());
                e.b.mv(acc, 0);
                e.b.mv(pa, a_row);
                e.b.mv(pb, b_col);
                let mac = |e: &mut Emitter, u: usize| {
                    e.b.load(Op::Lw, x, pa, w(u * d.a.1));
                    e.b.load(Op::Lw, z, pb, w(u * d.b.0));
                    e.b.float(Op::Fmadd, acc, x, z);
                };
                e.repeat((d.k / UNROLL) as u32, |e| {
                    for u in 0..UNROLL {
                        mac(e, u);
                    }
                    e.b.addi(pa, pa, w(UNROLL * d.a.1));
                    e.b.addi(pb, pb, w(UNROLL * d.b.0));
                });
                for u in 0..d.k % UNROLL {
                    mac(e, u);
                }
                if let Some(alpha) = alpha {
                    e.b.float(Op::Fmul, acc, acc, alpha);
                }
                if let Some(c) = c {
                    e.b.load(Op::Lw, x, c, 0);
                    match beta {
                        Some(beta) => e.b.float(Op::Fmadd, acc, beta, x),
                        None => e.b.float(Op::Fadd, acc, acc, x),
                    }
                    e.b.addi(c, c, w(d.c.1));
                }
                e.b.store(Op::Sw, acc, y, 0);
                e.b.addi(y, y, 4);
                e.b.addi(b_col, b_col, w(d.b.1));
                for r in [acc, pa, pb, x, z] {
                    e.free(r);
                }
            });
            e.b.addi(a_row, a_row, w(d.a.0));
            if let (Some(c), Some(c_row)) = (c, c_row) {
                e.b.addi(c_row, c_row, w(d.c.0));
                e.free(c);
            }
            e.free(b_col);
        });
        for r in [alpha, beta, Some(a_row), c_row, Some(y)]
            .into_iter()
            .flatten()
        {
            e.free(r);
        }
    }

    /// `B` packed into panels ([`pack_panels`]), when it is a weight.
    pub(crate) fn prepare(&self, io: &Io, weights: &[Option<&[u32]>]) -> Option<Vec<f32>> {
        let (d, _) = self.dims(&Self::shapes(io)).ok()?;
        weights
            .get(1)
            .copied()
            .flatten()
            .map(|b| pack_b(b, d.k, d.n, d.b))
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let (d, _) = self.dims(&Self::shapes(io)).expect("validated model");
        let a: Vec<f32> = pack(data.inputs[0], d.m, d.k, d.a, d.k);
        let packed;
        let b: &[f32] = match data.prepared {
            Some(b) => b,
            None => {
                packed = pack_b(data.inputs[1], d.k, d.n, d.b);
                &packed
            }
        };
        let c = data.inputs.get(2).copied();
        matmul_packed(
            &a,
            Rhs::Packed(b),
            (d.m, d.n, d.k),
            Epilogue::default(),
            data.output,
        );
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

/// Columns of one packed panel of `B`: the register tile's width, two
/// AVX-512 vectors.
pub(crate) const NR: usize = 32;

/// Rows of one register tile.
const MR: usize = 8;

/// Rows of `A` and panels of `B` in one parallel task: a panel stays in
/// cache while the task's rows pass over it.
const TASK_ROWS: usize = 64;
const TASK_PANELS: usize = 8;

/// Work below which waking another thread costs more than it saves: words
/// copied, and fused multiply-adds.
pub(crate) const PAR_WORDS: usize = 1 << 16;
const PAR_FMAS: usize = 1 << 20;

/// Floats in a `k x n` matrix packed by [`pack_panels`].
pub fn packed_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * k * NR
}

/// A `k x n` matrix as column panels of `NR` (32), so the kernel reads `B`
/// contiguously: panel `p` holds row `0` of columns `p*NR..p*NR+NR`, then
/// row `1`, and so on; `at(kk, j)` gives element `(kk, j)`, and columns past
/// `n` are zero.
pub fn pack_panels(k: usize, n: usize, at: impl Fn(usize, usize) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; packed_len(k, n)];
    if k == 0 {
        return out;
    }
    out.par_chunks_mut(k * NR)
        .with_min_len(PAR_WORDS.div_ceil(k * NR))
        .enumerate()
        .for_each(|(p, panel)| {
            let j0 = p * NR;
            let cols = NR.min(n - j0);
            for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
                for (l, y) in row[..cols].iter_mut().enumerate() {
                    *y = at(kk, j0 + l);
                }
            }
        });
    out
}

/// A strided `k x n` matrix of bit patterns packed by [`pack_panels`].
fn pack_b(src: &[u32], k: usize, n: usize, (rs, cs): (usize, usize)) -> Vec<f32> {
    pack_panels(k, n, |kk, j| f32::from_bits(src[kk * rs + j * cs]))
}

/// Bit patterns as the floats they encode, without a copy (NaN payloads
/// kept: the kernels only load them into registers).
pub(crate) fn as_floats(words: &[u32]) -> &[f32] {
    // SAFETY: `u32` and `f32` have the same size and alignment, and every
    // bit pattern is a valid `f32`.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast(), words.len()) }
}

/// The output pointer shared by tasks that write disjoint elements.
struct Out(*mut u32);

// SAFETY: the tasks of `matmul_packed` write disjoint elements.
unsafe impl Sync for Out {}

impl Out {
    /// Element `idx` (inside the output: the callers' tiles are).
    fn at(&self, idx: usize) -> *mut u32 {
        self.0.wrapping_add(idx)
    }
}

/// What follows each output's fma chain, fused into the GEMM so that the
/// output is written once: `y = canonical(relu?(y + bias?))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// One value per row of the output (per column if `transposed`).
    pub bias: Option<&'a [u32]>,
    /// Then `maximum(y, +0)`.
    pub relu: bool,
    /// Store the product transposed: element `(i, j)` at `out[j * m + i]`.
    pub transposed: bool,
}

/// The right-hand `k x n` matrix as the kernel reads it: panels of 32
/// columns whose rows are 32 consecutive floats, a stride apart.
#[derive(Clone, Copy, Debug)]
pub enum Rhs<'a> {
    /// Packed by [`pack_panels`] (rows 32 apart).
    Packed(&'a [f32]),
    /// Row-major as it lies (rows `n` apart), for the whole panels: a 1x1
    /// convolution's input needs no copy. The last panel, if narrower than
    /// 32 columns, is packed by [`pack_panels`] in `tail`.
    Rows {
        /// The `k x n` matrix.
        data: &'a [f32],
        /// Its last `n % 32` columns, packed (empty if none).
        tail: &'a [f32],
    },
}

impl<'a> Rhs<'a> {
    /// Panel `p` and the distance between its rows.
    fn panel(self, p: usize, k: usize, n: usize) -> (&'a [f32], usize) {
        match self {
            Rhs::Packed(b) => (&b[p * k * NR..(p + 1) * k * NR], NR),
            Rhs::Rows { data, .. } if (p + 1) * NR <= n => (&data[p * NR..k * n], n),
            Rhs::Rows { tail, .. } => (&tail[..k * NR], NR),
        }
    }
}

/// `out[i*n + j] = fma-chain over k of a[i*k..] and b[.., j]`, from `+0`,
/// in increasing `k`, then the [`Epilogue`]; `a` is row-major, `b` as
/// [`Rhs`] says. Tasks of 64 rows by 8 panels run in parallel; each tile of
/// 8 rows by 32 columns keeps its accumulators in registers over all of
/// `k`.
pub fn matmul_packed(
    a: &[f32],
    b: Rhs<'_>,
    (m, n, k): (usize, usize, usize),
    epilogue: Epilogue<'_>,
    out: &mut [u32],
) {
    assert!(out.len() == m * n && a.len() >= m * k);
    match b {
        Rhs::Packed(b) => assert!(b.len() >= packed_len(k, n)),
        Rhs::Rows { data, tail } => {
            assert!(data.len() >= k * n && (n.is_multiple_of(NR) || tail.len() >= k * NR));
        }
    }
    let (out_rows, out_cols) = if epilogue.transposed { (n, m) } else { (m, n) };
    assert!(epilogue.bias.is_none_or(|b| b.len() >= out_rows));
    if k == 0 {
        out.fill(0);
        for (i, row) in out.chunks_mut(out_cols.max(1)).enumerate() {
            finish(row, epilogue.bias.map(|b| b[i]), epilogue.relu);
        }
        return;
    }
    let panels = n.div_ceil(NR);
    let (row_tasks, col_tasks) = (m.div_ceil(TASK_ROWS), panels.div_ceil(TASK_PANELS));
    let dst = Out(out.as_mut_ptr());
    let task_fmas = TASK_ROWS.min(m) * TASK_PANELS * NR * k;
    let tasks = (0..row_tasks * col_tasks).into_par_iter();
    tasks
        .with_min_len(PAR_FMAS.div_ceil(task_fmas))
        .for_each(|t| {
            // The tile, and its transpose; each tile overwrites what it
            // reads back, so they are zeroed once a task, not once a tile.
            let (mut tile, mut transposed) = ([0f32; MR * NR], [0f32; MR * NR]);
            let (i_end, p_end) = (
                m.min((t / col_tasks + 1) * TASK_ROWS),
                panels.min((t % col_tasks + 1) * TASK_PANELS),
            );
            for p in (t % col_tasks) * TASK_PANELS..p_end {
                let (panel, ldb) = b.panel(p, k, n);
                let (j0, cols) = (p * NR, NR.min(n - p * NR));
                let mut i = (t / col_tasks) * TASK_ROWS;
                while i < i_end {
                    let rows = MR.min(i_end - i);
                    kernel::tile(&a[i * k..(i + rows) * k], (panel, ldb), k, &mut tile);
                    // The tile as the output's rows: its own, or its
                    // transpose (`cols` rows of `MR`).
                    let (src, src_ld, at, ld, dims, bias) = if epilogue.transposed {
                        for r in 0..rows {
                            for l in 0..cols {
                                transposed[l * MR + r] = tile[r * NR + l];
                            }
                        }
                        let bias = epilogue.bias.map(|b| &b[j0..j0 + cols]);
                        (&transposed, MR, j0 * m + i, m, (cols, rows), bias)
                    } else {
                        let bias = epilogue.bias.map(|b| &b[i..i + rows]);
                        (&tile, NR, i * n + j0, n, (rows, cols), bias)
                    };
                    // SAFETY: the output block at `at`, `dims` with rows
                    // `ld` apart, is inside the output and this task's
                    // alone (rows `i..i + rows` by panel `p`'s columns of
                    // the product), and `src` holds it with rows `src_ld`
                    // apart.
                    unsafe {
                        let src = src.as_ptr().cast();
                        finish_rows(src, src_ld, dst.at(at), ld, dims, bias, epilogue.relu);
                    }
                    i += rows;
                }
            }
        });
}

/// The kernels: AVX-512, AVX2 with FMA, or scalar through the VM's own
/// `fma`, chosen at run time. Each keeps every element's `k` order.
mod kernel {
    use super::*;

    /// `a` (up to [`MR`] rows of `k`) times one panel (rows `ldb` apart),
    /// into `tile` (row `r` at `r * NR`).
    pub(super) fn tile(
        a: &[f32],
        (panel, ldb): (&[f32], usize),
        k: usize,
        tile: &mut [f32; MR * NR],
    ) {
        let rows = a.len() / k;
        assert!(ldb >= NR && panel.len() >= (k - 1) * ldb + NR);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                if rows == MR {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    unsafe { x86::tile_avx512::<MR>(a, (panel, ldb), k, 0, tile) };
                } else {
                    for r in 0..rows {
                        let (a, tile) = (&a[r * k..], &mut tile[r * NR..]);
                        // SAFETY: the CPU has AVX-512F, checked just above.
                        unsafe { x86::tile_avx512::<1>(a, (panel, ldb), k, 0, tile) };
                    }
                }
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // Sixteen registers: four rows by sixteen columns a pass.
                const R: usize = 4;
                let mut r = 0;
                while r < rows {
                    let step = if rows - r >= R { R } else { 1 };
                    for c0 in [0, NR / 2] {
                        let (a, tile) = (&a[r * k..], &mut tile[r * NR..]);
                        // SAFETY: the CPU has AVX2 and FMA, checked just above.
                        unsafe {
                            if step == R {
                                x86::tile_avx2::<R>(a, (panel, ldb), k, c0, tile);
                            } else {
                                x86::tile_avx2::<1>(a, (panel, ldb), k, c0, tile);
                            }
                        }
                    }
                    r += step;
                }
                return;
            }
        }
        for r in 0..rows {
            for l in 0..NR {
                let mut acc = 0u32;
                for kk in 0..k {
                    acc = semantics::f32_fma(
                        a[r * k + kk].to_bits(),
                        panel[kk * ldb + l].to_bits(),
                        acc,
                    );
                }
                tile[r * NR + l] = f32::from_bits(acc);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        use super::NR;

        macro_rules! tile_kernel {
            ($name:ident, $feature:literal, $lanes:literal, $vec:ty, $zero:ident, $set1:ident, $load:ident, $fma:ident, $store:ident) => {
                /// `R` rows of `a` (`k` each) times columns `c0..c0 + 2 *
                /// lanes` of the panel (rows `ldb` apart), into `tile` (row
                /// `r` at `r * NR`).
                #[target_feature(enable = $feature)]
                pub(super) fn $name<const R: usize>(
                    a: &[f32],
                    (panel, ldb): (&[f32], usize),
                    k: usize,
                    c0: usize,
                    tile: &mut [f32],
                ) {
                    assert!(
                        k > 0
                            && a.len() >= (R - 1) * k + k
                            && panel.len() >= (k - 1) * ldb + NR
                            && c0 + 2 * $lanes <= NR
                            && tile.len() >= (R - 1) * NR + c0 + 2 * $lanes
                    );
                    let (ap, bp) = (a.as_ptr(), panel.as_ptr());
                    let mut acc: [[$vec; 2]; R] = [[$zero(); 2]; R];
                    for kk in 0..k {
                        // SAFETY: `kk * ldb + c0 + 2 * lanes <= (k - 1) *
                        // ldb + NR`, checked above.
                        let (b0, b1) = unsafe {
                            let p = bp.add(kk * ldb + c0);
                            ($load(p), $load(p.add($lanes)))
                        };
                        for (r, acc) in acc.iter_mut().enumerate() {
                            // SAFETY: `r * k + kk < R * k <= a.len()`.
                            let x = $set1(unsafe { *ap.add(r * k + kk) });
                            acc[0] = $fma(x, b0, acc[0]);
                            acc[1] = $fma(x, b1, acc[1]);
                        }
                    }
                    for (r, acc) in acc.iter().enumerate() {
                        // SAFETY: `r * NR + c0 + 2 * lanes <= tile.len()`.
                        unsafe {
                            let p = tile.as_mut_ptr().add(r * NR + c0);
                            $store(p, acc[0]);
                            $store(p.add($lanes), acc[1]);
                        }
                    }
                }
            };
        }

        tile_kernel!(
            tile_avx512,
            "avx512f",
            16,
            __m512,
            _mm512_setzero_ps,
            _mm512_set1_ps,
            _mm512_loadu_ps,
            _mm512_fmadd_ps,
            _mm512_storeu_ps
        );
        tile_kernel!(
            tile_avx2,
            "avx2,fma",
            8,
            __m256,
            _mm256_setzero_ps,
            _mm256_set1_ps,
            _mm256_loadu_ps,
            _mm256_fmadd_ps,
            _mm256_storeu_ps
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical chain, one element at a time.
    fn reference(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<u32> {
        let mut out = vec![0u32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0u32;
                for kk in 0..k {
                    acc = semantics::f32_fma(a[i * k + kk].to_bits(), b[kk * n + j].to_bits(), acc);
                }
                out[i * n + j] = acc;
            }
        }
        out
    }

    /// Values with ties, subnormals, infinities and NaNs among them.
    fn values(seed: usize, len: usize) -> Vec<f32> {
        const SPECIAL: [f32; 6] = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e-40,
            -0.0,
            3.0e38,
            f32::NAN,
        ];
        (0..len)
            .map(|i| {
                let h = (i + seed).wrapping_mul(2_654_435_761) >> 7;
                if h.is_multiple_of(97) {
                    SPECIAL[h / 97 % SPECIAL.len()]
                } else {
                    (h % 2001) as f32 / 333.0 - 3.0
                }
            })
            .collect()
    }

    #[test]
    fn every_tile_shape_matches_the_canonical_chain() {
        for (m, n, k) in [
            (1, 1, 1),
            (1, 70, 33),
            (7, 31, 5),
            (8, 32, 64),
            (9, 33, 17),
            (17, 65, 3),
            (64, 96, 40),
            (70, 300, 11),
            (3, 5, 0),
        ] {
            let (a, b) = (values(m, m * k), values(n, k * n));
            let mut out = vec![1u32; m * n];
            let packed = pack_panels(k, n, |kk, j| b[kk * n + j]);
            matmul_packed(
                &a,
                Rhs::Packed(&packed),
                (m, n, k),
                Epilogue::default(),
                &mut out,
            );
            let want = reference(&a, &b, m, n, k);
            assert_eq!(out, want, "{m}x{n}x{k}");
            // B read as it lies, its last partial panel packed.
            let full = n / NR * NR;
            let tail = pack_panels(k, n - full, |kk, j| b[kk * n + full + j]);
            out.fill(1);
            let rhs = Rhs::Rows {
                data: &b,
                tail: &tail,
            };
            matmul_packed(&a, rhs, (m, n, k), Epilogue::default(), &mut out);
            assert_eq!(out, want, "{m}x{n}x{k}, B as rows");
            // Transposed, with a bias per output row (a column of the
            // product) and the Relu.
            let bias: Vec<u32> = values(7, n).iter().map(|v| v.to_bits()).collect();
            let epilogue = Epilogue {
                bias: Some(&bias),
                relu: true,
                transposed: true,
            };
            matmul_packed(&a, Rhs::Packed(&packed), (m, n, k), epilogue, &mut out);
            for (idx, &y) in out.iter().enumerate() {
                let (j, i) = (idx / m.max(1), idx % m.max(1));
                let v = semantics::f32_max(semantics::f32_add(want[i * n + j], bias[j]), 0);
                assert_eq!(y, v, "{m}x{n}x{k} transposed, element ({i}, {j})");
            }
        }
    }
}
