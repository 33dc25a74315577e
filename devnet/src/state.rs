//! The chain itself: state in an in-memory revm database, the mined blocks,
//! and the rules for executing, mining and querying.
//!
//! Every accepted transaction is executed at once and mined in a block of its
//! own (anvil's automine); there is no transaction pool. Only the latest
//! state is kept. [`file`] writes a chain out and reads it back.

mod file;

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::consensus::SignableTransaction;
use alloy::consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy::consensus::transaction::{Recovered, SignerRecoverable};
use alloy::consensus::{
    EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope,
    Transaction as _, TxEnvelope,
};
use alloy::eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy::eips::{BlockId, BlockNumberOrTag, Typed2718};
use alloy::rpc::types::{FeeHistory, Filter, FilterBlockOption, Log as RpcLog, TransactionRequest};
use alloy::signers::SignerSync;
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, TxKind, U256};
use revm::context::result::{EVMError, ExecutionResult, HaltReason, ResultAndState};
use revm::context::{BlockEnv, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::{DatabaseCommit, DatabaseRef, WrapDatabaseRef};
use revm::handler::ExecuteEvm;
use revm::state::AccountInfo;
use verdict_contracts::evm::{self, TX_GAS_LIMIT};

use super::DevnetConfig;
use super::accounts::DevAccount;
use super::block::{MinedBlock, MinedTx};

pub use file::StateError;

/// The base fee of every block, in wei: constant, 1 gwei, whatever the
/// blocks hold (the devnet has no fee market).
pub const BASE_FEE_PER_GAS: u64 = 1_000_000_000;

/// The most blocks one `eth_feeHistory` call covers (geth's limit).
const MAX_FEE_HISTORY_BLOCKS: u64 = 1024;

/// The most empty blocks one `evm_mine` call mines.
const MAX_BLOCKS_PER_MINE: u64 = 10_000;

/// Gas `eth_estimateGas` adds before its first try, for the 2,300 gas a
/// value transfer gives its callee.
const CALL_STIPEND: u64 = 2_300;

/// Why the chain refused or could not run a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// The transaction is invalid (nonce, chain id, funds, gas, ...).
    #[error("{0}")]
    Invalid(String),
    /// Execution reverted with this data.
    #[error("execution reverted")]
    Reverted(Bytes),
    /// Execution stopped exceptionally.
    #[error("{0}")]
    Halted(String),
    /// A parameter names something the chain cannot answer for.
    #[error("{0}")]
    BadParams(String),
}

/// How a transaction is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A real transaction: every check applies.
    Transact,
    /// `eth_call` and `eth_estimateGas`: no nonce check, no base fee.
    Simulate,
}

/// The clock blocks take their timestamps from: wall-clock seconds plus an
/// offset that `evm_increaseTime` and `evm_setNextBlockTimestamp` move.
#[derive(Clone, Debug, Default)]
struct Clock {
    /// Seconds added to the wall clock.
    offset: i128,
    /// The timestamp the next block must have, if one was set.
    next: Option<u64>,
}

impl Clock {
    fn wall() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }

    /// The timestamp a block mined now after a block at `parent` gets.
    fn peek(&self, parent: u64) -> u64 {
        // Saturating: a loaded state file may hold any offset.
        let now = i128::from(Clock::wall()).saturating_add(self.offset);
        let clock = self
            .next
            .unwrap_or_else(|| u64::try_from(now.max(0)).unwrap_or(u64::MAX));
        clock.max(parent.saturating_add(1))
    }

    /// Records that a block was mined at `timestamp`: a set timestamp is
    /// used up, and the clock runs on from it.
    fn mined(&mut self, timestamp: u64) {
        if self.next.take().is_some() {
            self.offset = i128::from(timestamp) - i128::from(Clock::wall());
        }
    }
}

/// The devnet's chain: accounts, contracts, blocks and receipts, and the
/// rules that change them (the server answers for it; it is not a client).
///
/// [`DevnetHandle::stop`](super::DevnetHandle::stop) hands it back and
/// [`Devnet::resume`](super::Devnet::resume) serves it again.
#[derive(Clone)]
pub struct ChainState {
    chain_id: u64,
    block_gas_limit: u64,
    max_log_range: Option<u64>,
    block_time: Option<Duration>,
    accounts: Vec<DevAccount>,
    db: CacheDB<EmptyDB>,
    blocks: Vec<MinedBlock>,
    block_numbers: HashMap<B256, u64>,
    tx_locations: HashMap<B256, (u64, usize)>,
    clock: Clock,
    /// When the latest block was mined (or the chain loaded), for the
    /// block time.
    mined_at: Instant,
}

impl std::fmt::Debug for ChainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainState")
            .field("chain_id", &self.chain_id)
            .field("block_number", &self.block_number())
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

impl ChainState {
    /// A chain at its genesis block, the dev accounts funded; it is served
    /// with the settings [`ChainState::configure`] gives it.
    pub(crate) fn new(config: &DevnetConfig, accounts: Vec<DevAccount>) -> ChainState {
        let mut db = CacheDB::new(EmptyDB::default());
        for account in &accounts {
            db.insert_account_info(account.address, AccountInfo::from_balance(config.balance));
        }
        let mut chain = ChainState {
            chain_id: config.chain_id,
            block_gas_limit: config.block_gas_limit,
            max_log_range: None,
            block_time: None,
            accounts,
            db,
            blocks: vec![],
            block_numbers: HashMap::new(),
            tx_locations: HashMap::new(),
            clock: Clock::default(),
            mined_at: Instant::now(),
        };
        chain.mine(Clock::wall(), vec![]);
        chain
    }

    /// Takes the settings of how the chain is served from `config`: the
    /// cap on `eth_getLogs` ranges and the block time. They are not part of
    /// the chain, so a loaded chain takes them from the configuration it is
    /// started with.
    pub(crate) fn configure(&mut self, config: &DevnetConfig) {
        self.max_log_range = config.max_log_range;
        self.block_time = config.block_time;
    }

    /// The interval after which an empty block is mined, if any.
    pub(crate) fn block_time(&self) -> Option<Duration> {
        self.block_time
    }

    /// How long ago the latest block was mined (or the chain loaded).
    pub(crate) fn idle(&self) -> Duration {
        self.mined_at.elapsed()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The number of the latest block.
    pub fn block_number(&self) -> u64 {
        self.latest().header.number
    }

    /// The funded dev accounts.
    pub fn accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// The latest block.
    pub(crate) fn latest(&self) -> &MinedBlock {
        self.blocks
            .last()
            .expect("a chain always holds its genesis block")
    }

    /// The block numbered `number`, if mined.
    pub(crate) fn block(&self, number: u64) -> Option<&MinedBlock> {
        usize::try_from(number)
            .ok()
            .and_then(|index| self.blocks.get(index))
    }

    /// The block with hash `hash`, if any.
    pub(crate) fn block_by_hash(&self, hash: B256) -> Option<&MinedBlock> {
        self.block_numbers
            .get(&hash)
            .and_then(|&number| self.block(number))
    }

    /// The block that holds transaction `hash`, and the transaction's index.
    pub(crate) fn transaction(&self, hash: B256) -> Option<(&MinedBlock, usize)> {
        let &(number, index) = self.tx_locations.get(&hash)?;
        Some((self.block(number)?, index))
    }

    /// The number a block tag stands for: `latest`, `pending`, `safe` and
    /// `finalized` are all the latest block (blocks are final once mined).
    pub(crate) fn resolve(&self, block: BlockNumberOrTag) -> u64 {
        match block {
            BlockNumberOrTag::Number(number) => number,
            BlockNumberOrTag::Earliest => 0,
            BlockNumberOrTag::Latest
            | BlockNumberOrTag::Pending
            | BlockNumberOrTag::Safe
            | BlockNumberOrTag::Finalized => self.block_number(),
        }
    }

    /// Checks that state queries at `block` can be answered: only the
    /// latest state is kept.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadParams`] for an older or unknown block.
    pub(crate) fn check_state_at(&self, block: Option<BlockId>) -> Result<(), RequestError> {
        let latest = self.latest();
        let ok = match block {
            None => true,
            Some(BlockId::Number(tag)) => self.resolve(tag) == latest.header.number,
            Some(BlockId::Hash(hash)) => hash.block_hash == latest.hash,
        };
        if ok {
            Ok(())
        } else {
            Err(RequestError::BadParams(format!(
                "the devnet keeps only the latest state (block {}); it cannot answer for block {}",
                latest.header.number,
                block.map_or_else(String::new, |block| block.to_string()),
            )))
        }
    }

    /// The account's info, if it exists.
    fn account(&self, address: Address) -> Option<AccountInfo> {
        infallible(self.db.basic_ref(address))
    }

    /// The balance of `address`, in wei.
    pub(crate) fn balance(&self, address: Address) -> U256 {
        self.account(address)
            .map_or(U256::ZERO, |info| info.balance)
    }

    /// The nonce of `address`.
    pub(crate) fn nonce(&self, address: Address) -> u64 {
        self.account(address).map_or(0, |info| info.nonce)
    }

    /// The code at `address` (empty for an account without code).
    pub(crate) fn code(&self, address: Address) -> Bytes {
        let Some(info) = self.account(address) else {
            return Bytes::new();
        };
        info.code
            .unwrap_or_else(|| infallible(self.db.code_by_hash_ref(info.code_hash)))
            .original_bytes()
    }

    /// Storage slot `slot` of `address`.
    pub(crate) fn storage(&self, address: Address, slot: U256) -> B256 {
        B256::from(infallible(self.db.storage_ref(address, slot)))
    }

    /// The logs of the mined blocks that `filter` selects.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadParams`] for an unknown block hash or a range that
    /// ends before it starts.
    pub(crate) fn logs(&self, filter: &Filter) -> Result<Vec<RpcLog>, RequestError> {
        let latest = self.block_number();
        let blocks: Vec<&MinedBlock> = match filter.block_option {
            FilterBlockOption::AtBlockHash(hash) => vec![
                self.block_by_hash(hash)
                    .ok_or_else(|| RequestError::BadParams(format!("unknown block {hash}")))?,
            ],
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let from = self.resolve(from_block.unwrap_or_default());
                let to = self.resolve(to_block.unwrap_or_default()).min(latest);
                if from > to && from <= latest {
                    return Err(RequestError::BadParams(format!(
                        "invalid block range: fromBlock {from} is after toBlock {to}"
                    )));
                }
                if let Some(max) = self.max_log_range
                    && to >= from
                    && to - from >= max
                {
                    return Err(RequestError::BadParams(format!(
                        "block range too large: {} blocks, the limit is {max}",
                        to - from + 1
                    )));
                }
                (from..=to)
                    .filter_map(|number| self.block(number))
                    .collect()
            }
        };
        Ok(blocks
            .into_iter()
            .flat_map(MinedBlock::logs)
            .filter(|log| filter.matches(&log.inner))
            .collect())
    }

    /// `eth_feeHistory`: the constant base fee, how full each block was and
    /// the tips its transactions paid at `percentiles` of its gas.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadParams`] for percentiles outside 0..=100 or out of
    /// order.
    pub(crate) fn fee_history(
        &self,
        count: u64,
        newest: BlockNumberOrTag,
        percentiles: Option<&[f64]>,
    ) -> Result<FeeHistory, RequestError> {
        if let Some(percentiles) = percentiles {
            let in_range = percentiles.iter().all(|p| (0.0..=100.0).contains(p));
            if !in_range || !percentiles.is_sorted() {
                return Err(RequestError::BadParams(
                    "reward percentiles must rise from 0 to 100".into(),
                ));
            }
        }
        let newest = self.resolve(newest).min(self.block_number());
        let count = count.min(MAX_FEE_HISTORY_BLOCKS).min(newest + 1);
        let oldest = newest + 1 - count;
        let blocks: Vec<&MinedBlock> = (oldest..=newest)
            .filter_map(|number| self.block(number))
            .collect();
        Ok(FeeHistory {
            base_fee_per_gas: vec![u128::from(BASE_FEE_PER_GAS); blocks.len() + 1],
            gas_used_ratio: blocks
                .iter()
                .map(|block| block.header.gas_used as f64 / block.header.gas_limit as f64)
                .collect(),
            base_fee_per_blob_gas: vec![],
            blob_gas_used_ratio: vec![],
            oldest_block: oldest,
            reward: percentiles
                .map(|percentiles| blocks.iter().map(|b| rewards(b, percentiles)).collect()),
        })
    }

    /// `eth_call`: runs `request` on the latest state in the next block's
    /// context and discards it.
    ///
    /// # Errors
    ///
    /// [`RequestError::Reverted`] with the revert data, or why it could not run.
    pub(crate) fn call(&self, request: &TransactionRequest) -> Result<Bytes, RequestError> {
        let gas = request.gas.unwrap_or_else(|| self.gas_cap());
        match self.simulate(request, gas)?.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(RequestError::Reverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(halted(reason, gas)),
        }
    }

    /// `eth_estimateGas`: the smallest gas limit at which `request`
    /// succeeds, found by bisection between what it used and the cap.
    ///
    /// # Errors
    ///
    /// [`RequestError::Reverted`] if it reverts even at the cap, or why it
    /// could not run.
    pub(crate) fn estimate_gas(&self, request: &TransactionRequest) -> Result<u64, RequestError> {
        let cap = request.gas.unwrap_or_else(|| self.gas_cap());
        let gas = match self.simulate(request, cap)?.result {
            ExecutionResult::Success { gas, .. } => gas,
            ExecutionResult::Revert { output, .. } => return Err(RequestError::Reverted(output)),
            ExecutionResult::Halt { reason, .. } => return Err(halted(reason, cap)),
        };
        let succeeds = |limit| {
            matches!(
                self.simulate(request, limit),
                Ok(ResultAndState {
                    result: ExecutionResult::Success { .. },
                    ..
                })
            )
        };
        let (mut low, mut high) = (gas.tx_gas_used().saturating_sub(1), cap);
        let optimistic = (gas.total_gas_spent() + CALL_STIPEND) * 64 / 63;
        if optimistic < high {
            if succeeds(optimistic) {
                high = optimistic;
            } else {
                low = low.max(optimistic);
            }
        }
        while low + 1 < high {
            let mid = low + (high - low) / 2;
            if succeeds(mid) {
                high = mid;
            } else {
                low = mid;
            }
        }
        Ok(high)
    }

    /// `eth_sendTransaction`: fills in what `request` leaves out (nonce, gas,
    /// EIP-1559 fees at twice the base fee and no tip, chain id), signs it
    /// with the dev account it is from and sends it.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadParams`] if `from` is missing or not a dev account or
    /// the fields make no transaction; then as [`ChainState::send`].
    pub(crate) fn send_request(
        &mut self,
        mut request: TransactionRequest,
    ) -> Result<B256, RequestError> {
        let from = request
            .from
            .ok_or_else(|| RequestError::BadParams("the transaction has no `from`".into()))?;
        let account = self
            .accounts
            .iter()
            .find(|account| account.address == from)
            .ok_or_else(|| {
                RequestError::BadParams(format!("{from} is not a dev account of this devnet"))
            })?;
        let signer = account
            .signer()
            .map_err(|e| RequestError::Invalid(format!("bad dev key: {e}")))?;
        request.to.get_or_insert(TxKind::Create);
        request.nonce.get_or_insert(self.nonce(from));
        request.chain_id.get_or_insert(self.chain_id);
        if request.gas_price.is_none() {
            request
                .max_fee_per_gas
                .get_or_insert(2 * u128::from(BASE_FEE_PER_GAS));
            request.max_priority_fee_per_gas.get_or_insert(0);
        }
        if request.gas.is_none() {
            request.gas = Some(self.estimate_gas(&request)?);
        }
        let tx = request.build_typed_tx().map_err(|_| {
            RequestError::BadParams("these fields do not make a transaction".into())
        })?;
        let signature = signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| RequestError::Invalid(format!("signing failed: {e}")))?;
        self.send(tx.into_envelope(signature))
    }

    /// `eth_sendRawTransaction`: checks `tx` (signature, chain id, nonce),
    /// executes it and mines it in a block of its own.
    ///
    /// # Errors
    ///
    /// [`RequestError::Invalid`] if the transaction cannot be included; a
    /// transaction that reverts is included, with status 0.
    pub(crate) fn send(&mut self, tx: TxEnvelope) -> Result<B256, RequestError> {
        let hash = *tx.tx_hash();
        if self.tx_locations.contains_key(&hash) {
            return Err(RequestError::Invalid(format!(
                "transaction {hash} is already known"
            )));
        }
        if tx.is_eip4844() {
            return Err(RequestError::Invalid(
                "blob transactions (EIP-4844) are not supported".into(),
            ));
        }
        let sender = tx
            .recover_signer()
            .map_err(|_| RequestError::Invalid("invalid transaction signature".into()))?;
        if let Some(chain_id) = tx.chain_id()
            && chain_id != self.chain_id
        {
            return Err(RequestError::Invalid(format!(
                "invalid chain id {chain_id}: this chain's is {}",
                self.chain_id
            )));
        }
        let nonce = self.nonce(sender);
        if tx.nonce() != nonce {
            let which = if tx.nonce() < nonce { "low" } else { "high" };
            return Err(RequestError::Invalid(format!(
                "nonce too {which}: {sender}'s next nonce is {nonce}, the transaction's is {} \
                 (the devnet mines each transaction at once and keeps no pool)",
                tx.nonce()
            )));
        }
        let env = tx_env(&tx, sender);
        let timestamp = self.clock.peek(self.latest().header.timestamp);
        let ResultAndState { result, state } = self.run(env, Mode::Transact, timestamp)?;
        self.db.commit(state);
        self.mine(
            timestamp,
            vec![(Recovered::new_unchecked(tx, sender), result)],
        );
        Ok(hash)
    }

    /// `evm_increaseTime`: moves the clock `seconds` on; returns the total
    /// offset from the wall clock, in seconds.
    pub(crate) fn increase_time(&mut self, seconds: u64) -> i128 {
        // Blocks mined faster than one a second run ahead of the wall
        // clock; the chain's time moves on from the latest block's.
        let ahead = i128::from(self.latest().header.timestamp) - i128::from(Clock::wall());
        self.clock.offset = self
            .clock
            .offset
            .max(ahead)
            .saturating_add(i128::from(seconds));
        self.clock.offset
    }

    /// `evm_setNextBlockTimestamp`: the next block gets `timestamp`, and the
    /// clock runs on from it.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadParams`] unless `timestamp` is after the latest
    /// block's.
    pub(crate) fn set_next_timestamp(&mut self, timestamp: u64) -> Result<(), RequestError> {
        let latest = self.latest().header.timestamp;
        if timestamp <= latest {
            return Err(RequestError::BadParams(format!(
                "timestamp {timestamp} is not after the latest block's ({latest})"
            )));
        }
        self.clock.next = Some(timestamp);
        Ok(())
    }

    /// `evm_mine`: mines `blocks` empty blocks, the first at `timestamp` if
    /// given.
    ///
    /// # Errors
    ///
    /// [`RequestError::BadParams`] for more than [`MAX_BLOCKS_PER_MINE`]
    /// blocks; as [`ChainState::set_next_timestamp`].
    pub(crate) fn mine_empty(
        &mut self,
        timestamp: Option<u64>,
        blocks: u64,
    ) -> Result<(), RequestError> {
        if blocks > MAX_BLOCKS_PER_MINE {
            return Err(RequestError::BadParams(format!(
                "cannot mine {blocks} blocks at once; at most {MAX_BLOCKS_PER_MINE}"
            )));
        }
        if let Some(timestamp) = timestamp {
            self.set_next_timestamp(timestamp)?;
        }
        for _ in 0..blocks {
            self.mine_empty_block();
        }
        Ok(())
    }

    /// Mines an empty block at the clock's time.
    pub(crate) fn mine_empty_block(&mut self) {
        let timestamp = self.clock.peek(self.latest().header.timestamp);
        self.mine(timestamp, vec![]);
    }

    /// The gas limit of calls that name none: the block's, within the
    /// per-transaction cap.
    fn gas_cap(&self) -> u64 {
        self.block_gas_limit.min(TX_GAS_LIMIT)
    }

    /// Runs `request` with gas limit `gas` without committing it.
    fn simulate(
        &self,
        request: &TransactionRequest,
        gas: u64,
    ) -> Result<ResultAndState, RequestError> {
        let caller = request.from.unwrap_or_default();
        let (tx_type, gas_price, gas_priority_fee) =
            match (request.max_fee_per_gas, request.gas_price) {
                (Some(max_fee), _) => (
                    2,
                    max_fee,
                    Some(request.max_priority_fee_per_gas.unwrap_or(0)),
                ),
                (None, price) if request.access_list.is_some() => (1, price.unwrap_or(0), None),
                (None, price) => (0, price.unwrap_or(0), None),
            };
        let env = TxEnv {
            tx_type,
            caller,
            gas_limit: gas,
            gas_price,
            gas_priority_fee,
            kind: request.to.unwrap_or(TxKind::Create),
            value: request.value.unwrap_or_default(),
            data: request.input.input().cloned().unwrap_or_default(),
            nonce: self.nonce(caller),
            chain_id: Some(self.chain_id),
            access_list: request.access_list.clone().unwrap_or_default(),
            ..TxEnv::default()
        };
        let timestamp = self.clock.peek(self.latest().header.timestamp);
        self.run(env, Mode::Simulate, timestamp)
    }

    /// Executes `tx` on the latest state in the context of the next block,
    /// mined at `timestamp`; the state changes are returned, not committed.
    fn run(&self, tx: TxEnv, mode: Mode, timestamp: u64) -> Result<ResultAndState, RequestError> {
        let block = BlockEnv {
            number: U256::from(self.block_number() + 1),
            timestamp: U256::from(timestamp),
            gas_limit: self.block_gas_limit,
            basefee: BASE_FEE_PER_GAS,
            ..BlockEnv::default()
        };
        let mut evm = evm::build(WrapDatabaseRef(&self.db), block, |cfg| {
            cfg.chain_id = self.chain_id;
            if mode == Mode::Simulate {
                cfg.disable_nonce_check = true;
                cfg.disable_base_fee = true;
            }
        });
        evm.transact(tx).map_err(|e| match e {
            EVMError::Transaction(invalid) => RequestError::Invalid(invalid.to_string()),
            other => RequestError::Invalid(other.to_string()),
        })
    }

    /// Mines a block at `timestamp` holding `txs` with their results.
    fn mine(&mut self, timestamp: u64, txs: Vec<(Recovered<TxEnvelope>, ExecutionResult)>) {
        let parent = self
            .blocks
            .last()
            .map(|block| (block.hash, block.header.number));
        let number = parent.map_or(0, |(_, number)| number + 1);
        let mut cumulative_gas = 0;
        let mut log_index = 0;
        let mined: Vec<MinedTx> = txs
            .into_iter()
            .map(|(tx, result)| {
                let gas_used = result.gas().tx_gas_used();
                cumulative_gas += gas_used;
                let (success, logs) = match result {
                    ExecutionResult::Success { logs, .. } => (true, logs),
                    ExecutionResult::Revert { .. } | ExecutionResult::Halt { .. } => {
                        (false, vec![])
                    }
                };
                let first_log_index = log_index;
                log_index += logs.len() as u64;
                let receipt = Receipt {
                    status: Eip658Value::Eip658(success),
                    cumulative_gas_used: cumulative_gas,
                    logs,
                }
                .with_bloom();
                let receipt = ReceiptEnvelope::from_typed(tx.tx_type(), receipt);
                MinedTx::new(tx, receipt, gas_used, first_log_index)
            })
            .collect();
        let envelopes: Vec<&TxEnvelope> = mined.iter().map(|m| m.tx.inner()).collect();
        let receipts: Vec<&ReceiptEnvelope> = mined.iter().map(|m| &m.receipt).collect();
        let header = Header {
            parent_hash: parent.map_or(B256::ZERO, |(hash, _)| hash),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::ZERO,
            state_root: B256::ZERO,
            transactions_root: calculate_transaction_root(&envelopes),
            receipts_root: calculate_receipt_root(&receipts),
            logs_bloom: receipts
                .iter()
                .map(|r| *r.logs_bloom())
                .fold(Bloom::ZERO, |a, b| a | b),
            difficulty: U256::ZERO,
            number,
            gas_limit: self.block_gas_limit,
            gas_used: cumulative_gas,
            timestamp,
            extra_data: Bytes::new(),
            mix_hash: B256::ZERO,
            nonce: B64::ZERO,
            base_fee_per_gas: Some(BASE_FEE_PER_GAS),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Header::default()
        };
        self.push(MinedBlock {
            hash: header.hash_slow(),
            header,
            txs: mined,
        });
        self.clock.mined(timestamp);
        self.mined_at = Instant::now();
    }

    /// Appends `block`, the next one, and indexes its hash and
    /// transactions.
    fn push(&mut self, block: MinedBlock) {
        let number = block.header.number;
        for (index, tx) in block.txs.iter().enumerate() {
            self.tx_locations.insert(tx.hash, (number, index));
        }
        self.block_numbers.insert(block.hash, number);
        self.blocks.push(block);
    }
}

/// The revm transaction for a signed `tx` from `sender`.
fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    let mut env = TxEnv {
        tx_type: tx.ty(),
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        ..TxEnv::default()
    };
    if let Some(authorizations) = tx.authorization_list() {
        env.set_signed_authorization(authorizations.to_vec());
    }
    env
}

/// The error for an execution that halted with `reason` at gas limit `gas`.
fn halted(reason: HaltReason, gas: u64) -> RequestError {
    match reason {
        HaltReason::OutOfGas(_) => RequestError::Halted(format!(
            "out of gas: gas required exceeds allowance ({gas})"
        )),
        other => RequestError::Halted(format!("execution halted: {other:?}")),
    }
}

/// The tips paid in `block` at each of `percentiles` of its gas (geth's
/// rule: transactions by tip, each weighted by the gas it used).
fn rewards(block: &MinedBlock, percentiles: &[f64]) -> Vec<u128> {
    let mut tips: Vec<(u128, u64)> = block
        .txs
        .iter()
        .map(|tx| (tx.tip(BASE_FEE_PER_GAS), tx.gas_used))
        .collect();
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|&(_, gas)| gas).sum();
    percentiles
        .iter()
        .map(|&percentile| {
            let threshold = (total as f64 * percentile / 100.0) as u64;
            let mut sum = 0;
            tips.iter()
                .find(|&&(_, gas)| {
                    sum += gas;
                    sum >= threshold
                })
                .or(tips.last())
                .map_or(0, |&(tip, _)| tip)
        })
        .collect()
}

/// The value of a read from the in-memory database, which cannot fail.
fn infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}
