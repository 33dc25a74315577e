//! The state file: a chain written out and read back, so that a devnet
//! stopped and started again from it serves the same chain (anvil's
//! `--dump-state` and `--load-state`).
//!
//! The file is one JSON object, [`Snapshot`], named by its `format` and
//! `version` fields. It holds what cannot be derived: the accounts' state,
//! each block's header and hash, each transaction in its EIP-2718 encoding
//! with its receipt, the dev keys, the chain id and the clock. Transaction
//! hashes, senders, gas used, log indexes and contract addresses are
//! derived again on loading, so a file cannot contradict them; what it can
//! contradict (a hash that is not its header's, a transaction that does not
//! decode) is refused. `docs/devnet.md` describes the fields.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::consensus::transaction::{Recovered, SignerRecoverable};
use alloy::consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy::eips::{Decodable2718, Encodable2718};
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256};
use revm::bytecode::Bytecode;
use revm::database::{CacheDB, EmptyDB};
use revm::state::AccountInfo;
use serde::{Deserialize, Serialize};

use super::{ChainState, Clock, infallible};
use crate::DevnetError;
use crate::accounts::DevAccount;
use crate::block::{MinedBlock, MinedTx};

/// What the `format` field of every state file says.
const FORMAT: &str = "verdict-devnet-state";

/// The version of [`Snapshot`]'s layout; a file of another is refused.
const VERSION: u64 = 1;

/// Why a state file could not be read as a chain.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read.
    #[error("cannot read it")]
    Io(#[source] io::Error),
    /// The file is not JSON, or is cut short.
    #[error("not JSON, or cut short: {0}")]
    NotJson(serde_json::Error),
    /// The file is JSON but not a devnet state file.
    #[error(r#"not a verdict devnet state file (no "format": "{FORMAT}" with a "version")"#)]
    NotStateFile,
    /// The file is of another format version.
    #[error("state file format version {found}; this devnet reads version {VERSION}")]
    Version {
        /// The file's version.
        found: u64,
    },
    /// The file names the format and version but is not of their shape.
    #[error("not the shape of a version {VERSION} state file: {0}")]
    Shape(serde_json::Error),
    /// The file has the shape but its contents contradict themselves.
    #[error("{0}")]
    Inconsistent(String),
}

/// The state file, field by field.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Snapshot {
    format: String,
    version: u64,
    chain_id: u64,
    block_gas_limit: u64,
    /// Seconds added to the wall clock.
    clock_offset: i128,
    /// The timestamp `evm_setNextBlockTimestamp` set for the next block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_timestamp: Option<u64>,
    /// The dev accounts' private keys; their addresses follow.
    dev_keys: Vec<B256>,
    /// Every account that exists, by address.
    accounts: Vec<AccountEntry>,
    /// Every block from genesis, in order.
    blocks: Vec<BlockEntry>,
}

/// An account: balance, nonce, code and its non-zero storage slots.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountEntry {
    address: Address,
    balance: U256,
    nonce: u64,
    #[serde(default, skip_serializing_if = "<[u8]>::is_empty")]
    code: Bytes,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    storage: BTreeMap<U256, U256>,
}

/// A block: its hash, checked against the header on loading, the header
/// (in the JSON-RPC field names) and its transactions.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockEntry {
    hash: B256,
    header: Header,
    transactions: Vec<TxEntry>,
}

/// A mined transaction: its EIP-2718 encoding and its receipt.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxEntry {
    raw: Bytes,
    receipt: ReceiptEnvelope,
}

impl Snapshot {
    /// Writes the file to `path` atomically: into a file beside it,
    /// flushed to disk, then renamed over it, so that a crash leaves the
    /// old file or the new one, never part of one.
    ///
    /// # Errors
    ///
    /// [`DevnetError::DumpState`] if it cannot be written.
    pub(crate) fn write(&self, path: &Path) -> Result<(), DevnetError> {
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let written = self.write_new(&temp).and_then(|()| fs::rename(&temp, path));
        if written.is_err() {
            // Best effort: the error that matters is the write's.
            let _ = fs::remove_file(&temp);
        }
        written.map_err(|source| DevnetError::DumpState {
            path: path.to_owned(),
            source,
        })
    }

    fn write_new(&self, path: &Path) -> io::Result<()> {
        let mut out = BufWriter::new(File::create(path)?);
        serde_json::to_writer(&mut out, self)?;
        out.write_all(b"\n")?;
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()
    }
}

impl ChainState {
    /// Writes the chain to `path` in the state file format
    /// (`docs/devnet.md`), atomically: a crash leaves the old file or the
    /// new one. The serving settings (log range cap, block time) are not
    /// written.
    ///
    /// # Errors
    ///
    /// [`DevnetError::DumpState`] if the file cannot be written.
    pub fn dump(&self, path: &Path) -> Result<(), DevnetError> {
        self.snapshot().write(path)
    }

    /// Reads the chain [`ChainState::dump`] wrote to `path`: the same
    /// accounts, blocks, transactions, receipts, chain id and clock. It has
    /// no log range cap and no block time until it is served with a
    /// configuration's.
    ///
    /// # Errors
    ///
    /// [`DevnetError::LoadState`], naming the file and the [`StateError`]:
    /// unreadable, not a state file, another version, or contents that do
    /// not hold together.
    pub fn load(path: &Path) -> Result<ChainState, DevnetError> {
        fs::read(path)
            .map_err(StateError::Io)
            .and_then(|bytes| ChainState::decode(&bytes))
            .map_err(|source| DevnetError::LoadState {
                path: path.to_owned(),
                source,
            })
    }

    /// The chain as its state file holds it.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut accounts: Vec<AccountEntry> = self
            .db
            .cache
            .accounts
            .iter()
            .filter_map(|(&address, account)| {
                let info = account.info()?;
                Some(AccountEntry {
                    address,
                    balance: info.balance,
                    nonce: info.nonce,
                    code: self.code(address),
                    storage: account
                        .storage
                        .iter()
                        .filter(|(_, value)| !value.is_zero())
                        .map(|(&slot, &value)| (slot, value))
                        .collect(),
                })
            })
            .collect();
        accounts.sort_unstable_by_key(|account| account.address);
        Snapshot {
            format: FORMAT.to_owned(),
            version: VERSION,
            chain_id: self.chain_id,
            block_gas_limit: self.block_gas_limit,
            clock_offset: self.clock.offset,
            next_timestamp: self.clock.next,
            dev_keys: self.accounts.iter().map(|a| a.private_key).collect(),
            accounts,
            blocks: self.blocks.iter().map(BlockEntry::new).collect(),
        }
    }

    /// The chain in the state file `bytes`. The format and version are
    /// read first, so a file of another version is named as such however
    /// its shape differs.
    fn decode(bytes: &[u8]) -> Result<ChainState, StateError> {
        #[derive(Deserialize)]
        struct Preamble {
            format: String,
            version: u64,
        }
        let preamble: Preamble = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_data() {
                StateError::NotStateFile
            } else {
                StateError::NotJson(e)
            }
        })?;
        if preamble.format != FORMAT {
            return Err(StateError::NotStateFile);
        }
        if preamble.version != VERSION {
            return Err(StateError::Version {
                found: preamble.version,
            });
        }
        let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(StateError::Shape)?;
        ChainState::restore(snapshot)
    }

    /// The chain `snapshot` describes, once it is found to hold together.
    fn restore(snapshot: Snapshot) -> Result<ChainState, StateError> {
        let accounts = snapshot
            .dev_keys
            .iter()
            .enumerate()
            .map(|(index, &private_key)| {
                let signer = PrivateKeySigner::from_bytes(&private_key).map_err(|_| {
                    StateError::Inconsistent(format!(
                        "dev key {index} is not a secp256k1 private key"
                    ))
                })?;
                Ok(DevAccount {
                    address: signer.address(),
                    private_key,
                })
            })
            .collect::<Result<_, StateError>>()?;
        let mut db = CacheDB::new(EmptyDB::default());
        for account in snapshot.accounts {
            let code = Bytecode::new_raw_checked(account.code).map_err(|e| {
                StateError::Inconsistent(format!(
                    "the code of {} is not bytecode: {e}",
                    account.address
                ))
            })?;
            let info = AccountInfo::new(account.balance, account.nonce, code.hash_slow(), code);
            db.insert_account_info(account.address, info);
            for (slot, value) in account.storage {
                infallible(db.insert_account_storage(account.address, slot, value));
            }
        }
        let mut chain = ChainState {
            chain_id: snapshot.chain_id,
            block_gas_limit: snapshot.block_gas_limit,
            max_log_range: None,
            block_time: None,
            accounts,
            db,
            blocks: Vec::with_capacity(snapshot.blocks.len()),
            block_numbers: Default::default(),
            tx_locations: Default::default(),
            clock: Clock {
                offset: snapshot.clock_offset,
                next: snapshot.next_timestamp,
            },
            mined_at: Instant::now(),
        };
        for (number, block) in (0..).zip(snapshot.blocks) {
            chain.push(block.restore(number)?);
        }
        if chain.blocks.is_empty() {
            return Err(StateError::Inconsistent(
                "the file holds no block, not even genesis".into(),
            ));
        }
        Ok(chain)
    }
}

impl BlockEntry {
    fn new(block: &MinedBlock) -> BlockEntry {
        BlockEntry {
            hash: block.hash,
            header: block.header.clone(),
            transactions: block
                .txs
                .iter()
                .map(|mined| TxEntry {
                    raw: mined.tx.encoded_2718().into(),
                    receipt: mined.receipt.clone(),
                })
                .collect(),
        }
    }

    /// The block, if it is block `number` and its hash is its header's,
    /// and its transactions decode, are signed and have receipts whose
    /// cumulative gas does not fall.
    fn restore(self, number: u64) -> Result<MinedBlock, StateError> {
        if self.header.number != number {
            return Err(StateError::Inconsistent(format!(
                "block {number} is numbered {}",
                self.header.number
            )));
        }
        let hash = self.header.hash_slow();
        if hash != self.hash {
            return Err(StateError::Inconsistent(format!(
                "block {number}'s hash is {}, but its header's is {hash}",
                self.hash
            )));
        }
        let (mut cumulative_gas, mut log_index) = (0, 0);
        let txs = (0..)
            .zip(self.transactions)
            .map(|(index, entry)| {
                let which = || format!("transaction {index} of block {number}");
                let tx = TxEnvelope::decode_2718_exact(&entry.raw).map_err(|e| {
                    StateError::Inconsistent(format!("{} does not decode: {e}", which()))
                })?;
                let signer = tx.recover_signer().map_err(|_| {
                    StateError::Inconsistent(format!("{} has no valid signature", which()))
                })?;
                let gas_used = entry
                    .receipt
                    .cumulative_gas_used()
                    .checked_sub(cumulative_gas)
                    .ok_or_else(|| {
                        StateError::Inconsistent(format!(
                            "the receipt of {} has less cumulative gas than the one before",
                            which()
                        ))
                    })?;
                cumulative_gas += gas_used;
                let first_log_index = log_index;
                log_index += entry.receipt.logs().len() as u64;
                Ok(MinedTx::new(
                    Recovered::new_unchecked(tx, signer),
                    entry.receipt,
                    gas_used,
                    first_log_index,
                ))
            })
            .collect::<Result<_, StateError>>()?;
        Ok(MinedBlock {
            hash,
            header: self.header,
            txs,
        })
    }
}
