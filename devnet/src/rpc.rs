//! JSON-RPC 2.0 over the chain: requests and batches, the method table and
//! the error codes geth and anvil answer with.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use alloy::consensus::TxEnvelope;
use alloy::eips::{BlockId, BlockNumberOrTag, Decodable2718};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_sol_types::{Revert, SolError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::state::{BASE_FEE_PER_GAS, ChainState, RequestError};

/// What `web3_clientVersion` answers.
const CLIENT_VERSION: &str = concat!("verdict-devnet/v", env!("CARGO_PKG_VERSION"));

/// The chain the server answers for.
pub(crate) type Shared = Mutex<ChainState>;

/// A JSON-RPC error object.
#[derive(Debug)]
pub(crate) struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    /// Code -32700: the body is not JSON.
    const PARSE: i64 = -32700;
    /// Code -32600: the JSON is not a request.
    const INVALID_REQUEST: i64 = -32600;
    /// Code -32601: no such method.
    const METHOD_NOT_FOUND: i64 = -32601;
    /// Code -32602: bad parameters.
    const INVALID_PARAMS: i64 = -32602;
    /// Code -32603: the server failed.
    const INTERNAL: i64 = -32603;
    /// Code -32000: the chain refused the request (geth's generic code).
    const SERVER: i64 = -32000;
    /// Code 3: execution reverted; `data` holds the revert bytes.
    const REVERTED: i64 = 3;

    fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(RpcError::INVALID_PARAMS, message)
    }

    fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            error.insert("data".into(), data.clone());
        }
        Value::Object(error)
    }
}

impl From<RequestError> for RpcError {
    fn from(error: RequestError) -> RpcError {
        match error {
            RequestError::Reverted(data) => {
                let message = match Revert::abi_decode(&data) {
                    Ok(revert) => format!("execution reverted: {}", revert.reason),
                    Err(_) => "execution reverted".to_owned(),
                };
                RpcError {
                    code: RpcError::REVERTED,
                    message,
                    data: Some(Value::String(data.to_string())),
                }
            }
            RequestError::BadParams(message) => RpcError::invalid_params(message),
            RequestError::Invalid(message) | RequestError::Halted(message) => {
                RpcError::new(RpcError::SERVER, message)
            }
        }
    }
}

/// A request's positional parameters.
struct Params(Vec<Value>);

impl Params {
    /// Parameter `index`, which must be there.
    fn required<T: DeserializeOwned>(&self, index: usize, name: &str) -> Result<T, RpcError> {
        match self.0.get(index) {
            None => Err(RpcError::invalid_params(format!(
                "missing parameter {index} ({name})"
            ))),
            Some(value) => parse(value, index, name),
        }
    }

    /// Parameter `index`, which may be missing or null.
    fn optional<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> Result<Option<T>, RpcError> {
        match self.0.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse(value, index, name).map(Some),
        }
    }
}

fn parse<T: DeserializeOwned>(value: &Value, index: usize, name: &str) -> Result<T, RpcError> {
    T::deserialize(value)
        .map_err(|e| RpcError::invalid_params(format!("invalid parameter {index} ({name}): {e}")))
}

/// `evm_mine`'s parameter: a timestamp, or anvil's options object.
#[derive(Deserialize)]
#[serde(untagged)]
enum MineOptions {
    /// The first block's timestamp.
    Timestamp(U64),
    /// The first block's timestamp and how many blocks to mine.
    Options {
        timestamp: Option<U64>,
        blocks: Option<U64>,
    },
}

/// Answers one HTTP request body, a request or a batch, with the response
/// body.
pub(crate) fn handle(state: &Shared, body: &[u8]) -> Vec<u8> {
    let response = match serde_json::from_slice::<Value>(body) {
        Err(e) => response(
            Value::Null,
            Err(RpcError::new(RpcError::PARSE, format!("parse error: {e}"))),
        ),
        Ok(Value::Array(batch)) if batch.is_empty() => response(
            Value::Null,
            Err(RpcError::new(RpcError::INVALID_REQUEST, "empty batch")),
        ),
        Ok(Value::Array(batch)) => {
            Value::Array(batch.into_iter().map(|r| handle_one(state, r)).collect())
        }
        Ok(request) => handle_one(state, request),
    };
    serde_json::to_vec(&response).unwrap_or_default()
}

fn response(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error.to_json() }),
    }
}

fn handle_one(state: &Shared, request: Value) -> Value {
    let Value::Object(mut request) = request else {
        let error = RpcError::new(RpcError::INVALID_REQUEST, "a request must be a JSON object");
        return response(Value::Null, Err(error));
    };
    let id = request.remove("id").unwrap_or(Value::Null);
    let Some(Value::String(method)) = request.remove("method") else {
        let error = RpcError::new(RpcError::INVALID_REQUEST, "the request has no method name");
        return response(id, Err(error));
    };
    let params = match request.remove("params") {
        None | Some(Value::Null) => Ok(Params(vec![])),
        Some(Value::Array(params)) => Ok(Params(params)),
        Some(_) => Err(RpcError::invalid_params("params must be an array")),
    };
    let started = Instant::now();
    let result = params.and_then(|params| {
        let mut chain = state.lock().unwrap_or_else(PoisonError::into_inner);
        dispatch(&mut chain, &method, &params)
    });
    match &result {
        Ok(_) => tracing::debug!(method, elapsed = ?started.elapsed(), "rpc"),
        Err(e) => {
            tracing::debug!(method, elapsed = ?started.elapsed(), code = e.code, error = e.message, "rpc")
        }
    }
    response(id, result)
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::new(RpcError::INTERNAL, e.to_string()))
}

fn quantity(value: u64) -> Result<Value, RpcError> {
    to_json(U64::from(value))
}

/// Checks `eth_call`'s and `eth_estimateGas`'s block and state override
/// parameters.
fn check_call_params(chain: &ChainState, params: &Params) -> Result<(), RpcError> {
    chain.check_state_at(params.optional::<BlockId>(1, "block")?)?;
    if params.optional::<Value>(2, "state overrides")?.is_some() {
        return Err(RpcError::invalid_params(
            "state overrides are not supported",
        ));
    }
    Ok(())
}

/// Runs `method`.
fn dispatch(chain: &mut ChainState, method: &str, params: &Params) -> Result<Value, RpcError> {
    match method {
        "web3_clientVersion" => to_json(CLIENT_VERSION),
        "net_version" => to_json(chain.chain_id().to_string()),
        "eth_chainId" => quantity(chain.chain_id()),
        "eth_accounts" => to_json(
            chain
                .accounts()
                .iter()
                .map(|account| account.address)
                .collect::<Vec<Address>>(),
        ),
        "eth_syncing" => Ok(Value::Bool(false)),
        "eth_blockNumber" => quantity(chain.block_number()),
        "eth_gasPrice" => quantity(BASE_FEE_PER_GAS),
        "eth_maxPriorityFeePerGas" => quantity(0),
        "eth_feeHistory" => {
            let count: U64 = params.required(0, "block count")?;
            let newest: BlockNumberOrTag = params.required(1, "newest block")?;
            let percentiles: Option<Vec<f64>> = params.optional(2, "reward percentiles")?;
            to_json(chain.fee_history(count.to(), newest, percentiles.as_deref())?)
        }
        "eth_getBlockByNumber" => {
            let block: BlockNumberOrTag = params.required(0, "block")?;
            let full: bool = params.required(1, "full transactions")?;
            to_json(
                chain
                    .block(chain.resolve(block))
                    .map(|block| block.rpc(full)),
            )
        }
        "eth_getBlockByHash" => {
            let hash: B256 = params.required(0, "block hash")?;
            let full: bool = params.required(1, "full transactions")?;
            to_json(chain.block_by_hash(hash).map(|block| block.rpc(full)))
        }
        "eth_getTransactionByHash" => {
            let hash: B256 = params.required(0, "transaction hash")?;
            to_json(chain.transaction(hash).map(|(block, i)| block.rpc_tx(i)))
        }
        "eth_getTransactionReceipt" => {
            let hash: B256 = params.required(0, "transaction hash")?;
            to_json(
                chain
                    .transaction(hash)
                    .map(|(block, i)| block.rpc_receipt(i)),
            )
        }
        "eth_getTransactionCount" => {
            let address: Address = params.required(0, "address")?;
            chain.check_state_at(params.optional(1, "block")?)?;
            quantity(chain.nonce(address))
        }
        "eth_getBalance" => {
            let address: Address = params.required(0, "address")?;
            chain.check_state_at(params.optional(1, "block")?)?;
            to_json(chain.balance(address))
        }
        "eth_getCode" => {
            let address: Address = params.required(0, "address")?;
            chain.check_state_at(params.optional(1, "block")?)?;
            to_json(chain.code(address))
        }
        "eth_getStorageAt" => {
            let address: Address = params.required(0, "address")?;
            let slot: U256 = params.required(1, "storage slot")?;
            chain.check_state_at(params.optional(2, "block")?)?;
            to_json(chain.storage(address, slot))
        }
        "eth_call" => {
            let request: TransactionRequest = params.required(0, "transaction")?;
            check_call_params(chain, params)?;
            to_json(chain.call(&request)?)
        }
        "eth_estimateGas" => {
            let request: TransactionRequest = params.required(0, "transaction")?;
            check_call_params(chain, params)?;
            quantity(chain.estimate_gas(&request)?)
        }
        "eth_sendRawTransaction" => {
            let raw: Bytes = params.required(0, "raw transaction")?;
            let tx = TxEnvelope::decode_2718_exact(&raw)
                .map_err(|e| RpcError::invalid_params(format!("invalid raw transaction: {e}")))?;
            to_json(chain.send(tx)?)
        }
        "eth_sendTransaction" => {
            let request: TransactionRequest = params.required(0, "transaction")?;
            to_json(chain.send_request(request)?)
        }
        "eth_getLogs" => {
            let filter: Filter = params.required(0, "filter")?;
            to_json(chain.logs(&filter)?)
        }
        "evm_increaseTime" => {
            let seconds: U64 = params.required(0, "seconds")?;
            let offset = chain.increase_time(seconds.to());
            to_json(i64::try_from(offset).unwrap_or(i64::MAX))
        }
        "evm_setNextBlockTimestamp" => {
            let timestamp: U64 = params.required(0, "timestamp")?;
            chain.set_next_timestamp(timestamp.to())?;
            Ok(Value::Null)
        }
        "evm_mine" => {
            let (timestamp, blocks) = match params.optional(0, "options")? {
                None => (None, 1),
                Some(MineOptions::Timestamp(timestamp)) => (Some(timestamp.to()), 1),
                Some(MineOptions::Options { timestamp, blocks }) => (
                    timestamp.map(|t| t.to()),
                    blocks.map_or(1, |blocks| blocks.to()),
                ),
            };
            chain.mine_empty(timestamp, blocks)?;
            to_json("0x0")
        }
        _ => Err(RpcError::new(
            RpcError::METHOD_NOT_FOUND,
            format!("the method {method} does not exist/is not available"),
        )),
    }
}
