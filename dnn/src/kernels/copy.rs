//! Strided copies: the one mechanism behind Transpose, Slice, Concat and Pad,
//! on both engines. A view is a base element offset plus a (possibly
//! negative) element stride per dimension; words are copied in row-major
//! order of `dims`.

use verdict_vm::Op;

use crate::emit::Emitter;
use crate::ops::strides;

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

/// What [`emit_copy`]'s code does, on word slices: a run of the last
/// dimension at a time, with the offsets stepped rather than recomputed.
pub(crate) fn native_copy(dims: &[usize], src: &[u32], s: &View, dst: &mut [u32], d: &View) {
    if dims.contains(&0) {
        return;
    }
    let at = |o: i64| usize::try_from(o).expect("views stay inside their buffers");
    let Some((&inner, outer)) = dims.split_last() else {
        dst[at(d.offset)] = src[at(s.offset)];
        return;
    };
    let r = outer.len();
    let (ss, ds) = (s.strides[r], d.strides[r]);
    let mut index = vec![0usize; r];
    let (mut so, mut dof) = (s.offset, d.offset);
    loop {
        if ss == 1 && ds == 1 {
            dst[at(dof)..at(dof) + inner].copy_from_slice(&src[at(so)..at(so) + inner]);
        } else {
            for i in 0..inner as i64 {
                dst[at(dof + i * ds)] = src[at(so + i * ss)];
            }
        }
        let mut k = r;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            index[k] += 1;
            so += s.strides[k];
            dof += d.strides[k];
            if index[k] < outer[k] {
                break;
            }
            so -= s.strides[k] * outer[k] as i64;
            dof -= d.strides[k] * outer[k] as i64;
            index[k] = 0;
        }
    }
}

/// Row-major element strides as `i64`.
pub(crate) fn contiguous(shape: &[usize]) -> Vec<i64> {
    strides(shape).into_iter().map(|s| s as i64).collect()
}
