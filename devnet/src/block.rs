//! What the devnet keeps of a mined block, and the JSON-RPC shapes of it:
//! blocks, transactions, receipts and logs as alloy's RPC types.

use alloy::consensus::transaction::Recovered;
use alloy::consensus::{Header, ReceiptEnvelope, Transaction as _, TxEnvelope};
use alloy::eips::eip4895::Withdrawals;
use alloy::rpc::types::{
    Block, BlockTransactions, Header as RpcHeader, Log as RpcLog, Transaction, TransactionReceipt,
};
use alloy_primitives::{Address, B256, Log, U256};

use super::state::BASE_FEE_PER_GAS;

/// A mined block: its header, hash and transactions.
#[derive(Clone, Debug)]
pub(crate) struct MinedBlock {
    /// The block hash, keccak256 of the RLP header.
    pub(crate) hash: B256,
    /// The header.
    pub(crate) header: Header,
    /// The transactions, in order.
    pub(crate) txs: Vec<MinedTx>,
}

/// A mined transaction and its receipt.
#[derive(Clone, Debug)]
pub(crate) struct MinedTx {
    /// The signed transaction and its sender.
    pub(crate) tx: Recovered<TxEnvelope>,
    /// The transaction hash.
    pub(crate) hash: B256,
    /// The consensus receipt (status, cumulative gas, logs, bloom).
    pub(crate) receipt: ReceiptEnvelope,
    /// Gas this transaction used.
    pub(crate) gas_used: u64,
    /// Wei paid per unit of gas.
    pub(crate) effective_gas_price: u128,
    /// The contract a creation made (geth's rule: set for every creation,
    /// successful or not).
    pub(crate) contract_address: Option<Address>,
    /// Index in the block of the transaction's first log.
    pub(crate) first_log_index: u64,
}

impl MinedBlock {
    /// The block as `eth_getBlockBy*` returns it, with full transactions or
    /// their hashes.
    pub(crate) fn rpc(&self, full: bool) -> Block {
        let transactions = if full {
            BlockTransactions::Full((0..self.txs.len()).map(|i| self.rpc_tx(i)).collect())
        } else {
            BlockTransactions::Hashes(self.txs.iter().map(|tx| tx.hash).collect())
        };
        Block {
            header: RpcHeader {
                hash: self.hash,
                inner: self.header.clone(),
                total_difficulty: Some(U256::ZERO),
                size: None,
            },
            uncles: vec![],
            transactions,
            withdrawals: Some(Withdrawals::default()),
        }
    }

    /// Transaction `index` as `eth_getTransactionByHash` returns it.
    pub(crate) fn rpc_tx(&self, index: usize) -> Transaction {
        let mined = &self.txs[index];
        Transaction {
            inner: mined.tx.clone(),
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            transaction_index: Some(index as u64),
            effective_gas_price: Some(mined.effective_gas_price),
            block_timestamp: Some(self.header.timestamp),
        }
    }

    /// The receipt of transaction `index`, as `eth_getTransactionReceipt`
    /// returns it.
    pub(crate) fn rpc_receipt(&self, index: usize) -> TransactionReceipt {
        let mined = &self.txs[index];
        let mut log_index = mined.first_log_index;
        let inner = mined.receipt.clone().map_logs(|log| {
            let log = self.rpc_log(index, log_index, log);
            log_index += 1;
            log
        });
        TransactionReceipt {
            inner,
            transaction_hash: mined.hash,
            transaction_index: Some(index as u64),
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            gas_used: mined.gas_used,
            effective_gas_price: mined.effective_gas_price,
            blob_gas_used: None,
            blob_gas_price: None,
            from: mined.tx.signer(),
            to: mined.tx.to(),
            contract_address: mined.contract_address,
        }
    }

    /// Every log of the block with its position, in order.
    pub(crate) fn logs(&self) -> impl Iterator<Item = RpcLog> + '_ {
        self.txs.iter().enumerate().flat_map(move |(index, mined)| {
            (mined.first_log_index..)
                .zip(mined.receipt.logs())
                .map(move |(log_index, log)| self.rpc_log(index, log_index, log.clone()))
        })
    }

    fn rpc_log(&self, tx_index: usize, log_index: u64, log: Log) -> RpcLog {
        RpcLog {
            inner: log,
            block_hash: Some(self.hash),
            block_number: Some(self.header.number),
            block_timestamp: Some(self.header.timestamp),
            transaction_hash: Some(self.txs[tx_index].hash),
            transaction_index: Some(tx_index as u64),
            log_index: Some(log_index),
            removed: false,
        }
    }
}

impl MinedTx {
    /// `tx` as mined with `receipt`, having used `gas_used`, its logs
    /// numbered from `first_log_index` in the block; the rest follows
    /// from these (the same rule for a new block and a loaded one).
    pub(crate) fn new(
        tx: Recovered<TxEnvelope>,
        receipt: ReceiptEnvelope,
        gas_used: u64,
        first_log_index: u64,
    ) -> MinedTx {
        MinedTx {
            hash: *tx.tx_hash(),
            receipt,
            gas_used,
            effective_gas_price: tx.effective_gas_price(Some(BASE_FEE_PER_GAS)),
            contract_address: tx.is_create().then(|| tx.signer().create(tx.nonce())),
            first_log_index,
            tx,
        }
    }

    /// The priority fee per gas this transaction paid over `base_fee`.
    pub(crate) fn tip(&self, base_fee: u64) -> u128 {
        self.effective_gas_price
            .saturating_sub(u128::from(base_fee))
    }
}
