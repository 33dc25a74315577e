//! ReduceSum, ReduceMean, ReduceMax, ReduceMin over a set of axes.
//!
//! Canonical semantics: for every output index in row-major order,
//! `acc = init` (`+0` for sum and mean, `-inf` for max, `+inf` for min), then
//! for every reduced index in row-major order of the reduced axes
//! `acc = acc + x` / `max(acc, x)` / `min(acc, x)`; the mean divides once at
//! the end by the number of reduced elements (as binary32).

use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::semantics;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site, ints, reduce_code};
#[cfg(feature = "gpu")]
use crate::gpu::params::ReduceParams;
#[cfg(feature = "gpu")]
use crate::ir::numel;
use crate::kernels::copy::contiguous;
use crate::ops::{Io, NativeIo, ShapeError};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    /// Sum.
    Sum,
    /// Sum divided by the count.
    Mean,
    /// Maximum (NaN propagates).
    Max,
    /// Minimum (NaN propagates).
    Min,
}

/// A reduction over `axes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduce {
    /// Which reduction.
    pub kind: ReduceKind,
    /// Reduced axes, increasing.
    pub axes: Vec<usize>,
    /// Keep reduced axes as size 1.
    pub keepdims: bool,
}

impl Reduce {
    /// The ONNX name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
        }
    }

    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        let [x] = inputs else {
            return Err(ShapeError::Arity {
                expected: "1",
                got: inputs.len(),
            });
        };
        if self.axes.windows(2).any(|w| w[0] >= w[1]) || self.axes.iter().any(|&a| a >= x.len()) {
            return Err(ShapeError::Attributes(format!(
                "axes {:?} must be increasing and below rank {}",
                self.axes,
                x.len()
            )));
        }
        Ok((0..x.len())
            .filter_map(|d| match (self.axes.contains(&d), self.keepdims) {
                (false, _) => Some(x[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect())
    }

    fn init(&self) -> u32 {
        match self.kind {
            ReduceKind::Sum | ReduceKind::Mean => 0,
            ReduceKind::Max => 0xFF80_0000,
            ReduceKind::Min => 0x7F80_0000,
        }
    }

    fn op(&self) -> Op {
        match self.kind {
            ReduceKind::Sum | ReduceKind::Mean => Op::Fadd,
            ReduceKind::Max => Op::Fmax,
            ReduceKind::Min => Op::Fmin,
        }
    }

    /// Kept and reduced dimensions with their input strides, in elements.
    fn split(&self, shape: &[usize]) -> [(Vec<usize>, Vec<i64>); 2] {
        let s = contiguous(shape);
        let (mut kept, mut reduced) = ((vec![], vec![]), (vec![], vec![]));
        for d in 0..shape.len() {
            let part = if self.axes.contains(&d) {
                &mut reduced
            } else {
                &mut kept
            };
            part.0.push(shape[d]);
            part.1.push(s[d]);
        }
        [kept, reduced]
    }

    fn count(&self, shape: &[usize]) -> u32 {
        (self.axes.iter().map(|&a| shape[a]).product::<usize>() as f32).to_bits()
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let x = &io.inputs[0];
        let [(kept, ks), (reduced, rs)] = self.split(&x.shape);
        let bytes = |v: &[i64]| v.iter().map(|s| 4 * s).collect::<Vec<i64>>();
        let count = (self.kind == ReduceKind::Mean).then(|| e.constant(self.count(&x.shape)));
        let (init, op) = (self.init(), self.op());
        let outer_strides = vec![bytes(&ks), bytes(&contiguous(&kept))];
        e.nd_loop(&kept, &[x.addr, io.output.addr], &outer_strides, |e, p| {
            let acc = e.constant(init);
            let inner = e.copies(&p[..1]);
            let v = e.reg();
            e.nd_loop_from(&reduced, &inner, &[bytes(&rs)], |e, q| {
                e.b.load(Op::Lw, v, q[0], 0);
                e.b.float(op, acc, acc, v);
            });
            if let Some(c) = count {
                e.b.float(Op::Fdiv, acc, acc, c);
            }
            e.b.store(Op::Sw, acc, p[1], 0);
            for r in inner.into_iter().chain([v, acc]) {
                e.free(r);
            }
        });
        if let Some(c) = count {
            e.free(c);
        }
    }

    pub(crate) fn native(&self, io: &Io, data: NativeIo<'_>) {
        let shape = &io.inputs[0].shape;
        let [(kept, ks), (reduced, rs)] = self.split(shape);
        let offsets = |dims: &[usize], strides: &[i64]| -> Vec<i64> {
            let mut offs = vec![0i64];
            for (&n, &s) in dims.iter().zip(strides) {
                offs = offs
                    .iter()
                    .flat_map(|&o| (0..n as i64).map(move |i| o + i * s))
                    .collect();
            }
            offs
        };
        let (outer, inner) = (offsets(&kept, &ks), offsets(&reduced, &rs));
        let x = data.inputs[0];
        let y = &mut *data.output;
        y.fill(self.init());
        // One instance per rule, so that the rule inlines into the loop.
        match self.kind {
            ReduceKind::Sum | ReduceKind::Mean => fold(x, (&outer, &inner), y, semantics::f32_add),
            ReduceKind::Max => fold(x, (&outer, &inner), y, semantics::f32_max),
            ReduceKind::Min => fold(x, (&outer, &inner), y, semantics::f32_min),
        }
        if self.kind == ReduceKind::Mean {
            let count = self.count(shape);
            for y in y.iter_mut() {
                *y = semantics::f32_div(*y, count);
            }
        }
    }
}

/// `y[o] = f(… f(f(y[o], x[outer[o] + inner[0]]), x[outer[o] + inner[1]]) …)`:
/// each output one chain in the canonical order, from the value `y`
/// holds. Eight outputs go side by side: eight independent chains keep
/// the adder busy where one would wait on its own latency.
fn fold(x: &[u32], (outer, inner): (&[i64], &[i64]), y: &mut [u32], f: impl Fn(u32, u32) -> u32) {
    const BLOCK: usize = 8;
    for (ys, os) in y.chunks_mut(BLOCK).zip(outer.chunks(BLOCK)) {
        let mut acc = [0u32; BLOCK];
        acc[..ys.len()].copy_from_slice(ys);
        for &i in inner {
            for (acc, &o) in acc.iter_mut().zip(os) {
                *acc = f(*acc, x[(o + i) as usize]);
            }
        }
        ys.copy_from_slice(&acc[..ys.len()]);
    }
}

#[cfg(feature = "gpu")]
impl Reduce {
    /// The OpenCL launch (`reduce.cl`): one output a work item, over the
    /// kept and the reduced dimensions with their strides.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let x = s.shape(0);
        let st = ints(&crate::ops::strides(x)).collect::<Vec<_>>();
        let (mut kd, mut ks, mut rd, mut rs) = (vec![], vec![], vec![], vec![]);
        for d in 0..x.len() {
            if self.axes.contains(&d) {
                rd.push(x[d]);
                rs.push(st[d]);
            } else {
                kd.push(x[d]);
                ks.push(st[d]);
            }
        }
        let (reduced, count) = (numel(&rd), s.count());
        let p = ReduceParams {
            x: s.input(0),
            y: s.y(),
            count,
            kind: reduce_code(self.kind),
            divisor: reduced as f32,
            reduced,
            kept_rank: kd.len(),
            reduced_rank: rd.len(),
            kept_dims: kd,
            kept_strides: ks,
            reduced_dims: rd,
            reduced_strides: rs,
        };
        vec![Plan::flat("reduce", p, count)]
    }
}
