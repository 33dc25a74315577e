//! Sliding-window geometry shared by convolution and pooling, and the padded
//! copy of an input that both engines write before sliding over it.

use serde::{Deserialize, Serialize};
use verdict_vm::Op;

use crate::emit::Emitter;
use crate::ops::ShapeError;

/// Kernel size, strides, pads and dilations over the last two dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride.
    pub strides: [usize; 2],
    /// Pads: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Vertical and horizontal dilation.
    pub dilations: [usize; 2],
}

impl Window {
    /// A window with unit strides and dilations and no pads.
    pub fn new(kernel: [usize; 2]) -> Window {
        Window {
            kernel,
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
        }
    }

    /// The padded input's height and width.
    pub fn padded(&self, h: usize, w: usize) -> (usize, usize) {
        (
            h + self.pads[0] + self.pads[2],
            w + self.pads[1] + self.pads[3],
        )
    }

    /// `true` if any pad is not zero.
    pub fn is_padded(&self) -> bool {
        self.pads.iter().any(|&p| p != 0)
    }

    /// The output height and width (floor mode).
    ///
    /// # Errors
    ///
    /// A message if the window does not fit or a stride or dilation is zero.
    pub fn output(&self, h: usize, w: usize) -> Result<(usize, usize), ShapeError> {
        if self.strides.contains(&0) || self.dilations.contains(&0) || self.kernel.contains(&0) {
            return Err(ShapeError::Attributes(format!(
                "zero kernel, stride or dilation in {self:?}"
            )));
        }
        let (hp, wp) = self.padded(h, w);
        let span = |k: usize, d: usize| d * (k - 1) + 1;
        let (sh, sw) = (
            span(self.kernel[0], self.dilations[0]),
            span(self.kernel[1], self.dilations[1]),
        );
        if sh > hp || sw > wp {
            return Err(ShapeError::Attributes(format!(
                "window {sh}x{sw} larger than the padded input {hp}x{wp}"
            )));
        }
        Ok((
            (hp - sh) / self.strides[0] + 1,
            (wp - sw) / self.strides[1] + 1,
        ))
    }

    /// Emits the copy of `[planes, h, w]` words at `src` into the interior
    /// of the padded buffer at `dst`, after filling the whole buffer with
    /// `fill` when given (the buffer is zero beforehand).
    pub fn emit_pad(
        &self,
        e: &mut Emitter,
        (src, dst): (u32, u32),
        [planes, h, w]: [usize; 3],
        fill: Option<u32>,
    ) {
        let (hp, wp) = self.padded(h, w);
        if let Some(fill) = fill {
            let v = e.constant(fill);
            e.nd_loop(&[planes * hp * wp], &[dst], &[vec![4]], |e, p| {
                e.b.store(Op::Sw, v, p[0], 0)
            });
            e.free(v);
        }
        let interior = dst + 4 * (self.pads[0] * wp + self.pads[1]) as u32;
        let strides = vec![
            vec![(4 * h * w) as i64, (4 * w) as i64, 4],
            vec![(4 * hp * wp) as i64, (4 * wp) as i64, 4],
        ];
        e.nd_loop(&[planes, h, w], &[src, interior], &strides, |e, p| {
            let x = e.reg();
            e.b.load(Op::Lw, x, p[0], 0);
            e.b.store(Op::Sw, x, p[1], 0);
            e.free(x);
        });
    }

    /// What [`Window::emit_pad`]'s code leaves in `dst`, which starts
    /// zero in the VM: the pads hold `fill` (else `+0`), the interior
    /// `src`. Every element is written, so `dst` may hold anything before.
    pub fn native_pad(
        &self,
        src: &[u32],
        dst: &mut [u32],
        [planes, h, w]: [usize; 3],
        fill: Option<u32>,
    ) {
        let (hp, wp) = self.padded(h, w);
        let fill = fill.unwrap_or(0);
        let (top, left) = (self.pads[0], self.pads[1]);
        for (plane, xs) in dst.chunks_exact_mut(hp * wp).zip(src.chunks_exact(h * w)) {
            let (above, rest) = plane.split_at_mut(top * wp);
            above.fill(fill);
            let (body, below) = rest.split_at_mut(h * wp);
            below.fill(fill);
            for (row, x) in body.chunks_exact_mut(wp).zip(xs.chunks_exact(w)) {
                row[..left].fill(fill);
                row[left..left + w].copy_from_slice(x);
                row[left + w..].fill(fill);
            }
        }
        debug_assert_eq!(dst.len(), planes * hp * wp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of the padded planes is written, whatever the buffer
    /// held: pads with the fill (`+0` without one), the interior with the
    /// input.
    #[test]
    fn native_pad_writes_every_element() {
        let win = Window {
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1, 2, 0, 1],
            dilations: [1, 1],
        };
        let (planes, h, w) = (2, 3, 4);
        let (hp, wp) = win.padded(h, w);
        let src: Vec<u32> = (100..100 + (planes * h * w) as u32).collect();
        for fill in [None, Some(0xFF80_0000)] {
            let mut dst = vec![7u32; planes * hp * wp];
            win.native_pad(&src, &mut dst, [planes, h, w], fill);
            for (i, &v) in dst.iter().enumerate() {
                let (p, y, x) = (i / (hp * wp), i / wp % hp, i % wp);
                let inside = (1..1 + h).contains(&y) && (2..2 + w).contains(&x);
                let want = if inside {
                    src[(p * h + y - 1) * w + x - 2]
                } else {
                    fill.unwrap_or(0)
                };
                assert_eq!(v, want, "plane {p}, row {y}, column {x}");
            }
        }
    }
}
