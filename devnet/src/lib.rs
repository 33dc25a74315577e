//! verdict's embedded devnet: an in-process EVM chain on revm that speaks
//! the standard Ethereum JSON-RPC over HTTP on loopback, so alloy providers
//! use it as they would anvil. The agents (`verdict-challenger`) run against
//! it in `verdict demo` and the tests; `verdict devnet` serves one.
//!
//! The EVM is built by [`verdict_contracts::evm::build`], the contracts'
//! revm harness's own builder, so both follow the same rules (Osaka,
//! [`verdict_contracts::evm::SPEC`]). Each transaction is mined at once in a
//! block of its own, and with a block time an empty block is mined whenever
//! that long passes without one; the base fee is a constant 1 gwei; block
//! timestamps follow the wall clock plus the offset `evm_increaseTime` adds.
//! `docs/devnet.md` lists the methods and how they differ from geth's and
//! anvil's.
//!
//! - [`Devnet::start`] serves a new chain, [`DevnetHandle::stop`] hands its
//!   [`ChainState`] back and [`Devnet::resume`] serves it again (a node
//!   restart);
//! - [`dev_accounts`]: the funded accounts and their keys, anvil's;
//! - [`run`] is the `verdict devnet` command: serve until Ctrl-C.

mod accounts;
mod block;
mod rpc;
mod server;
mod state;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use alloy::signers::local::LocalSignerError;
use alloy_primitives::U256;

pub use accounts::{DevAccount, TEST_MNEMONIC, dev_accounts};
pub use server::{Devnet, DevnetHandle};
pub use state::{BASE_FEE_PER_GAS, ChainState};

/// How a devnet starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevnetConfig {
    /// The chain id (default 31337, anvil's).
    pub chain_id: u64,
    /// How many dev accounts to fund (default 10).
    pub accounts: u32,
    /// The balance of each, in wei (default 10,000 ether).
    pub balance: U256,
    /// The gas limit of every block (default 30,000,000). A transaction is
    /// also held to Osaka's cap of 2^24 gas (EIP-7825).
    pub block_gas_limit: u64,
    /// Where to listen (default `127.0.0.1:0`: a port the system picks).
    pub addr: SocketAddr,
    /// The most blocks one `eth_getLogs` may span, as hosted providers cap
    /// it (default none): clients can be tested against such a cap.
    pub max_log_range: Option<u64>,
    /// With a block time, an empty block is also mined whenever this long
    /// passes without a block, so a quiet chain's head and time move on
    /// (default none: blocks only for transactions and `evm_mine`). Must not
    /// be zero. Unlike anvil's, transactions still mine at once.
    pub block_time: Option<Duration>,
}

impl Default for DevnetConfig {
    fn default() -> DevnetConfig {
        DevnetConfig {
            chain_id: 31337,
            accounts: 10,
            balance: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64)),
            block_gas_limit: 30_000_000,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            max_log_range: None,
            block_time: None,
        }
    }
}

/// Why a devnet could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The dev keys could not be derived from the mnemonic.
    #[error("cannot derive the dev accounts: {0}")]
    Accounts(#[from] LocalSignerError),
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Ctrl-C could not be waited for.
    #[error("cannot wait for Ctrl-C: {0}")]
    Signal(std::io::Error),
    /// The block time is zero.
    #[error("the block time must be longer than zero")]
    ZeroBlockTime,
}

/// Starts a devnet, prints its URL, chain id and funded accounts with their
/// keys (as anvil does) on standard output, and serves until Ctrl-C.
///
/// # Errors
///
/// [`DevnetError`] if it cannot start or cannot wait for the signal.
pub async fn run(config: DevnetConfig) -> Result<(), DevnetError> {
    let devnet = Devnet::start(config).await?;
    println!("{}", banner(&devnet, config.balance));
    tokio::signal::ctrl_c().await.map_err(DevnetError::Signal)?;
    let chain = devnet.stop().await;
    println!("devnet stopped at block {}", chain.block_number());
    Ok(())
}

/// What [`run`] prints on start.
fn banner(devnet: &DevnetHandle, balance: U256) -> String {
    let ether = balance / U256::from(10u64).pow(U256::from(18u64));
    let mut text =
        format!("verdict devnet\n\nAvailable accounts ({ether} ETH each)\n==================\n");
    for (i, account) in devnet.accounts().iter().enumerate() {
        text += &format!("({i}) {}\n", account.address);
    }
    text += "\nPrivate keys\n==================\n";
    for (i, account) in devnet.accounts().iter().enumerate() {
        text += &format!("({i}) {}\n", account.private_key);
    }
    text += &format!(
        "\nMnemonic: {TEST_MNEMONIC}\nChain id: {}\nBase fee: {BASE_FEE_PER_GAS} wei\n\nListening on {}",
        devnet.chain_id(),
        devnet.url()
    );
    text
}
