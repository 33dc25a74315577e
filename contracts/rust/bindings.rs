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

alloy_sol_types::sol!(
    /// The model registry (`contracts/src/ModelRegistry.sol`).
    #[derive(Debug, PartialEq, Eq)]
    ModelRegistry,
    "out/ModelRegistry.json"
);

pub use claim_manager::ClaimManager;

/// A JSON ABI carries no documentation for the struct types it names
/// (`Claim`, `Game`, ...), so their docs are the Solidity source's; and
/// `chooseOp` takes the arguments it takes.
#[allow(missing_docs, clippy::too_many_arguments)]
mod claim_manager {
    alloy_sol_types::sol!(
        /// Claims, requests and dispute games (`contracts/src/ClaimManager.sol`).
        #[derive(Debug, PartialEq, Eq)]
        ClaimManager,
        "out/ClaimManager.json"
    );
}
