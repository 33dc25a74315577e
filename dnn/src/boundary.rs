//! The VM machines at a run's op boundaries, shared by the native and GPU
//! engines.
//!
//! The planner never reuses an address (every op writes its own output and
//! scratch regions, [`crate::plan`]), so boundary `k + 1` is boundary `k`
//! plus op `k`'s writes, and the halt boundary holds every write of the run.
//! [`Boundaries::build`] walks the ops once on one copy-on-write memory,
//! hashing only the pages each op wrote, and keeps every state hash and a
//! few hashed checkpoints. Any boundary machine is then rebuilt from the
//! nearest checkpoint below it plus the writes of the ops between, read from
//! the halt boundary: memory is the image once, plus each checkpoint's page
//! table, whatever the number of ops.

use alloy_primitives::B256;
use verdict_vm::Machine;

use crate::engine::{Compiled, RunError};

/// Checkpoints kept at most (besides op 0 and the halt boundary): a
/// rebuilt boundary copies at most about 1/`CHECKPOINTS` of the run's
/// writes.
const CHECKPOINTS: u64 = 32;

/// A finished run that can hand over what each op wrote: the native
/// engine's buffers, or the GPU engine's arena read back.
pub trait OpWrites {
    /// A failed read.
    type Error: From<RunError>;

    /// Calls `write(address, words)` for each region of
    /// [`Compiled::op_regions`]`(op)`, with the words the run left there.
    ///
    /// # Errors
    ///
    /// The engine's, when the words cannot be read.
    fn op_writes(&self, op: usize, write: &mut dyn FnMut(u32, &[u32])) -> Result<(), Self::Error>;
}

/// The state hash at every op boundary of one run, and the machines to
/// rebuild any boundary from.
#[derive(Clone, Debug)]
pub struct Boundaries {
    /// The state hash at the start of each op, then at the halt.
    hashes: Vec<B256>,
    /// Hashed machines at some op boundaries, by op, op 0 first.
    checkpoints: Vec<(usize, Machine)>,
    /// The machine at the halt boundary, hashed: it holds every write.
    halt: Machine,
    /// The halted machine's state hash (one step past the halt boundary).
    final_hash: B256,
}

impl Boundaries {
    /// Walks the ops of `compiled` in order from the initial machine on
    /// `input` (a run's checked input words), applying what `run` says each
    /// op wrote.
    ///
    /// # Errors
    ///
    /// The engine's error when a read fails.
    pub(crate) fn build<W: OpWrites>(
        compiled: &Compiled,
        input: &[u32],
        run: &W,
    ) -> Result<Boundaries, W::Error> {
        let ops = compiled.model.nodes.len();
        let total: u64 = (0..ops).map(|op| compiled.op_bytes(op)).sum();
        let spacing = (total / CHECKPOINTS).max(1);
        let mut m = compiled.initial_words(input);
        let mut hashes = Vec::with_capacity(ops + 1);
        let mut checkpoints = Vec::new();
        let mut since = 0;
        for op in 0..=ops {
            if op > 0 {
                run.op_writes(op - 1, &mut |addr, words| write_words(&mut m, addr, words))?;
                since += compiled.op_bytes(op - 1);
            }
            m.core = compiled.boundary_core(op);
            hashes.push(m.state_hash());
            if op == 0 || (since >= spacing && op < ops) {
                checkpoints.push((op, m.clone()));
                since = 0;
            }
        }
        let mut last = m.clone();
        last.step();
        Ok(Boundaries {
            hashes,
            checkpoints,
            final_hash: last.state_hash(),
            halt: m,
        })
    }

    /// The state hash at the start of op `op` (`op` = the op count: the
    /// halt boundary).
    ///
    /// # Errors
    ///
    /// [`RunError::Boundary`] past the end.
    pub fn hash_at(&self, op: usize) -> Result<B256, RunError> {
        self.hashes.get(op).copied().ok_or(RunError::Boundary(op))
    }

    /// The state hash at every op boundary, the halt boundary last.
    pub fn hashes(&self) -> &[B256] {
        &self.hashes
    }

    /// The halted machine's state hash: the run's final state.
    pub fn final_hash(&self) -> B256 {
        self.final_hash
    }

    /// The machine at the halt boundary (hashed).
    pub fn halt(&self) -> &Machine {
        &self.halt
    }

    /// The machine at the start of op `op`, from the nearest checkpoint
    /// below it plus the ops between; its memory hashed.
    ///
    /// # Errors
    ///
    /// [`RunError::Boundary`] past the end.
    pub fn machine_at(&self, compiled: &Compiled, op: usize) -> Result<Machine, RunError> {
        if op >= self.hashes.len() {
            return Err(RunError::Boundary(op));
        }
        if op + 1 == self.hashes.len() {
            return Ok(self.halt.clone());
        }
        let below = self.checkpoints.partition_point(|&(at, _)| at <= op) - 1;
        let (from, checkpoint) = &self.checkpoints[below];
        let mut m = checkpoint.clone();
        for done in *from..op {
            for (addr, words) in compiled.op_regions(done) {
                m.write_bytes(addr, &self.halt.read_bytes(addr, 4 * words));
            }
        }
        m.core = compiled.boundary_core(op);
        m.state();
        Ok(m)
    }

    /// Checkpoints kept, op 0's included.
    pub fn checkpoints(&self) -> usize {
        self.checkpoints.len()
    }
}

/// Writes little-endian `words` at `addr`.
pub(crate) fn write_words(m: &mut Machine, addr: u32, words: &[u32]) {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    m.write_bytes(addr, &bytes);
}
