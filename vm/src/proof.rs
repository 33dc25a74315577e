//! Step proofs: their byte layout and the pure verifier (docs/spec/vm.md §7).
//!
//! [`verify_step`] uses nothing but the proof bytes; it is the model the
//! Solidity verifier follows line by line.

use alloy_primitives::{B256, keccak256};

use crate::exec::{self, Bus};
use crate::fault::Fault;
use crate::isa::{INSTR_SIZE, Instr};
use crate::merkle::{LEAF_BITS, LEAF_SIZE, Leaf, Path, TREE_DEPTH, fold_path};
use crate::state::{STATE_SIZE, State, StateError, Status};

/// Size of a Merkle path in bytes.
pub const PATH_SIZE: usize = 32 * TREE_DEPTH;
/// Offset of the instruction leaf.
pub const INSTR_LEAF_OFFSET: usize = STATE_SIZE;
/// Offset of the instruction leaf's path.
pub const INSTR_PATH_OFFSET: usize = INSTR_LEAF_OFFSET + LEAF_SIZE;
/// Offset of the data leaf.
pub const DATA_LEAF_OFFSET: usize = INSTR_PATH_OFFSET + PATH_SIZE;
/// Offset of the data leaf's path.
pub const DATA_PATH_OFFSET: usize = DATA_LEAF_OFFSET + LEAF_SIZE;
/// Size of an encoded step proof.
pub const PROOF_SIZE: usize = DATA_PATH_OFFSET + PATH_SIZE;

/// Why a proof is rejected. The names match the Solidity custom errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum VerifyError {
    /// Not exactly [`PROOF_SIZE`] bytes.
    #[error("proof is {got} bytes, expected {PROOF_SIZE}")]
    ProofLength {
        /// Length given.
        got: usize,
    },
    /// The state bytes do not hash to the claimed pre-state hash.
    #[error("proof state does not match the pre-state hash")]
    StateHashMismatch,
    /// The state's status byte is not 0, 1 or 2.
    #[error("invalid status byte {0}")]
    InvalidStatus(u8),
    /// The instruction leaf's path does not lead to the memory root.
    #[error("instruction leaf is not in memory")]
    BadInstructionProof,
    /// The data leaf's path does not lead to the memory root.
    #[error("data leaf is not in memory")]
    BadDataProof,
}

impl VerifyError {
    /// Every error name, as the Solidity verifier spells it.
    pub const NAMES: [&'static str; 5] = [
        "ProofLength",
        "StateHashMismatch",
        "InvalidStatus",
        "BadInstructionProof",
        "BadDataProof",
    ];

    /// The error's name, as the Solidity verifier spells it.
    pub const fn name(&self) -> &'static str {
        match self {
            VerifyError::ProofLength { .. } => Self::NAMES[0],
            VerifyError::StateHashMismatch => Self::NAMES[1],
            VerifyError::InvalidStatus(_) => Self::NAMES[2],
            VerifyError::BadInstructionProof => Self::NAMES[3],
            VerifyError::BadDataProof => Self::NAMES[4],
        }
    }
}

/// Everything one step reads: the pre-state and at most two leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepProof {
    /// The state before the step.
    pub state: State,
    /// The leaf holding the instruction.
    pub instr_leaf: Leaf,
    /// Its Merkle path.
    pub instr_path: Path,
    /// The leaf the instruction loads from or stores to.
    pub data_leaf: Leaf,
    /// Its Merkle path.
    pub data_path: Path,
}

impl StepProof {
    /// A proof of `state` whose leaves are not read (all zero).
    pub fn unused(state: State) -> StepProof {
        StepProof {
            state,
            instr_leaf: [0; LEAF_SIZE],
            instr_path: [B256::ZERO; TREE_DEPTH],
            data_leaf: [0; LEAF_SIZE],
            data_path: [B256::ZERO; TREE_DEPTH],
        }
    }

    /// The hash of the pre-state.
    pub fn pre_state_hash(&self) -> B256 {
        self.state.hash()
    }

    /// The proof's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PROOF_SIZE);
        out.extend_from_slice(&self.state.encode());
        for (leaf, path) in [
            (&self.instr_leaf, &self.instr_path),
            (&self.data_leaf, &self.data_path),
        ] {
            out.extend_from_slice(leaf);
            for sibling in path {
                out.extend_from_slice(sibling.as_slice());
            }
        }
        debug_assert_eq!(out.len(), PROOF_SIZE);
        out
    }

    /// Parses proof bytes.
    ///
    /// # Errors
    ///
    /// [`VerifyError::ProofLength`] or [`VerifyError::InvalidStatus`].
    pub fn from_bytes(bytes: &[u8]) -> Result<StepProof, VerifyError> {
        if bytes.len() != PROOF_SIZE {
            return Err(VerifyError::ProofLength { got: bytes.len() });
        }
        let state = State::decode(&bytes[..STATE_SIZE]).map_err(|e| match e {
            StateError::InvalidStatus(s) => VerifyError::InvalidStatus(s),
            StateError::Length { got } => VerifyError::ProofLength { got },
        })?;
        let leaf = |o: usize| -> Leaf { bytes[o..o + LEAF_SIZE].try_into().expect("leaf") };
        let path = |o: usize| -> Path {
            std::array::from_fn(|k| B256::from_slice(&bytes[o + 32 * k..o + 32 * k + 32]))
        };
        Ok(StepProof {
            state,
            instr_leaf: leaf(INSTR_LEAF_OFFSET),
            instr_path: path(INSTR_PATH_OFFSET),
            data_leaf: leaf(DATA_LEAF_OFFSET),
            data_path: path(DATA_PATH_OFFSET),
        })
    }
}

/// Verifies one step and returns the post-state hash.
///
/// # Errors
///
/// A [`VerifyError`] when the proof is malformed or does not match
/// `pre_state_hash`; never a wrong post-state.
pub fn verify_step(pre_state_hash: B256, proof: &[u8]) -> Result<B256, VerifyError> {
    if proof.len() != PROOF_SIZE {
        return Err(VerifyError::ProofLength { got: proof.len() });
    }
    if keccak256(&proof[..STATE_SIZE]) != pre_state_hash {
        return Err(VerifyError::StateHashMismatch);
    }
    let proof = StepProof::from_bytes(proof)?;
    if proof.state.core.status != Status::Running {
        return Ok(pre_state_hash);
    }
    let mut core = proof.state.core;
    let mut bus = ProofBus {
        root: proof.state.mem_root,
        proof: &proof,
    };
    exec::step(&mut core, &mut bus)?;
    Ok(State {
        mem_root: bus.root,
        core,
    }
    .hash())
}

/// The two leaves of a proof, checked against the memory root when read.
struct ProofBus<'a> {
    root: B256,
    proof: &'a StepProof,
}

impl ProofBus<'_> {
    fn data_leaf(&self, addr: u32) -> Result<Leaf, VerifyError> {
        let p = self.proof;
        if fold_path(addr >> LEAF_BITS, &p.data_leaf, &p.data_path) != self.root {
            return Err(VerifyError::BadDataProof);
        }
        Ok(p.data_leaf)
    }

    fn store(&mut self, addr: u32, bytes: &[u8]) -> Result<(), VerifyError> {
        let mut leaf = self.data_leaf(addr)?;
        let o = addr as usize % LEAF_SIZE;
        leaf[o..o + bytes.len()].copy_from_slice(bytes);
        self.root = fold_path(addr >> LEAF_BITS, &leaf, &self.proof.data_path);
        Ok(())
    }
}

impl Bus for ProofBus<'_> {
    type Error = VerifyError;

    fn fetch(&mut self, pc: u32) -> Result<Result<Instr, Fault>, VerifyError> {
        let p = self.proof;
        if fold_path(pc >> LEAF_BITS, &p.instr_leaf, &p.instr_path) != self.root {
            return Err(VerifyError::BadInstructionProof);
        }
        let o = pc as usize % LEAF_SIZE;
        let bytes = p.instr_leaf[o..o + INSTR_SIZE as usize]
            .try_into()
            .expect("8 bytes");
        Ok(Instr::decode(bytes))
    }

    fn load_u32(&mut self, addr: u32) -> Result<u32, VerifyError> {
        let leaf = self.data_leaf(addr)?;
        let o = addr as usize % LEAF_SIZE;
        Ok(u32::from_le_bytes(
            leaf[o..o + 4].try_into().expect("4 bytes"),
        ))
    }

    fn load_u8(&mut self, addr: u32) -> Result<u8, VerifyError> {
        Ok(self.data_leaf(addr)?[addr as usize % LEAF_SIZE])
    }

    fn store_u32(&mut self, addr: u32, value: u32) -> Result<(), VerifyError> {
        self.store(addr, &value.to_le_bytes())
    }

    fn store_u8(&mut self, addr: u32, value: u8) -> Result<(), VerifyError> {
        self.store(addr, &[value])
    }
}
