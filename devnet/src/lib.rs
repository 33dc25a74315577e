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
//!   restart); [`ChainState::dump`] and [`ChainState::load`] keep it in a
//!   file between runs;
//! - [`dev_accounts`]: the funded accounts and their keys, anvil's;
//! - [`run`] is the `verdict devnet` command: serve until SIGINT or SIGTERM.

mod accounts;
mod block;
mod rpc;
mod server;
mod state;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use alloy::signers::local::LocalSignerError;
use alloy_primitives::U256;

pub use accounts::{DevAccount, TEST_MNEMONIC, dev_accounts};
pub use server::{Devnet, DevnetHandle};
pub use state::{BASE_FEE_PER_GAS, ChainState, StateError};

/// How a devnet starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetConfig {
    /// Start from the chain dumped in this file rather than a new one
    /// (default none). The chain id, accounts, balances and gas limit are
    /// then the file's, and the four fields below are ignored.
    pub load_state: Option<PathBuf>,
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
    /// Where [`run`] writes the chain: when it starts, which proves the
    /// file writable before anything is at stake, and when SIGINT or SIGTERM
    /// stops it (default none). It may be the file loaded from.
    /// [`Devnet::start`] ignores it.
    pub dump_state: Option<PathBuf>,
}

impl Default for DevnetConfig {
    fn default() -> DevnetConfig {
        DevnetConfig {
            load_state: None,
            chain_id: 31337,
            accounts: 10,
            balance: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64)),
            block_gas_limit: 30_000_000,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            max_log_range: None,
            block_time: None,
            dump_state: None,
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
    /// The signals could not be waited for.
    #[error("cannot wait for SIGINT or SIGTERM: {0}")]
    Signal(std::io::Error),
    /// The block time is zero.
    #[error("the block time must be longer than zero")]
    ZeroBlockTime,
    /// A state file could not be read as a chain.
    #[error("cannot load the devnet state from {}", path.display())]
    LoadState {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StateError,
    },
    /// A state file could not be written.
    #[error("cannot write the devnet state to {}", path.display())]
    DumpState {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Starts a devnet, prints its URL, chain id and funded accounts with their
/// keys (as anvil does) on standard output, and serves until SIGINT
/// (Ctrl-C) or SIGTERM; with `config.dump_state`, writes the chain there on
/// start and when stopped.
///
/// # Errors
///
/// [`DevnetError`] if it cannot start, load or dump, or cannot wait for the
/// signals.
pub async fn run(config: DevnetConfig) -> Result<(), DevnetError> {
    let stopped = stop_signal().map_err(DevnetError::Signal)?;
    let funding = match &config.load_state {
        Some(path) => format!("loaded from {}", path.display()),
        None => {
            let ether = config.balance / U256::from(10u64).pow(U256::from(18u64));
            format!("{ether} ETH each")
        }
    };
    let dump = config.dump_state.clone();
    let devnet = Devnet::start(config).await?;
    if let Some(path) = &dump {
        devnet.dump(path)?;
    }
    println!("{}", banner(&devnet, &funding));
    if let Some(path) = &dump {
        println!(
            "State written to {}, and again on SIGINT or SIGTERM",
            path.display()
        );
    }
    stopped.await.map_err(DevnetError::Signal)?;
    let chain = devnet.stop().await;
    if let Some(path) = &dump {
        chain.dump(path)?;
        println!("state written to {}", path.display());
    }
    println!("devnet stopped at block {}", chain.block_number());
    Ok(())
}

/// Resolves at the first SIGINT or SIGTERM (what `kill` and service
/// managers send). The handlers are installed by this call, so a signal
/// that comes while the devnet starts is not lost.
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl Future<Output = std::io::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        Ok(())
    })
}

/// Resolves at the first Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl Future<Output = std::io::Result<()>>> {
    Ok(tokio::signal::ctrl_c())
}

/// What [`run`] prints on start; `funding` says where the accounts' ether
/// comes from.
fn banner(devnet: &DevnetHandle, funding: &str) -> String {
    let mut text =
        format!("verdict devnet\n\nAvailable accounts ({funding})\n==================\n");
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
