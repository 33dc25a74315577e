//! An in-memory EVM that deploys contracts and runs transactions: revm with
//! the [`SPEC`] rules, gas price zero (so gas never moves ether), accounts
//! funded at will, and a block timestamp the caller sets.
//!
//! Every call is a real transaction (intrinsic gas, calldata floor, nonce
//! check). [`Evm::call`] executes one and discards it, so calls to pure and
//! view functions leave the chain as it was and report exact gas;
//! [`Evm::transact`] commits one and returns its logs.
//!
//! [`build`] makes every revm EVM of the project, this harness's and the
//! devnet's (`verdict-devnet`), so both run the same rules.

use std::collections::HashMap;
use std::convert::Infallible;

use revm::context::result::{EVMError, ExecutionResult, HaltReason, Output, ResultGas};
use revm::context::{BlockEnv, CfgEnv, Context, ContextTr, TxEnv};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas;
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::{Database, DatabaseRef};
use revm::handler::{
    ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetContext, MainnetEvm,
};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, Log, TxKind, U256, address};
use revm::state::AccountInfo;

/// The hard fork whose rules the EVM follows, pinned rather than left to
/// revm's default; the contracts are compiled for the same one (`osaka`).
pub const SPEC: SpecId = SpecId::OSAKA;

/// The account that deploys the contracts and sends [`Evm::call`]s.
pub const SENDER: Address = address!("0x00000000000000000000000000000000000a11ce");

/// Gas limit of every transaction: Osaka's per-transaction cap (EIP-7825).
pub const TX_GAS_LIMIT: u64 = 1 << 24;

/// A revm EVM over `db` following [`SPEC`] (its rules and gas parameters),
/// running transactions in `block`; `cfg` then sets what differs between
/// chains (chain id, checks left out). revm reads the spec when the EVM is
/// built, so the spec is set here, before, and nowhere else.
pub fn build<DB: Database>(
    db: DB,
    block: BlockEnv,
    cfg: impl FnOnce(&mut CfgEnv),
) -> MainnetEvm<MainnetContext<DB>> {
    Context::mainnet()
        .with_db(db)
        .with_block(block)
        .modify_cfg_chained(|env| {
            env.set_spec_and_mainnet_gas_params(SPEC);
            cfg(env);
        })
        .build_mainnet()
}

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

/// A committed transaction: its output, gas and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Return or revert data.
    pub output: CallOutput,
    /// Gas of the transaction.
    pub gas: Gas,
    /// Logs it emitted (none when it reverted).
    pub logs: Vec<Log>,
}

/// A transaction to commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// Sender.
    pub from: Address,
    /// Callee.
    pub to: Address,
    /// Wei sent along.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
    /// Gas limit.
    pub gas_limit: u64,
}

impl Tx {
    /// A call from `from` to `to` with `data`, no value, the [`TX_GAS_LIMIT`].
    pub fn new(from: Address, to: Address, data: impl Into<Bytes>) -> Tx {
        Tx {
            from,
            to,
            value: U256::ZERO,
            data: data.into(),
            gas_limit: TX_GAS_LIMIT,
        }
    }

    /// The same transaction sending `value` wei.
    pub fn value(self, value: U256) -> Tx {
        Tx { value, ..self }
    }

    /// The same transaction with gas limit `gas_limit`.
    pub fn gas_limit(self, gas_limit: u64) -> Tx {
        Tx { gas_limit, ..self }
    }
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
    nonces: HashMap<Address, u64>,
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
            .field("timestamp", &self.timestamp())
            .finish_non_exhaustive()
    }
}

impl Evm {
    /// An empty chain following [`SPEC`].
    pub fn new() -> Evm {
        Evm {
            evm: build(
                CacheDB::new(EmptyDB::default()),
                BlockEnv::default(),
                |_| {},
            ),
            nonces: HashMap::new(),
        }
    }

    /// Deploys `creation_code` (constructor arguments appended, if any) and
    /// returns the new contract's address.
    ///
    /// # Errors
    ///
    /// [`EvmError`] if the creation transaction fails or reverts.
    pub fn deploy(&mut self, creation_code: Bytes) -> Result<Address, EvmError> {
        let tx = self.tx(
            SENDER,
            TxKind::Create,
            creation_code,
            U256::ZERO,
            TX_GAS_LIMIT,
        );
        let result = self.evm.transact_commit(tx)?;
        *self.nonces.entry(SENDER).or_default() += 1;
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
        let tx = self.tx(
            SENDER,
            TxKind::Call(to),
            input.clone(),
            U256::ZERO,
            TX_GAS_LIMIT,
        );
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

    /// Executes `tx` and commits it: state changes, value, logs.
    ///
    /// # Errors
    ///
    /// [`EvmError`] if the transaction is invalid (a sender short of the
    /// value, say) or halts exceptionally (out of gas included); a revert is a
    /// [`CallOutput::Revert`], not an error, and is committed as one (the
    /// nonce moves on).
    pub fn transact(&mut self, tx: Tx) -> Result<Receipt, EvmError> {
        let env = self.tx(
            tx.from,
            TxKind::Call(tx.to),
            tx.data.clone(),
            tx.value,
            tx.gas_limit,
        );
        let result = self.evm.transact_commit(env)?;
        *self.nonces.entry(tx.from).or_default() += 1;
        let (output, gas, logs) = match result {
            ExecutionResult::Success {
                output, gas, logs, ..
            } => (CallOutput::Return(output.into_data()), gas, logs),
            ExecutionResult::Revert { output, gas, .. } => {
                (CallOutput::Revert(output), gas, vec![])
            }
            ExecutionResult::Halt { reason, .. } => return Err(EvmError::Halted(reason)),
        };
        Ok(Receipt {
            output,
            gas: Gas::new(&tx.data, &gas),
            logs,
        })
    }

    /// Gives `account` a balance of `wei`, replacing what it held. For
    /// accounts without code: the account's code and nonce are reset.
    pub fn fund(&mut self, account: Address, wei: U256) {
        let nonce = self.nonces.get(&account).copied().unwrap_or_default();
        let info = AccountInfo {
            nonce,
            ..AccountInfo::from_balance(wei)
        };
        self.evm.ctx.db_mut().insert_account_info(account, info);
    }

    /// The balance of `account` in wei.
    pub fn balance(&self, account: Address) -> U256 {
        self.evm
            .ctx
            .db_ref()
            .basic_ref(account)
            .expect("the in-memory database does not fail")
            .map_or(U256::ZERO, |info| info.balance)
    }

    /// The block timestamp the next transactions run at, in seconds.
    pub fn timestamp(&self) -> u64 {
        self.evm.ctx.block.timestamp.saturating_to()
    }

    /// Sets the block timestamp of the next transactions.
    pub fn set_timestamp(&mut self, seconds: u64) {
        self.evm
            .ctx
            .modify_block(|block| block.timestamp = U256::from(seconds));
    }

    /// Moves the block timestamp `seconds` on.
    pub fn advance(&mut self, seconds: u64) {
        self.set_timestamp(self.timestamp() + seconds);
    }

    /// A transaction from `from` at gas price zero.
    fn tx(&self, from: Address, kind: TxKind, data: Bytes, value: U256, gas_limit: u64) -> TxEnv {
        TxEnv::builder()
            .caller(from)
            .nonce(self.nonces.get(&from).copied().unwrap_or_default())
            .gas_limit(gas_limit)
            .kind(kind)
            .value(value)
            .data(data)
            .build_fill()
    }
}

#[cfg(test)]
mod tests {
    use revm::database::EmptyDB;
    use revm::primitives::U256;

    use super::{BlockEnv, SPEC, build};

    /// The spec is pinned and the caller's settings come on top of it.
    #[test]
    fn build_pins_the_spec_under_the_callers_settings() {
        let block = BlockEnv {
            timestamp: U256::from(7u64),
            ..BlockEnv::default()
        };
        let evm = build(EmptyDB::default(), block, |cfg| cfg.chain_id = 31337);
        assert_eq!(evm.ctx.cfg.spec, SPEC);
        assert_eq!(evm.ctx.cfg.chain_id, 31337);
        assert_eq!(evm.ctx.block.timestamp, U256::from(7u64));
    }
}
