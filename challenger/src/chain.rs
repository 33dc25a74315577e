//! The chain as an agent sees it: one account, the deployed contracts,
//! typed calls whose reverts decode into the contracts' custom errors, and
//! the contracts' logs. Everything goes through alloy over JSON-RPC, so the
//! same code runs against the embedded devnet, anvil or a public chain.

use std::sync::Arc;
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::types::{Filter, Log, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use alloy::transports::layers::RetryBackoffLayer;
use alloy::transports::{RpcError, TransportError};
use alloy_primitives::{Address, B256, Bytes, TxHash, U256};
use alloy_sol_types::SolCall;
use verdict_contracts::protocol::Revert;

/// Why a chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or answered with an error.
    #[error("rpc: {0}")]
    Rpc(#[from] TransportError),
    /// The call reverted with a decoded error.
    #[error("{function} reverted: {revert:?}")]
    Revert {
        /// The function called.
        function: &'static str,
        /// Why.
        revert: Revert,
    },
    /// The transaction was mined but failed.
    #[error("{function}: transaction {tx} failed on-chain")]
    Failed {
        /// The function called.
        function: &'static str,
        /// The transaction.
        tx: TxHash,
    },
    /// A deployment receipt named no contract.
    #[error("deployment {0} created no contract")]
    NoContract(TxHash),
    /// Return data that is not what the function returns.
    #[error("{function}: undecodable return data")]
    Decode {
        /// The function called.
        function: &'static str,
    },
    /// The URL does not parse.
    #[error("bad RPC URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
}

impl ChainError {
    /// Whether retrying later may succeed (the node, not the call, failed).
    pub fn is_transient(&self) -> bool {
        match self {
            ChainError::Rpc(e) => !matches!(e, RpcError::ErrorResp(_)),
            _ => false,
        }
    }
}

/// A mined transaction.
#[derive(Debug)]
pub struct Sent {
    /// Its receipt.
    pub receipt: TransactionReceipt,
}

impl Sent {
    /// Gas it used.
    pub fn gas_used(&self) -> u64 {
        self.receipt.gas_used
    }

    /// Its hash and gas, as agents report them.
    pub fn tx(&self) -> Tx {
        Tx {
            hash: self.receipt.transaction_hash,
            gas: self.receipt.gas_used,
        }
    }

    /// The logs it emitted.
    pub fn logs(&self) -> impl Iterator<Item = &alloy_primitives::Log> {
        self.receipt.inner.logs().iter().map(|l| &l.inner)
    }
}

/// A mined transaction, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Tx {
    /// Its hash.
    #[schema(value_type = String)]
    pub hash: TxHash,
    /// Gas it used.
    pub gas: u64,
}

impl std::fmt::Display for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tx {}, {} gas", self.hash, self.gas)
    }
}

/// Times a request the node answers with 429 or 503 (a rate limit, a node
/// busy or starting) is sent again before the call fails: hosted providers
/// answer so often enough that failing the whole tick each time would slow
/// an agent to its backoff. Sending a signed transaction again is safe: it
/// is the same transaction.
const RETRIES: u32 = 4;

/// The pause before each of those retries, in ms (a provider's hint, when
/// it gives one, wins).
const RETRY_PAUSE_MS: u64 = 100;

/// The request rate the retry layer budgets for, in compute units a second:
/// high enough that it adds no wait of its own.
const COMPUTE_UNITS: u64 = 10_000;

/// One account on one chain. Clones share the account's sends.
#[derive(Clone, Debug)]
pub struct Chain {
    provider: DynProvider,
    account: Address,
    /// Held from a transaction's nonce to its submission: the nonce is the
    /// node's pending count, which two sends at once would both read.
    sending: Arc<tokio::sync::Mutex<()>>,
}

impl Chain {
    /// Connects to `url` as `signer`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Url`] if `url` does not parse.
    pub fn connect(url: &str, signer: PrivateKeySigner) -> Result<Chain, ChainError> {
        let parsed = Url::parse(url).map_err(|e| ChainError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let account = signer.address();
        // The nonce comes from the node's pending count on every send: a
        // cached nonce is reserved before the gas estimate and kept when the
        // estimate reverts, so one refused move made every later
        // transaction's nonce too high.
        let provider = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_client(
                ClientBuilder::default()
                    .layer(RetryBackoffLayer::new(
                        RETRIES,
                        RETRY_PAUSE_MS,
                        COMPUTE_UNITS,
                    ))
                    .http(parsed),
            );
        provider
            .client()
            .set_poll_interval(Duration::from_millis(20));
        Ok(Chain {
            provider: provider.erased(),
            account,
            sending: Arc::default(),
        })
    }

    /// This agent's account.
    pub fn account(&self) -> Address {
        self.account
    }

    /// The provider, for what this type does not wrap.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Sends `call` to `to` with `value` wei and waits for its receipt.
    ///
    /// # Errors
    ///
    /// [`ChainError::Revert`] with the decoded error if it would revert
    /// (found when the node estimates its gas); [`ChainError::Failed`] if it
    /// was mined and failed.
    pub async fn send<C: SolCall>(
        &self,
        to: Address,
        call: &C,
        value: U256,
    ) -> Result<Sent, ChainError> {
        self.send_calldata(C::SIGNATURE, to, call.abi_encode().into(), value)
            .await
    }

    /// Sends `data`, a call of `function`, as [`Chain::send`] does.
    ///
    /// # Errors
    ///
    /// As [`Chain::send`].
    pub async fn send_calldata(
        &self,
        function: &'static str,
        to: Address,
        data: Bytes,
        value: U256,
    ) -> Result<Sent, ChainError> {
        let tx = TransactionRequest::default()
            .with_from(self.account)
            .with_to(to)
            .with_input(data)
            .with_value(value);
        self.send_tx(function, tx).await
    }

    async fn send_tx(
        &self,
        function: &'static str,
        tx: TransactionRequest,
    ) -> Result<Sent, ChainError> {
        let pending = {
            let _sending = self.sending.lock().await;
            self.provider
                .send_transaction(tx)
                .await
                .map_err(|e| revert_or(function, e))?
        };
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|e| ChainError::Rpc(RpcError::local_usage_str(&e.to_string())))?;
        if !receipt.status() {
            return Err(ChainError::Failed {
                function,
                tx: receipt.transaction_hash,
            });
        }
        Ok(Sent { receipt })
    }

    /// Deploys `code` (creation code with its constructor arguments).
    ///
    /// # Errors
    ///
    /// As [`Chain::send`].
    pub async fn deploy(&self, code: Bytes) -> Result<Address, ChainError> {
        let tx = TransactionRequest::default()
            .with_from(self.account)
            .with_deploy_code(code);
        let sent = self.send_tx("constructor", tx).await?;
        sent.receipt
            .contract_address
            .ok_or(ChainError::NoContract(sent.receipt.transaction_hash))
    }

    /// Calls the view `call` on `to` at the latest block.
    ///
    /// # Errors
    ///
    /// [`ChainError::Revert`] if it reverts.
    pub async fn view<C: SolCall>(&self, to: Address, call: &C) -> Result<C::Return, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(Bytes::from(call.abi_encode()));
        let out = self
            .provider
            .call(tx)
            .await
            .map_err(|e| revert_or(C::SIGNATURE, e))?;
        C::abi_decode_returns(&out).map_err(|_| ChainError::Decode {
            function: C::SIGNATURE,
        })
    }

    /// The chain's id.
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`].
    pub async fn chain_id(&self) -> Result<u64, ChainError> {
        Ok(self.provider.get_chain_id().await?)
    }

    /// The latest block's number.
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`].
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.provider.get_block_number().await?)
    }

    /// The latest block's timestamp: the contracts' `now`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`].
    pub async fn timestamp(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| ChainError::Rpc(RpcError::local_usage_str("no latest block")))?;
        Ok(block.header.timestamp)
    }

    /// The balance of `account`, in wei.
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`].
    pub async fn balance(&self, account: Address) -> Result<U256, ChainError> {
        Ok(self.provider.get_balance(account).await?)
    }

    /// The hash of block `number`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`], also when the node has no such block.
    pub async fn block_hash(&self, number: u64) -> Result<B256, ChainError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await?
            .ok_or_else(|| {
                ChainError::Rpc(RpcError::local_usage_str("the node has no such block"))
            })?;
        Ok(block.header.hash)
    }

    /// The code at `address` (empty if none).
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`].
    pub async fn code(&self, address: Address) -> Result<Bytes, ChainError> {
        Ok(self.provider.get_code_at(address).await?)
    }

    /// The logs of `addresses` in blocks `from ..= to`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`].
    pub async fn logs(
        &self,
        addresses: Vec<Address>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, ChainError> {
        let filter = Filter::new()
            .address(addresses)
            .from_block(from)
            .to_block(to);
        Ok(self.provider.get_logs(&filter).await?)
    }

    /// Mines a block just past `deadline` unless the latest block already
    /// is (the devnet's and anvil's `evm_setNextBlockTimestamp` and
    /// `evm_mine`).
    ///
    /// # Errors
    ///
    /// As [`Chain::increase_time`].
    pub async fn advance_past(&self, deadline: u64) -> Result<(), ChainError> {
        if self.timestamp().await? <= deadline {
            let _: serde_json::Value = self
                .provider
                .raw_request("evm_setNextBlockTimestamp".into(), (deadline + 1,))
                .await?;
            let _: serde_json::Value = self.provider.raw_request("evm_mine".into(), ()).await?;
        }
        Ok(())
    }

    /// Moves the chain's clock forward by `seconds` and mines a block (the
    /// devnet's and anvil's `evm_increaseTime` and `evm_mine`).
    ///
    /// # Errors
    ///
    /// [`ChainError::Rpc`], also on a chain without these methods.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), ChainError> {
        let _: serde_json::Value = self
            .provider
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await?;
        let _: serde_json::Value = self.provider.raw_request("evm_mine".into(), ()).await?;
        Ok(())
    }
}

/// A failed send or call: the contract's decoded error where the node
/// returned revert data, else the transport's error.
fn revert_or(function: &'static str, e: TransportError) -> ChainError {
    match e.as_error_resp().and_then(|p| p.as_revert_data()) {
        Some(data) => ChainError::Revert {
            function,
            revert: Revert::decode(&data),
        },
        None => ChainError::Rpc(e),
    }
}
