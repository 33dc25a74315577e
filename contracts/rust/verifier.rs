//! The one-step verifier `VerdictVM` deployed in an in-memory [`Evm`], with its
//! results in the VM crate's own types, so they compare directly with
//! [`verdict_vm::verify_step`].

use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::{SolCall, SolInterface};
use verdict_vm::VerifyError;

use crate::bindings::VerdictVM;
use crate::evm::{CallOutput, Evm, EvmError, Gas};

/// A step call that ended neither with a post-state hash nor with one of the
/// verifier's custom errors: in a correct verifier, never.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The EVM could not run the call.
    #[error(transparent)]
    Evm(#[from] EvmError),
    /// The call reverted with data that is not one of the custom errors.
    #[error("unexpected revert data 0x{}", hex::encode(.0))]
    UnexpectedRevert(Bytes),
    /// The call returned data that is not one `bytes32`.
    #[error("unexpected return data 0x{}", hex::encode(.0))]
    UnexpectedReturn(Bytes),
}

/// What one `step` call gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepOutcome {
    /// The post-state hash, or the custom error it reverted with.
    pub result: Result<B256, VerifyError>,
    /// Gas of the transaction.
    pub gas: Gas,
    /// Size of the transaction's calldata in bytes.
    pub calldata_len: usize,
}

/// `VerdictVM`, deployed on its own in-memory chain.
#[derive(Debug)]
pub struct StepVerifier {
    evm: Evm,
    address: Address,
}

impl StepVerifier {
    /// Deploys the committed `VerdictVM` artifact on a fresh chain.
    ///
    /// # Errors
    ///
    /// [`VerifierError::Evm`] if the deployment fails.
    pub fn deploy() -> Result<StepVerifier, VerifierError> {
        let mut evm = Evm::new();
        let address = evm.deploy(VerdictVM::BYTECODE.clone())?;
        Ok(StepVerifier { evm, address })
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The calldata of `step(pre_state_hash, proof)`.
    pub fn calldata(pre_state_hash: B256, proof: &[u8]) -> Bytes {
        VerdictVM::stepCall {
            preStateHash: pre_state_hash,
            proof: Bytes::copy_from_slice(proof),
        }
        .abi_encode()
        .into()
    }

    /// Calls `step(pre_state_hash, proof)`.
    ///
    /// # Errors
    ///
    /// [`VerifierError`] when the call ends other than by returning a hash or
    /// reverting with one of the verifier's custom errors.
    pub fn step(
        &mut self,
        pre_state_hash: B256,
        proof: &[u8],
    ) -> Result<StepOutcome, VerifierError> {
        let input = Self::calldata(pre_state_hash, proof);
        let calldata_len = input.len();
        let call = self.evm.call(self.address, input)?;
        let result = match call.output {
            CallOutput::Return(data) => Ok(VerdictVM::stepCall::abi_decode_returns(&data)
                .map_err(|_| VerifierError::UnexpectedReturn(data))?),
            CallOutput::Revert(data) => Err(decode_revert(data)?),
        };
        Ok(StepOutcome {
            result,
            gas: call.gas,
            calldata_len,
        })
    }
}

/// Decodes revert data as one of the verifier's custom errors.
fn decode_revert(data: Bytes) -> Result<VerifyError, VerifierError> {
    use VerdictVM::VerdictVMErrors as E;
    let unexpected = || VerifierError::UnexpectedRevert(data.clone());
    Ok(match E::abi_decode(&data).map_err(|_| unexpected())? {
        E::ProofLength(e) => VerifyError::ProofLength {
            got: e.got.try_into().map_err(|_| unexpected())?,
        },
        E::StateHashMismatch(_) => VerifyError::StateHashMismatch,
        E::InvalidStatus(e) => VerifyError::InvalidStatus(e.status),
        E::BadInstructionProof(_) => VerifyError::BadInstructionProof,
        E::BadDataProof(_) => VerifyError::BadDataProof,
    })
}
