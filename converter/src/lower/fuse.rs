//! Fusions of the lowered graph: chains of elementwise nodes, as exporters
//! write them, that one verdict op computes in one pass.

use verdict_dnn::ir::{ModelBuilder, ModelError, Node, TensorId};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::unary::{Unary, UnaryOp};

/// `sqrt(2/π)` and `0.044715`, GELU's tanh approximation's constants.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const CUBIC: f32 = 0.044_715;

/// GELU as torch exports it, each chain of nodes fused into one op that
/// computes the same function in one pass:
/// - the tanh approximation (GPT-2's `NewGELU`), `0.5 x · (1 + tanh(sqrt(2/π)
///   · (x + 0.044715 x³)))`, nine nodes once `x³` is two products, becomes
///   `Gelu(tanh)`, whose recipe takes 30 instructions a value and has no
///   cancellation of `1 + tanh` for negative `x`;
/// - the exact GELU (BERT's), `x · 0.5 · (1 + erf(x / sqrt 2))` (or
///   `x · (1 + erf(…)) · 0.5`, or with `x · (1/sqrt 2)`), five nodes,
///   becomes `Gelu`.
///
/// Each constant may stand on either side of its operation (a divisor on
/// its own side only); every node of a chain but the last must be read by
/// the chain alone, and none may be `output`. Returns how many chains were
/// fused.
///
/// # Errors
///
/// [`ModelError`] if a rewrite does not fit (a bug: a chain's shape is
/// `x`'s).
pub(crate) fn gelu(b: &mut ModelBuilder, output: TensorId) -> Result<usize, ModelError> {
    let chains: Vec<(usize, TensorId, UnaryOp)> = {
        let graph = Graph::of(b, output);
        (0..b.nodes().len())
            .filter_map(|i| {
                let tanh = graph.gelu_tanh(i).map(|x| (i, x, UnaryOp::GeluTanh));
                tanh.or_else(|| graph.gelu_erf(i).map(|x| (i, x, UnaryOp::GeluExact)))
            })
            .collect()
    };
    for &(i, x, op) in &chains {
        b.rewrite(i, OpKind::Unary(Unary { op }), &[x])?;
    }
    Ok(chains.len())
}

/// Who computes and who reads each tensor.
struct Graph<'b> {
    builder: &'b ModelBuilder,
    /// Per tensor, the node that computes it.
    producer: Vec<Option<usize>>,
    /// Per tensor, how many node inputs read it (the output counts twice,
    /// so that it is never an inner link of a chain).
    readers: Vec<usize>,
}

impl<'b> Graph<'b> {
    fn of(builder: &'b ModelBuilder, output: TensorId) -> Graph<'b> {
        let tensors = builder
            .nodes()
            .iter()
            .flat_map(|n| n.inputs.iter().chain([&n.output]))
            .chain([&output])
            .max()
            .map_or(0, |&t| t + 1);
        let mut producer = vec![None; tensors];
        let mut readers = vec![0; tensors];
        for (i, n) in builder.nodes().iter().enumerate() {
            producer[n.output] = Some(i);
            for &t in &n.inputs {
                readers[t] += 1;
            }
        }
        readers[output] += 2;
        Graph {
            builder,
            producer,
            readers,
        }
    }

    /// `x` if node `i` ends a tanh GELU of `x`.
    fn gelu_tanh(&self, i: usize) -> Option<TensorId> {
        let (u, v) = binary(&self.builder.nodes()[i], BinaryOp::Mul)?;
        let (x, d) = [(u, v), (v, u)]
            .into_iter()
            .find_map(|(h, d)| Some((self.with_constant(h, BinaryOp::Mul, 0.5)?, d)))?;
        let t = self.inner(self.with_constant(d, BinaryOp::Add, 1.0)?)?;
        let OpKind::Unary(Unary { op: UnaryOp::Tanh }) = t.op else {
            return None;
        };
        let sum = self.with_constant(t.inputs[0], BinaryOp::Mul, SQRT_2_OVER_PI)?;
        let a = match binary(self.inner(sum)?, BinaryOp::Add)? {
            (s, a) if s == x => a,
            (a, s) if s == x => a,
            _ => return None,
        };
        let cube = self.with_constant(a, BinaryOp::Mul, CUBIC)?;
        let square = match binary(self.inner(cube)?, BinaryOp::Mul)? {
            (s, r) if r == x => s,
            (r, s) if r == x => s,
            _ => return None,
        };
        (binary(self.inner(square)?, BinaryOp::Mul)? == (x, x)).then_some(x)
    }

    /// `x` if node `i` ends an exact GELU of `x`: `x · (0.5 · a)` or
    /// `(0.5 · x) · a`, with `a` = `1 + erf(x / sqrt 2)`.
    fn gelu_erf(&self, i: usize) -> Option<TensorId> {
        let (u, v) = binary(&self.builder.nodes()[i], BinaryOp::Mul)?;
        [(u, v), (v, u)].into_iter().find_map(|(p, q)| {
            let halved = self.with_constant(q, BinaryOp::Mul, 0.5)?;
            let x = [(p, halved), (halved, p)]
                .into_iter()
                .find_map(|(x, a)| self.erf_of(a).filter(|&e| e == x))?;
            Some(x)
        })
    }

    /// `x` when `a` is an inner link computing `1 + erf(x / sqrt 2)`.
    fn erf_of(&self, a: TensorId) -> Option<TensorId> {
        let e = self.inner(self.with_constant(a, BinaryOp::Add, 1.0)?)?;
        let OpKind::Unary(Unary { op: UnaryOp::Erf }) = e.op else {
            return None;
        };
        let d = e.inputs[0];
        self.with_constant(d, BinaryOp::Mul, std::f32::consts::FRAC_1_SQRT_2)
            .or_else(|| {
                let (x, c) = binary(self.inner(d)?, BinaryOp::Div)?;
                self.is_constant(c, std::f32::consts::SQRT_2).then_some(x)
            })
    }

    /// The node computing `t` when it is an inner link of a chain: read
    /// once, and not the output.
    fn inner(&self, t: TensorId) -> Option<&'b Node> {
        (self.readers[t] == 1)
            .then(|| self.producer[t])
            .flatten()
            .map(|i| &self.builder.nodes()[i])
    }

    /// The other operand when `t` is an inner link computed by `op` with the
    /// constant `value` on either side.
    fn with_constant(&self, t: TensorId, op: BinaryOp, value: f32) -> Option<TensorId> {
        let (u, v) = binary(self.inner(t)?, op)?;
        if self.is_constant(v, value) {
            Some(u)
        } else if self.is_constant(u, value) {
            Some(v)
        } else {
            None
        }
    }

    /// Whether `c` is the constant `value` (one value, within a few units in
    /// the last place, as exporters round it).
    fn is_constant(&self, c: TensorId, value: f32) -> bool {
        self.builder
            .data(c)
            .is_some_and(|d| d.len() == 1 && (d[0] - value).abs() <= 4.0 * f32::EPSILON * value)
    }
}

/// The operands of `node` when it computes `op`.
fn binary(node: &Node, op: BinaryOp) -> Option<(TensorId, TensorId)> {
    match node.op {
        OpKind::Binary(Binary { op: o }) if o == op => Some((node.inputs[0], node.inputs[1])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use verdict_dnn::engine::Compiled;
    use verdict_dnn::ir::ModelBuilder;

    use super::*;

    fn bin(b: &mut ModelBuilder, op: BinaryOp, x: TensorId, y: TensorId) -> TensorId {
        b.node("n", OpKind::Binary(Binary { op }), &[x, y]).unwrap()
    }

    /// The chain with each constant on the side `swap` says, and `tap`
    /// reading `tanh`'s input as a second output when set.
    fn chain(swap: bool, tap: bool) -> (ModelBuilder, TensorId) {
        let mut b = ModelBuilder::new("gelu", &[2, 3]);
        let x = b.input();
        let k = |b: &mut ModelBuilder, v: f32| b.weight("k", &[1, 1], vec![v]).unwrap();
        let with = |b: &mut ModelBuilder, op, t, v| {
            let c = k(b, v);
            if swap {
                bin(b, op, c, t)
            } else {
                bin(b, op, t, c)
            }
        };
        let half = with(&mut b, BinaryOp::Mul, x, 0.5);
        let square = bin(&mut b, BinaryOp::Mul, x, x);
        let cube = bin(&mut b, BinaryOp::Mul, square, x);
        let a = with(&mut b, BinaryOp::Mul, cube, CUBIC);
        let sum = bin(&mut b, BinaryOp::Add, x, a);
        let c = with(&mut b, BinaryOp::Mul, sum, SQRT_2_OVER_PI);
        let t = b
            .node("tanh", OpKind::Unary(Unary { op: UnaryOp::Tanh }), &[c])
            .unwrap();
        let d = with(&mut b, BinaryOp::Add, t, 1.0);
        let mut y = bin(&mut b, BinaryOp::Mul, half, d);
        if tap {
            y = bin(&mut b, BinaryOp::Add, y, c);
        }
        (b, y)
    }

    /// The chain ending in `y` becomes one op, whose values are the
    /// chain's within 1e-6.
    fn fuses_to_one_op(mut b: ModelBuilder, y: TensorId) {
        let before = Compiled::new(b.clone().finish(y)).unwrap();
        assert_eq!(gelu(&mut b, y).unwrap(), 1);
        let after = Compiled::new(b.finish(y)).unwrap();
        assert_eq!(after.model.nodes.len(), 1);
        let x = [-3.0, -0.5, 0.0, 0.25, 1.0, 4.0];
        let (want, got) = (before.infer(&x).unwrap(), after.infer(&x).unwrap());
        assert!(
            want.iter().zip(&got).all(|(w, g)| (w - g).abs() <= 1e-6),
            "{want:?} {got:?}"
        );
    }

    #[test]
    fn the_tanh_gelu_chain_becomes_one_op_either_way_round() {
        for swap in [false, true] {
            let (b, y) = chain(swap, false);
            fuses_to_one_op(b, y);
        }
    }

    /// The exact GELU in both shapes torch writes, the scaling by
    /// `1/sqrt 2` a product or a quotient.
    #[test]
    fn the_erf_gelu_chain_becomes_one_op() {
        for halve_x in [false, true] {
            let mut b = ModelBuilder::new("gelu", &[2, 3]);
            let x = b.input();
            let k = |b: &mut ModelBuilder, v: f32| b.weight("k", &[1, 1], vec![v]).unwrap();
            let d = if halve_x {
                let c = k(&mut b, std::f32::consts::SQRT_2);
                bin(&mut b, BinaryOp::Div, x, c)
            } else {
                let c = k(&mut b, std::f32::consts::FRAC_1_SQRT_2);
                bin(&mut b, BinaryOp::Mul, c, x)
            };
            let e = b
                .node("erf", OpKind::Unary(Unary { op: UnaryOp::Erf }), &[d])
                .unwrap();
            let one = k(&mut b, 1.0);
            let a = bin(&mut b, BinaryOp::Add, e, one);
            let half = k(&mut b, 0.5);
            let y = if halve_x {
                let h = bin(&mut b, BinaryOp::Mul, half, x);
                bin(&mut b, BinaryOp::Mul, h, a)
            } else {
                let h = bin(&mut b, BinaryOp::Mul, a, half);
                bin(&mut b, BinaryOp::Mul, x, h)
            };
            fuses_to_one_op(b, y);
        }
    }

    /// A link read outside the chain keeps the chain as it is.
    #[test]
    fn a_chain_read_from_outside_is_kept() {
        let (mut b, y) = chain(false, true);
        assert_eq!(gelu(&mut b, y).unwrap(), 0);
    }
}
