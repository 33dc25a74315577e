//! Window geometry shared by Conv and the pools: tract's `PoolSpec` as
//! verdict's 2-D NCHW [`Window`]. A 1-D op gets a height of 1; a CHW input
//! (tract drops a batch axis of 1) gets its batch axis back.

use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::nn::DataFormat;
use verdict_dnn::ops::window::Window;

use super::{LowerError, unsupported};

/// A window op's input as verdict sees it.
pub(super) struct Spatial {
    /// The window over the last two axes.
    pub(super) window: Window,
    /// The input shape verdict sees: `[N, C, H, W]`.
    pub(super) nchw: Vec<usize>,
    /// Whether tract's op is 1-D (verdict's kernel height is then 1).
    pub(super) one_d: bool,
    /// The end pads added for ceil_mode, beyond the op's own: bottom, right.
    pub(super) ceil_pads: [usize; 2],
}

/// How a window that ends past the input (ONNX `ceil_mode`) may be handled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CeilMode {
    /// Extra end padding gives the same result (max pooling: pads are
    /// `-inf`; average pooling: the divisors leave them out).
    PadEnd,
    /// Not expressible.
    Reject,
}

pub(super) fn spatial(
    spec: &PoolSpec,
    input: &[usize],
    ceil: CeilMode,
) -> Result<Spatial, LowerError> {
    let has_n = match spec.data_format {
        DataFormat::NCHW => true,
        DataFormat::CHW => false,
        other => return unsupported(format!("data format {other:?}; only NCHW is")),
    };
    let rank = spec.rank();
    if !(1..=2).contains(&rank) || input.len() != rank + 1 + has_n as usize {
        return unsupported(format!(
            "{rank}-D window on input {input:?}; 1-D and 2-D are"
        ));
    }
    let hw = &input[input.len() - rank..];
    let padding = spec.computed_padding(hw);
    let (strides, dilations) = (spec.strides(), spec.dilations());
    let mut window = Window::new([1, 1]);
    let first = 2 - rank;
    for (axis, p) in padding.iter().enumerate() {
        let d = first + axis;
        window.kernel[d] = spec.kernel_shape[axis];
        window.strides[d] = strides[axis];
        window.dilations[d] = dilations[axis];
        window.pads[d] = p.pad_before;
        window.pads[d + 2] = p.pad_after;
    }
    let mut nchw: Vec<usize> = if has_n { Vec::new() } else { vec![1] };
    nchw.extend(&input[..input.len() - rank]);
    if rank == 1 {
        nchw.push(1);
    }
    nchw.extend(hw);
    let (h, w) = (nchw[2], nchw[3]);
    let want: Vec<usize> = padding.iter().map(|p| p.convoluted).collect();
    let mut ceil_pads = [0; 2];
    loop {
        let (oh, ow) = window
            .output(h, w)
            .or_else(|e| unsupported(format!("window: {e}")))?;
        let got = [oh, ow];
        if got[first..] == want[..] {
            break;
        }
        let short = (0..rank).find(|&a| got[first + a] < want[a]);
        match (short, ceil) {
            (Some(a), CeilMode::PadEnd) => {
                window.pads[first + a + 2] += 1;
                ceil_pads[first + a] += 1;
            }
            _ => {
                return unsupported(format!(
                    "output {want:?} differs from the floor-mode output {:?} (ceil_mode)",
                    &got[first..]
                ));
            }
        }
    }
    Ok(Spatial {
        window,
        nchw,
        one_d: rank == 1,
        ceil_pads,
    })
}
