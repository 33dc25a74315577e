//! Pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (NCHW).
//!
//! Canonical semantics, for every output `(n, c, oh, ow)` in row-major order,
//! over the padded input `Xp` (pads hold `-inf` for max, `+0` for average):
//!
//! ```text
//! max:     acc = -inf; for kh, kw (kw fastest): acc = maximum(acc, Xp[..])
//! average: acc = +0;   for kh, kw (kw fastest): acc = acc + Xp[..]
//!          acc = acc / divisor
//! ```
//!
//! The divisor is `KH*KW` when pads count (or there are none); otherwise the
//! number of non-pad taps at that position, read from a constant table
//! `[OH, OW]` that the model supplies as a second input
//! ([`Pool::divisors`]). Global pools are windows the size of the input.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::Emitter;
use crate::ops::gemm::PAR_WORDS;
use crate::ops::window::Window;
use crate::ops::{Io, NativeIo};

const NEG_INF: u32 = 0xFF80_0000;

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the window.
    Avg {
        /// Divide by the full window size even where it covers pads.
        count_include_pad: bool,
    },
    /// Mean over each whole plane.
    GlobalAvg,
    /// Maximum over each whole plane.
    GlobalMax,
}

/// A pooling op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Which pooling.
    pub kind: PoolKind,
    /// The window; ignored by global pools.
    pub window: Window,
}

impl Pool {
    fn is_max(&self) -> bool {
        matches!(self.kind, PoolKind::Max | PoolKind::GlobalMax)
    }

    /// The window actually slid over an `h x w` plane.
    fn effective(&self, h: usize, w: usize) -> Window {
        match self.kind {
            PoolKind::GlobalAvg | PoolKind::GlobalMax => Window::new([h, w]),
            _ => self.window.clone(),
        }
    }

    /// `true` if the op takes a divisor table input.
    pub fn needs_divisors(&self) -> bool {
        matches!(
            self.kind,
            PoolKind::Avg {
                count_include_pad: false
            }
        ) && self.window.is_padded()
    }

    /// The divisor table for an `h x w` input: the number of non-pad taps at
    /// each output position.
    ///
    /// # Errors
    ///
    /// A message if the window does not fit.
    pub fn divisors(&self, h: usize, w: usize) -> Result<Vec<f32>, String> {
        let win = &self.window;
        let (oh, ow) = win.output(h, w)?;
        let taps = |o: usize, s: usize, k: usize, d: usize, pad: usize, len: usize| {
            (0..k)
                .filter(|&i| (o * s + i * d).checked_sub(pad).is_some_and(|p| p < len))
                .count()
        };
        let mut out = Vec::with_capacity(oh * ow);
        for y in 0..oh {
            let ty = taps(
                y,
                win.strides[0],
                win.kernel[0],
                win.dilations[0],
                win.pads[0],
                h,
            );
            for x in 0..ow {
                let tx = taps(
                    x,
                    win.strides[1],
                    win.kernel[1],
                    win.dilations[1],
                    win.pads[1],
                    w,
                );
                out.push((ty * tx) as f32);
            }
        }
        Ok(out)
    }

    fn geometry(&self, inputs: &[&[usize]]) -> Result<([usize; 4], usize, usize), String> {
        let x = inputs.first().ok_or("takes an input")?;
        let [n, c, h, w] =
            <[usize; 4]>::try_from(*x).map_err(|_| format!("X must be NCHW, got {x:?}"))?;
        let (oh, ow) = self.effective(h, w).output(h, w)?;
        let want = if self.needs_divisors() { 2 } else { 1 };
        if inputs.len() != want {
            return Err(format!("takes {want} inputs, got {}", inputs.len()));
        }
        if want == 2 && inputs[1] != [oh, ow] {
            return Err(format!(
                "divisor table must be [{oh}, {ow}], got {:?}",
                inputs[1]
            ));
        }
        Ok(([n, c, h, w], oh, ow))
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let ([n, c, ..], oh, ow) = self.geometry(inputs)?;
        Ok(vec![n, c, oh, ow])
    }

    pub(crate) fn scratch(&self, inputs: &[&[usize]]) -> Vec<usize> {
        match self.geometry(inputs) {
            Ok(([n, c, h, w], ..)) if self.effective(h, w).is_padded() => {
                let (hp, wp) = self.window.padded(h, w);
                vec![n * c * hp * wp]
            }
            _ => Vec::new(),
        }
    }

    fn fill(&self) -> Option<u32> {
        self.is_max().then_some(NEG_INF)
    }

    fn divisor(&self, h: usize, w: usize) -> u32 {
        let win = self.effective(h, w);
        ((win.kernel[0] * win.kernel[1]) as f32).to_bits()
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let shapes: Vec<&[usize]> = io.inputs.iter().map(|o| o.shape.as_slice()).collect();
        let ([n, c, h, w], oh, ow) = self.geometry(&shapes).expect("validated model");
        let win = self.effective(h, w);
        let (hp, wp) = win.padded(h, w);
        let x = match io.scratch.first() {
            Some(s) => {
                win.emit_pad(e, (io.inputs[0].addr, s.addr), [n * c, h, w], self.fill());
                s.addr
            }
            None => io.inputs[0].addr,
        };
        let (plane, row) = ((4 * hp * wp) as i64, (4 * wp) as i64);
        let mut bases = vec![io.output.addr, x];
        let mut strides = vec![
            vec![(4 * oh * ow) as i64, (4 * ow) as i64, 4],
            vec![
                plane,
                row * win.strides[0] as i64,
                4 * win.strides[1] as i64,
            ],
        ];
        if let Some(d) = io.inputs.get(1) {
            bases.push(d.addr);
            strides.push(vec![0, (4 * ow) as i64, 4]);
        }
        let is_max = self.is_max();
        let divisor = (!is_max && io.inputs.len() == 1).then(|| e.constant(self.divisor(h, w)));
        e.nd_loop(&[n * c, oh, ow], &bases, &strides, |e, p| {
            let acc = e.reg();
            if is_max {
                e.b.li(acc, NEG_INF);
            } else {
                e.b.mv(acc, 0);
            }
            let inner = e.copies(&p[1..2]);
            let v = e.reg();
            e.nd_loop_from(
                &[win.kernel[0]],
                &inner,
                &[vec![row * win.dilations[0] as i64]],
                |e, q| {
                    for kw in 0..win.kernel[1] {
                        e.b.load(Op::Lw, v, q[0], (4 * kw * win.dilations[1]) as i32);
                        e.b.float(if is_max { Op::Fmax } else { Op::Fadd }, acc, acc, v);
                    }
                },
            );
            if !is_max {
                let d = match divisor {
                    Some(d) => d,
                    None => {
                        e.b.load(Op::Lw, v, p[2], 0);
                        v
                    }
                };
                e.b.float(Op::Fdiv, acc, acc, d);
            }
            e.b.store(Op::Sw, acc, p[0], 0);
            for r in inner.into_iter().chain([v, acc]) {
                e.free(r);
            }
        });
        if let Some(d) = divisor {
            e.free(d);
        }
    }

    pub(crate) fn native(&self, io: &Io, mut data: NativeIo<'_>) {
        let shapes: Vec<&[usize]> = io.inputs.iter().map(|o| o.shape.as_slice()).collect();
        let ([n, c, h, w], oh, ow) = self.geometry(&shapes).expect("validated model");
        let win = self.effective(h, w);
        let (hp, wp) = win.padded(h, w);
        let x: &[u32] = match data.scratch.first_mut() {
            Some(s) => {
                win.native_pad(data.inputs[0], s, [n * c, h, w], self.fill());
                s
            }
            None => data.inputs[0],
        };
        let is_max = self.is_max();
        let fixed = self.divisor(h, w);
        let divisors = data.inputs.get(1).copied();
        if data.output.is_empty() {
            return;
        }
        // Offsets of the window's taps from its corner, in canonical order.
        let taps: Vec<usize> = (0..win.kernel[0])
            .flat_map(|kh| {
                (0..win.kernel[1]).map(move |kw| kh * win.dilations[0] * wp + kw * win.dilations[1])
            })
            .collect();
        let kind = if is_max {
            rows::Kind::Max
        } else {
            rows::Kind::Avg
        };
        data.output
            .par_chunks_mut(oh * ow)
            .with_min_len(PAR_WORDS.div_ceil(oh * ow * taps.len()))
            .enumerate()
            .for_each(|(p, out)| {
                let plane = &x[p * hp * wp..(p + 1) * hp * wp];
                for (y, row) in out.chunks_exact_mut(ow).enumerate() {
                    let divisors = divisors.map(|t| &t[y * ow..(y + 1) * ow]);
                    let src = &plane[y * win.strides[0] * wp..];
                    rows::pool(row, src, &taps, win.strides[1], (kind, divisors, fixed));
                }
            });
    }
}

/// Pooling one row of outputs. AVX-512 where the CPU has it, sixteen
/// outputs a vector, each accumulator in a register over all its taps;
/// else the semantics' own scalar functions, which define the results. The
/// vector path gives the same bits: IEEE add and divide with NaN made
/// canonical at the end (an add chain's NaN stays NaN), and `maximum`
/// built from compares.
mod rows {
    use verdict_vm::semantics;

    use super::NEG_INF;

    /// Maximum or average.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub(super) enum Kind {
        Max,
        Avg,
    }

    /// `out[x] = fold of op over src[x * stride + taps[t]]` for `t` in
    /// order, from `-inf` (max) or `+0` (average, then divided by the
    /// table's `divisors[x]` or else `fixed`).
    pub(super) fn pool(
        out: &mut [u32],
        src: &[u32],
        taps: &[usize],
        stride: usize,
        (kind, divisors, fixed): (Kind, Option<&[u32]>, u32),
    ) {
        let last = taps
            .iter()
            .max()
            .map_or(0, |&t| t + out.len().saturating_sub(1) * stride);
        assert!(out.is_empty() || taps.is_empty() || last < src.len());
        assert!(divisors.is_none_or(|d| d.len() == out.len()));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") && stride <= 1 << 20 {
            // SAFETY: the CPU has AVX-512F; every element read is inside
            // `src` and the table (checked above), and the stride fits the
            // gather's indices.
            unsafe { x86::pool(out, src, taps, stride, (kind, divisors, fixed)) };
            return;
        }
        for (x, y) in out.iter_mut().enumerate() {
            let at = |t: usize| src[x * stride + t];
            *y = match kind {
                Kind::Max => taps
                    .iter()
                    .fold(NEG_INF, |acc, &t| semantics::f32_max(acc, at(t))),
                Kind::Avg => {
                    let sum = taps
                        .iter()
                        .fold(0, |acc, &t| semantics::f32_add(acc, at(t)));
                    semantics::f32_div(sum, divisors.map_or(fixed, |d| d[x]))
                }
            };
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        use verdict_vm::semantics::CANONICAL_NAN;

        use super::{Kind, NEG_INF};

        /// IEEE 754-2019 `maximum` with canonical NaN: `b` where `b > a`,
        /// `a & b` where they are equal (`-0` and `+0` give `+0`), else `a`.
        #[target_feature(enable = "avx512f")]
        fn maximum(a: __m512, b: __m512) -> __m512 {
            let greater = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a);
            let equal = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b);
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b);
            let (ai, bi) = (_mm512_castps_si512(a), _mm512_castps_si512(b));
            let mut r = _mm512_mask_mov_epi32(ai, equal, _mm512_and_si512(ai, bi));
            r = _mm512_mask_mov_epi32(r, greater, bi);
            r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(CANONICAL_NAN as i32));
            _mm512_castsi512_ps(r)
        }

        /// The lowest `min(16, len)` lanes.
        fn mask(len: usize) -> __mmask16 {
            if len >= 16 { 0xFFFF } else { (1 << len) - 1 }
        }

        /// [`super::pool`], sixteen outputs a vector, the last one masked.
        ///
        /// # Safety
        ///
        /// As [`super::pool`] checks: every `src[x * stride + tap]` and
        /// `divisors[x]` exists, and `stride * 15` fits an `i32`.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn pool(
            out: &mut [u32],
            src: &[u32],
            taps: &[usize],
            stride: usize,
            (kind, divisors, fixed): (Kind, Option<&[u32]>, u32),
        ) {
            let lanes = _mm512_mullo_epi32(
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                _mm512_set1_epi32(stride as i32),
            );
            let evens =
                _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let zero = _mm512_setzero_ps();
            let canonical = _mm512_set1_epi32(CANONICAL_NAN as i32);
            for x in (0..out.len()).step_by(16) {
                let count = (out.len() - x).min(16);
                let m = mask(count);
                let mut acc = match kind {
                    Kind::Max => _mm512_set1_ps(f32::from_bits(NEG_INF)),
                    Kind::Avg => zero,
                };
                for &t in taps {
                    // SAFETY: lanes under the masks read `src[(x + lane) *
                    // stride + t]` for `lane < count`, inside `src` as the
                    // caller promises; masked-off lanes read nothing.
                    let v = unsafe {
                        let base = src.as_ptr().add(x * stride + t).cast::<f32>();
                        match stride {
                            1 => _mm512_maskz_loadu_ps(m, base),
                            2 => {
                                // The even elements of two vectors, up to
                                // the last one used.
                                let used = 2 * count - 1;
                                let lo = _mm512_maskz_loadu_ps(mask(used), base);
                                let hi = match used.checked_sub(16) {
                                    Some(rest) if rest > 0 => {
                                        _mm512_maskz_loadu_ps(mask(rest), base.add(16))
                                    }
                                    _ => zero,
                                };
                                _mm512_permutex2var_ps(lo, evens, hi)
                            }
                            _ => _mm512_mask_i32gather_ps::<4>(zero, m, lanes, base),
                        }
                    };
                    acc = match kind {
                        Kind::Max => maximum(acc, v),
                        Kind::Avg => _mm512_add_ps(acc, v),
                    };
                }
                if kind == Kind::Avg {
                    let d = match divisors {
                        // SAFETY: `divisors[x..x + count]` exist (checked by
                        // the caller); the other lanes are not read.
                        Some(d) => unsafe { _mm512_maskz_loadu_ps(m, d[x..].as_ptr().cast()) },
                        None => _mm512_set1_ps(f32::from_bits(fixed)),
                    };
                    acc = _mm512_div_ps(acc, d);
                }
                let is_nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(acc, acc);
                let bits = _mm512_mask_mov_epi32(_mm512_castps_si512(acc), is_nan, canonical);
                // SAFETY: lanes under `m` are `out[x..x + count]`.
                unsafe { _mm512_mask_storeu_epi32(out[x..].as_mut_ptr().cast(), m, bits) };
            }
        }
    }
}
