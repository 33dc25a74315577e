//! Fusions of the lowered graph: chains of elementwise nodes, as exporters
//! write them, that one verdict op computes in one pass.

use verdict_dnn::ir::{ModelBuilder, ModelError, Node, TensorId};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::unary::{Unary, UnaryOp};

/// `sqrt(2/π)` and `0.044715`, GELU's tanh approximation's constants.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const CUBIC: f32 = 0.044_715;

/// GELU's tanh approximation as torch exports it (GPT-2's `NewGELU`):
/// `0.5 x · (1 + tanh(sqrt(2/π) · (x + 0.044715 x³)))`, nine nodes once `x³`
/// is two products, becomes one `Gelu(tanh)`, whose recipe computes the
/// same function in 30 instructions a value, without the cancellation of
/// `1 + tanh` for negative `x`. Each constant may stand on either side of
/// its operation; every node of the chain but the last must be read by the
/// chain alone, and none may be `output`.
///
/// # Errors
///
/// [`ModelError`] if a rewrite does not fit (a bug: the chain's shape is
/// `x`'s).
pub(crate) fn gelu_tanh(b: &mut ModelBuilder, output: TensorId) -> Result<usize, ModelError> {
    let chains: Vec<(usize, TensorId)> = {
        let graph = Graph::of(b, output);
        (0..b.nodes().len())
            .filter_map(|i| Some((i, graph.gelu_tanh(i)?)))
            .collect()
    };
    for &(i, x) in &chains {
        b.rewrite(
            i,
            OpKind::Unary(Unary {
                op: UnaryOp::GeluTanh,
            }),
            &[x],
        )?;
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

    /// The node computing `t` when it is an inner link of a chain: read
    /// once, and not the output.
    fn inner(&self, t: TensorId) -> Option<&'b Node> {
        (self.readers[t] == 1)
            .then(|| self.producer[t])
            .flatten()
            .map(|i| &self.builder.nodes()[i])
    }

    /// The other operand when `t` is an inner link computed by `op` with the
    /// constant `value` (one value, either side; within a few units in the
    /// last place, as exporters round it).
    fn with_constant(&self, t: TensorId, op: BinaryOp, value: f32) -> Option<TensorId> {
        let (u, v) = binary(self.inner(t)?, op)?;
        let is_value = |c: TensorId| {
            self.builder
                .data(c)
                .is_some_and(|d| d.len() == 1 && (d[0] - value).abs() <= 4.0 * f32::EPSILON * value)
        };
        if is_value(v) {
            Some(u)
        } else if is_value(u) {
            Some(v)
        } else {
            None
        }
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

    #[test]
    fn the_tanh_gelu_chain_becomes_one_op_either_way_round() {
        for swap in [false, true] {
            let (mut b, y) = chain(swap, false);
            let before = Compiled::new(b.clone().finish(y)).unwrap();
            assert_eq!(gelu_tanh(&mut b, y).unwrap(), 1);
            let after = Compiled::new(b.finish(y)).unwrap();
            assert_eq!(after.model.nodes.len(), 1, "swap {swap}");
            let x = [-3.0, -0.5, 0.0, 0.25, 1.0, 4.0];
            let (want, got) = (before.infer(&x).unwrap(), after.infer(&x).unwrap());
            assert!(
                want.iter().zip(&got).all(|(w, g)| (w - g).abs() <= 1e-6),
                "{want:?} {got:?}"
            );
        }
    }

    /// A link read outside the chain keeps the chain as it is.
    #[test]
    fn a_chain_read_from_outside_is_kept() {
        let (mut b, y) = chain(false, true);
        assert_eq!(gelu_tanh(&mut b, y).unwrap(), 0);
    }
}
