//! What launches are made of: kernel names, parameter blocks and work
//! sizes, computed once per model. Each op states its own launches beside
//! its VM code and native kernel (`gpu` in `crate::ops`), from what
//! [`Site`] tells it of its node; the parameter blocks are declared in
//! [`super::params`], and the sizes and codes the kernels and the launches
//! share are defined here; both are generated into the source.

use verdict_vm::CODE_END;

use crate::compile::node_io;
use crate::engine::Compiled;
use crate::ir::{Node, TensorId, numel};
use crate::kernels::copy::View;
use crate::ops::reduce::ReduceKind;
use crate::ops::window::Window;
use crate::ops::{Io, strides};
use crate::plan::WEIGHTS_BASE;

use super::params::{Block, CopyParams, FillParams, Operand};

/// Work-group side of the GEMM kernels.
pub(crate) const GEMM_THREADS: usize = 16;

/// Outputs per work item along each side of a GEMM block.
const GEMM_BLOCK: usize = 4;

/// Side of the output block one GEMM work group computes.
pub(crate) const GEMM_TILE: usize = GEMM_THREADS * GEMM_BLOCK;

/// Depth of the panels of `A` and `B` a GEMM work group loads at a time.
const GEMM_K: usize = 16;

/// Work-group side of the tiled Conv kernel.
pub(crate) const CONV_TILE: usize = 16;

/// The reduce kernel's code for each kind.
pub(crate) fn reduce_code(kind: ReduceKind) -> i32 {
    match kind {
        ReduceKind::Sum => 0,
        ReduceKind::Mean => 1,
        ReduceKind::Max => 2,
        ReduceKind::Min => 3,
    }
}

/// The sizes and codes above as OpenCL `#define`s, so that the kernels and
/// the launches read one definition.
pub(super) fn defines() -> String {
    let mut out = String::from("// Generated from dnn/src/gpu/launch.rs.\n");
    for (name, value) in [
        ("GEMM_THREADS", GEMM_THREADS as i32),
        ("GEMM_BLOCK", GEMM_BLOCK as i32),
        ("GEMM_TILE", GEMM_TILE as i32),
        ("GEMM_K", GEMM_K as i32),
        ("CONV_TILE", CONV_TILE as i32),
        ("REDUCE_SUM", reduce_code(ReduceKind::Sum)),
        ("REDUCE_MEAN", reduce_code(ReduceKind::Mean)),
        ("REDUCE_MAX", reduce_code(ReduceKind::Max)),
        ("REDUCE_MIN", reduce_code(ReduceKind::Min)),
    ] {
        out.push_str(&format!("#define {name} {value}\n"));
    }
    out
}

/// A launch before its parameters are uploaded.
pub(crate) struct Plan {
    /// The kernel's name in the program.
    pub(super) kernel: &'static str,
    /// Its parameter block's words.
    pub(super) params: Vec<i32>,
    /// Work items per dimension (rounded up to `local` at launch).
    pub(super) global: Vec<usize>,
    /// The work-group size, for kernels that need one.
    pub(super) local: Option<Vec<usize>>,
}

impl Plan {
    /// A launch of `kernel`, which must be one that reads `params`.
    pub(crate) fn new<B: Block>(
        kernel: &'static str,
        params: B,
        global: Vec<usize>,
        local: Option<Vec<usize>>,
    ) -> Plan {
        assert!(
            B::KERNELS.contains(&kernel),
            "`{kernel}` does not read this parameter block"
        );
        Plan {
            kernel,
            params: params.words(),
            global,
            local,
        }
    }

    /// A one-dimensional launch over `count` work items.
    pub(crate) fn flat<B: Block>(kernel: &'static str, params: B, count: usize) -> Plan {
        Plan::new(kernel, params, vec![count], None)
    }
}

/// Word offset of an address in the arena.
pub(super) fn arena_at(addr: u32) -> i32 {
    ((addr - CODE_END) / 4) as i32
}

/// The operand at byte address `addr`: which buffer (0 the arena, 1 the
/// weights) and the word offset in it. Weights lie below `CODE_END`,
/// activations from it (`crate::plan`).
fn operand_at(addr: u32) -> Operand {
    if addr < CODE_END {
        [1, ((addr - WEIGHTS_BASE) / 4) as i32]
    } else {
        [0, arena_at(addr)]
    }
}

/// A size or offset as a kernel parameter.
pub(crate) fn int(x: usize) -> i32 {
    i32::try_from(x).expect("model sizes fit in i32 (the arena is below 4 GiB)")
}

/// Sizes as kernel parameters.
pub(crate) fn ints(xs: &[usize]) -> impl Iterator<Item = i32> + '_ {
    xs.iter().map(|&x| int(x))
}

/// Row-major strides of `shape` as i32.
pub(crate) fn contiguous(shape: &[usize]) -> Vec<i32> {
    ints(&strides(shape)).collect()
}

/// Element strides of a view as i32.
fn view_strides(v: &View) -> Vec<i32> {
    v.strides
        .iter()
        .map(|&s| i32::try_from(s).expect("strides fit in i32 (the arena is below 4 GiB)"))
        .collect()
}

/// The copy of `dims` words from one view to another: the launch of what
/// the op's `emit` and `native` do with the same views.
pub(crate) fn view_copy(dims: &[usize], (src, dst): &(View, View)) -> Plan {
    let offset = |v: &View| i32::try_from(v.offset).expect("offsets fit in i32");
    let [to_weights, dst_at] = operand_at(dst.addr);
    assert_eq!(to_weights, 0, "ops write activations only");
    copy(
        operand_at(src.addr),
        offset(src),
        dst_at + offset(dst),
        dims,
        &view_strides(src),
        &view_strides(dst),
    )
}

/// A strided copy of `dims` words from `src` (operand with `src_off` added)
/// to the arena at `dst` with the given strides.
pub(crate) fn copy(
    mut src: Operand,
    src_off: i32,
    dst: i32,
    dims: &[usize],
    src_strides: &[i32],
    dst_strides: &[i32],
) -> Plan {
    src[1] += src_off;
    let count = numel(dims);
    let params = CopyParams {
        src,
        dst,
        count,
        rank: dims.len(),
        dims: dims.to_vec(),
        src_strides: src_strides.to_vec(),
        dst_strides: dst_strides.to_vec(),
    };
    Plan::flat("copy_strided", params, count)
}

/// The copy of `[planes, h, w]` words of `src` into the interior of the
/// padded scratch buffer at `dst`, after filling it with `fill` if given:
/// what `Window::emit_pad` writes.
pub(crate) fn pad_copy(
    win: &Window,
    src: Operand,
    dst: i32,
    [planes, h, w]: [usize; 3],
    fill: Option<u32>,
) -> Vec<Plan> {
    let (hp, wp) = win.padded(h, w);
    let mut out = Vec::new();
    if let Some(value) = fill {
        let count = planes * hp * wp;
        let params = FillParams { dst, count, value };
        out.push(Plan::flat("fill", params, count));
    }
    let interior = dst + int(win.pads[0] * wp + win.pads[1]);
    out.push(copy(
        src,
        0,
        interior,
        &[planes, h, w],
        &contiguous(&[planes, h, w]),
        &[int(hp * wp), int(wp), 1],
    ));
    out
}

/// A node as its launches see it: its inputs' shapes and places, and where
/// its output and scratch lie in the arena.
pub(crate) struct Site<'a> {
    c: &'a Compiled,
    n: usize,
}

impl Site<'_> {
    fn node(&self) -> &Node {
        &self.c.model.nodes[self.n]
    }

    fn shape_of(&self, t: TensorId) -> &[usize] {
        &self.c.model.tensors[t].shape
    }

    /// How many inputs the node has.
    pub(crate) fn inputs(&self) -> usize {
        self.node().inputs.len()
    }

    /// Input `i`'s shape.
    pub(crate) fn shape(&self, i: usize) -> &[usize] {
        self.shape_of(self.node().inputs[i])
    }

    /// Every input's shape.
    pub(crate) fn shapes(&self) -> Vec<&[usize]> {
        self.node()
            .inputs
            .iter()
            .map(|&t| self.shape_of(t))
            .collect()
    }

    /// Input `i` as an operand; `[0, 0]` (never read) if the node has no
    /// input `i`.
    pub(crate) fn input(&self, i: usize) -> Operand {
        self.node()
            .inputs
            .get(i)
            .map_or([0, 0], |&t| operand_at(self.c.program.layout.tensors[t]))
    }

    /// The output's shape.
    pub(crate) fn out_shape(&self) -> &[usize] {
        self.shape_of(self.node().output)
    }

    /// The output's element count.
    pub(crate) fn count(&self) -> usize {
        numel(self.out_shape())
    }

    /// The output's word offset in the arena.
    pub(crate) fn y(&self) -> i32 {
        arena_at(self.c.program.layout.tensors[self.node().output])
    }

    /// The first scratch buffer's word offset in the arena, if any.
    pub(crate) fn scratch(&self) -> Option<i32> {
        self.c.program.layout.scratch[self.n]
            .first()
            .map(|&(addr, _)| arena_at(addr))
    }

    /// The node's buffers as the VM code generator and native kernels see
    /// them (for the ops' own views).
    pub(crate) fn io(&self) -> Io {
        node_io(&self.c.model, &self.c.program.layout, self.n)
    }
}

/// The launches of node `n`, in order.
pub(super) fn plan_node(c: &Compiled, n: usize) -> Vec<Plan> {
    c.model.nodes[n].op.gpu(&Site { c, n })
}
