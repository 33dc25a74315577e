//! The GEMM micro-kernel library: `B` packed into column panels and a
//! register-tiled product with a fused epilogue. `Gemm` and the
//! convolution layouts call it; each keeps every element's fma chain in
//! increasing `k` (docs/spec/kernels.md).

use std::cell::Cell;

use rayon::prelude::*;
use verdict_vm::semantics;

use crate::kernels::Isa;
use crate::kernels::finish::{finish, finish_rows};

/// Columns of one packed panel of `B`: the register tile's width, two
/// AVX-512 vectors.
pub(crate) const NR: usize = 32;

/// Rows of one register tile: with two vectors of `B` a step, 24 of
/// AVX-512's 32 registers accumulate.
pub(crate) const MR: usize = 12;

/// Panels of `B` one row of `A` is multiplied with at once.
const ROW_PANELS: usize = 4;

/// Rows of `A` and panels of `B` in one parallel task: a panel stays in
/// cache while the task's rows pass over it.
const TASK_ROWS: usize = 6 * MR;

/// Rows of each of the tiles [`pack_tiles`] cuts `m` rows into: [`MR`],
/// or 8 where that makes no more tiles (16 rows, a transformer's tokens,
/// are two whole tiles of 8, not one of 12 and one of 4). Both divide
/// `TASK_ROWS`.
pub(crate) fn tile_rows(m: usize) -> usize {
    if m.div_ceil(8) <= m.div_ceil(MR) {
        8
    } else {
        MR
    }
}
const TASK_PANELS: usize = 8;
/// Tasks a thread gets at least, where the problem allows: three tasks on
/// two threads leave one idle a third of the time.
const TASKS_PER_THREAD: usize = 4;

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
    panels(k, n, |j0, cols, panel| {
        for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
            for (l, y) in row[..cols].iter_mut().enumerate() {
                *y = at(kk, j0 + l);
            }
        }
    })
}

/// [`pack_panels`] of a matrix in memory, element `(kk, j)` at
/// `src[kk * rs + j * cs]`: a row-major one is copied a run of columns at a
/// time, a transposed one a column at a time (the attention products of a
/// decoder pack such an activation at every step).
pub(crate) fn pack_strided(k: usize, n: usize, src: &[f32], (rs, cs): (usize, usize)) -> Vec<f32> {
    match (rs, cs) {
        (_, 1) => panels(k, n, |j0, cols, panel| {
            for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
                row[..cols].copy_from_slice(&src[kk * rs + j0..kk * rs + j0 + cols]);
            }
        }),
        (1, _) => panels(k, n, |j0, cols, panel| {
            for l in 0..cols {
                let column = &src[(j0 + l) * cs..(j0 + l) * cs + k];
                for (kk, &v) in column.iter().enumerate() {
                    panel[kk * NR + l] = v;
                }
            }
        }),
        _ => pack_panels(k, n, |kk, j| src[kk * rs + j * cs]),
    }
}

/// Packed panels, each filled by `fill(first column, columns, panel)`.
fn panels(k: usize, n: usize, fill: impl Fn(usize, usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; packed_len(k, n)];
    if k == 0 {
        return out;
    }
    out.par_chunks_mut(k * NR)
        .with_min_len(PAR_WORDS.div_ceil(k * NR))
        .enumerate()
        .for_each(|(p, panel)| fill(p * NR, NR.min(n - p * NR), panel));
    out
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
    /// The distance between the output's rows where it is a block of a
    /// wider matrix; `None`: its own width.
    pub stride: Option<usize>,
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

/// The left-hand `m x k` matrix as the kernel reads it.
#[derive(Clone, Copy, Debug)]
pub enum Lhs<'a> {
    /// Row-major: packed into tiles for each product (one row is read as
    /// it lies).
    Rows(&'a [f32]),
    /// Packed by [`pack_tiles`] beforehand: a convolution's weights, once
    /// a model, or its im2col, written so.
    Tiles(&'a [f32]),
}

/// `out[i*n + j] = fma-chain over k of A's row i and b[.., j]`, from `+0`,
/// in increasing `k`, then the [`Epilogue`]; `a` and `b` as [`Lhs`] and
/// [`Rhs`] say. Tasks of up to 72 rows by 8 panels (one row: by 4) run in
/// parallel; each tile of 12 rows by 32 columns keeps its accumulators in
/// registers over all of `k`.
pub fn matmul_packed(
    a: Lhs<'_>,
    b: Rhs<'_>,
    mnk: (usize, usize, usize),
    epilogue: Epilogue<'_>,
    out: &mut [u32],
) {
    matmul_on(Isa::detect(), a, b, mnk, epilogue, out);
}

/// [`matmul_packed`] on the instruction set `isa`, which this CPU has.
fn matmul_on(
    isa: Isa,
    a: Lhs<'_>,
    b: Rhs<'_>,
    (m, n, k): (usize, usize, usize),
    epilogue: Epilogue<'_>,
    out: &mut [u32],
) {
    let (out_rows, out_cols) = if epilogue.transposed { (n, m) } else { (m, n) };
    let ld = epilogue.stride.unwrap_or(out_cols);
    assert!(ld >= out_cols && out.len() >= (out_rows.max(1) - 1) * ld + out_cols);
    match a {
        Lhs::Rows(a) => assert!(a.len() >= m * k),
        Lhs::Tiles(a) => assert!(a.len() >= tiles_len(m, k)),
    }
    match b {
        Rhs::Packed(b) => assert!(b.len() >= packed_len(k, n)),
        Rhs::Rows { data, tail } => {
            assert!(data.len() >= k * n && (n.is_multiple_of(NR) || tail.len() >= k * NR));
        }
    }
    assert!(epilogue.bias.is_none_or(|b| b.len() >= out_rows));
    if k == 0 {
        for i in 0..out_rows {
            let row = &mut out[i * ld..i * ld + out_cols];
            row.fill(0);
            finish(row, epilogue.bias.map(|b| b[i]), epilogue.relu);
        }
        return;
    }
    let panels = n.div_ceil(NR);
    // One row streams `B` once and computes little on it: its tasks are
    // one group of panels, and worth a thread from `PAR_WORDS` of `B`.
    // Few rows (a transformer's tokens) make few tasks of whole groups of
    // panels: they split further, so that every thread gets a share.
    let task_panels = if m == 1 {
        ROW_PANELS
    } else {
        let wanted =
            (TASKS_PER_THREAD * rayon::current_num_threads()).div_ceil(m.div_ceil(TASK_ROWS));
        TASK_PANELS.min(panels.div_ceil(wanted)).max(1)
    };
    let (row_tasks, col_tasks) = (m.div_ceil(TASK_ROWS), panels.div_ceil(task_panels));
    let dst = Out(out.as_mut_ptr());
    let task_fmas = TASK_ROWS.min(m) * task_panels * NR * k;
    let min_len = if m == 1 {
        PAR_WORDS.div_ceil(task_fmas)
    } else {
        PAR_FMAS.div_ceil(task_fmas)
    };
    // `A` as tiles, once for all tasks, or its one row as it lies.
    let mut buffer = A_TILES.take();
    let a: &[f32] = match a {
        Lhs::Rows(a) if m == 1 => &a[..k],
        Lhs::Tiles(a) if m == 1 => {
            buffer.clear();
            buffer.extend(a.iter().step_by(tile_rows(1)).take(k));
            &buffer
        }
        Lhs::Rows(a) => {
            pack_tiles(a, m, k, &mut buffer);
            &buffer
        }
        Lhs::Tiles(a) => a,
    };
    let h = tile_rows(m);
    let tasks = (0..row_tasks * col_tasks).into_par_iter();
    tasks.with_min_len(min_len).for_each(|t| {
        // The tile, and its transpose; each tile overwrites what it
        // reads back, so they are zeroed once a task, not once a tile.
        let (mut tile, mut transposed) = ([0f32; MR * NR], [0f32; MR * NR]);
        let (i_end, p_end) = (
            m.min((t / col_tasks + 1) * TASK_ROWS),
            panels.min((t % col_tasks + 1) * task_panels),
        );
        // Rows `i..i + rows` of panel `p`'s columns, held by `tile`
        // (row `r` at `r * NR`), finished into the output.
        let mut finish = |p: usize, i: usize, rows: usize, tile: &[f32]| {
            let (j0, cols) = (p * NR, NR.min(n - p * NR));
            // The tile as the output's rows: its own, or its
            // transpose (`cols` rows of `MR`).
            let (src, src_ld, at, ld, dims, bias) = if epilogue.transposed {
                for r in 0..rows {
                    for l in 0..cols {
                        transposed[l * MR + r] = tile[r * NR + l];
                    }
                }
                let bias = epilogue.bias.map(|b| &b[j0..j0 + cols]);
                (&transposed[..], MR, j0 * ld + i, ld, (cols, rows), bias)
            } else {
                let bias = epilogue.bias.map(|b| &b[i..i + rows]);
                (tile, NR, i * ld + j0, ld, (rows, cols), bias)
            };
            // SAFETY: the output block at `at`, `dims` with rows `ld`
            // apart, is inside the output and this task's alone (rows
            // `i..i + rows` by panel `p`'s columns of the product),
            // and `src` holds it with rows `src_ld` apart.
            unsafe {
                let src = src.as_ptr().cast();
                finish_rows(src, src_ld, dst.at(at), ld, dims, bias, epilogue.relu);
            }
        };
        let mut p = (t % col_tasks) * task_panels;
        while p < p_end {
            // One row (a decoder's step): several panels at once, so
            // that memory serves several streams of `B`.
            if let (1, Rhs::Packed(packed)) = (m, b) {
                let group = ROW_PANELS.min(p_end - p);
                let panels = &packed[p * k * NR..(p + group) * k * NR];
                let mut row = [0f32; ROW_PANELS * NR];
                kernel::row(isa, &a[..k], panels, k, &mut row[..group * NR]);
                for q in 0..group {
                    finish(p + q, 0, 1, &row[q * NR..(q + 1) * NR]);
                }
                p += group;
                continue;
            }
            let (panel, ldb) = b.panel(p, k, n);
            // The next packed panel, fetched a share by each tile.
            let next = match b {
                Rhs::Packed(b) if p + 1 < p_end => &b[(p + 1) * k * NR..(p + 2) * k * NR],
                _ => &[],
            };
            let first = (t / col_tasks) * TASK_ROWS;
            let share = next.len().div_ceil((i_end - first).div_ceil(h));
            let mut i = first;
            while i < i_end {
                let rows = h.min(i_end - i);
                let at = ((i - first) / h * share).min(next.len());
                let ahead = &next[at..(at + share).min(next.len())];
                let a = if m == 1 {
                    (a, 1)
                } else {
                    (&a[i / h * k * h..][..k * h], h)
                };
                kernel::tile(isa, a, rows, (panel, ldb), k, &mut tile, ahead);
                finish(p, i, rows, &tile);
                i += rows;
            }
            p += 1;
        }
    });
    A_TILES.set(buffer);
}

thread_local! {
    /// [`pack_tiles`]' buffer of the last product on this thread, kept for
    /// the next one: a product takes it, so a nested one starts its own.
    static A_TILES: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Floats in `m` rows of `k` packed by [`pack_tiles`].
pub(crate) fn tiles_len(m: usize, k: usize) -> usize {
    let h = tile_rows(m);
    m.div_ceil(h) * k * h
}

/// The row-major `m x k` matrix `a` as tiles of `h` = [`tile_rows`]`(m)` rows interleaved by
/// column, so that a tile's step reads its rows' elements from one line:
/// row `i`'s element `kk` lies at `(i / h * k + kk) * h + i % h`, and
/// rows past `m` are zero. They fill the start of `out`, which may hold
/// anything before.
pub(crate) fn pack_tiles(a: &[f32], m: usize, k: usize, out: &mut Vec<f32>) {
    let out = grown(out, tiles_len(m, k));
    if k == 0 {
        return;
    }
    let h = tile_rows(m);
    out.par_chunks_mut(k * h)
        .with_min_len(PAR_WORDS.div_ceil(k * h))
        .enumerate()
        .for_each(|(t, tile)| {
            let rows = h.min(m - t * h);
            for (r, row) in a[t * h * k..][..rows * k].chunks_exact(k).enumerate() {
                for (kk, &v) in row.iter().enumerate() {
                    tile[kk * h + r] = v;
                }
            }
            if rows < h {
                for step in tile.chunks_exact_mut(h) {
                    step[rows..].fill(0.0);
                }
            }
        });
}

/// The first `len` elements of `buffer`, grown to hold them but never
/// shrunk or cleared: a buffer reused from product to product is only
/// written where it grows, for callers that write every element they use.
pub(crate) fn grown(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// The kernels: AVX-512, AVX2 with FMA, or scalar through the VM's own
/// `fma`, as the caller's [`Isa`] says. Each keeps every element's `k`
/// order.
mod kernel {
    use super::*;

    /// Calls `block(r0, rows)` over `0..rows` in blocks of the first of
    /// `sizes` (largest first, ending with 1) that still fit.
    #[inline(always)]
    fn blocks(rows: usize, sizes: &[usize], mut block: impl FnMut(usize, usize)) {
        let mut r0 = 0;
        while r0 < rows {
            let size = sizes.iter().copied().find(|&s| s <= rows - r0).unwrap_or(1);
            block(r0, size);
            r0 += size;
        }
    }

    /// `rows` (up to [`MR`]) rows of `A` times one panel (rows `ldb` apart),
    /// into `tile` (row `r` at `r * NR`). Row `r`'s element `kk` is
    /// `a[kk * step + r]`: a tile of [`pack_tiles`] (`step`: its rows) or
    /// one row as it lies (`step` = 1). `ahead` is what to bring into the
    /// second-level cache meanwhile: the share of the next panel that this
    /// tile fetches, so that memory streams `B` while the tiles compute.
    pub(super) fn tile(
        isa: Isa,
        (a, step): (&[f32], usize),
        rows: usize,
        (panel, ldb): (&[f32], usize),
        k: usize,
        tile: &mut [f32; MR * NR],
        ahead: &[f32],
    ) {
        assert!(rows <= MR && (rows <= 1 || step >= rows) && a.len() >= (k - 1) * step + rows);
        assert!(ldb >= NR && panel.len() >= (k - 1) * ldb + NR);
        #[cfg(target_arch = "x86_64")]
        {
            if isa == Isa::Avx512 {
                blocks(rows, &[MR, 8, 4, 2, 1], |r0, size| {
                    let (a, tile) = ((&a[r0..], step), &mut tile[r0 * NR..]);
                    let ahead = if r0 == 0 { ahead } else { &[] };
                    let b = (panel, ldb);
                    // SAFETY: the CPU has AVX-512F (`isa`).
                    unsafe {
                        match size {
                            MR => x86::tile_avx512::<MR>(a, b, k, 0, tile, ahead),
                            8 => x86::tile_avx512::<8>(a, b, k, 0, tile, ahead),
                            4 => x86::tile_avx512::<4>(a, b, k, 0, tile, ahead),
                            2 => x86::tile_avx512::<2>(a, b, k, 0, tile, ahead),
                            _ => x86::tile_avx512::<1>(a, b, k, 0, tile, ahead),
                        }
                    }
                });
                return;
            }
            if isa == Isa::Avx2 {
                // Sixteen registers: six rows by sixteen columns a pass.
                blocks(rows, &[6, 4, 2, 1], |r0, size| {
                    for c0 in [0, NR / 2] {
                        let (a, tile) = ((&a[r0..], step), &mut tile[r0 * NR..]);
                        let ahead = if r0 == 0 && c0 == 0 { ahead } else { &[] };
                        let b = (panel, ldb);
                        // SAFETY: the CPU has AVX2 and FMA (`isa`).
                        unsafe {
                            match size {
                                6 => x86::tile_avx2::<6>(a, b, k, c0, tile, ahead),
                                4 => x86::tile_avx2::<4>(a, b, k, c0, tile, ahead),
                                2 => x86::tile_avx2::<2>(a, b, k, c0, tile, ahead),
                                _ => x86::tile_avx2::<1>(a, b, k, c0, tile, ahead),
                            }
                        }
                    }
                });
                return;
            }
        }
        for r in 0..rows {
            for l in 0..NR {
                let mut acc = 0u32;
                for kk in 0..k {
                    acc = semantics::f32_fma(
                        a[kk * step + r].to_bits(),
                        panel[kk * ldb + l].to_bits(),
                        acc,
                    );
                }
                tile[r * NR + l] = f32::from_bits(acc);
            }
        }
    }

    /// One row `a` (`k`) times `panels.len() / (k * NR)` consecutive packed
    /// panels, into `row` (panel `q`'s columns at `q * NR`). On AVX-512 the
    /// panels are read side by side, several streams of memory at once.
    pub(super) fn row(isa: Isa, a: &[f32], panels: &[f32], k: usize, row: &mut [f32]) {
        let count = row.len() / NR;
        assert!(a.len() == k && panels.len() == count * k * NR);
        #[cfg(target_arch = "x86_64")]
        if count == ROW_PANELS && isa == Isa::Avx512 {
            // SAFETY: the CPU has AVX-512F (`isa`).
            unsafe { x86::row_avx512::<ROW_PANELS>(a, panels, k, row) };
            return;
        }
        for (q, out) in row.chunks_exact_mut(NR).enumerate() {
            let mut one = [0f32; MR * NR];
            let panel = &panels[q * k * NR..(q + 1) * k * NR];
            tile(isa, (a, 1), 1, (panel, NR), k, &mut one, &[]);
            out.copy_from_slice(&one[..NR]);
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        use super::NR;

        /// Floats in a cache line.
        const LINE: usize = 16;

        macro_rules! tile_kernel {
            ($name:ident, $feature:literal, $lanes:literal, $vec:ty, $zero:ident, $set1:ident, $load:ident, $fma:ident, $store:ident) => {
                /// `R` rows of `A` (row `r`'s element `kk` at `a[kk *
                /// step + r]`) times columns `c0..c0 + 2 * lanes` of the
                /// panel (rows `ldb` apart), into `tile` (row `r` at `r *
                /// NR`), prefetching `ahead` meanwhile.
                #[target_feature(enable = $feature)]
                pub(super) fn $name<const R: usize>(
                    (a, step): (&[f32], usize),
                    (panel, ldb): (&[f32], usize),
                    k: usize,
                    c0: usize,
                    tile: &mut [f32],
                    ahead: &[f32],
                ) {
                    assert!(
                        k > 0
                            && (R == 1 || step >= R)
                            && a.len() >= (k - 1) * step + R
                            && panel.len() >= (k - 1) * ldb + NR
                            && c0 + 2 * $lanes <= NR
                            && tile.len() >= (R - 1) * NR + c0 + 2 * $lanes
                    );
                    let (mut ap, mut bp) = (a.as_ptr(), panel.as_ptr().wrapping_add(c0));
                    // `ahead`'s lines, `per_step` of them in each of the
                    // first steps.
                    let lines = ahead.len().div_ceil(LINE);
                    let per_step = lines.div_ceil(k);
                    let steps = lines.div_ceil(per_step.max(1));
                    let mut fetch = ahead.as_ptr();
                    let mut acc: [[$vec; 2]; R] = [[$zero(); 2]; R];
                    for kk in 0..k {
                        // SAFETY: step `kk` reads `B` at `kk * ldb + c0 ..
                        // + 2 * lanes <= (k - 1) * ldb + NR` and `A` at
                        // `kk * step .. + R <= a.len()`, checked above; the
                        // pointers pass the end only after the last step,
                        // and are never read there.
                        unsafe {
                            let (b0, b1) = ($load(bp), $load(bp.add($lanes)));
                            // Hints only (they never fault).
                            if kk < steps {
                                for l in 0..per_step {
                                    _mm_prefetch::<_MM_HINT_T1>(
                                        fetch.wrapping_add(l * LINE).cast(),
                                    );
                                }
                                fetch = fetch.wrapping_add(per_step * LINE);
                            }
                            for (r, acc) in acc.iter_mut().enumerate() {
                                let x = $set1(*ap.add(r));
                                acc[0] = $fma(x, b0, acc[0]);
                                acc[1] = $fma(x, b1, acc[1]);
                            }
                            ap = ap.wrapping_add(step);
                            bp = bp.wrapping_add(ldb);
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

        /// One row `a` (`k`) times `P` consecutive packed panels (`k * NR`
        /// each), into `row` (panel `q` at `q * NR`): `2 * P` accumulator
        /// chains, each over `k` in order.
        /// `k` steps a panel's lines are prefetched ahead of their use.
        const AHEAD: usize = 16;

        #[target_feature(enable = "avx512f")]
        pub(super) fn row_avx512<const P: usize>(
            a: &[f32],
            panels: &[f32],
            k: usize,
            row: &mut [f32],
        ) {
            assert!(k > 0 && a.len() == k && panels.len() == P * k * NR && row.len() == P * NR);
            let (ap, bp) = (a.as_ptr(), panels.as_ptr());
            let mut acc = [[_mm512_setzero_ps(); 2]; P];
            for kk in 0..k {
                // SAFETY: `kk < k = a.len()`.
                let x = _mm512_set1_ps(unsafe { *ap.add(kk) });
                for (q, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: `(q * k + kk) * NR + NR <= P * k * NR`.
                    let (b0, b1) = unsafe {
                        let p = bp.add((q * k + kk) * NR);
                        (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
                    };
                    // A hint only (it never faults): the lines `AHEAD`
                    // steps on, so that memory has them in flight.
                    let ahead = bp.wrapping_add((q * k + kk + AHEAD) * NR).cast::<i8>();
                    _mm_prefetch::<_MM_HINT_T0>(ahead);
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                    acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
                }
            }
            for (q, acc) in acc.iter().enumerate() {
                // SAFETY: `q * NR + NR <= P * NR = row.len()`.
                unsafe {
                    let p = row.as_mut_ptr().add(q * NR);
                    _mm512_storeu_ps(p, acc[0]);
                    _mm512_storeu_ps(p.add(16), acc[1]);
                }
            }
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

    /// A row-major, a transposed and a strided matrix pack as the element
    /// rule packs them, bit for bit.
    #[test]
    fn strided_matrices_pack_as_their_elements() {
        for (k, n) in [(1, 1), (5, 31), (17, 33), (64, 70)] {
            let src = values(k + n, 3 * k * n);
            let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for strides in [(n, 1), (1, k), (2 * n, 2), (3, 3 * k)] {
                let (rs, cs) = strides;
                let want = pack_panels(k, n, |kk, j| src[kk * rs + j * cs]);
                let got = pack_strided(k, n, &src, strides);
                assert_eq!(bits(got), bits(want), "k {k}, n {n}, strides {strides:?}");
            }
        }
    }

    /// Every shape of tile and remainder, on every instruction set this
    /// CPU has.
    #[test]
    fn every_tile_shape_matches_the_canonical_chain() {
        for &isa in Isa::detect().and_below() {
            for (m, n, k) in [
                (1, 1, 1),
                (1, 70, 33),
                (1, 300, 40),
                (1, 1000, 9),
                (7, 31, 5),
                (8, 32, 64),
                (9, 33, 17),
                (12, 32, 7),
                (16, 40, 9),
                (17, 65, 3),
                (23, 40, 6),
                (64, 96, 40),
                (70, 300, 11),
                (3, 5, 0),
            ] {
                check(isa, (m, n, k));
            }
        }
    }

    fn check(isa: Isa, (m, n, k): (usize, usize, usize)) {
        let (a, b) = (values(m, m * k), values(n, k * n));
        let mut out = vec![1u32; m * n];
        let packed = pack_panels(k, n, |kk, j| b[kk * n + j]);
        let plain = Epilogue::default();
        matmul_on(
            isa,
            Lhs::Rows(&a),
            Rhs::Packed(&packed),
            (m, n, k),
            plain,
            &mut out,
        );
        let want = reference(&a, &b, m, n, k);
        assert_eq!(out, want, "{isa:?} {m}x{n}x{k}");
        // A packed beforehand, into a buffer holding stale values.
        let mut tiles = vec![f32::NAN; tiles_len(m, k) + 5];
        pack_tiles(&a, m, k, &mut tiles);
        out.fill(1);
        let lhs = Lhs::Tiles(&tiles);
        matmul_on(isa, lhs, Rhs::Packed(&packed), (m, n, k), plain, &mut out);
        assert_eq!(out, want, "{isa:?} {m}x{n}x{k}, A as tiles");
        // A block of a wider output: its rows `n + 3` apart, the columns
        // between them untouched.
        let ld = n + 3;
        let mut wide = vec![7u32; m.max(1) * ld];
        let epilogue = Epilogue {
            stride: Some(ld),
            ..plain
        };
        matmul_on(
            isa,
            Lhs::Rows(&a),
            Rhs::Packed(&packed),
            (m, n, k),
            epilogue,
            &mut wide,
        );
        for (idx, &y) in wide.iter().enumerate() {
            let (i, j) = (idx / ld, idx % ld);
            let v = if j < n && i < m { want[i * n + j] } else { 7 };
            assert_eq!(y, v, "{isa:?} {m}x{n}x{k} in rows {ld} apart, ({i}, {j})");
        }
        // B read as it lies, its last partial panel packed.
        let full = n / NR * NR;
        let tail = pack_panels(k, n - full, |kk, j| b[kk * n + full + j]);
        out.fill(1);
        let rhs = Rhs::Rows {
            data: &b,
            tail: &tail,
        };
        matmul_on(isa, Lhs::Rows(&a), rhs, (m, n, k), plain, &mut out);
        assert_eq!(out, want, "{isa:?} {m}x{n}x{k}, B as rows");
        // Transposed, with a bias per output row (a column of the
        // product) and the Relu.
        let bias: Vec<u32> = values(7, n).iter().map(|v| v.to_bits()).collect();
        let epilogue = Epilogue {
            bias: Some(&bias),
            relu: true,
            transposed: true,
            stride: None,
        };
        matmul_on(
            isa,
            Lhs::Rows(&a),
            Rhs::Packed(&packed),
            (m, n, k),
            epilogue,
            &mut out,
        );
        for (idx, &y) in out.iter().enumerate() {
            let (j, i) = (idx / m.max(1), idx % m.max(1));
            let v = semantics::f32_max(semantics::f32_add(want[i * n + j], bias[j]), 0);
            assert_eq!(y, v, "{isa:?} {m}x{n}x{k} transposed, element ({i}, {j})");
        }
    }
}
