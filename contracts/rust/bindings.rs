//! alloy bindings generated from the committed artifacts in `contracts/out/`.
//!
//! The artifacts are read at compile time, so a rebuilt artifact (see
//! `contracts/build.mjs`) is picked up by the next `cargo build`.

alloy_sol_types::sol!(
    /// The one-step verifier of the verdict VM (`contracts/src/VerdictVM.sol`).
    #[derive(Debug, PartialEq, Eq)]
    VerdictVM,
    "out/VerdictVM.json"
);
