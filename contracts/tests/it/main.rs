//! The Solidity contracts against the Rust VM, run in revm.
//!
//! One test binary (modules below) so the crates link once.

mod claims;
mod common;
mod constants;
mod differential;
mod dispute;
mod fuzz;
mod game_gas;
mod gas;
mod golden;
mod nan_inputs;
mod players;
mod program;
mod rules;
mod softfloat;
