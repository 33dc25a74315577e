//! The trace provider: the true state at any step of a model's run, from the
//! engine's op-boundary images ([`Boundaries`]: every boundary's hash and a
//! few copy-on-write checkpoints) and, inside one op, the VM started from
//! that op's boundary or from a snapshot already reached. No whole trace is
//! kept.
//!
//! Memory of one trace: the image once (the halt boundary holds every
//! write), each checkpoint's and snapshot's page table, and the pages each
//! snapshot changed inside its op. A 16-ary game inside an op asks for 15
//! ascending steps a round, each the start of the next round's range, so
//! with a snapshot at every step asked the whole level-2 game runs the op
//! about 16/15 times.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_primitives::{B256, Bytes};
use verdict_contracts::bindings::ClaimManager;
use verdict_dnn::boundary::Boundaries;
use verdict_vm::Machine;

use crate::model::{EngineError, ModelInfo};

/// Snapshots kept at most: two rounds of a 16-ary game and their starts.
/// Past it the one farthest from the step asked for is dropped: the game
/// only narrows.
const MAX_SNAPSHOTS: usize = 32;

/// The true run of a model on one input.
#[derive(Debug)]
pub struct Trace {
    model: Arc<ModelInfo>,
    /// The input as a claim posts it.
    input: Vec<u8>,
    /// Every op boundary's hash, and the machines to rebuild them from.
    boundaries: Boundaries,
    /// Hashed machines at steps already reached inside ops, to run forward
    /// from.
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
        Ok(Trace {
            input: model.encode_input(input)?,
            model,
            boundaries,
            snapshots: BTreeMap::new(),
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<ModelInfo> {
        &self.model
    }

    /// The true output values (the halt writes nothing, so the halt
    /// boundary holds them).
    pub fn output(&self) -> Vec<f32> {
        self.read_output(self.boundaries.halt())
    }

    fn read_output(&self, m: &Machine) -> Vec<f32> {
        let addr = self.model.compiled.program.layout.output.addr;
        f32s(&m.read_bytes(addr, self.model.output_bytes()))
    }

    /// The true final state's hash.
    pub fn final_hash(&self) -> B256 {
        self.boundaries.final_hash()
    }

    /// The claim of this run, from `model_id`, with its output values as
    /// `edit` leaves them: the true ones, or changed with a final state to
    /// match.
    pub fn claim(&self, model_id: B256, edit: impl FnOnce(&mut [f32])) -> ClaimData {
        let mut m = self.boundaries.halt().clone();
        m.step();
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
                input: self.input.clone().into(),
                output: le_bytes(&output).into(),
                finalState: Bytes::copy_from_slice(&state.encode()),
                inputPath: self.model.input_path.clone(),
                outputPath: self.model.output_path(&m),
            },
            output,
        }
    }

    /// The level-1 segment running at `step`, or the halt's from it on.
    fn segment_at(&self, step: u64) -> usize {
        let points = &self.model.points;
        (points.partition_point(|&s| s <= step) - 1).min(points.len() - 2)
    }

    /// The hashed machine after `step` steps (`step` ≤ the halt's step),
    /// run from the nearest snapshot or op boundary of its level-1
    /// segment; kept as a snapshot.
    fn machine_at(&mut self, step: u64) -> Machine {
        let segment = self.segment_at(step);
        let start = self.model.points[segment];
        let mut m = match self.snapshots.range(start..=step).next_back() {
            Some((_, m)) => m.clone(),
            None => self
                .boundaries
                .machine_at(&self.model.compiled, self.model.point_op(segment))
                .expect("an op of the model"),
        };
        m.run(step - m.core.step);
        m.state();
        if self.snapshots.len() >= MAX_SNAPSHOTS {
            let farthest = *self
                .snapshots
                .keys()
                .max_by_key(|&&s| s.abs_diff(step))
                .expect("snapshots are kept");
            self.snapshots.remove(&farthest);
        }
        self.snapshots.insert(step, m.clone());
        m
    }

    /// The true state hash after `step` steps.
    pub fn hash_at_step(&mut self, step: u64) -> B256 {
        if step >= self.model.total_steps() {
            return self.final_hash();
        }
        let segment = self.segment_at(step);
        if self.model.points[segment] == step {
            let op = self.model.point_op(segment);
            return self.boundaries.hash_at(op).expect("an op of the model");
        }
        let m = self.machine_at(step);
        m.hashed_state().expect("hashed").hash()
    }

    /// The true state hash at position `x` of `level` (1: a level-1 point,
    /// 2: a step).
    pub fn hash_at(&mut self, level: u8, x: u64) -> B256 {
        self.hash_at_step(self.model.step_at(level, x))
    }

    /// The step proof of the state after `step` steps.
    pub fn proof(&mut self, step: u64) -> Vec<u8> {
        self.machine_at(step).prove_step().to_bytes()
    }

    /// The op boundaries' hashes and checkpoints.
    pub fn boundaries(&self) -> &Boundaries {
        &self.boundaries
    }

    /// Snapshots held inside ops.
    pub fn snapshots(&self) -> usize {
        self.snapshots.len()
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
