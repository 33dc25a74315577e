//! The embedded devnet through what agents use: an alloy HTTP provider with
//! a local signer, and raw JSON-RPC where alloy would hide the answer.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::consensus::Transaction as _;
use alloy::eips::BlockNumberOrTag;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::ClientBuilder;
use alloy::rpc::types::{Filter, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::TransportError;
use alloy::transports::http::reqwest;
use alloy_primitives::{Address, B256, BloomInput, Bytes, U64, U256, address, keccak256};
use alloy_sol_types::{SolCall, SolEvent, sol};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use verdict_contracts::bindings::ModelRegistry;
use verdict_devnet::{
    BASE_FEE_PER_GAS, ChainState, Devnet, DevnetConfig, DevnetError, DevnetHandle, StateError,
};

sol! {
    /// What the hand-assembled emitter logs for each value it stores.
    event Stored(uint256 indexed value, uint256 copy);
}

/// Runtime code of a tiny contract: called with no data it returns storage
/// slot 0; called with a word `x` it stores `x` in slot 0 and emits
/// `Stored(x, x)`.
fn emitter_runtime() -> Vec<u8> {
    let mut code = vec![
        0x36, 0x60, 0x0f, 0x57, // CALLDATASIZE PUSH1 store JUMPI
        0x60, 0x00, 0x54, 0x60, 0x00, 0x52, // SLOAD(0), MSTORE at 0
        0x60, 0x20, 0x60, 0x00, 0xf3, // RETURN(0, 32)
        0x5b, // store: JUMPDEST
        0x60, 0x00, 0x35, // CALLDATALOAD(0)
        0x80, 0x60, 0x00, 0x55, // SSTORE(0, x)
        0x80, 0x60, 0x00, 0x52, // MSTORE(0, x)
        0x7f, // PUSH32 topic0
    ];
    code.extend_from_slice(Stored::SIGNATURE_HASH.as_slice());
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xa2, 0x00]); // LOG2(0, 32, t0, x) STOP
    code
}

/// Creation code that deploys [`emitter_runtime`].
fn emitter_creation() -> Bytes {
    let runtime = emitter_runtime();
    let len = u8::try_from(runtime.len()).expect("the runtime fits a PUSH1 length");
    let mut code = vec![
        0x60, len, 0x60, 12, 0x60, 0x00, 0x39, // CODECOPY(0, 12, len)
        0x60, len, 0x60, 0x00, 0xf3, // RETURN(0, len)
    ];
    code.extend_from_slice(&runtime);
    code.into()
}

/// A provider that signs as dev account `index` of `devnet`.
fn provider(devnet: &DevnetHandle, index: usize) -> DynProvider {
    let signer = PrivateKeySigner::from_bytes(&devnet.accounts()[index].private_key).unwrap();
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(devnet.url().parse().unwrap())
        .erased()
}

async fn start() -> (DevnetHandle, DynProvider) {
    let devnet = Devnet::start(DevnetConfig::default()).await.unwrap();
    let provider = provider(&devnet, 0);
    (devnet, provider)
}

async fn send(provider: &DynProvider, tx: TransactionRequest) -> TransactionReceipt {
    provider
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap()
}

async fn deploy_emitter(provider: &DynProvider) -> Address {
    let tx = TransactionRequest::default().with_deploy_code(emitter_creation());
    let receipt = send(provider, tx).await;
    assert!(receipt.status());
    receipt.contract_address.unwrap()
}

async fn store(provider: &DynProvider, emitter: Address, value: u64) -> TransactionReceipt {
    let data = B256::from(U256::from(value));
    let tx = TransactionRequest::default()
        .with_to(emitter)
        .with_input(data.to_vec());
    send(provider, tx).await
}

/// A raw JSON-RPC exchange (a request or a batch) with the devnet.
async fn raw(devnet: &DevnetHandle, body: &Value) -> Value {
    reqwest::Client::new()
        .post(devnet.url())
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The JSON-RPC error object of a failed call.
fn error_of(error: &TransportError) -> (i64, String) {
    let payload = error.as_error_resp().expect("a JSON-RPC error response");
    (payload.code, payload.message.to_string())
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

#[tokio::test]
async fn deploys_a_contract_and_reads_receipts_logs_and_state() {
    let (devnet, provider) = start().await;
    assert_eq!(provider.get_chain_id().await.unwrap(), 31337);
    assert_eq!(provider.get_block_number().await.unwrap(), 0);
    let me = devnet.accounts()[0].address;
    assert_eq!(
        me,
        address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        "account 0 is anvil's"
    );

    let emitter = deploy_emitter(&provider).await;
    assert_eq!(emitter, me.create(0));
    let code = provider.get_code_at(emitter).await.unwrap();
    assert_eq!(code.as_ref(), emitter_runtime().as_slice());

    let receipt = store(&provider, emitter, 42).await;
    assert!(receipt.status());
    assert_eq!(receipt.block_number, Some(2), "one block per transaction");
    assert_eq!(receipt.from, me);
    assert_eq!(receipt.to, Some(emitter));
    assert!(receipt.gas_used > 21_000);
    assert!(receipt.effective_gas_price >= u128::from(BASE_FEE_PER_GAS));
    let logs = receipt.inner.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].address(), emitter);
    assert_eq!(logs[0].transaction_hash, Some(receipt.transaction_hash));
    let event = Stored::decode_log(&logs[0].inner).unwrap();
    assert_eq!((event.value, event.copy), (U256::from(42), U256::from(42)));

    let block = provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .full()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(block.header.hash), receipt.block_hash);
    assert_eq!(block.header.gas_used, receipt.gas_used);
    assert!(
        block
            .header
            .logs_bloom
            .contains_input(BloomInput::Raw(emitter.as_slice()))
    );
    let by_hash = provider
        .get_block_by_hash(block.header.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        by_hash.transactions.hashes().collect::<Vec<_>>(),
        vec![receipt.transaction_hash]
    );
    let parent = provider
        .get_block_by_number(1.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(block.header.parent_hash, parent.header.hash);

    let tx = provider
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.block_number, Some(2));
    assert_eq!(tx.inner.signer(), me);
    assert_eq!(tx.inner.to(), Some(emitter));

    let stored = provider
        .call(TransactionRequest::default().with_to(emitter))
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&stored), U256::from(42));
    let slot = provider.get_storage_at(emitter, U256::ZERO).await.unwrap();
    assert_eq!(slot, U256::from(42));
    assert!(
        provider
            .get_transaction_receipt(B256::ZERO)
            .await
            .unwrap()
            .is_none()
    );
    devnet.stop().await;
}

#[tokio::test]
async fn reverts_carry_custom_errors() {
    let (devnet, provider) = start().await;
    let tx = TransactionRequest::default().with_deploy_code(ModelRegistry::BYTECODE.clone());
    let registry = send(&provider, tx).await.contract_address.unwrap();
    let model_id = B256::repeat_byte(0x11);
    let call = TransactionRequest::default()
        .with_to(registry)
        .with_input(ModelRegistry::modelCall { modelId: model_id }.abi_encode());

    let error = provider.call(call.clone()).await.unwrap_err();
    assert_eq!(error_of(&error), (3, "execution reverted".to_owned()));
    let decoded = error
        .as_error_resp()
        .unwrap()
        .as_decoded_interface_error::<ModelRegistry::ModelRegistryErrors>();
    assert_eq!(
        decoded,
        Some(ModelRegistry::ModelRegistryErrors::UnknownModel(
            ModelRegistry::UnknownModel { modelId: model_id }
        ))
    );
    let error = provider.estimate_gas(call.clone()).await.unwrap_err();
    assert_eq!(error_of(&error).0, 3);

    // A reverting transaction sent anyway is mined, with status 0 and no logs.
    let receipt = send(&provider, call.with_gas_limit(200_000)).await;
    assert!(!receipt.status());
    assert!(receipt.inner.logs().is_empty());
    assert_eq!(
        provider
            .get_transaction_count(devnet.accounts()[0].address)
            .await
            .unwrap(),
        2
    );
    devnet.stop().await;
}

#[tokio::test]
async fn transfers_move_balances_and_nonces() {
    let (devnet, provider) = start().await;
    let me = devnet.accounts()[0].address;
    let to = Address::repeat_byte(0x42);
    assert_eq!(provider.get_balance(me).await.unwrap(), ether(10_000));
    assert_eq!(provider.get_balance(to).await.unwrap(), U256::ZERO);

    let eip1559 = TransactionRequest::default()
        .with_to(to)
        .with_value(ether(1));
    let legacy = eip1559
        .clone()
        .with_gas_price(u128::from(BASE_FEE_PER_GAS) * 3);
    let eip2930 = legacy.clone().with_access_list(Default::default());
    let mut paid = U256::ZERO;
    for (tx, ty) in [(eip1559, 2), (legacy, 0), (eip2930, 1)] {
        let receipt = send(&provider, tx).await;
        assert!(receipt.status());
        assert_eq!(receipt.gas_used, 21_000);
        assert_eq!(receipt.inner.tx_type() as u8, ty);
        paid += U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    }
    assert_eq!(provider.get_balance(to).await.unwrap(), ether(3));
    assert_eq!(
        provider.get_balance(me).await.unwrap(),
        ether(10_000) - ether(3) - paid
    );
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), 3);

    // eth_sendTransaction signs for a dev account (no local signer here).
    let plain = ProviderBuilder::new().connect_http(devnet.url().parse().unwrap());
    let other = devnet.accounts()[1].address;
    let tx = TransactionRequest::default()
        .with_from(other)
        .with_to(to)
        .with_value(U256::from(5));
    let receipt = plain
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(receipt.from, other);
    assert_eq!(
        provider.get_balance(to).await.unwrap(),
        ether(3) + U256::from(5)
    );
    assert_eq!(provider.get_transaction_count(other).await.unwrap(), 1);

    let fees = provider
        .get_fee_history(4, BlockNumberOrTag::Latest, &[50.0])
        .await
        .unwrap();
    assert_eq!(fees.oldest_block, 1);
    assert_eq!(fees.base_fee_per_gas, vec![u128::from(BASE_FEE_PER_GAS); 5]);
    assert_eq!(
        fees.reward.unwrap()[1],
        vec![u128::from(BASE_FEE_PER_GAS) * 2]
    );
    assert_eq!(
        provider.get_gas_price().await.unwrap(),
        u128::from(BASE_FEE_PER_GAS)
    );
    devnet.stop().await;
}

#[tokio::test]
async fn time_moves_with_increase_time_and_set_timestamp() {
    let (devnet, provider) = start().await;
    let timestamp = |block: u64| {
        let provider = provider.clone();
        async move {
            let block = provider
                .get_block_by_number(block.into())
                .await
                .unwrap()
                .unwrap();
            block.header.timestamp
        }
    };
    let genesis = timestamp(0).await;
    let offset: i64 = provider
        .raw_request(Cow::Borrowed("evm_increaseTime"), (3600,))
        .await
        .unwrap();
    assert_eq!(offset, 3600);
    let _: String = provider
        .raw_request(Cow::Borrowed("evm_mine"), ())
        .await
        .unwrap();
    assert!(timestamp(1).await >= genesis + 3600);

    let next = timestamp(1).await + 100_000;
    let _: Value = provider
        .raw_request(Cow::Borrowed("evm_setNextBlockTimestamp"), (next,))
        .await
        .unwrap();
    let receipt = send(
        &provider,
        TransactionRequest::default().with_to(Address::ZERO),
    )
    .await;
    assert_eq!(receipt.block_number, Some(2));
    assert_eq!(timestamp(2).await, next);

    let _: String = provider
        .raw_request(
            Cow::Borrowed("evm_mine"),
            (json!({ "timestamp": next + 50, "blocks": 3 }),),
        )
        .await
        .unwrap();
    assert_eq!(provider.get_block_number().await.unwrap(), 5);
    assert_eq!(timestamp(3).await, next + 50);
    assert!(
        timestamp(5).await > timestamp(4).await,
        "timestamps rise strictly"
    );

    let error = provider
        .raw_request::<_, Value>(Cow::Borrowed("evm_setNextBlockTimestamp"), (genesis,))
        .await
        .unwrap_err();
    assert_eq!(error_of(&error).0, -32602);
    devnet.stop().await;
}

#[tokio::test]
async fn get_logs_filters_by_block_address_and_topics() {
    let (devnet, provider) = start().await;
    let emitter = deploy_emitter(&provider).await;
    let other = deploy_emitter(&provider).await;
    for value in [1, 2, 3] {
        store(&provider, emitter, value).await;
    }
    let last = store(&provider, other, 2).await;
    let topic = |value: u64| B256::from(U256::from(value));
    let values = |logs: Vec<alloy::rpc::types::Log>| -> Vec<(Address, U256)> {
        logs.iter()
            .map(|log| (log.address(), U256::from_be_bytes(log.topics()[1].0)))
            .collect()
    };
    let everything = Filter::new().from_block(0);
    let all = provider.get_logs(&everything).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].block_number, Some(3));
    assert_eq!(all[3].transaction_hash, Some(last.transaction_hash));

    let logs = provider
        .get_logs(&everything.clone().address(emitter))
        .await
        .unwrap();
    assert_eq!(values(logs).len(), 3);
    let logs = provider
        .get_logs(&everything.clone().address(vec![emitter, other]))
        .await
        .unwrap();
    assert_eq!(logs.len(), 4);
    let logs = provider
        .get_logs(&everything.clone().topic1(topic(2)))
        .await
        .unwrap();
    assert_eq!(
        values(logs),
        vec![(emitter, U256::from(2)), (other, U256::from(2))]
    );
    let logs = provider
        .get_logs(
            &everything
                .clone()
                .address(emitter)
                .topic1(vec![topic(1), topic(3)]),
        )
        .await
        .unwrap();
    assert_eq!(
        values(logs),
        vec![(emitter, U256::from(1)), (emitter, U256::from(3))]
    );
    let logs = provider
        .get_logs(&everything.clone().event_signature(B256::ZERO))
        .await
        .unwrap();
    assert!(logs.is_empty());
    let logs = provider
        .get_logs(&Filter::new().from_block(4).to_block(5))
        .await
        .unwrap();
    assert_eq!(
        values(logs),
        vec![(emitter, U256::from(2)), (emitter, U256::from(3))]
    );
    let logs = provider
        .get_logs(&Filter::new().at_block_hash(last.block_hash.unwrap()))
        .await
        .unwrap();
    assert_eq!(values(logs), vec![(other, U256::from(2))]);
    let latest = provider.get_logs(&Filter::new()).await.unwrap();
    assert_eq!(latest.len(), 1, "the default range is the latest block");

    // Nulls in the topic list are wildcards.
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
        "fromBlock": "0x0", "toBlock": "latest", "topics": [null, [topic(3)]]
    }]});
    let response = raw(&devnet, &body).await;
    assert_eq!(response["result"].as_array().unwrap().len(), 1);
    devnet.stop().await;
}

#[tokio::test]
async fn batches_and_bad_input_get_json_rpc_answers() {
    let (devnet, provider) = start().await;
    let client = ClientBuilder::default().http(devnet.url().parse().unwrap());
    let mut batch = client.new_batch();
    let chain_id = batch.add_call::<_, U64>("eth_chainId", &()).unwrap();
    let number = batch.add_call::<_, U64>("eth_blockNumber", &()).unwrap();
    let accounts = batch
        .add_call::<_, Vec<Address>>("eth_accounts", &())
        .unwrap();
    batch.send().await.unwrap();
    assert_eq!(chain_id.await.unwrap(), U64::from(31337));
    assert_eq!(number.await.unwrap(), U64::ZERO);
    assert_eq!(accounts.await.unwrap().len(), 10);

    let body = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "net_version" },
        { "jsonrpc": "2.0", "id": 2, "method": "eth_noSuchMethod", "params": [] },
        { "jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["nope", "latest"] },
        { "jsonrpc": "2.0", "id": 4, "method": "eth_getBalance", "params": [] },
        { "jsonrpc": "2.0", "id": 5, "method": "eth_getBalance",
          "params": [Address::ZERO, "0x7"] },
        "not a request",
    ]);
    let answers = raw(&devnet, &body).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 6);
    assert_eq!(
        answers[0],
        json!({ "jsonrpc": "2.0", "id": 1, "result": "31337" })
    );
    assert_eq!(answers[1]["error"]["code"], -32601);
    assert!(
        answers[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eth_noSuchMethod")
    );
    assert_eq!(answers[2]["error"]["code"], -32602);
    assert!(
        answers[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("address")
    );
    assert!(
        answers[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing parameter 0")
    );
    assert!(
        answers[4]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only the latest state")
    );
    assert_eq!(answers[5]["error"]["code"], -32600);

    let parse = reqwest::Client::new()
        .post(devnet.url())
        .body("{not json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(parse["error"]["code"], -32700);
    let get = reqwest::get(devnet.url()).await.unwrap();
    assert_eq!(get.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);

    // Raw transactions: garbage, another chain's, a replay, a gap in nonces.
    let error = provider
        .send_raw_transaction(&[0x02, 0x12, 0x34])
        .await
        .unwrap_err();
    let (code, message) = error_of(&error);
    assert_eq!(code, -32602);
    assert!(message.contains("invalid raw transaction"), "{message}");

    let signer = PrivateKeySigner::from_bytes(&devnet.accounts()[0].private_key).unwrap();
    let wallet = EthereumWallet::from(signer);
    let tx = |chain_id: u64, nonce: u64| {
        TransactionRequest::default()
            .with_to(Address::ZERO)
            .with_chain_id(chain_id)
            .with_nonce(nonce)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(u128::from(BASE_FEE_PER_GAS) * 2)
            .with_max_priority_fee_per_gas(0)
    };
    let encode = |request: TransactionRequest| {
        let wallet = wallet.clone();
        async move {
            use alloy::eips::Encodable2718;
            request.build(&wallet).await.unwrap().encoded_2718()
        }
    };
    let error = provider
        .send_raw_transaction(&encode(tx(1, 0)).await)
        .await
        .unwrap_err();
    assert!(error_of(&error).1.contains("chain id 1"), "{error}");
    let good = encode(tx(31337, 0)).await;
    provider
        .send_raw_transaction(&good)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let error = provider.send_raw_transaction(&good).await.unwrap_err();
    assert!(error_of(&error).1.contains("already known"), "{error}");
    let replaced = encode(tx(31337, 0).with_value(U256::from(1))).await;
    let error = provider.send_raw_transaction(&replaced).await.unwrap_err();
    assert!(error_of(&error).1.contains("nonce too low"), "{error}");
    let error = provider
        .send_raw_transaction(&encode(tx(31337, 5)).await)
        .await
        .unwrap_err();
    assert!(error_of(&error).1.contains("nonce too high"), "{error}");
    let broke = TransactionRequest::default()
        .with_to(Address::ZERO)
        .with_value(ether(1_000_000));
    let error = provider.send_transaction(broke).await.unwrap_err();
    assert_eq!(error_of(&error).0, -32000, "{error}");
    devnet.stop().await;
}

#[tokio::test]
async fn stop_and_resume_keep_the_chain() {
    let (devnet, provider) = start().await;
    let emitter = deploy_emitter(&provider).await;
    let receipt = store(&provider, emitter, 7).await;
    let addr = devnet.addr();
    let chain = devnet.stop().await;
    assert_eq!(chain.block_number(), 2);
    assert!(
        provider.get_block_number().await.is_err(),
        "nobody listens while stopped"
    );

    let devnet = Devnet::resume(chain, addr).await.unwrap();
    assert_eq!(devnet.addr(), addr);
    assert_eq!(provider.get_block_number().await.unwrap(), 2);
    let again = provider
        .get_transaction_receipt(receipt.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.block_hash, receipt.block_hash);
    assert_eq!(
        provider.get_storage_at(emitter, U256::ZERO).await.unwrap(),
        U256::from(7)
    );
    let receipt = store(&provider, emitter, 8).await;
    assert_eq!(receipt.block_number, Some(3));
    assert_eq!(
        keccak256(provider.get_code_at(emitter).await.unwrap()),
        keccak256(emitter_runtime())
    );
    devnet.stop().await;
}

/// A fresh directory for a test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("devnet")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Everything a client reads of the chain, as the devnet answers it: chain
/// id, accounts, every block with its transactions, every receipt, the
/// logs from block 0, and the balance, nonce, code and slot 0 of `accounts`.
async fn everything(devnet: &DevnetHandle, accounts: &[Address]) -> Value {
    let batch = |calls: Vec<(&str, Value)>| -> Value {
        calls
            .into_iter()
            .enumerate()
            .map(|(id, (method, params))| {
                json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
            })
            .collect()
    };
    let mut calls = vec![
        ("eth_chainId", json!([])),
        ("eth_accounts", json!([])),
        ("eth_blockNumber", json!([])),
        ("eth_getLogs", json!([{ "fromBlock": "0x0" }])),
    ];
    for &account in accounts {
        calls.push(("eth_getBalance", json!([account, "latest"])));
        calls.push(("eth_getTransactionCount", json!([account, "latest"])));
        calls.push(("eth_getCode", json!([account, "latest"])));
        calls.push(("eth_getStorageAt", json!([account, "0x0", "latest"])));
    }
    let head = raw(
        devnet,
        &json!({ "jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber" }),
    )
    .await;
    let head: U64 = serde_json::from_value(head["result"].clone()).unwrap();
    for number in 0..=head.to::<u64>() {
        calls.push((
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), true]),
        ));
    }
    let answers = raw(devnet, &batch(calls)).await;
    let hashes: Vec<Value> = answers
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|answer| answer["result"]["transactions"].as_array())
        .flatten()
        .map(|tx| json!([tx["hash"]]))
        .collect();
    let receipts = batch(
        hashes
            .into_iter()
            .map(|hash| ("eth_getTransactionReceipt", hash))
            .collect(),
    );
    json!({ "chain": answers, "receipts": raw(devnet, &receipts).await })
}

#[tokio::test]
async fn block_time_mines_empty_blocks_on_an_idle_chain() {
    let zero = DevnetConfig {
        block_time: Some(Duration::ZERO),
        ..DevnetConfig::default()
    };
    assert!(matches!(
        Devnet::start(zero).await,
        Err(DevnetError::ZeroBlockTime)
    ));

    let started = Instant::now();
    let devnet = Devnet::start(DevnetConfig {
        block_time: Some(Duration::from_secs(1)),
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let provider = provider(&devnet, 0);
    while provider.get_block_number().await.unwrap() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no blocks on an idle chain with a block time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "one block per block time, not sooner"
    );
    let block = |number: u64| {
        let provider = provider.clone();
        async move {
            provider
                .get_block_by_number(number.into())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let (parent, empty) = (block(1).await, block(2).await);
    assert!(empty.transactions.is_empty());
    assert_eq!(empty.header.parent_hash, parent.header.hash);
    assert!(empty.header.timestamp > parent.header.timestamp);

    // Transactions do not wait for the block time: each is mined at once,
    // in a block of its own.
    let sent = Instant::now();
    let to = Address::repeat_byte(0x42);
    let receipt = send(
        &provider,
        TransactionRequest::default()
            .with_to(to)
            .with_value(U256::from(1)),
    )
    .await;
    let mined = block(receipt.block_number.unwrap()).await;
    assert_eq!(
        mined.transactions.hashes().collect::<Vec<_>>(),
        vec![receipt.transaction_hash]
    );
    assert!(sent.elapsed() < Duration::from_secs(30));
    let chain = devnet.stop().await;
    assert!(chain.block_number() >= 3);
}

#[tokio::test]
async fn a_dumped_chain_loads_and_serves_the_same() {
    let dir = scratch("dump-and-load");
    let devnet = Devnet::start(DevnetConfig {
        chain_id: 1337,
        accounts: 3,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    let provider = provider(&devnet, 0);
    let me = devnet.accounts()[0].address;
    let to = Address::repeat_byte(0x42);
    let emitter = deploy_emitter(&provider).await;
    store(&provider, emitter, 42).await;
    send(
        &provider,
        TransactionRequest::default()
            .with_to(to)
            .with_value(ether(1)),
    )
    .await;
    let offset =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "evm_increaseTime", "params": [3_600] });
    raw(&devnet, &offset).await;
    let genesis = provider
        .get_block_by_number(0.into())
        .await
        .unwrap()
        .unwrap();
    let before = everything(&devnet, &[me, to, emitter]).await;
    let file = dir.join("state.json");
    let served = dir.join("served.json");
    devnet.dump(&served).unwrap();
    let chain = devnet.stop().await;
    chain.dump(&file).unwrap();
    assert_eq!(
        fs::read(&file).unwrap(),
        fs::read(&served).unwrap(),
        "a dump while serving is the dump after stopping"
    );

    let loaded = ChainState::load(&file).unwrap();
    let again = dir.join("again.json");
    loaded.dump(&again).unwrap();
    assert_eq!(
        fs::read(&file).unwrap(),
        fs::read(&again).unwrap(),
        "loading and dumping again gives the same file"
    );
    let devnet = Devnet::start(DevnetConfig {
        load_state: Some(file),
        chain_id: 1,
        ..DevnetConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(
        devnet.chain_id(),
        1337,
        "the file's chain id, not the config's"
    );
    assert_eq!(devnet.accounts().len(), 3);
    let after = everything(&devnet, &[me, to, emitter]).await;
    assert_eq!(before, after);

    let provider = self::provider(&devnet, 0);
    let genesis_again = provider
        .get_block_by_number(0.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(genesis_again.header.hash, genesis.header.hash);
    let logs = provider
        .get_logs(&Filter::new().from_block(0))
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(provider.get_balance(to).await.unwrap(), ether(1));
    assert_eq!(
        provider.get_storage_at(emitter, U256::ZERO).await.unwrap(),
        U256::from(42)
    );
    assert_eq!(
        provider.get_code_at(emitter).await.unwrap().as_ref(),
        emitter_runtime().as_slice()
    );

    // The loaded chain goes on: the next nonce, the next block, the clock
    // an hour ahead as it was.
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), 3);
    let receipt = store(&provider, emitter, 43).await;
    assert!(receipt.status());
    assert_eq!(receipt.block_number, Some(4));
    let tx = provider
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.inner.nonce(), 3);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let head = provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap();
    assert!(
        head.header.timestamp >= wall + 3_500,
        "the clock offset is kept"
    );
    let logs = provider
        .get_logs(&Filter::new().from_block(0))
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[1].transaction_hash, Some(receipt.transaction_hash));
    devnet.stop().await;
}

#[tokio::test]
async fn a_corrupt_or_foreign_state_file_is_refused() {
    let dir = scratch("refused");
    let (devnet, provider) = start().await;
    deploy_emitter(&provider).await;
    let good = dir.join("good.json");
    devnet.dump(&good).unwrap();
    devnet.stop().await;
    let text = fs::read_to_string(&good).unwrap();
    let state: Value = serde_json::from_str(&text).unwrap();
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut state = state.clone();
        edit(&mut state);
        state.to_string().into_bytes()
    };

    /// Whether an error is the one a case expects.
    type Expected = fn(&StateError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("binary", vec![0x00, 0xff, 0x13], |e| {
            matches!(e, StateError::NotJson(_))
        }),
        ("cut", text.as_bytes()[..text.len() / 2].to_vec(), |e| {
            matches!(e, StateError::NotJson(_))
        }),
        ("array", b"[1, 2, 3]".to_vec(), |e| {
            matches!(e, StateError::NotStateFile)
        }),
        (
            "anvil",
            edited(&|s| s["format"] = json!("anvil-state")),
            |e| matches!(e, StateError::NotStateFile),
        ),
        (
            "next-version",
            edited(&|s| {
                s["version"] = json!(2);
                s["blocks"] = json!("elsewhere");
            }),
            |e| matches!(e, StateError::Version { found: 2 }),
        ),
        (
            "no-blocks-field",
            edited(&|s| {
                s.as_object_mut().unwrap().remove("blocks");
            }),
            |e| matches!(e, StateError::Shape(_)),
        ),
        ("unknown-field", edited(&|s| s["pool"] = json!([])), |e| {
            matches!(e, StateError::Shape(_))
        }),
        ("no-genesis", edited(&|s| s["blocks"] = json!([])), |e| {
            matches!(e, StateError::Inconsistent(_))
        }),
        (
            "rewritten-history",
            edited(&|s| s["blocks"][1]["header"]["timestamp"] = json!("0x1")),
            |e| matches!(e, StateError::Inconsistent(m) if m.contains("block 1's hash")),
        ),
        (
            "garbled-transaction",
            edited(&|s| s["blocks"][1]["transactions"][0]["raw"] = json!("0x02c0")),
            |e| matches!(e, StateError::Inconsistent(m) if m.contains("does not decode")),
        ),
        (
            "bad-delegation",
            edited(&|s| s["accounts"][0]["code"] = json!("0xef0100")),
            |e| matches!(e, StateError::Inconsistent(m) if m.contains("not bytecode")),
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(format!("{name}.json"));
        fs::write(&path, bytes).unwrap();
        let error = ChainState::load(&path).expect_err(name);
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        let DevnetError::LoadState {
            path: named,
            source,
        } = error
        else {
            panic!("{name}: {message}");
        };
        assert_eq!(named, path);
        assert!(expected(&source), "{name}: {message}: {source}");
    }
    let missing = dir.join("missing.json");
    assert!(matches!(
        ChainState::load(&missing),
        Err(DevnetError::LoadState {
            source: StateError::Io(_),
            ..
        })
    ));
}

/// The committed state file, `tests/golden/state-v1.json`: a chain that
/// deployed the emitter and stored 42 in it. It pins the format:
/// `VERDICT_BLESS=1` rewrites it after a deliberate change (with a new
/// format version).
fn committed_state() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/state-v1.json")
}

#[tokio::test]
async fn the_committed_state_file_loads_and_is_reproduced() {
    let fixture = committed_state();
    if std::env::var("VERDICT_BLESS").is_ok_and(|v| v == "1") {
        let (devnet, provider) = start().await;
        let emitter = deploy_emitter(&provider).await;
        store(&provider, emitter, 42).await;
        devnet.stop().await.dump(&fixture).unwrap();
    }
    let chain = ChainState::load(&fixture).expect("the committed state file loads");
    assert_eq!((chain.chain_id(), chain.block_number()), (31337, 2));
    let copy = scratch("committed").join("copy.json");
    chain.dump(&copy).unwrap();
    assert!(
        fs::read(&copy).unwrap() == fs::read(&fixture).unwrap(),
        "the state file encoding changed: bump the format version, then bless"
    );

    let devnet = Devnet::resume(chain, DevnetConfig::default().addr)
        .await
        .unwrap();
    let provider = provider(&devnet, 0);
    let emitter = devnet.accounts()[0].address.create(0);
    let logs = provider
        .get_logs(&Filter::new().from_block(0))
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].address(), emitter);
    assert_eq!(
        provider.get_storage_at(emitter, U256::ZERO).await.unwrap(),
        U256::from(42)
    );
    assert_eq!(store(&provider, emitter, 43).await.block_number, Some(3));
    devnet.stop().await;
}

/// Loads `bytes` as a state file; whatever they are, the loader answers.
fn load_bytes(name: &str, bytes: &[u8]) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("devnet-fuzz-{name}.json"));
    fs::write(&path, bytes).unwrap();
    let _ = ChainState::load(&path);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_loader_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        load_bytes("bytes", &bytes);
    }

    /// Bytes of the committed file replaced, here and there, by bytes that
    /// keep JSON mostly valid (hex digits, quotes, brackets), then maybe
    /// cut: the edits reach the checks past the JSON parser.
    #[test]
    fn the_loader_takes_garbled_state_files(
        edits in proptest::collection::vec(
            (any::<Index>(), proptest::sample::select(b"0123456789abcdefx\",:[]{}".to_vec())),
            1..6,
        ),
        cut in proptest::option::weighted(0.2, any::<Index>()),
    ) {
        let mut bytes = fs::read(committed_state()).unwrap();
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        load_bytes("garbled", &bytes);
    }
}
