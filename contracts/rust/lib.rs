//! verdict's Solidity contracts from Rust: alloy bindings for the committed
//! artifacts (`contracts/out/`, built by `contracts/build.mjs`) and an
//! in-memory revm harness that deploys and runs them.
//!
//! - [`bindings`]: the contracts' ABIs and bytecode, as alloy types;
//! - [`evm`]: an in-memory EVM (revm, Osaka rules) that deploys and calls;
//! - [`verifier`]: the one-step verifier `VerdictVM`, with typed results;
//! - [`gas`]: what a step costs, per instruction class (docs/gas.md).

pub mod bindings;
pub mod evm;
pub mod gas;
pub mod verifier;

pub use evm::{Evm, EvmError, Gas};
pub use verifier::{StepOutcome, StepVerifier, VerifierError};
