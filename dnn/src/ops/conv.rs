//! 2-D convolution (NCHW, grouped, strided, padded, dilated).
//!
//! Canonical semantics: the input is first copied into a zero-padded scratch
//! buffer `Xp` (when any pad is non-zero). Then for every output
//! `(n, oc, oh, ow)` in row-major order, with `g = oc / (OC / G)`:
//!
//! ```text
//! acc = +0.0
//! for ic in 0..C/G, kh in 0..KH, kw in 0..KW (kw fastest):
//!     acc = fma(Xp[n, g*C/G + ic, oh*sh + kh*dh, ow*sw + kw*dw], W[oc, ic, kh, kw], acc)
//! if B present: acc = acc + B[oc]
//! if relu:       acc = max(acc, +0)
//! Y[n, oc, oh, ow] = acc
//! ```
//!
//! The fused Relu is the Relu op's own `maximum(acc, +0)`, so a Conv with
//! it writes what a Conv and a Relu after it would, without the tensor in
//! between.
//!
//! Padding taps take part as `+0.0` products. The native engine reaches the
//! same order three ways (`Layout`): a GEMM per image and group over
//! im2col (written straight into the GEMM kernel's packed panels, or for a
//! 1x1 window at stride 1 the input as it lies), that GEMM transposed for
//! small maps, or a sliding vector window for depthwise convolutions.

use std::cell::Cell;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::builder::ZERO;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{CONV_TILE, Plan, Site, pad_copy};
#[cfg(feature = "gpu")]
use crate::gpu::params::ConvParams;
use crate::kernels::finish::finish;
use crate::kernels::matmul::{
    Epilogue, Lhs, NR, PAR_WORDS, Rhs, as_floats, grown, matmul_packed, pack_panels, pack_tiles,
    packed_len, tile_rows, tiles_len,
};
use crate::kernels::slide::{self, Fold};
use crate::ops::window::Window;
use crate::ops::{Io, NativeIo, ShapeError};

/// Conv attributes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// The window (kernel size from the weights' shape).
    pub window: Window,
    /// Number of groups.
    pub group: usize,
    /// A Relu applied to each output, fused.
    pub relu: bool,
}

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oc: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    hp: usize,
    wp: usize,
    g: usize,
}

impl Conv {
    fn geometry(&self, inputs: &[&[usize]]) -> Result<Geometry, ShapeError> {
        let (x, wt) = match inputs {
            [x, w] | [x, w, _] => (*x, *w),
            _ => {
                return Err(ShapeError::Arity {
                    expected: "2 or 3",
                    got: inputs.len(),
                });
            }
        };
        let ([n, c, h, w], [oc, cg, kh, kw]) = (
            <[usize; 4]>::try_from(x).map_err(|_| ShapeError::operand("X", "NCHW", x))?,
            <[usize; 4]>::try_from(wt)
                .map_err(|_| ShapeError::operand("W", "[OC, C/G, KH, KW]", wt))?,
        );
        let g = self.group;
        if g == 0 || c % g != 0 || oc % g != 0 || cg != c / g {
            return Err(ShapeError::Mismatch(format!(
                "group {g} does not fit X {x:?} and W {wt:?}"
            )));
        }
        if self.window.kernel != [kh, kw] {
            return Err(ShapeError::Attributes(format!(
                "kernel_shape {:?} differs from W {wt:?}",
                self.window.kernel
            )));
        }
        if let Some(b) = inputs.get(2)
            && *b != [oc]
        {
            return Err(ShapeError::Operand {
                operand: "B",
                expected: format!("[{oc}]"),
                shape: b.to_vec(),
            });
        }
        let (oh, ow) = self.window.output(h, w)?;
        let (hp, wp) = self.window.padded(h, w);
        Ok(Geometry {
            n,
            c,
            h,
            w,
            oc,
            kh,
            kw,
            oh,
            ow,
            hp,
            wp,
            g,
        })
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let g = self.geometry(inputs)?;
        Ok(vec![g.n, g.oc, g.oh, g.ow])
    }

    pub(crate) fn scratch(&self, inputs: &[&[usize]]) -> Vec<usize> {
        match self.geometry(inputs) {
            Ok(g) if self.window.is_padded() => vec![g.n * g.c * g.hp * g.wp],
            _ => Vec::new(),
        }
    }

    fn shapes(io: &Io) -> Vec<&[usize]> {
        io.inputs.iter().map(|o| o.shape.as_slice()).collect()
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let d = self.geometry(&Self::shapes(io)).expect("validated model");
        let win = &self.window;
        let x = match io.scratch.first() {
            Some(s) => {
                win.emit_pad(e, (io.inputs[0].addr, s.addr), [d.n * d.c, d.h, d.w], None);
                s.addr
            }
            None => io.inputs[0].addr,
        };
        let (cg, ocg) = (d.c / d.g, d.oc / d.g);
        let k = cg * d.kh * d.kw;
        let plane = (4 * d.hp * d.wp) as i64;
        let row = (4 * d.wp) as i64;
        let bias = io.inputs.get(2).map(|b| b.addr);
        let relu = self.relu;
        let mut bases = vec![io.output.addr, x, io.inputs[1].addr];
        let mut strides = vec![
            vec![
                (4 * d.oc * d.oh * d.ow) as i64,
                (4 * ocg * d.oh * d.ow) as i64,
                (4 * d.oh * d.ow) as i64,
                (4 * d.ow) as i64,
                4,
            ],
            vec![
                plane * d.c as i64,
                plane * cg as i64,
                0,
                row * win.strides[0] as i64,
                4 * win.strides[1] as i64,
            ],
            vec![0, (4 * ocg * k) as i64, (4 * k) as i64, 0, 0],
        ];
        if let Some(b) = bias {
            bases.push(b);
            strides.push(vec![0, (4 * ocg) as i64, 4, 0, 0]);
        }
        e.nd_loop(&[d.n, d.g, ocg, d.oh, d.ow], &bases, &strides, |e, p| {
            let acc = e.reg();
            e.b.mv(acc, 0);
            let inner = e.copies(&p[1..3]);
            let (xv, wv) = (e.reg(), e.reg());
            let inner_strides = vec![
                vec![plane, row * win.dilations[0] as i64],
                vec![(4 * d.kh * d.kw) as i64, (4 * d.kw) as i64],
            ];
            e.nd_loop_from(&[cg, d.kh], &inner, &inner_strides, |e, q| {
                for kw in 0..d.kw {
                    e.b.load(Op::Lw, xv, q[0], (4 * kw * win.dilations[1]) as i32);
                    e.b.load(Op::Lw, wv, q[1], (4 * kw) as i32);
                    e.b.float(Op::Fmadd, acc, xv, wv);
                }
            });
            if bias.is_some() {
                e.b.load(Op::Lw, xv, p[3], 0);
                e.b.float(Op::Fadd, acc, acc, xv);
            }
            if relu {
                e.b.float(Op::Fmax, acc, acc, ZERO);
            }
            e.b.store(Op::Sw, acc, p[0], 0);
            for r in inner.into_iter().chain([xv, wv, acc]) {
                e.free(r);
            }
        });
    }

    pub(crate) fn native(&self, io: &Io, mut data: NativeIo<'_>) {
        let d = self.geometry(&Self::shapes(io)).expect("validated model");
        let win = &self.window;
        let x: &[u32] = match data.scratch.first_mut() {
            Some(s) => {
                win.native_pad(data.inputs[0], s, [d.n * d.c, d.h, d.w], None);
                s
            }
            None => data.inputs[0],
        };
        let (cg, ocg) = (d.c / d.g, d.oc / d.g);
        let k = cg * d.kh * d.kw;
        let p = d.oh * d.ow;
        if data.output.is_empty() {
            return;
        }
        // im2col as offsets into one group's padded planes: tap `r` of the
        // window at output position `j` reads `taps[r] + starts[j]`.
        let plane = d.hp * d.wp;
        let taps: Vec<usize> = (0..cg)
            .flat_map(|ic| {
                (0..d.kh).flat_map(move |kh| {
                    (0..d.kw).map(move |kw| {
                        ic * plane + kh * win.dilations[0] * d.wp + kw * win.dilations[1]
                    })
                })
            })
            .collect();
        let bias = data.inputs.get(2).copied();
        let layout = d.layout();
        if layout == Layout::Depthwise {
            // Each output plane from one input plane: a row at a time, the
            // taps in canonical order (`taps` is one plane's window).
            let kernel = d.kh * d.kw;
            data.output
                .par_chunks_mut(p)
                .with_min_len(PAR_WORDS.div_ceil(p * kernel))
                .enumerate()
                .for_each(|(no, out)| {
                    let (n, oc) = (no / d.oc, no % d.oc);
                    let xp = &x[(n * d.c + oc / ocg) * plane..][..plane];
                    let weights = &data.inputs[1][oc * kernel..(oc + 1) * kernel];
                    for (y, row) in out.chunks_exact_mut(d.ow).enumerate() {
                        let src = &xp[y * win.strides[0] * d.wp..];
                        slide::row(row, src, &taps, win.strides[1], Fold::Dot { weights });
                        finish(row, bias.map(|b| b[oc]), self.relu);
                    }
                });
            return;
        }
        let prepared;
        let weights: &[f32] = match data.prepared {
            Some(w) => w,
            None => {
                prepared = prepare_weights(&d, layout, data.inputs[1]);
                &prepared
            }
        };
        let starts: Vec<usize> = (0..d.oh)
            .flat_map(|oh| {
                (0..d.ow).map(move |ow| oh * win.strides[0] * d.wp + ow * win.strides[1])
            })
            .collect();
        // A 1x1 window at stride 1 without pads: im2col would copy the input,
        // so the GEMM reads it as it lies.
        let pointwise = d.kh == 1 && d.kw == 1 && win.strides == [1, 1] && !win.is_padded();
        let runs = (layout == Layout::Channels && !pointwise).then(|| Runs::of(&starts));
        // Each (image, group) owns a contiguous run of output channels.
        data.output
            .par_chunks_mut(ocg * p)
            .enumerate()
            .for_each(|(ng, out)| {
                let (n, g) = (ng / d.g, ng % d.g);
                let xg = &x[(n * d.c + g * cg) * plane..][..cg * plane];
                let epilogue = Epilogue {
                    bias: bias.map(|b| &b[g * ocg..(g + 1) * ocg]),
                    relu: self.relu,
                    transposed: layout == Layout::Positions,
                    stride: None,
                };
                let mut col = COLUMNS.take();
                if layout == Layout::Positions {
                    im2col_tiles(&mut col, xg, &taps, &starts);
                    let len = packed_len(k, ocg);
                    let w = &weights[g * len..(g + 1) * len];
                    matmul_packed(Lhs::Tiles(&col), Rhs::Packed(w), (p, ocg, k), epilogue, out);
                } else {
                    let len = tiles_len(ocg, k);
                    let w = Lhs::Tiles(&weights[g * len..(g + 1) * len]);
                    match &runs {
                        // im2col a block of columns at a time, multiplied
                        // while it is in the second-level cache: a large
                        // map's whole im2col (VGG's first layers: 115 MB)
                        // would go out to memory and back.
                        Some(runs) => {
                            let block = (IM2COL_WORDS / (k * NR)).max(1) * NR;
                            for j0 in (0..p).step_by(block) {
                                let cols = block.min(p - j0);
                                let panels = &runs.0[j0 / NR..(j0 + cols).div_ceil(NR)];
                                pack_im2col(&mut col, xg, &taps, panels, cols);
                                let epilogue = Epilogue {
                                    stride: Some(p),
                                    ..epilogue
                                };
                                let (rhs, dims) = (Rhs::Packed(&col), (ocg, cols, k));
                                matmul_packed(w, rhs, dims, epilogue, &mut out[j0..]);
                            }
                        }
                        None => {
                            // Only the last panel, if narrower, is packed.
                            let (full, xs) = (p / NR * NR, as_floats(xg));
                            col.clear();
                            if full < p {
                                col.extend(pack_panels(k, p - full, |r, j| xs[r * p + full + j]));
                            }
                            let rhs = Rhs::Rows {
                                data: xs,
                                tail: &col,
                            };
                            matmul_packed(w, rhs, (ocg, p, k), epilogue, out);
                        }
                    }
                }
                COLUMNS.set(col);
            });
    }

    /// The weights as the native kernel's GEMM reads them, made once per
    /// model.
    pub(crate) fn prepare(&self, io: &Io, weights: &[Option<&[u32]>]) -> Option<Vec<f32>> {
        let d = self.geometry(&Self::shapes(io)).ok()?;
        let w = weights.get(1).copied().flatten()?;
        let layout = d.layout();
        (layout != Layout::Depthwise).then(|| prepare_weights(&d, layout, w))
    }
}

/// How the native engine computes a convolution: as a GEMM per group in
/// one of two layouts, or directly when each output reads one input
/// channel. All give every output the canonical chain: `fma` is symmetric
/// in its factors, and each keeps the taps' order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// One input channel per group (depthwise): a sliding window over each
    /// plane, sixteen outputs a vector, where a GEMM of one row and `KH *
    /// KW` terms would spend its time packing.
    Depthwise,
    /// `W (OC/G x K) · im2col (K x P)`: the GEMM's rows are channels, its
    /// 32-column panels output positions.
    Channels,
    /// `im2col^T (P x K) · W^T (K x OC/G)`, stored transposed: for maps that
    /// fill their last panel poorly (7x7 fills 49 of 64 columns) where the
    /// channels fill whole panels.
    Positions,
}

impl Geometry {
    fn layout(&self) -> Layout {
        let (p, ocg) = (self.oh * self.ow, self.oc / self.g);
        let idle = p.div_ceil(NR) * NR - p;
        if self.c == self.g {
            Layout::Depthwise
        } else if ocg.is_multiple_of(NR) && idle * 16 > p {
            Layout::Positions
        } else {
            Layout::Channels
        }
    }
}

/// The weights `[OC, C/G, KH, KW]` as floats for a GEMM layout: each
/// group's `W` packed into tiles of rows for [`Layout::Channels`], or its
/// `W^T` into panels for [`Layout::Positions`].
fn prepare_weights(d: &Geometry, layout: Layout, w: &[u32]) -> Vec<f32> {
    let (ocg, k) = (d.oc / d.g, d.c / d.g * d.kh * d.kw);
    match layout {
        // Depthwise reads the weights' bits directly; never prepared.
        Layout::Depthwise => Vec::new(),
        Layout::Channels => {
            let mut out = Vec::with_capacity(d.g * tiles_len(ocg, k));
            let mut tiles = Vec::new();
            for group in as_floats(w).chunks_exact(ocg * k) {
                pack_tiles(group, ocg, k, &mut tiles);
                out.extend_from_slice(&tiles);
            }
            out
        }
        Layout::Positions => (0..d.g)
            .flat_map(|g| pack_panels(k, ocg, |r, o| f32::from_bits(w[(g * ocg + o) * k + r])))
            .collect(),
    }
}

/// A run of output positions in one GEMM panel whose input offsets step
/// evenly (an output row): `first + i * step` for `i < len`, landing in
/// columns `at..at + len`.
#[derive(Clone, Copy, Debug)]
struct Run {
    at: usize,
    len: usize,
    first: usize,
    step: usize,
}

/// The runs of each GEMM panel, so that im2col copies slices (stride 1) or
/// strided rows instead of gathering one element at a time.
struct Runs(Vec<Vec<Run>>);

impl Runs {
    fn of(starts: &[usize]) -> Runs {
        let panels = starts.chunks(NR).map(|panel| {
            let mut runs: Vec<Run> = Vec::new();
            for (l, &s) in panel.iter().enumerate() {
                match runs.last_mut() {
                    Some(run) if run.len == 1 && s > run.first => {
                        (run.len, run.step) = (2, s - run.first);
                    }
                    Some(run) if s == run.first + run.len * run.step => run.len += 1,
                    _ => runs.push(Run {
                        at: l,
                        len: 1,
                        first: s,
                        step: 1,
                    }),
                }
            }
            runs
        });
        Runs(panels.collect())
    }
}

/// Words of im2col packed and multiplied at a time: 1 MiB, half this
/// machine's second-level cache.
const IM2COL_WORDS: usize = 1 << 18;

thread_local! {
    /// The im2col panels of the last convolution task on this thread, kept
    /// for the next one: a task takes them, so a nested task on the same
    /// thread starts its own.
    static COLUMNS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// im2col of `p` columns of one group's padded planes `xg` (those of the
/// panels whose runs `runs` holds) into `out`, as the GEMM's packed panels
/// (the layout of [`crate::kernels::matmul::pack_panels`]) at its start:
/// element `(r, j)` is `xg[taps[r] + starts[j]]`, columns past `p` zero.
/// Every element is written, so `out` may hold anything before.
fn pack_im2col(out: &mut Vec<f32>, xg: &[u32], taps: &[usize], runs: &[Vec<Run>], p: usize) {
    let k = taps.len();
    let out = grown(out, packed_len(k, p));
    if k == 0 {
        return;
    }
    out.par_chunks_mut(k * NR)
        .with_min_len(PAR_WORDS.div_ceil(k * NR))
        .zip(runs)
        .for_each(|(panel, runs)| {
            let used = runs.last().map_or(0, |r| r.at + r.len);
            for (row, &tap) in panel.chunks_exact_mut(NR).zip(taps) {
                for run in runs {
                    let ys = &mut row[run.at..run.at + run.len];
                    let src = &xg[tap + run.first..];
                    if run.step == 1 {
                        for (y, &x) in ys.iter_mut().zip(src) {
                            *y = f32::from_bits(x);
                        }
                    } else {
                        for (y, &x) in ys.iter_mut().zip(src.iter().step_by(run.step)) {
                            *y = f32::from_bits(x);
                        }
                    }
                }
                row[used..].fill(0.0);
            }
        });
}

/// im2col transposed, for [`Layout::Positions`], as the GEMM's tiles of
/// rows (the layout of [`crate::kernels::matmul::pack_tiles`]): row `j`
/// holds `xg[taps[r] + starts[j]]` for every tap `r`, rows past the last
/// zero. Every element is written, so `out` may hold anything before.
fn im2col_tiles(out: &mut Vec<f32>, xg: &[u32], taps: &[usize], starts: &[usize]) {
    let k = taps.len();
    let out = grown(out, tiles_len(starts.len(), k));
    if k == 0 {
        return;
    }
    let h = tile_rows(starts.len());
    out.par_chunks_mut(k * h)
        .with_min_len(PAR_WORDS.div_ceil(k * h))
        .zip(starts.par_chunks(h))
        .for_each(|(tile, starts)| {
            for (step, &tap) in tile.chunks_exact_mut(h).zip(taps) {
                for (y, &start) in step.iter_mut().zip(starts) {
                    *y = f32::from_bits(xg[start + tap]);
                }
                step[starts.len()..].fill(0.0);
            }
        });
}

#[cfg(feature = "gpu")]
impl Conv {
    /// The OpenCL launches (`conv.cl`): the padded copy if the window pads,
    /// then the tiled convolution.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let g = self.geometry(&s.shapes()).expect("validated model");
        let mut plans = Vec::new();
        let xp = match s.scratch() {
            Some(at) => {
                let planes = [g.n * g.c, g.h, g.w];
                plans.extend(pad_copy(&self.window, s.input(0), at, planes, None));
                [0, at]
            }
            None => s.input(0),
        };
        let [sh, sw] = self.window.strides;
        let [dh, dw] = self.window.dilations;
        let p = ConvParams {
            x: xp,
            w: s.input(1),
            b: s.input(2),
            has_b: s.inputs() == 3,
            y: s.y(),
            count: s.count(),
            c: g.c,
            hp: g.hp,
            wp: g.wp,
            oc: g.oc,
            g: g.g,
            kh: g.kh,
            kw: g.kw,
            oh: g.oh,
            ow: g.ow,
            sh,
            sw,
            dh,
            dw,
            relu: self.relu,
        };
        let global = vec![g.oh * g.ow, g.oc / g.g, g.n * g.g];
        let local = vec![CONV_TILE, CONV_TILE, 1];
        plans.push(Plan::new("conv", p, global, Some(local)));
        plans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Compiled;
    use crate::ir::ModelBuilder;
    use crate::ops::OpKind;

    fn values(seed: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5)
            .collect()
    }

    /// Runs one convolution on both engines, bias and Relu included.
    fn check(window: Window, (n, c, h, w, oc, g): (usize, usize, usize, usize, usize, usize)) {
        let [kh, kw] = window.kernel;
        let mut b = ModelBuilder::new("conv", &[n, c, h, w]);
        let wt = b
            .weight("w", &[oc, c / g, kh, kw], values(1, oc * c / g * kh * kw))
            .expect("sized");
        let bias = b.weight("b", &[oc], values(2, oc)).expect("sized");
        let conv = Conv {
            window,
            group: g,
            relu: true,
        };
        let y = b
            .node("conv", OpKind::Conv(conv), &[b.input(), wt, bias])
            .expect("fits");
        let model = Compiled::new(b.finish(y)).expect("compiles");
        let x = values(3, n * c * h * w);
        let vm = model.run_vm(&x).expect("runs").output;
        let native = model.run_native(&x).expect("runs").output();
        assert!(
            vm.iter()
                .map(|v| v.to_bits())
                .eq(native.iter().map(|v| v.to_bits()))
        );
    }

    /// Enough output channels and positions for whole register tiles and
    /// leftovers, with groups, pads, strides (rows of inputs two apart)
    /// and a bias: the channels layout.
    #[test]
    fn native_matches_the_vm_on_whole_tiles() {
        let window = Window {
            kernel: [3, 3],
            strides: [1, 2],
            pads: [1, 1, 1, 0],
            dilations: [1, 1],
        };
        check(window, (2, 6, 9, 14, 20, 2));
    }

    /// A map whose im2col is packed and multiplied a block of columns at
    /// a time: `k` = 576 makes blocks of 448 columns, and 23x25 outputs
    /// end in a partial block, itself ending in a partial panel.
    #[test]
    fn native_matches_the_vm_over_im2col_blocks() {
        let window = Window {
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
        };
        check(window, (1, 64, 23, 25, 13, 1));
    }

    /// A 7x7 map with 32 channels a group: the positions layout.
    #[test]
    fn native_matches_the_vm_on_small_maps() {
        let window = Window {
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
        };
        let shape = (2, 4, 7, 7, 64, 2);
        let geometry = Conv {
            window: window.clone(),
            group: 2,
            relu: false,
        }
        .geometry(&[&[2, 4, 7, 7], &[64, 2, 3, 3]])
        .expect("fits");
        assert_eq!(geometry.layout(), Layout::Positions);
        check(window, shape);
    }

    /// One input channel per group, two outputs per channel, over rows wide
    /// enough for whole vectors and a masked tail, at strides 1, 2 and 3
    /// (the three ways the vector path reads a row): the depthwise layout.
    #[test]
    fn native_matches_the_vm_depthwise() {
        for strides in [[1, 1], [2, 2], [1, 3]] {
            let window = Window {
                kernel: [3, 3],
                strides,
                pads: [1, 1, 1, 1],
                dilations: [1, 2],
            };
            check(window, (2, 6, 5, 37, 12, 6));
        }
    }

    /// 1x1 windows at stride 1 without pads, whose input the GEMM reads as
    /// it lies: maps of whole panels (64 positions) and with a packed last
    /// panel (45), grouped.
    #[test]
    fn native_matches_the_vm_pointwise() {
        let window = Window {
            kernel: [1, 1],
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
        };
        for (h, w) in [(8, 8), (5, 9)] {
            check(window.clone(), (2, 6, h, w, 20, 2));
        }
    }
}
