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
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, pad_copy};
#[cfg(feature = "gpu")]
use crate::gpu::params::PoolParams;
use crate::kernels::matmul::PAR_WORDS;
use crate::kernels::slide::{self, Fold};
use crate::ops::window::Window;
use crate::ops::{Io, NativeIo, ShapeError};

pub(crate) const NEG_INF: u32 = 0xFF80_0000;

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
    pub fn divisors(&self, h: usize, w: usize) -> Result<Vec<f32>, ShapeError> {
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

    fn geometry(&self, inputs: &[&[usize]]) -> Result<([usize; 4], usize, usize), ShapeError> {
        let x = inputs.first().ok_or(ShapeError::Arity {
            expected: "1 or 2",
            got: 0,
        })?;
        let [n, c, h, w] =
            <[usize; 4]>::try_from(*x).map_err(|_| ShapeError::operand("X", "NCHW", x))?;
        let (oh, ow) = self.effective(h, w).output(h, w)?;
        let want = if self.needs_divisors() { 2 } else { 1 };
        if inputs.len() != want {
            return Err(ShapeError::Arity {
                expected: if want == 2 { "2" } else { "1" },
                got: inputs.len(),
            });
        }
        if want == 2 && inputs[1] != [oh, ow] {
            return Err(ShapeError::Operand {
                operand: "divisors",
                expected: format!("[{oh}, {ow}]"),
                shape: inputs[1].to_vec(),
            });
        }
        Ok(([n, c, h, w], oh, ow))
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
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

        data.output
            .par_chunks_mut(oh * ow)
            .with_min_len(PAR_WORDS.div_ceil(oh * ow * taps.len()))
            .enumerate()
            .for_each(|(p, out)| {
                let plane = &x[p * hp * wp..(p + 1) * hp * wp];
                for (y, row) in out.chunks_exact_mut(ow).enumerate() {
                    let fold = if is_max {
                        Fold::Max
                    } else {
                        Fold::Mean {
                            divisors: divisors.map(|t| &t[y * ow..(y + 1) * ow]),
                            fixed,
                        }
                    };
                    slide::row(
                        row,
                        &plane[y * win.strides[0] * wp..],
                        &taps,
                        win.strides[1],
                        fold,
                    );
                }
            });
    }
}

#[cfg(feature = "gpu")]
impl Pool {
    /// The OpenCL launches (`pool.cl`): the padded copy if the window pads
    /// (filled with `-inf` for a max), then the pool.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let ([nb, ch, h, w], oh, ow) = self.geometry(&s.shapes()).expect("validated model");
        let win = self.effective(h, w);
        let is_max = matches!(self.kind, PoolKind::Max | PoolKind::GlobalMax);
        let (hp, wp) = win.padded(h, w);
        let mut plans = Vec::new();
        let xp = match s.scratch() {
            Some(at) => {
                let fill = is_max.then_some(NEG_INF);
                plans.extend(pad_copy(&win, s.input(0), at, [nb * ch, h, w], fill));
                [0, at]
            }
            None => s.input(0),
        };
        let count = s.count();
        let ([kh, kw], [sh, sw], [dh, dw]) = (win.kernel, win.strides, win.dilations);
        let p = PoolParams {
            x: xp,
            divisors: s.input(1),
            has_divisors: s.inputs() == 2,
            y: s.y(),
            count,
            hp,
            wp,
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            is_max,
            divisor: (kh * kw) as f32,
        };
        plans.push(Plan::flat("pool", p, count));
        plans
    }
}
