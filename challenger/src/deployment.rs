//! Deploying the contracts, and the deployment file every other command reads
//! (`deployment.json`: chain id, addresses, the block to scan events from and
//! the manager's configuration).

use std::path::Path;

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};
use verdict_contracts::bindings::{ModelRegistry, VerdictVM};
use verdict_contracts::protocol::Config;

use crate::chain::{Chain, ChainError};

/// Where the contracts are and how the manager is configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The chain they are on.
    pub chain_id: u64,
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
