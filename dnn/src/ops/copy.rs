//! Strided copies: the one mechanism behind Transpose, Slice, Concat and Pad,
//! on both engines. A view is a base element offset plus a (possibly
//! negative) element stride per dimension; words are copied in row-major
//! order of `dims`.

use verdict_vm::Op;

use crate::emit::Emitter;

/// A strided view of a buffer, in elements.
#[derive(Clone, Debug)]
pub(crate) struct View {
    /// Byte address of the buffer.
    pub addr: u32,
    /// Element offset of the first element.
    pub offset: i64,
    /// Element stride per dimension.
    pub strides: Vec<i64>,
}

/// Emits `dst[view] = src[view]` over `dims`.
pub(crate) fn emit_copy(e: &mut Emitter, dims: &[usize], src: &View, dst: &View) {
    let base = |v: &View| (i64::from(v.addr) + 4 * v.offset) as u32;
    let bytes = |v: &View| v.strides.iter().map(|s| 4 * s).collect::<Vec<i64>>();
    e.nd_loop(
        dims,
        &[base(src), base(dst)],
        &[bytes(src), bytes(dst)],
        |e, p| {
            let x = e.reg();
            e.b.load(Op::Lw, x, p[0], 0);
            e.b.store(Op::Sw, x, p[1], 0);
            e.free(x);
        },
    );
}

/// What [`emit_copy`]'s code does, on word slices.
pub(crate) fn native_copy(dims: &[usize], src: &[u32], s: &View, dst: &mut [u32], d: &View) {
    if dims.contains(&0) {
        return;
    }
    let mut index = vec![0usize; dims.len()];
    loop {
        let at = |v: &View| {
            (v.offset
                + index
                    .iter()
                    .zip(&v.strides)
                    .map(|(&i, &st)| i as i64 * st)
                    .sum::<i64>()) as usize
        };
        dst[at(d)] = src[at(s)];
        let mut k = dims.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            index[k] += 1;
            if index[k] < dims[k] {
                break;
            }
            index[k] = 0;
        }
    }
}

/// Row-major element strides as `i64`.
pub(crate) fn contiguous(shape: &[usize]) -> Vec<i64> {
    super::strides(shape)
        .into_iter()
        .map(|s| s as i64)
        .collect()
}
