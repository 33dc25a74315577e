//! The Solidity contracts against the Rust VM, run in revm.
//!
//! One test binary (modules below) so the crates link once.

mod common;
mod constants;
mod differential;
mod fuzz;
mod gas;
mod golden;
mod program;
mod softfloat;
