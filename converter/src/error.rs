//! The converter's errors: typed, so callers can match on what went wrong.

use std::fmt;

use verdict_dnn::ir::ModelError;
use verdict_dnn::package::PackageError;

/// A graph node the converter cannot map onto verdict ops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The node's name in tract's decluttered graph.
    pub node: String,
    /// tract's op name (see [`crate::registry`]).
    pub op: String,
    /// Why, when the op is known but this use of it is not.
    pub reason: Option<String>,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.node, self.op)?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// Every unsupported node of a model, with the supported op names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedNodes(pub Vec<Unsupported>);

impl fmt::Display for UnsupportedNodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} unsupported node(s):", self.0.len())?;
        for u in &self.0 {
            writeln!(f, "  - {u}")?;
        }
        let names: Vec<&str> = crate::registry::REGISTRY.iter().map(|e| e.tract).collect();
        write!(f, "supported tract ops: {}", names.join(", "))
    }
}

/// Why an ONNX model could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// tract could not read, type or declutter the model.
    #[error("tract: {stage}: {message}")]
    Tract {
        /// What tract was doing.
        stage: &'static str,
        /// tract's message, with its causes.
        message: String,
    },
    /// Input preprocessing that does not fit the model's input.
    #[error("input preprocessing: {0}")]
    Preprocess(String),
    /// A decoder that cannot be unrolled into a generation program, or a
    /// generation that cannot be asked of it.
    #[error("generation: {0}")]
    Generation(String),
    /// A generation pass that tract or the lowering could not convert.
    #[error(
        "generation pass {pass} (sequence length {len}; is it past the model's positions?): {source}"
    )]
    Pass {
        /// The pass: 0 prefills the prompt, `k` decodes token `k`.
        pass: usize,
        /// Tokens the pass has seen, its own included.
        len: usize,
        /// What failed.
        source: Box<ConvertError>,
    },
    /// An `--input-shape` that does not parse or names no input.
    #[error("input shape `{spec}`: {message}")]
    InputShape {
        /// The specification as given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// A constant that binds no graph input or does not fit it.
    #[error("constant for input `{name}`: {message}")]
    Constant {
        /// The input it was given for.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A selected graph output the model does not have.
    #[error("graph output `{name}` not found; the graph outputs are: {outputs}")]
    Output {
        /// The name asked for.
        name: String,
        /// The model's graph outputs.
        outputs: String,
    },
    /// An input whose shape is not fully known.
    #[error(
        "input `{name}` has a symbolic shape {shape}; give it with --input-shape {name}=1x3x224x224 (your dimensions)"
    )]
    SymbolicInput {
        /// The input's name.
        name: String,
        /// Its shape as tract sees it.
        shape: String,
    },
    /// A graph without an input or without an output.
    #[error(
        "the model has {inputs} input(s) and {outputs} output(s); verdict models take at least one of each"
    )]
    Arity {
        /// Number of (non-constant) inputs.
        inputs: usize,
        /// Number of outputs.
        outputs: usize,
    },
    /// The input or output is not a float tensor.
    #[error("{what} `{name}` is {datum}; verdict models compute on f32 tensors only")]
    DatumType {
        /// "input" or "output".
        what: &'static str,
        /// Its name.
        name: String,
        /// Its datum type.
        datum: String,
    },
    /// The output does not depend on the input.
    #[error("the output `{0}` is a constant: it does not depend on the input")]
    ConstantOutput(String),
    /// Some nodes have no verdict equivalent.
    #[error("{0}")]
    Unsupported(UnsupportedNodes),
    /// The verdict model is malformed (a converter bug).
    #[error("building the verdict model: {0}")]
    Model(#[from] ModelError),
    /// Compiling the verdict model failed (too large, ...).
    #[error("compiling the verdict model: {0}")]
    Package(#[from] PackageError),
}

impl ConvertError {
    /// Wraps a tract error with the stage that failed.
    pub(crate) fn tract(stage: &'static str, e: impl fmt::Debug) -> ConvertError {
        ConvertError::Tract {
            stage,
            message: one_line(&format!("{e:?}")),
        }
    }
}

/// tract's `{:?}` lists causes over several lines; keep them on one.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Caused by:")
        .collect::<Vec<_>>()
        .join(": ")
}
