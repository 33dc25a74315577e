//! Deploying the contracts, and the deployment file every other command reads
//! (`deployment.json`: chain id, addresses, the block to scan events from and
//! the manager's configuration).

use std::path::Path;

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use verdict_contracts::bindings::{ModelRegistry, VerdictVM};
use verdict_contracts::protocol::Config;

use crate::chain::{Chain, ChainError};

/// Where the contracts are and how the manager is configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The chain they are on.
    pub chain_id: u64,
    /// The hash of that chain's block 0, which tells two chains with one id
    /// apart (a devnet restarted, a fork); absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<B256>,
    /// `VerdictVM`.
    pub verifier: Address,
    /// `ModelRegistry`.
    pub registry: Address,
    /// `ClaimManager`.
    pub manager: Address,
    /// The block of the first deployment: agents scan events from here.
    pub start_block: u64,
    /// Smallest claim bond, in wei.
    pub min_claim_bond: U256,
    /// Smallest challenge bond, in wei.
    pub min_challenge_bond: U256,
    /// Seconds a claim can be challenged.
    pub challenge_window: u64,
    /// Seconds each party of a game has for its moves.
    pub clock_budget: u64,
    /// Seconds before an unfulfilled request may be cancelled.
    pub request_ttl: u64,
}

/// Why the node an agent talks to is not the chain of its deployment.
#[derive(Debug, thiserror::Error)]
pub enum WrongChain {
    /// Another chain id.
    #[error(
        "the node's chain id is {node}, the deployment's {deployment}: wrong --rpc-url or deployment file"
    )]
    ChainId {
        /// The deployment file's.
        deployment: u64,
        /// The node's.
        node: u64,
    },
    /// Another block 0 under the same chain id.
    #[error(
        "the node's block 0 is {node}, the deployment's {deployment}: the chain was reset or is another one with the same id; deploy again"
    )]
    Genesis {
        /// The deployment file's.
        deployment: B256,
        /// The node's.
        node: B256,
    },
    /// No code where a contract should be.
    #[error(
        "no {contract} contract at {address} on this chain: the chain was reset, or the deployment file is for another one; deploy again"
    )]
    Missing {
        /// Which contract.
        contract: &'static str,
        /// Where the file says it is.
        address: Address,
    },
    /// The node could not be asked.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A deployment file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The file is not a deployment.
    #[error("{path}: not a deployment file: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The failure.
        source: serde_json::Error,
    },
}

impl Deployment {
    /// Deploys the verifier, the registry and a manager configured by
    /// `config`, from `chain`'s account.
    ///
    /// # Errors
    ///
    /// [`ChainError`] if a deployment fails.
    pub async fn deploy(chain: &Chain, config: &Config) -> Result<Deployment, ChainError> {
        let start_block = chain.block_number().await? + 1;
        let verifier = chain.deploy(VerdictVM::BYTECODE.clone()).await?;
        let registry = chain.deploy(ModelRegistry::BYTECODE.clone()).await?;
        let manager = chain
            .deploy(config.manager_code(registry, verifier))
            .await?;
        Ok(Deployment {
            chain_id: chain.chain_id().await?,
            genesis_hash: Some(chain.block_hash(0).await?),
            verifier,
            registry,
            manager,
            start_block,
            min_claim_bond: config.min_claim_bond,
            min_challenge_bond: config.min_challenge_bond,
            challenge_window: config.challenge_window,
            clock_budget: config.clock_budget,
            request_ttl: config.request_ttl,
        })
    }

    /// Checks that `chain` is this deployment's chain, before anything is
    /// sent: its chain id, its block 0 (when recorded) and code at each
    /// contract's address.
    ///
    /// # Errors
    ///
    /// [`WrongChain`] naming the first difference.
    pub async fn check(&self, chain: &Chain) -> Result<(), WrongChain> {
        let node = chain.chain_id().await?;
        if node != self.chain_id {
            return Err(WrongChain::ChainId {
                deployment: self.chain_id,
                node,
            });
        }
        if let Some(deployment) = self.genesis_hash {
            let node = chain.block_hash(0).await?;
            if node != deployment {
                return Err(WrongChain::Genesis { deployment, node });
            }
        }
        for (contract, address) in [
            ("VerdictVM", self.verifier),
            ("ModelRegistry", self.registry),
            ("ClaimManager", self.manager),
        ] {
            if chain.code(address).await?.is_empty() {
                return Err(WrongChain::Missing { contract, address });
            }
        }
        Ok(())
    }

    /// Reads a deployment file.
    ///
    /// # Errors
    ///
    /// [`DeploymentFileError`] naming the file.
    pub fn load(path: &Path) -> Result<Deployment, DeploymentFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DeploymentFileError::Io {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| DeploymentFileError::Parse {
            path: shown,
            source,
        })
    }

    /// Writes the deployment file.
    ///
    /// # Errors
    ///
    /// [`DeploymentFileError::Io`] naming the file.
    pub fn save(&self, path: &Path) -> Result<(), DeploymentFileError> {
        let text = serde_json::to_string_pretty(self).expect("a deployment serialises");
        crate::store::write_atomic(path, text.as_bytes()).map_err(|source| {
            DeploymentFileError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }
}
