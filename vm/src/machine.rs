//! The interpreter: a core, its memory, and a cache of decoded code.

use std::convert::Infallible;
use std::sync::Arc;

use alloy_primitives::B256;

use crate::exec::{self, Bus, CODE_END};
use crate::fault::Fault;
use crate::isa::{INSTR_SIZE, Instr};
use crate::memory::Memory;
use crate::merkle::LEAF_BITS;
use crate::proof::StepProof;
use crate::state::{Core, State, Status};

/// A whole VM: registers, memory and the decoded program.
///
/// Instructions in `[0, code_len)` are decoded once when the program is
/// loaded; the region is read-only to the program, so the cache stays valid.
/// Host writes there (building an image) rebuild it. Clones share the
/// cache, so a snapshot costs its memory's page table, not the program.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// Registers, pc, step, status, exit.
    pub core: Core,
    memory: Memory,
    code: Arc<[Result<Instr, Fault>]>,
}

impl Machine {
    /// A running machine at pc 0 with all-zero memory.
    pub fn new() -> Machine {
        Machine::default()
    }

    /// A machine from a saved core and memory.
    pub fn from_parts(core: Core, memory: Memory) -> Machine {
        Machine {
            core,
            memory,
            code: Arc::default(),
        }
    }

    /// The memory.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// Loads `code` at address 0 and decodes it once.
    ///
    /// # Panics
    ///
    /// If the code does not fit in the code region; a program builder cannot
    /// produce such code.
    pub fn load_program(&mut self, code: &[u8]) {
        assert!(
            code.len() as u64 <= u64::from(CODE_END),
            "program larger than the code region"
        );
        self.memory.write_bytes(0, code);
        self.cache_code(code.len() / INSTR_SIZE as usize);
    }

    /// Number of instructions in the decoded-code cache.
    pub(crate) fn code_len(&self) -> usize {
        self.code.len()
    }

    /// Decodes the first `count` instructions of memory into the cache: the
    /// program of a machine built with [`Machine::from_parts`]. The cache
    /// only speeds up execution; it never changes what runs.
    pub fn cache_code(&mut self, count: usize) {
        let bytes = self.memory.read_bytes(0, count * INSTR_SIZE as usize);
        self.code = bytes
            .chunks_exact(INSTR_SIZE as usize)
            .map(|c| Instr::decode(c.try_into().expect("8 bytes")))
            .collect();
    }

    /// Host write (image building): ignores the code region's protection.
    pub fn write_bytes(&mut self, addr: u32, bytes: &[u8]) {
        self.memory.write_bytes(addr, bytes);
        let cached_end = (self.code.len() as u64) * u64::from(INSTR_SIZE);
        if u64::from(addr) < cached_end {
            self.cache_code(self.code.len());
        }
    }

    /// Host read.
    pub fn read_bytes(&self, addr: u32, len: usize) -> Vec<u8> {
        self.memory.read_bytes(addr, len)
    }

    /// The full state, hashing whatever memory changed since the last call.
    pub fn state(&mut self) -> State {
        State {
            mem_root: self.memory.root(),
            core: self.core,
        }
    }

    /// The state hash.
    pub fn state_hash(&mut self) -> B256 {
        self.state().hash()
    }

    /// The full state if memory is hashed (nothing written since the last
    /// [`Machine::state`]): a read that needs no `&mut` and no clone.
    pub fn hashed_state(&self) -> Option<State> {
        Some(State {
            mem_root: self.memory.hashed_root()?,
            core: self.core,
        })
    }

    /// Executes one step.
    pub fn step(&mut self) {
        let mut bus = PlainBus {
            memory: &mut self.memory,
            code: &self.code,
        };
        let Ok(()) = exec::step(&mut self.core, &mut bus);
    }

    /// Runs until halted, faulted or `max_steps` more steps; returns how many
    /// steps ran.
    pub fn run(&mut self, max_steps: u64) -> u64 {
        let start = self.core.step;
        let end = start.saturating_add(max_steps);
        let mut bus = PlainBus {
            memory: &mut self.memory,
            code: &self.code,
        };
        let core = &mut self.core;
        while core.step < end && core.status == Status::Running {
            let Ok(()) = exec::step(core, &mut bus);
        }
        core.step - start
    }

    /// Proves the next step, then executes it.
    pub fn prove_step(&mut self) -> StepProof {
        let pre = self.state();
        let mut recorder = Recorder {
            memory: &mut self.memory,
            proof: StepProof::unused(pre),
        };
        let Ok(()) = exec::step(&mut self.core, &mut recorder);
        recorder.proof
    }
}

/// Plain memory plus the decoded-code cache.
struct PlainBus<'a> {
    memory: &'a mut Memory,
    code: &'a [Result<Instr, Fault>],
}

impl Bus for PlainBus<'_> {
    type Error = Infallible;

    #[inline(always)]
    fn fetch(&mut self, pc: u32) -> Result<Result<Instr, Fault>, Infallible> {
        Ok(match self.code.get((pc / INSTR_SIZE) as usize) {
            Some(&cached) => cached,
            None => decode_at(self.memory, pc),
        })
    }

    #[inline(always)]
    fn load_u32(&mut self, addr: u32) -> Result<u32, Infallible> {
        Ok(self.memory.read_u32(addr))
    }

    #[inline(always)]
    fn load_u8(&mut self, addr: u32) -> Result<u8, Infallible> {
        Ok(self.memory.read_u8(addr))
    }

    #[inline(always)]
    fn store_u32(&mut self, addr: u32, value: u32) -> Result<(), Infallible> {
        self.memory.write_u32(addr, value);
        Ok(())
    }

    #[inline(always)]
    fn store_u8(&mut self, addr: u32, value: u8) -> Result<(), Infallible> {
        self.memory.write_u8(addr, value);
        Ok(())
    }
}

fn decode_at(memory: &Memory, pc: u32) -> Result<Instr, Fault> {
    let bytes = memory.read_bytes(pc, INSTR_SIZE as usize);
    Instr::decode(bytes.try_into().expect("8 bytes"))
}

/// Plain memory that records the leaves a step touches, with their paths,
/// before it changes them.
struct Recorder<'a> {
    memory: &'a mut Memory,
    proof: StepProof,
}

impl Recorder<'_> {
    fn record_data(&mut self, addr: u32) {
        let index = addr >> LEAF_BITS;
        self.proof.data_leaf = self.memory.leaf(index);
        self.proof.data_path = self.memory.path(index);
    }
}

impl Bus for Recorder<'_> {
    type Error = Infallible;

    fn fetch(&mut self, pc: u32) -> Result<Result<Instr, Fault>, Infallible> {
        let index = pc >> LEAF_BITS;
        self.proof.instr_leaf = self.memory.leaf(index);
        self.proof.instr_path = self.memory.path(index);
        Ok(decode_at(self.memory, pc))
    }

    fn load_u32(&mut self, addr: u32) -> Result<u32, Infallible> {
        self.record_data(addr);
        Ok(self.memory.read_u32(addr))
    }

    fn load_u8(&mut self, addr: u32) -> Result<u8, Infallible> {
        self.record_data(addr);
        Ok(self.memory.read_u8(addr))
    }

    fn store_u32(&mut self, addr: u32, value: u32) -> Result<(), Infallible> {
        self.record_data(addr);
        self.memory.write_u32(addr, value);
        Ok(())
    }

    fn store_u8(&mut self, addr: u32, value: u8) -> Result<(), Infallible> {
        self.record_data(addr);
        self.memory.write_u8(addr, value);
        Ok(())
    }
}
