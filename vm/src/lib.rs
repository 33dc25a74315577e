//! The verdict dispute VM.
//!
//! A 32-bit register machine with IEEE-754 binary32 instructions, whose whole
//! state hashes to 32 bytes and whose every step can be proven with at most
//! two memory leaves and checked on-chain. docs/spec/vm.md is its contract;
//! this crate and the Solidity verifier both implement it.
//!
//! - [`isa`]: the instruction table, encoding and decoding;
//! - [`semantics`]: what each instruction computes, as pure functions
//!   ([`soft`] is their software float reference);
//! - [`exec`]: one step over any [`exec::Bus`];
//! - [`memory`] and [`merkle`]: paged memory and its Merkle tree;
//! - [`keccak`]: many Merkle parents hashed at once with SIMD;
//! - [`state`]: the state encoding and hash;
//! - [`machine`]: the interpreter; [`proof`]: step proofs and their verifier;
//! - [`builder`] and [`asm`]: writing programs.

pub mod asm;
pub mod builder;
pub mod exec;
pub mod fault;
pub mod isa;
pub mod keccak;
pub mod machine;
pub mod memory;
pub mod merkle;
pub mod proof;
pub mod semantics;
pub mod snapshot;
pub mod soft;
pub mod state;

pub use exec::CODE_END;
pub use fault::Fault;
pub use isa::{Instr, Op};
pub use machine::Machine;
pub use proof::{PROOF_SIZE, StepProof, VerifyError, verify_step};
pub use state::{Core, STATE_SIZE, State, Status};
