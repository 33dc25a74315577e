//! A summary of a package: ops, shapes, parameters, memory layout, VM steps
//! per op and in total, and the image root.

use std::fmt;

use serde::Serialize;
use verdict_dnn::ir::{Model, Port, ValueKind, numel};
use verdict_dnn::package::Package;
use verdict_dnn::plan::Region;
use verdict_dnn::schema::{PartSchema, Schema};

/// One op of a package.
#[derive(Clone, Debug, Serialize)]
pub struct OpSummary {
    /// Position in execution order.
    pub index: usize,
    /// Node name.
    pub name: String,
    /// Op name.
    pub op: String,
    /// Input shapes (weights marked).
    pub inputs: Vec<String>,
    /// Output shape.
    pub output: Vec<usize>,
    /// Address of the output tensor.
    pub address: u32,
    /// VM step at which the op starts.
    pub first_step: u64,
    /// VM steps the op takes.
    pub steps: u64,
}

/// A package at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Model name.
    pub name: String,
    /// Memory root with a zeroed input: what a model id commits to.
    pub image_root: String,
    /// Input shape.
    pub input_shape: Vec<usize>,
    /// Output shape.
    pub output_shape: Vec<usize>,
    /// The named parts of the input, in order.
    pub inputs: Vec<Port>,
    /// The named parts of the output, in order.
    pub outputs: Vec<Port>,
    /// The input region.
    pub input_region: Region,
    /// The output region.
    pub output_region: Region,
    /// Number of weight values.
    pub parameters: usize,
    /// Program size in bytes.
    pub code_bytes: usize,
    /// End of the weights (they start at `verdict_dnn::plan::WEIGHTS_BASE`).
    pub weights_end: u32,
    /// End of all writable memory used.
    pub ram_end: u64,
    /// VM steps from the initial state to the halted state.
    pub total_steps: u64,
    /// For a generation package: what it generates.
    pub generation: Option<GenerationSummary>,
    /// What the input and output parts mean, if the package says.
    pub schema: Option<Schema>,
    /// The ops in execution order.
    pub ops: Vec<OpSummary>,
}

/// What a generation package generates.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationSummary {
    /// Tokens in every prompt.
    pub prompt_len: usize,
    /// Tokens generated.
    pub max_new_tokens: usize,
    /// The vocabulary's size.
    pub vocab: usize,
    /// The end-of-sequence id, if any.
    pub eos: Option<u32>,
    /// Drawn with a seed, temperature, top-k and top-p, or greedy.
    pub sampled: bool,
    /// Whether the package carries a tokenizer (text prompts).
    pub tokenizer: bool,
}

impl GenerationSummary {
    /// The generation of `model`, if it is a generation package.
    pub fn of(model: &Model) -> Option<GenerationSummary> {
        model.generation.as_ref().map(|g| GenerationSummary {
            prompt_len: g.prompt_len(model),
            max_new_tokens: g.max_new_tokens(),
            vocab: g.vocab,
            eos: g.eos,
            sampled: g.sampled,
            tokenizer: g.tokenizer.is_some(),
        })
    }
}

impl Summary {
    /// Summarises `package`.
    pub fn of(package: &Package) -> Summary {
        let model = &package.model;
        let program = &package.program;
        let ops = model
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| OpSummary {
                index,
                name: node.name.clone(),
                op: node.op.name().to_string(),
                inputs: node
                    .inputs
                    .iter()
                    .map(|&t| {
                        let tensor = &model.tensors[t];
                        let mark = if tensor.data.is_some() { "w" } else { "" };
                        format!("{mark}{:?}", tensor.shape)
                    })
                    .collect(),
                output: model.tensors[node.output].shape.clone(),
                address: program.layout.tensors[node.output],
                first_step: program.boundaries[index],
                steps: program.boundaries[index + 1] - program.boundaries[index],
            })
            .collect();
        Summary {
            name: model.name.clone(),
            image_root: package.image_root.to_string(),
            input_shape: model.tensors[model.input].shape.clone(),
            output_shape: model.tensors[model.output].shape.clone(),
            inputs: model.input_ports(),
            outputs: model.output_ports(),
            input_region: program.layout.input,
            output_region: program.layout.output,
            parameters: model
                .tensors
                .iter()
                .filter(|t| t.data.is_some())
                .map(|t| numel(&t.shape))
                .sum(),
            code_bytes: program.code.len(),
            weights_end: program.layout.weights_end,
            ram_end: program.layout.ram_end,
            total_steps: program.total_steps,
            generation: GenerationSummary::of(model),
            schema: model.schema.clone(),
            ops,
        }
    }
}

/// A part's schema in a line.
fn describe(part: &PartSchema) -> String {
    let mut said = Vec::new();
    if let Some(d) = &part.description {
        said.push(d.clone());
    }
    if let Some([min, max]) = part.range {
        said.push(format!("values in [{min}, {max}]"));
    }
    if let Some(i) = &part.image {
        let scale = i.scale.map_or_else(String::new, |s| format!(", / {s}"));
        let norm = if i.mean.is_empty() && i.std.is_empty() {
            String::new()
        } else {
            format!(", mean {:?} std {:?}", i.mean, i.std)
        };
        said.push(format!(
            "{}×{} {} image, {}{scale}{norm}",
            i.height, i.width, i.channels, i.layout
        ));
    }
    if !part.labels.is_empty() {
        let shown: Vec<&str> = part.labels.iter().take(5).map(String::as_str).collect();
        let more = if part.labels.len() > 5 { ", …" } else { "" };
        said.push(format!(
            "{} labels ({}{more})",
            part.labels.len(),
            shown.join(", ")
        ));
    }
    said.join("; ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model        {}", self.name)?;
        writeln!(f, "image root   {}", self.image_root)?;
        writeln!(
            f,
            "input        {:?} at {:#010x} ({} bytes)",
            self.input_shape, self.input_region.addr, self.input_region.size
        )?;
        writeln!(
            f,
            "output       {:?} at {:#010x} ({} bytes)",
            self.output_shape, self.output_region.addr, self.output_region.size
        )?;
        for (what, ports) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            let list: Vec<String> = ports
                .iter()
                .map(|p| match p.kind {
                    ValueKind::Float => format!("{} {:?}", p.name, p.shape),
                    kind => format!("{} {:?} {kind:?}", p.name, p.shape).to_lowercase(),
                })
                .collect();
            writeln!(f, "{what:<13}{}", list.join(", "))?;
        }
        writeln!(f, "parameters   {}", self.parameters)?;
        writeln!(
            f,
            "memory       code {} bytes, weights end {:#010x}, ram end {:#x}",
            self.code_bytes, self.weights_end, self.ram_end
        )?;
        writeln!(f, "VM steps     {}", self.total_steps)?;
        if let Some(g) = &self.generation {
            let eos = g
                .eos
                .map_or_else(String::new, |id| format!(", stops at {id}"));
            let how = if g.sampled { "sampled" } else { "greedy" };
            let text = if g.tokenizer {
                ", with its tokenizer"
            } else {
                ""
            };
            writeln!(
                f,
                "generation   {} tokens after a prompt of {}, {how}, vocabulary {}{eos}{text}",
                g.max_new_tokens, g.prompt_len, g.vocab
            )?;
        }
        if let Some(schema) = &self.schema {
            let parts = [("input", &schema.inputs), ("output", &schema.outputs)];
            for (what, part) in parts
                .iter()
                .flat_map(|(w, ps)| ps.iter().map(move |p| (w, p)))
            {
                writeln!(f, "schema       {what} {}: {}", part.name, describe(part))?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:>4}  {:<18} {:<28} {:<20} {:>12}  {:>14}  name",
            "#", "op", "inputs", "output", "address", "steps"
        )?;
        for op in &self.ops {
            writeln!(
                f,
                "{:>4}  {:<18} {:<28} {:<20} {:>#12x}  {:>14}  {}",
                op.index,
                op.op,
                op.inputs.join(" "),
                format!("{:?}", op.output),
                op.address,
                op.steps,
                op.name
            )?;
        }
        Ok(())
    }
}
