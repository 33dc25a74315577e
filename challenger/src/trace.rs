//! The trace provider: the true state at any step of a model's run, from the
//! native engine's op-boundary images and, inside one op, the VM started from
//! that op's boundary. No whole trace is kept: only the boundary machines
//! (copy-on-write images) and the machines at steps already asked for.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::{B256, Bytes};
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::rules::LEVEL_OPS;
use verdict_vm::Machine;

use crate::model::{EngineError, ModelInfo};

/// Snapshots kept at most; past it the one at the lowest step is dropped.
const MAX_SNAPSHOTS: usize = 64;

/// The true run of a model on one input.
#[derive(Debug)]
pub struct Trace {
    model: Arc<ModelInfo>,
    input: Vec<f32>,
    /// The machine at the start of each op, then at the final `halt`.
    boundaries: Vec<Machine>,
    /// The halted machine.
    last: Machine,
    /// Machines at steps already reached inside ops, to run forward from.
    snapshots: BTreeMap<u64, Machine>,
}

/// A claim as a submitter posts it.
#[derive(Clone, Debug)]
pub struct ClaimData {
    /// The `submit` call (the bond is the transaction's value).
    pub call: ClaimManager::submitCall,
    /// The final state's hash.
    pub final_hash: B256,
    /// The output values claimed.
    pub output: Vec<f32>,
}

impl Trace {
    /// Runs `model` on `input` with its engine (native, or GPU if chosen).
    ///
    /// # Errors
    ///
    /// [`EngineError`] if the input has the wrong length or the device fails.
    pub fn new(model: Arc<ModelInfo>, input: &[f32]) -> Result<Trace, EngineError> {
        let boundaries = model.boundaries(input)?;
        let mut last = boundaries.last().expect("a halt boundary").clone();
        last.step();
        Ok(Trace {
            model,
            input: input.to_vec(),
            boundaries,
            last,
            snapshots: BTreeMap::new(),
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<ModelInfo> {
        &self.model
    }

    /// The true output values.
    pub fn output(&self) -> Vec<f32> {
        self.read_output(&self.last)
    }

    fn read_output(&self, m: &Machine) -> Vec<f32> {
        let addr = self.model.compiled.program.layout.output.addr;
        f32s(&m.read_bytes(addr, self.model.output_bytes()))
    }

    /// The true final state's hash.
    pub fn final_hash(&self) -> B256 {
        self.last.clone().state_hash()
    }

    /// The claim of this run, from `model_id`, with its output values as
    /// `edit` leaves them: the true ones, or changed with a final state to
    /// match.
    pub fn claim(&self, model_id: B256, edit: impl FnOnce(&mut [f32])) -> ClaimData {
        let mut m = self.last.clone();
        let mut output = self.read_output(&m);
        edit(&mut output);
        let addr = self.model.compiled.program.layout.output.addr;
        let bytes = le_bytes(&output);
        if m.read_bytes(addr, bytes.len()) != bytes {
            m.write_bytes(addr, &bytes);
        }
        let state = m.state();
        ClaimData {
            final_hash: state.hash(),
            call: ClaimManager::submitCall {
                modelId: model_id,
                input: le_bytes(&self.input).into(),
                output: le_bytes(&output).into(),
                finalState: Bytes::copy_from_slice(&state.encode()),
                inputPath: self.model.input_path.clone(),
                outputPath: self.model.output_path(&m),
            },
            output,
        }
    }

    /// The machine after `step` steps (`step` ≤ the halt's step).
    fn machine_at(&mut self, step: u64) -> Machine {
        let points = &self.model.points;
        let op = (points.partition_point(|&s| s <= step) - 1).min(self.boundaries.len() - 1);
        let mut m = match self.snapshots.range(points[op]..=step).next_back() {
            Some((_, m)) => m.clone(),
            None => self.boundaries[op].clone(),
        };
        m.run(step - m.core.step);
        if self.snapshots.len() >= MAX_SNAPSHOTS {
            self.snapshots.pop_first();
        }
        self.snapshots.insert(step, m.clone());
        m
    }

    /// The true state hash after `step` steps.
    pub fn hash_at_step(&mut self, step: u64) -> B256 {
        if step >= self.model.total_steps() {
            return self.final_hash();
        }
        self.machine_at(step).state_hash()
    }

    /// The true state hash at position `x` of `level` (1: a level-1 point,
    /// 2: a step).
    pub fn hash_at(&mut self, level: u8, x: u64) -> B256 {
        let step = if level == LEVEL_OPS {
            self.model.points[x as usize]
        } else {
            x
        };
        self.hash_at_step(step)
    }

    /// The step proof of the state after `step` steps.
    pub fn proof(&mut self, step: u64) -> Vec<u8> {
        self.machine_at(step).prove_step().to_bytes()
    }
}

/// Little-endian bytes of `values`, as tensors are laid out in memory.
pub fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `bytes` as little-endian f32 values (a trailing partial word is dropped).
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
