//! verdict's Solidity contracts from Rust: alloy bindings for the committed
//! artifacts (`contracts/out/`, built by `contracts/build.mjs`) and an
//! in-memory revm harness that deploys and runs them.
//!
//! - [`bindings`]: the contracts' ABIs and bytecode, as alloy types;
//! - [`evm`]: an in-memory EVM (revm, Osaka rules) that deploys and calls;
//! - [`verifier`]: the one-step verifier `VerdictVM`, with typed results;
//! - [`protocol`]: the verifier, the model registry and the claim manager
//!   deployed together, with typed transactions, reverts and events;
//! - [`rules`]: the protocol's rules for off-chain players: the game's
//!   constants and enums, dissection points, model records and ids, the
//!   boundary table tree, region paths;
//! - [`gas`]: what a step costs, per instruction class, and what the moves
//!   of a dispute cost (docs/gas.md).

pub mod bindings;
pub mod evm;
pub mod gas;
pub mod protocol;
pub mod rules;
pub mod verifier;

pub use evm::{Evm, EvmError, Gas, Receipt, Tx};
pub use verifier::{StepOutcome, StepVerifier, VerifierError};
