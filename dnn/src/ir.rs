//! The model IR: a graph of ops with static shapes over f32 tensors.

use serde::{Deserialize, Serialize};

use crate::generation::Generation;
use crate::ops::decode::{Decode, Encoding};
use crate::ops::{OpKind, ShapeError};
use crate::schema::Schema;
use crate::weights::Weights;

/// Index of a tensor in [`Model::tensors`].
pub type TensorId = usize;

/// A static shape, outermost dimension first.
pub type Shape = Vec<usize>;

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// A tensor: a weight when it has data, otherwise computed or input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    /// Name, for messages.
    pub name: String,
    /// Shape.
    pub shape: Shape,
    /// Constant contents (weights), row-major.
    pub data: Option<Weights>,
}

/// One op application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Name, for messages.
    pub name: String,
    /// The op and its attributes.
    pub op: OpKind,
    /// Input tensors, in the op's order.
    pub inputs: Vec<TensorId>,
    /// The output tensor.
    pub output: TensorId,
}

/// A named part of a model's input or output as its source graph has it:
/// the input (output) tensor holds the parts' values one after another,
/// each row-major, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The source graph's name for it.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// The values it holds (as binary32 values, whatever the kind).
    pub kind: ValueKind,
}

/// What a port's values are in the source graph. verdict holds them all as
/// binary32 values; integers and booleans exactly (docs/spec/kernels.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueKind {
    /// Floats.
    #[default]
    Float,
    /// Integers (token ids, positions), up to 2^24 in magnitude.
    Integer,
    /// Booleans: 0 or 1.
    Boolean,
}

impl ValueKind {
    /// Why `v` is not a value of this kind, if it is not.
    pub fn check(self, v: f32) -> Option<&'static str> {
        match self {
            ValueKind::Float => None,
            ValueKind::Integer if v.trunc() != v || v.abs() > (1 << 24) as f32 => {
                Some("an integer of magnitude at most 2^24")
            }
            ValueKind::Boolean if v != 0.0 && v != 1.0 => Some("0 or 1"),
            ValueKind::Integer | ValueKind::Boolean => None,
        }
    }
}

/// The parts of a model's input and output; empty for a model built
/// without names (one unnamed part each, of the tensor's own shape).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// The input's parts, in order.
    pub inputs: Vec<Port>,
    /// The output's parts, in order.
    pub outputs: Vec<Port>,
}

/// A model: one input, one output, nodes in execution order. A graph with
/// several inputs or outputs packs them into one of each ([`Ports`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Name.
    pub name: String,
    /// Every tensor.
    pub tensors: Vec<Tensor>,
    /// Nodes in execution order.
    pub nodes: Vec<Node>,
    /// The input tensor.
    pub input: TensorId,
    /// The output tensor.
    pub output: TensorId,
    /// The named parts of the input and the output.
    pub ports: Ports,
    /// How the input region holds the input's values: binary32 words
    /// (`None`), or packed integers that only [`Decode`] nodes read.
    pub input_encoding: Option<Encoding>,
    /// For a generation package: the prompt's vocabulary and where each
    /// new token is ([`crate::generation`]).
    pub generation: Option<Generation>,
    /// What the input and output parts mean ([`crate::schema`]).
    pub schema: Option<Schema>,
}

impl Model {
    /// Bytes of the input region's contents: a claim's input.
    pub fn input_bytes(&self) -> usize {
        let width = self.input_encoding.map_or(4, Encoding::width);
        width * numel(&self.tensors[self.input].shape)
    }

    /// The parts of the input: its ports, or the whole input as one part.
    pub fn input_ports(&self) -> Vec<Port> {
        self.parts(&self.ports.inputs, self.input)
    }

    /// The parts of the output: its ports, or the whole output as one part.
    pub fn output_ports(&self) -> Vec<Port> {
        self.parts(&self.ports.outputs, self.output)
    }

    fn parts(&self, ports: &[Port], t: TensorId) -> Vec<Port> {
        if ports.is_empty() {
            let tensor = &self.tensors[t];
            vec![Port {
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
                kind: ValueKind::Float,
            }]
        } else {
            ports.to_vec()
        }
    }
}

/// `data` cut into the parts `ports` name, in order (what the packing of
/// several inputs or outputs into one tensor puts one after another).
pub fn split<'a, T>(ports: &[Port], mut data: &'a [T]) -> Vec<&'a [T]> {
    ports
        .iter()
        .map(|p| {
            let (part, rest) = data.split_at(numel(&p.shape).min(data.len()));
            data = rest;
            part
        })
        .collect()
}

/// A malformed model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A node's inputs do not fit its op.
    #[error("node `{node}` ({op}): {source}")]
    Shape {
        /// Node name.
        node: String,
        /// Op name.
        op: &'static str,
        /// What does not fit (boxed: the error stays small on the happy
        /// path's `Result`).
        source: Box<ShapeError>,
    },
    /// A tensor id out of range, a tensor used before it is computed, or
    /// computed twice.
    #[error("node `{node}`: {message}")]
    Graph {
        /// Node name.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// A weight whose data does not match its shape.
    #[error("tensor `{0}`: data length does not match its shape")]
    WeightSize(String),
    /// Ports that do not add up to the tensor they divide.
    #[error("the {0} ports do not add up to the {0} tensor")]
    Ports(&'static str),
}

/// Builds a [`Model`] node by node, inferring output shapes.
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    model: Model,
}

impl ModelBuilder {
    /// A model whose input has `shape`.
    pub fn new(name: &str, input_shape: &[usize]) -> ModelBuilder {
        let input = Tensor {
            name: "input".into(),
            shape: input_shape.to_vec(),
            data: None,
        };
        ModelBuilder {
            model: Model {
                name: name.into(),
                tensors: vec![input],
                nodes: Vec::new(),
                input: 0,
                output: 0,
                ports: Ports::default(),
                input_encoding: None,
                generation: None,
                schema: None,
            },
        }
    }

    /// The input tensor.
    pub fn input(&self) -> TensorId {
        self.model.input
    }

    /// The shape of a tensor.
    pub fn shape(&self, t: TensorId) -> &[usize] {
        &self.model.tensors[t].shape
    }

    /// The data of a weight; `None` for a computed tensor.
    pub fn data(&self, t: TensorId) -> Option<&[f32]> {
        self.model.tensors[t].data.as_deref()
    }

    /// The node that computes `t`, if one does.
    pub fn producer(&self, t: TensorId) -> Option<&Node> {
        self.model.nodes.iter().rev().find(|n| n.output == t)
    }

    /// How many node inputs read `t`.
    pub fn readers(&self, t: TensorId) -> usize {
        let nodes = self.model.nodes.iter();
        nodes
            .map(|n| n.inputs.iter().filter(|&&i| i == t).count())
            .sum()
    }

    /// Adds a weight.
    ///
    /// # Errors
    ///
    /// [`ModelError::WeightSize`] if `data` does not have `numel(shape)` values.
    pub fn weight(
        &mut self,
        name: &str,
        shape: &[usize],
        data: Vec<f32>,
    ) -> Result<TensorId, ModelError> {
        if data.len() != numel(shape) {
            return Err(ModelError::WeightSize(name.into()));
        }
        self.model.tensors.push(Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            data: Some(data.into()),
        });
        Ok(self.model.tensors.len() - 1)
    }

    /// Adds a node and returns its output.
    ///
    /// # Errors
    ///
    /// [`ModelError::Shape`] if the inputs do not fit the op.
    pub fn node(
        &mut self,
        name: &str,
        op: OpKind,
        inputs: &[TensorId],
    ) -> Result<TensorId, ModelError> {
        let shape = self.output_shape(name, &op, inputs)?;
        self.model.tensors.push(Tensor {
            name: name.into(),
            shape,
            data: None,
        });
        let output = self.model.tensors.len() - 1;
        self.model.nodes.push(Node {
            name: name.into(),
            op,
            inputs: inputs.to_vec(),
            output,
        });
        Ok(output)
    }

    /// The shape `op` gives `inputs`, for node `name`.
    fn output_shape(
        &self,
        name: &str,
        op: &OpKind,
        inputs: &[TensorId],
    ) -> Result<Shape, ModelError> {
        let shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|&t| self.model.tensors[t].shape.as_slice())
            .collect();
        op.output_shape(&shapes)
            .map_err(|source| ModelError::Shape {
                node: name.into(),
                op: op.name(),
                source: Box::new(source),
            })
    }

    /// The nodes so far, in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.model.nodes
    }

    /// Makes node `index` compute its output as `op` of `inputs` instead (a
    /// chain of nodes fused into its last one); the nodes that no longer
    /// lead to the output are dropped by [`ModelBuilder::finish`].
    ///
    /// # Errors
    ///
    /// [`ModelError::Shape`] if the inputs do not fit the op, or
    /// [`ModelError::Graph`] if they give another shape than the node's.
    pub fn rewrite(
        &mut self,
        index: usize,
        op: OpKind,
        inputs: &[TensorId],
    ) -> Result<(), ModelError> {
        let node = &self.model.nodes[index];
        let shape = self.output_shape(&node.name, &op, inputs)?;
        if shape != self.model.tensors[node.output].shape {
            return Err(ModelError::Graph {
                node: node.name.clone(),
                message: format!("a rewrite to {} changes the shape", op.name()),
            });
        }
        let node = &mut self.model.nodes[index];
        node.op = op;
        node.inputs = inputs.to_vec();
        Ok(())
    }

    /// Declares the input as packed integers of `encoding` (a quarter or
    /// half the bytes to post) and gives their binary32 values, which
    /// every node then reads instead of the input.
    ///
    /// # Errors
    ///
    /// [`ModelError::Graph`] if the input is already read or declared.
    pub fn decoded_input(&mut self, encoding: Encoding) -> Result<TensorId, ModelError> {
        let input = self.model.input;
        if self.model.input_encoding.is_some()
            || self.model.nodes.iter().any(|n| n.inputs.contains(&input))
        {
            return Err(ModelError::Graph {
                node: "<input>".into(),
                message: "the input is decoded once, before any node reads it".into(),
            });
        }
        self.model.input_encoding = Some(encoding);
        self.node(
            "input.decoded",
            OpKind::Decode(Decode { from: encoding }),
            &[input],
        )
    }

    /// Names the parts of the input and the output.
    pub fn ports(&mut self, ports: Ports) {
        self.model.ports = ports;
    }

    /// Declares the model a generation package.
    pub fn generation(&mut self, generation: Generation) {
        self.model.generation = Some(generation);
    }

    /// The finished model with `output` as its output. Nodes nothing reads
    /// on the way to the output (a rewritten chain, a last decoder pass's
    /// cache) are dropped, and with them the tensors only they computed
    /// or read; the other tensors keep their order.
    pub fn finish(mut self, output: TensorId) -> Model {
        let model = &mut self.model;
        model.output = output;
        let mut live = vec![false; model.tensors.len()];
        live[output] = true;
        live[model.input] = true;
        if let Some(g) = &model.generation {
            g.tokens.iter().for_each(|&t| live[t] = true);
        }
        let mut keep = vec![false; model.nodes.len()];
        for (k, node) in model.nodes.iter().enumerate().rev() {
            if live[node.output] {
                keep[k] = true;
                node.inputs.iter().for_each(|&t| live[t] = true);
            }
        }
        let mut k = 0;
        model.nodes.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        let mut id = vec![usize::MAX; live.len()];
        let mut next = 0;
        for (t, &l) in live.iter().enumerate() {
            if l {
                id[t] = next;
                next += 1;
            }
        }
        let mut t = 0;
        model.tensors.retain(|_| {
            t += 1;
            live[t - 1]
        });
        for node in &mut model.nodes {
            node.output = id[node.output];
            node.inputs.iter_mut().for_each(|t| *t = id[*t]);
        }
        model.input = id[model.input];
        model.output = id[model.output];
        if let Some(g) = &mut model.generation {
            g.tokens.iter_mut().for_each(|t| *t = id[*t]);
        }
        self.model
    }
}

impl Model {
    /// Checks that the graph is well formed: ids in range, every input
    /// computed before use, every output computed once, shapes as the ops
    /// infer them, weights of the right size.
    ///
    /// # Errors
    ///
    /// The first [`ModelError`] found.
    pub fn validate(&self) -> Result<(), ModelError> {
        let n = self.tensors.len();
        let mut ready: Vec<bool> = self.tensors.iter().map(|t| t.data.is_some()).collect();
        for t in &self.tensors {
            if let Some(d) = &t.data
                && d.len() != numel(&t.shape)
            {
                return Err(ModelError::WeightSize(t.name.clone()));
            }
        }
        let graph = |node: &str, message: String| ModelError::Graph {
            node: node.into(),
            message,
        };
        if self.input >= n || self.output >= n {
            return Err(graph(
                "<model>",
                "input or output tensor id out of range".into(),
            ));
        }
        ready[self.input] = true;
        if self.input_encoding.is_some() && self.output == self.input {
            return Err(graph(
                "<model>",
                "an encoded input cannot be the output".into(),
            ));
        }
        for node in &self.nodes {
            if node.output >= n || node.inputs.iter().any(|&i| i >= n) {
                return Err(graph(&node.name, "tensor id out of range".into()));
            }
            let fits = match &node.op {
                OpKind::Decode(d) => {
                    node.inputs == [self.input] && self.input_encoding == Some(d.from)
                }
                _ => self.input_encoding.is_none() || !node.inputs.contains(&self.input),
            };
            if !fits {
                return Err(graph(
                    &node.name,
                    "an encoded input is read by Decode nodes of its encoding alone, \
                     and Decode reads nothing else"
                        .into(),
                ));
            }
            if let Some(&i) = node.inputs.iter().find(|&&i| !ready[i]) {
                return Err(graph(
                    &node.name,
                    format!(
                        "input `{}` is used before it is computed",
                        self.tensors[i].name
                    ),
                ));
            }
            if ready[node.output] {
                return Err(graph(&node.name, "output is already computed".into()));
            }
            let shapes: Vec<&[usize]> = node
                .inputs
                .iter()
                .map(|&t| self.tensors[t].shape.as_slice())
                .collect();
            let shape = node
                .op
                .output_shape(&shapes)
                .map_err(|source| ModelError::Shape {
                    node: node.name.clone(),
                    op: node.op.name(),
                    source: Box::new(source),
                })?;
            if shape != self.tensors[node.output].shape {
                return Err(graph(
                    &node.name,
                    format!(
                        "output shape {:?} but the op gives {shape:?}",
                        self.tensors[node.output].shape
                    ),
                ));
            }
            ready[node.output] = true;
        }
        if !ready[self.output] {
            return Err(graph("<model>", "the output is never computed".into()));
        }
        for (what, ports, t) in [
            ("input", &self.ports.inputs, self.input),
            ("output", &self.ports.outputs, self.output),
        ] {
            let total: usize = ports.iter().map(|p| numel(&p.shape)).sum();
            if !ports.is_empty() && total != numel(&self.tensors[t].shape) {
                return Err(ModelError::Ports(what));
            }
        }
        match &self.generation {
            Some(g) => g.validate(self),
            None => Ok(()),
        }
    }
}
