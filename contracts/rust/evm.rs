//! An in-memory EVM that deploys contracts and calls them: revm with the
//! [`SPEC`] rules, one sender with no balance, gas price zero.
//!
//! Every call is a real transaction (intrinsic gas, calldata floor, nonce
//! check), executed and then discarded, so calls to pure and view functions
//! leave the chain as it was and report exact gas.

use std::convert::Infallible;

use revm::context::result::{EVMError, ExecutionResult, HaltReason, Output, ResultGas};
use revm::context::{Context, TxEnv};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas;
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{
    ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetContext, MainnetEvm,
};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, address};

/// The hard fork whose rules the EVM follows, pinned rather than left to
/// revm's default; the contracts are compiled for the same one (`osaka`).
pub const SPEC: SpecId = SpecId::OSAKA;

/// The account that sends every transaction.
pub const SENDER: Address = address!("0x00000000000000000000000000000000000a11ce");

/// Gas limit of every transaction: Osaka's per-transaction cap (EIP-7825).
pub const TX_GAS_LIMIT: u64 = 1 << 24;

/// A transaction the EVM could not run to a return or a revert.
#[derive(Debug, thiserror::Error)]
pub enum EvmError {
    /// The transaction was invalid (revm's own validation failed).
    #[error("transaction rejected: {0}")]
    Rejected(#[from] EVMError<Infallible>),
    /// Execution stopped exceptionally (out of gas, invalid opcode, ...).
    #[error("execution halted: {0:?}")]
    Halted(HaltReason),
    /// A deployment returned without creating a contract.
    #[error("deployment created no contract")]
    NoContract,
    /// A deployment reverted.
    #[error("deployment reverted with 0x{}", hex::encode(.0))]
    DeployReverted(Bytes),
}

/// Gas of one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gas {
    /// Intrinsic gas: 21,000 plus the standard calldata cost.
    pub intrinsic: u64,
    /// Gas spent by the EVM executing the call, on top of the intrinsic gas.
    pub execution: u64,
    /// The EIP-7623 calldata floor.
    pub floor: u64,
    /// What the sender pays: `max(intrinsic + execution - refund, floor)`.
    pub tx: u64,
}

impl Gas {
    fn new(input: &[u8], gas: &ResultGas) -> Gas {
        let initial = calculate_initial_tx_gas(SPEC, input, false, 0, 0, 0, None);
        Gas {
            intrinsic: initial.initial_regular_gas,
            execution: gas.total_gas_spent() - initial.initial_regular_gas,
            floor: gas.floor_gas(),
            tx: gas.tx_gas_used(),
        }
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutput {
    /// It returned this data.
    Return(Bytes),
    /// It reverted with this data.
    Revert(Bytes),
}

/// A call's output and its gas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Return or revert data.
    pub output: CallOutput,
    /// Gas of the transaction.
    pub gas: Gas,
}

/// An in-memory chain: revm over an empty in-memory database.
pub struct Evm {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    nonce: u64,
}

impl Default for Evm {
    fn default() -> Self {
        Evm::new()
    }
}

impl std::fmt::Debug for Evm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evm")
            .field("spec", &SPEC)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl Evm {
    /// An empty chain following [`SPEC`].
    pub fn new() -> Evm {
        let evm = Context::mainnet()
            .with_db(CacheDB::new(EmptyDB::default()))
            .modify_cfg_chained(|cfg| cfg.set_spec_and_mainnet_gas_params(SPEC))
            .build_mainnet();
        Evm { evm, nonce: 0 }
    }

    /// Deploys `creation_code` (constructor arguments appended, if any) and
    /// returns the new contract's address.
    ///
    /// # Errors
    ///
    /// [`EvmError`] if the creation transaction fails or reverts.
    pub fn deploy(&mut self, creation_code: Bytes) -> Result<Address, EvmError> {
        let tx = self.tx(TxKind::Create, creation_code);
        let result = self.evm.transact_commit(tx)?;
        self.nonce += 1;
        match result {
            ExecutionResult::Success {
                output: Output::Create(_, Some(address)),
                ..
            } => Ok(address),
            ExecutionResult::Success { .. } => Err(EvmError::NoContract),
            ExecutionResult::Revert { output, .. } => Err(EvmError::DeployReverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(EvmError::Halted(reason)),
        }
    }

    /// Calls `to` with `input` in a transaction that is executed, measured and
    /// discarded.
    ///
    /// # Errors
    ///
    /// [`EvmError`] if the transaction is invalid or halts exceptionally; a
    /// revert is a [`CallOutput::Revert`], not an error.
    pub fn call(&mut self, to: Address, input: Bytes) -> Result<Call, EvmError> {
        let tx = self.tx(TxKind::Call(to), input.clone());
        let (output, gas) = match self.evm.transact(tx)?.result {
            ExecutionResult::Success { output, gas, .. } => {
                (CallOutput::Return(output.into_data()), gas)
            }
            ExecutionResult::Revert { output, gas, .. } => (CallOutput::Revert(output), gas),
            ExecutionResult::Halt { reason, .. } => return Err(EvmError::Halted(reason)),
        };
        Ok(Call {
            output,
            gas: Gas::new(&input, &gas),
        })
    }

    /// A legacy transaction from [`SENDER`] at gas price zero.
    fn tx(&self, kind: TxKind, data: Bytes) -> TxEnv {
        TxEnv::builder()
            .caller(SENDER)
            .nonce(self.nonce)
            .gas_limit(TX_GAS_LIMIT)
            .kind(kind)
            .data(data)
            .build_fill()
    }
}
