//! What each op launches: kernel names, parameter blocks and work sizes,
//! computed once per model from the op's attributes and the memory layout.
//! The parameter layouts are those stated above each kernel in `kernels/`.

use verdict_vm::CODE_END;

use super::recipes::{binary_code, unary_code};
use crate::compile::node_io;
use crate::engine::Compiled;
use crate::ir::{TensorId, numel};
use crate::kernels::copy::View;
use crate::ops::binary::broadcast_strides;
use crate::ops::norm::NormKind;
use crate::ops::pool::PoolKind;
use crate::ops::reduce::ReduceKind;
use crate::ops::window::Window;
use crate::ops::{OpKind, strides};
use crate::plan::WEIGHTS_BASE;

/// Work-group side of the GEMM kernels.
const GEMM_THREADS: usize = 16;

/// Outputs per work item along each side of a GEMM block.
const GEMM_BLOCK: usize = 4;

/// Side of the output block one GEMM work group computes.
const GEMM_TILE: usize = GEMM_THREADS * GEMM_BLOCK;

/// Depth of the panels of `A` and `B` a GEMM work group loads at a time.
const GEMM_K: usize = 16;

/// Work-group side of the tiled Conv kernel.
const CONV_TILE: usize = 16;

/// The reduce kernel's code for each kind.
fn reduce_code(kind: ReduceKind) -> i32 {
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
pub(super) struct Plan {
    /// The kernel's name in the program.
    pub(super) kernel: &'static str,
    /// Its parameter block.
    pub(super) params: Vec<i32>,
    /// Work items per dimension (rounded up to `local` at launch).
    pub(super) global: Vec<usize>,
    /// The work-group size, for kernels that need one.
    pub(super) local: Option<Vec<usize>>,
}

impl Plan {
    /// A one-dimensional launch over `count` work items.
    fn flat(kernel: &'static str, params: Vec<i32>, count: usize) -> Plan {
        Plan {
            kernel,
            params,
            global: vec![count],
            local: None,
        }
    }
}

/// Word offset of an address in the arena.
pub(super) fn arena_at(addr: u32) -> i32 {
    ((addr - CODE_END) / 4) as i32
}

/// The operand at byte address `addr`: which buffer (0 the arena, 1 the
/// weights) and the word offset in it. Weights lie below `CODE_END`,
/// activations from it (`crate::plan`).
fn operand_at(addr: u32) -> [i32; 2] {
    if addr < CODE_END {
        [1, ((addr - WEIGHTS_BASE) / 4) as i32]
    } else {
        [0, arena_at(addr)]
    }
}

/// Tensor `t` as an input operand.
fn operand(c: &Compiled, t: TensorId) -> [i32; 2] {
    operand_at(c.program.layout.tensors[t])
}

/// A size or offset as a kernel parameter.
fn int(x: usize) -> i32 {
    i32::try_from(x).expect("model sizes fit in i32 (the arena is below 4 GiB)")
}

/// Sizes as kernel parameters.
fn ints(xs: &[usize]) -> impl Iterator<Item = i32> + '_ {
    xs.iter().map(|&x| int(x))
}

/// Row-major strides of `shape` as i32.
fn contiguous(shape: &[usize]) -> Vec<i32> {
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
fn view_copy(dims: &[usize], (src, dst): &(View, View)) -> Plan {
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
fn copy(
    mut src: [i32; 2],
    src_off: i32,
    dst: i32,
    dims: &[usize],
    src_strides: &[i32],
    dst_strides: &[i32],
) -> Plan {
    src[1] += src_off;
    let mut p = vec![src[0], src[1], dst, int(numel(dims)), int(dims.len())];
    p.extend(ints(dims));
    p.extend(src_strides);
    p.extend(dst_strides);
    Plan::flat("copy_strided", p, numel(dims))
}

/// The copy of `[planes, h, w]` words of `src` into the interior of the
/// padded scratch buffer at `dst`, after filling it with `fill` if given:
/// what `Window::emit_pad` writes.
fn pad_copy(
    win: &Window,
    src: [i32; 2],
    dst: i32,
    [planes, h, w]: [usize; 3],
    fill: Option<u32>,
) -> Vec<Plan> {
    let (hp, wp) = win.padded(h, w);
    let mut out = Vec::new();
    if let Some(v) = fill {
        out.push(Plan::flat(
            "fill",
            vec![dst, int(planes * hp * wp), v as i32],
            planes * hp * wp,
        ));
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

/// The launches of node `n`, in order.
pub(super) fn plan_node(c: &Compiled, n: usize) -> Vec<Plan> {
    let model = &c.model;
    let layout = &c.program.layout;
    let node = &model.nodes[n];
    let shape = |t: TensorId| model.tensors[t].shape.as_slice();
    let out_shape = shape(node.output);
    let count = numel(out_shape);
    let y = arena_at(layout.tensors[node.output]);
    let x = operand(c, node.inputs[0]);
    let io = || node_io(model, layout, n);
    match &node.op {
        OpKind::Gemm(g) => {
            let (a, b) = (shape(node.inputs[0]), shape(node.inputs[1]));
            let (m, k, a_strides) = if g.trans_a {
                (a[1], a[0], [1, a[1]])
            } else {
                let k = a[a.len() - 1];
                (numel(&a[..a.len() - 1]), k, [k, 1])
            };
            let (nn, b_strides) = if g.trans_b {
                (b[0], [1, k])
            } else {
                (b[1], [b[1], 1])
            };
            let (cop, c_strides) = match node.inputs.get(2) {
                Some(&t) => (operand(c, t), broadcast_strides(shape(t), &[m, nn])),
                None => ([0, 0], vec![0, 0]),
            };
            let mut p = vec![x[0], x[1]];
            p.extend(operand(c, node.inputs[1]));
            p.extend(cop);
            p.extend([y, int(m), int(nn), int(k)]);
            p.extend(ints(&a_strides));
            p.extend(ints(&b_strides));
            p.extend(ints(&c_strides));
            p.extend([
                i32::from(node.inputs.len() == 3),
                i32::from(g.alpha != 1.0),
                g.alpha.to_bits() as i32,
                i32::from(g.beta == 1.0),
                g.beta.to_bits() as i32,
            ]);
            // Below a block's height most of a blocked work group would idle.
            let plan = if m < GEMM_TILE {
                Plan {
                    kernel: "gemm_thin",
                    params: p,
                    global: vec![nn, m],
                    local: Some(vec![GEMM_THREADS, GEMM_THREADS]),
                }
            } else {
                Plan {
                    kernel: "gemm",
                    params: p,
                    global: vec![
                        nn.div_ceil(GEMM_TILE) * GEMM_THREADS,
                        m.div_ceil(GEMM_TILE) * GEMM_THREADS,
                    ],
                    local: Some(vec![GEMM_THREADS, GEMM_THREADS]),
                }
            };
            vec![plan]
        }
        OpKind::Conv(conv) => {
            let (xs, ws) = (shape(node.inputs[0]), shape(node.inputs[1]));
            let win = &conv.window;
            let [nb, ch, h, w] = [xs[0], xs[1], xs[2], xs[3]];
            let (oc, kh, kw) = (ws[0], ws[2], ws[3]);
            let (oh, ow) = win.output(h, w).expect("validated model");
            let (hp, wp) = win.padded(h, w);
            let mut plans = Vec::new();
            let xp = match layout.scratch[n].first() {
                Some(&(addr, _)) => {
                    plans.extend(pad_copy(win, x, arena_at(addr), [nb * ch, h, w], None));
                    [0, arena_at(addr)]
                }
                None => x,
            };
            let bias = node.inputs.get(2).map_or([0, 0], |&t| operand(c, t));
            let mut p = vec![xp[0], xp[1]];
            p.extend(operand(c, node.inputs[1]));
            p.extend(bias);
            p.extend([i32::from(node.inputs.len() == 3), y, int(count)]);
            p.extend(ints(&[ch, hp, wp, oc, conv.group, kh, kw, oh, ow]));
            p.extend(ints(&win.strides));
            p.extend(ints(&win.dilations));
            p.push(i32::from(conv.relu));
            plans.push(Plan {
                kernel: "conv",
                params: p,
                global: vec![oh * ow, oc / conv.group, nb * conv.group],
                local: Some(vec![CONV_TILE, CONV_TILE, 1]),
            });
            plans
        }
        OpKind::Pool(pool) => {
            let xs = shape(node.inputs[0]);
            let [nb, ch, h, w] = [xs[0], xs[1], xs[2], xs[3]];
            let win = match pool.kind {
                PoolKind::GlobalAvg | PoolKind::GlobalMax => Window::new([h, w]),
                PoolKind::Max | PoolKind::Avg { .. } => pool.window.clone(),
            };
            let is_max = matches!(pool.kind, PoolKind::Max | PoolKind::GlobalMax);
            let (oh, ow) = win.output(h, w).expect("validated model");
            let (hp, wp) = win.padded(h, w);
            let mut plans = Vec::new();
            let xp = match layout.scratch[n].first() {
                Some(&(addr, _)) => {
                    let fill = is_max.then_some(0xFF80_0000);
                    plans.extend(pad_copy(&win, x, arena_at(addr), [nb * ch, h, w], fill));
                    [0, arena_at(addr)]
                }
                None => x,
            };
            let divisors = node.inputs.get(1).map_or([0, 0], |&t| operand(c, t));
            let mut p = vec![xp[0], xp[1], divisors[0], divisors[1]];
            p.extend([i32::from(node.inputs.len() == 2), y, int(count)]);
            p.extend(ints(&[hp, wp, oh, ow]));
            p.extend(ints(&win.kernel));
            p.extend(ints(&win.strides));
            p.extend(ints(&win.dilations));
            p.push(i32::from(is_max));
            p.push(((win.kernel[0] * win.kernel[1]) as f32).to_bits() as i32);
            plans.push(Plan::flat("pool", p, count));
            plans
        }
        OpKind::Binary(b) => {
            let mut p = vec![x[0], x[1]];
            p.extend(operand(c, node.inputs[1]));
            p.extend([
                y,
                int(count),
                binary_code(b.op) as i32,
                int(out_shape.len()),
            ]);
            p.extend(ints(out_shape));
            for &t in &node.inputs {
                p.extend(ints(&broadcast_strides(shape(t), out_shape)));
            }
            vec![Plan::flat("binary", p, count)]
        }
        OpKind::Unary(u) => {
            let (code, a0, a1) = unary_code(u.op);
            let p = vec![x[0], x[1], y, int(count), code as i32, a0 as i32, a1 as i32];
            vec![Plan::flat("unary", p, count)]
        }
        OpKind::Reshape(_) => vec![copy(x, 0, y, &[count], &[1], &[1])],
        OpKind::Transpose(t) => vec![view_copy(out_shape, &t.views(&io()))],
        OpKind::Slice(sl) => vec![view_copy(out_shape, &sl.views(&io()))],
        OpKind::Concat(cat) => node
            .inputs
            .iter()
            .zip(cat.views(&io()))
            .map(|(&t, views)| view_copy(shape(t), &views))
            .collect(),
        OpKind::Pad(pad) => vec![
            Plan::flat(
                "fill",
                vec![y, int(count), pad.value.to_bits() as i32],
                count,
            ),
            view_copy(shape(node.inputs[0]), &pad.views(&io())),
        ],
        OpKind::Reduce(r) => {
            let xs = shape(node.inputs[0]);
            let s = contiguous(xs);
            let (mut kd, mut ks, mut rd, mut rs) = (vec![], vec![], vec![], vec![]);
            for d in 0..xs.len() {
                if r.axes.contains(&d) {
                    rd.push(xs[d]);
                    rs.push(s[d]);
                } else {
                    kd.push(xs[d]);
                    ks.push(s[d]);
                }
            }
            let kind = reduce_code(r.kind);
            let inner = numel(&rd);
            let mut p = vec![x[0], x[1], y, int(count), kind];
            p.push((inner as f32).to_bits() as i32);
            p.extend([int(inner), int(kd.len()), int(rd.len())]);
            p.extend(ints(&kd));
            p.extend(ks);
            p.extend(ints(&rd));
            p.extend(rs);
            vec![Plan::flat("reduce", p, count)]
        }
        OpKind::Softmax(sm) => {
            let xs = shape(node.inputs[0]);
            let outer = numel(&xs[..sm.axis]);
            let inner = numel(&xs[sm.axis + 1..]);
            let rows = outer * inner;
            let p = vec![
                x[0],
                x[1],
                y,
                int(rows),
                int(xs[sm.axis]),
                int(inner),
                i32::from(sm.log),
            ];
            vec![Plan::flat("softmax", p, rows)]
        }
        OpKind::Norm(norm) => {
            let xs = shape(node.inputs[0]);
            let (outer, len) = (numel(&xs[..norm.axes.start]), numel(&xs[norm.axes.clone()]));
            let inner = numel(&xs[norm.axes.end..]);
            let affine = |k: usize| node.inputs.get(k).map_or([0, 0], |&t| operand(c, t));
            let mut p = vec![x[0], x[1]];
            p.extend(affine(1));
            p.extend(affine(2));
            p.extend([y, int(outer * inner), int(len), int(inner)]);
            p.extend([
                i32::from(norm.kind == NormKind::Layer),
                i32::from(node.inputs.len() > 1),
                i32::from(node.inputs.len() > 2),
                (len as f32).to_bits() as i32,
                norm.epsilon.to_bits() as i32,
            ]);
            vec![Plan::flat("norm", p, outer * inner)]
        }
        OpKind::Gather(g) => {
            let xs = shape(node.inputs[0]);
            let indices = numel(shape(node.inputs[1]));
            let mut p = vec![x[0], x[1]];
            p.extend(operand(c, node.inputs[1]));
            p.extend([y, int(count), int(indices), int(xs[g.axis])]);
            p.push(int(numel(&xs[g.axis + 1..])));
            vec![Plan::flat("gather", p, count)]
        }
        OpKind::Lrn(lrn) => {
            let xs = shape(node.inputs[0]);
            let mut p = vec![x[0], x[1], y, int(count), int(xs[1]), int(numel(&xs[2..]))];
            p.push(int(lrn.size));
            let k = lrn.alpha / lrn.size as f32;
            p.extend([k, lrn.bias, lrn.beta].map(|v| v.to_bits() as i32));
            vec![Plan::flat("lrn", p, count)]
        }
    }
}
