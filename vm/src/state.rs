//! The VM state, its 177-byte encoding and its hash (docs/spec/vm.md §5).
//!
//! The witness layout lives here and only here: each offset is the previous
//! one plus its field's size.

use alloy_primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

use crate::fault::Fault;
use crate::isa::NUM_REGS;

/// Offset of the memory root.
pub const MEM_ROOT_OFFSET: usize = 0;
/// Offset of the program counter.
pub const PC_OFFSET: usize = MEM_ROOT_OFFSET + 32;
/// Offset of the step counter.
pub const STEP_OFFSET: usize = PC_OFFSET + 4;
/// Offset of the status byte.
pub const STATUS_OFFSET: usize = STEP_OFFSET + 8;
/// Offset of the exit code.
pub const EXIT_OFFSET: usize = STATUS_OFFSET + 1;
/// Offset of register 0.
pub const REGS_OFFSET: usize = EXIT_OFFSET + 4;
/// Size of an encoded state.
pub const STATE_SIZE: usize = REGS_OFFSET + 4 * NUM_REGS;

/// Whether the machine runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Status {
    /// Executing instructions.
    #[default]
    Running = 0,
    /// Stopped by `halt`; `exit` holds the exit code.
    Halted = 1,
    /// Stopped by a fault; `exit` holds the fault code.
    Faulted = 2,
}

impl Status {
    /// The status with this byte, if valid.
    pub const fn from_byte(byte: u8) -> Option<Status> {
        match byte {
            0 => Some(Status::Running),
            1 => Some(Status::Halted),
            2 => Some(Status::Faulted),
            _ => None,
        }
    }
}

/// Everything in the state but memory: what one step changes besides a leaf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Core {
    /// Registers; `regs[0]` stays 0 in states the VM produces.
    pub regs: [u32; NUM_REGS],
    /// Address of the next instruction.
    pub pc: u32,
    /// Steps executed.
    pub step: u64,
    /// Running, halted or faulted.
    pub status: Status,
    /// Exit code when halted, fault code when faulted.
    pub exit: u32,
}

impl Core {
    /// A running core at `pc` with zeroed registers.
    pub fn at(pc: u32) -> Core {
        Core {
            pc,
            ..Core::default()
        }
    }

    /// The fault, if the core faulted with a known code.
    pub fn fault(&self) -> Option<Fault> {
        match self.status {
            Status::Faulted => Fault::from_code(self.exit),
            _ => None,
        }
    }
}

/// A whole state as hashed: the core plus the memory root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// The memory Merkle root.
    pub mem_root: B256,
    /// Registers, pc, step, status, exit.
    pub core: Core,
}

/// Why state bytes do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not exactly [`STATE_SIZE`] bytes.
    #[error("state encoding is {got} bytes, expected {STATE_SIZE}")]
    Length {
        /// Length given.
        got: usize,
    },
    /// A status byte other than 0, 1 or 2.
    #[error("invalid status byte {0}")]
    InvalidStatus(u8),
}

impl State {
    /// The canonical encoding.
    pub fn encode(&self) -> [u8; STATE_SIZE] {
        let c = &self.core;
        let mut out = [0u8; STATE_SIZE];
        out[MEM_ROOT_OFFSET..PC_OFFSET].copy_from_slice(self.mem_root.as_slice());
        out[PC_OFFSET..STEP_OFFSET].copy_from_slice(&c.pc.to_be_bytes());
        out[STEP_OFFSET..STATUS_OFFSET].copy_from_slice(&c.step.to_be_bytes());
        out[STATUS_OFFSET] = c.status as u8;
        out[EXIT_OFFSET..REGS_OFFSET].copy_from_slice(&c.exit.to_be_bytes());
        for (i, r) in c.regs.iter().enumerate() {
            out[REGS_OFFSET + 4 * i..REGS_OFFSET + 4 * i + 4].copy_from_slice(&r.to_be_bytes());
        }
        out
    }

    /// Decodes [`State::encode`]'s bytes.
    ///
    /// # Errors
    ///
    /// [`StateError`] for a wrong length or an invalid status byte.
    pub fn decode(bytes: &[u8]) -> Result<State, StateError> {
        let bytes: &[u8; STATE_SIZE] = bytes
            .try_into()
            .map_err(|_| StateError::Length { got: bytes.len() })?;
        let be32 = |o: usize| u32::from_be_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let status = Status::from_byte(bytes[STATUS_OFFSET])
            .ok_or(StateError::InvalidStatus(bytes[STATUS_OFFSET]))?;
        Ok(State {
            mem_root: B256::from_slice(&bytes[MEM_ROOT_OFFSET..PC_OFFSET]),
            core: Core {
                regs: std::array::from_fn(|i| be32(REGS_OFFSET + 4 * i)),
                pc: be32(PC_OFFSET),
                step: u64::from_be_bytes(
                    bytes[STEP_OFFSET..STATUS_OFFSET]
                        .try_into()
                        .expect("8 bytes"),
                ),
                status,
                exit: be32(EXIT_OFFSET),
            },
        })
    }

    /// `keccak256` of the encoding: what the chain and the bisection compare.
    pub fn hash(&self) -> B256 {
        keccak256(self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_the_documented_one() {
        assert_eq!((PC_OFFSET, STEP_OFFSET, STATUS_OFFSET), (32, 36, 44));
        assert_eq!((EXIT_OFFSET, REGS_OFFSET, STATE_SIZE), (45, 49, 177));
    }

    #[test]
    fn encoding_round_trips() {
        let state = State {
            mem_root: B256::repeat_byte(0xAB),
            core: Core {
                regs: std::array::from_fn(|i| (i as u32).wrapping_mul(0x0101_0101)),
                pc: 0x40,
                step: 1 << 40,
                status: Status::Faulted,
                exit: 3,
            },
        };
        assert_eq!(State::decode(&state.encode()), Ok(state));
        let mut bad = state.encode();
        bad[STATUS_OFFSET] = 3;
        assert_eq!(State::decode(&bad), Err(StateError::InvalidStatus(3)));
        assert_eq!(
            State::decode(&bad[1..]),
            Err(StateError::Length {
                got: STATE_SIZE - 1
            })
        );
    }
}
