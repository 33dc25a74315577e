//! The VM code generator: a model's ops, in order, as one program, with the
//! op boundary table computed while emitting.

use std::sync::Arc;

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};
use verdict_vm::memory::Memory;

use crate::emit::Emitter;
use crate::ir::{Model, ModelError, TensorId};
use crate::ops::{Io, Operand};
use crate::plan::{Layout, PlanError, WEIGHTS_BASE, plan};

/// A compiled model: its program, its memory layout and its step table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// The program bytes, loaded at address 0.
    pub code: Vec<u8>,
    /// Where every tensor lives.
    pub layout: Layout,
    /// `boundaries[i]` is the step at which op `i` starts; the last entry is
    /// the step of the final `halt`.
    pub boundaries: Vec<u64>,
    /// The pc at which op `i` starts; the last entry is the `halt`.
    pub op_pcs: Vec<u32>,
    /// Steps from the initial state to the halted state.
    pub total_steps: u64,
}

/// Why a model does not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The model is malformed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The model does not fit in memory.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The program exceeds the code region below the weights.
    #[error("program is {0} bytes, more than the code region holds")]
    CodeSize(usize),
    /// A kernel emitted control flow whose step count is not static.
    #[error("kernel of node `{0}` has data-dependent control flow")]
    Unstructured(String),
}

/// The inputs, output and scratch of node `n` as kernels see them.
pub fn node_io(model: &Model, layout: &Layout, n: usize) -> Io {
    let node = &model.nodes[n];
    let operand = |t: TensorId| Operand {
        addr: layout.tensors[t],
        shape: model.tensors[t].shape.clone(),
    };
    Io {
        inputs: node.inputs.iter().map(|&t| operand(t)).collect(),
        output: operand(node.output),
        scratch: layout.scratch[n]
            .iter()
            .map(|&(addr, words)| Operand {
                addr,
                shape: vec![words],
            })
            .collect(),
    }
}

/// Compiles a model.
///
/// # Errors
///
/// [`CompileError`] for a malformed model, one too large for memory, or (a
/// bug) a kernel whose step count is not static.
pub fn compile(model: &Model) -> Result<Program, CompileError> {
    model.validate()?;
    let layout = plan(model)?;
    let mut e = Emitter::new();
    let mut boundaries = Vec::with_capacity(model.nodes.len() + 1);
    let mut op_pcs = Vec::with_capacity(model.nodes.len() + 1);
    for (n, node) in model.nodes.iter().enumerate() {
        boundaries.push(
            e.b.static_steps()
                .ok_or_else(|| CompileError::Unstructured(node.name.clone()))?,
        );
        op_pcs.push(e.b.here());
        node.op.emit(&mut e, &node_io(model, &layout, n));
    }
    let halt_step =
        e.b.static_steps()
            .ok_or_else(|| CompileError::Unstructured("<program>".into()))?;
    boundaries.push(halt_step);
    op_pcs.push(e.b.here());
    e.b.halt(0, 0);
    let code =
        e.b.finish()
            .map_err(|_| CompileError::Unstructured("<program>".into()))?;
    if code.len() > crate::plan::WEIGHTS_BASE as usize {
        return Err(CompileError::CodeSize(code.len()));
    }
    Ok(Program {
        code,
        layout,
        boundaries,
        op_pcs,
        total_steps: halt_step + 1,
    })
}

impl Program {
    /// The weight region's words, from [`WEIGHTS_BASE`] to the end of the
    /// weights: each weight's bits at its address, zeros between.
    pub fn weight_region(&self, model: &Model) -> Arc<[u32]> {
        let layout = &self.layout;
        let len = ((layout.weights_end - WEIGHTS_BASE) / 4) as usize;
        // Filled in place: a `Vec` would be copied once more into the `Arc`.
        // SAFETY: all-zero bits are a valid `u32`.
        let mut region = unsafe { Arc::<[u32]>::new_zeroed_slice(len).assume_init() };
        let words = Arc::get_mut(&mut region).expect("not shared yet");
        for (id, t) in model.tensors.iter().enumerate() {
            if let Some(data) = &t.data {
                let at = ((layout.tensors[id] - WEIGHTS_BASE) / 4) as usize;
                words[at..at + data.len()].copy_from_slice(data.bits());
            }
        }
        region
    }

    /// Memory holding the code and the weights, nothing else: `region`,
    /// the [`Program::weight_region`], mapped in place.
    pub fn image_of(&self, region: Arc<[u32]>) -> Memory {
        let mut m = Memory::new();
        m.write_bytes(0, &self.code);
        m.map_rom(WEIGHTS_BASE, region);
        m
    }

    /// Memory holding the code and `model`'s weights, nothing else.
    pub fn image(&self, model: &Model) -> Memory {
        self.image_of(self.weight_region(model))
    }

    /// The memory root with a zeroed input region: what a model id commits to.
    pub fn image_root(&self, model: &Model) -> B256 {
        self.image(model).root()
    }
}
