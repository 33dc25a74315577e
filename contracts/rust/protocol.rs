//! The whole protocol on an in-memory chain: `VerdictVM`, `ModelRegistry` and
//! `ClaimManager` deployed together, typed transactions against them, their
//! reverts decoded into each contract's custom errors and their events into
//! the contracts' event enums.

use alloy_primitives::{Address, Bytes, Log, U256};
use alloy_sol_types::{SolCall, SolConstructor, SolEventInterface, SolInterface};

use crate::bindings::{ClaimManager, ModelRegistry, VerdictVM};
use crate::evm::{CallOutput, Evm, EvmError, Gas, SENDER, Tx};

/// The configuration `ClaimManager` is deployed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Smallest claim bond, in wei.
    pub min_claim_bond: U256,
    /// Smallest challenge bond, in wei.
    pub min_challenge_bond: U256,
    /// Seconds a claim can be challenged.
    pub challenge_window: u64,
    /// Seconds each party of a game has for its moves, in all.
    pub clock_budget: u64,
    /// Seconds before an unfulfilled request may be cancelled.
    pub request_ttl: u64,
}

impl Default for Config {
    /// Bonds of 1 and 0.5 ether, a one-hour window, half an hour on each
    /// clock, requests that expire after two hours.
    fn default() -> Config {
        let ether = U256::from(10).pow(U256::from(18));
        Config {
            min_claim_bond: ether,
            min_challenge_bond: ether / U256::from(2),
            challenge_window: 3600,
            clock_budget: 1800,
            request_ttl: 7200,
        }
    }
}

impl Config {
    /// The creation code of a `ClaimManager` with this configuration over
    /// `registry` and `verifier`: the bytecode and its constructor arguments.
    pub fn manager_code(&self, registry: Address, verifier: Address) -> Bytes {
        let args = ClaimManager::constructorCall {
            registry_: registry,
            verifier_: verifier,
            minClaimBond_: self.min_claim_bond,
            minChallengeBond_: self.min_challenge_bond,
            challengeWindow_: self.challenge_window,
            clockBudget_: self.clock_budget,
            requestTtl_: self.request_ttl,
        }
        .abi_encode();
        [ClaimManager::BYTECODE.as_ref(), &args].concat().into()
    }
}

/// Revert data, decoded as the custom error of whichever contract raised it
/// (errors of the registry and the verifier reach callers of the manager
/// unchanged).
#[derive(Debug, PartialEq, Eq)]
pub enum Revert {
    /// An error of `ClaimManager`.
    Manager(ClaimManager::ClaimManagerErrors),
    /// An error of `ModelRegistry`.
    Registry(ModelRegistry::ModelRegistryErrors),
    /// An error of `VerdictVM`.
    Verifier(VerdictVM::VerdictVMErrors),
    /// Data that is none of them.
    Other(Bytes),
}

impl Revert {
    /// Decodes revert data.
    pub fn decode(data: &[u8]) -> Revert {
        if let Ok(e) = ClaimManager::ClaimManagerErrors::abi_decode(data) {
            Revert::Manager(e)
        } else if let Ok(e) = ModelRegistry::ModelRegistryErrors::abi_decode(data) {
            Revert::Registry(e)
        } else if let Ok(e) = VerdictVM::VerdictVMErrors::abi_decode(data) {
            Revert::Verifier(e)
        } else {
            Revert::Other(Bytes::copy_from_slice(data))
        }
    }
}

/// A committed transaction to one of the contracts.
#[derive(Debug)]
pub struct Sent<T> {
    /// What the call returned, or why it reverted.
    pub result: Result<T, Revert>,
    /// Gas of the transaction.
    pub gas: Gas,
    /// Logs it emitted.
    pub logs: Vec<Log>,
}

impl<T> Sent<T> {
    /// `ClaimManager`'s events among the logs, in order.
    pub fn manager_events(&self) -> Vec<ClaimManager::ClaimManagerEvents> {
        self.logs
            .iter()
            .filter_map(|log| ClaimManager::ClaimManagerEvents::decode_log(log).ok())
            .map(|log| log.data)
            .collect()
    }
}

/// The three contracts deployed on one chain.
#[derive(Debug)]
pub struct Deployment {
    /// The chain.
    pub evm: Evm,
    /// `VerdictVM`.
    pub verifier: Address,
    /// `ModelRegistry`.
    pub registry: Address,
    /// `ClaimManager`.
    pub manager: Address,
    /// Every event `ClaimManager` emitted in a committed transaction, in order.
    events: Vec<ClaimManager::ClaimManagerEvents>,
}

/// A transaction that did not run to a return or a revert, or whose return
/// data does not decode.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The EVM could not run it.
    #[error(transparent)]
    Evm(#[from] EvmError),
    /// It returned data that is not what the function returns.
    #[error("undecodable return data 0x{}", hex::encode(.0))]
    Return(Bytes),
}

impl Deployment {
    /// Deploys the verifier, the registry and a manager with `config` on a
    /// fresh chain.
    ///
    /// # Errors
    ///
    /// [`EvmError`] if a deployment fails.
    pub fn deploy(config: &Config) -> Result<Deployment, EvmError> {
        let mut evm = Evm::new();
        let verifier = evm.deploy(VerdictVM::BYTECODE.clone())?;
        let registry = evm.deploy(ModelRegistry::BYTECODE.clone())?;
        let manager = evm.deploy(config.manager_code(registry, verifier))?;
        Ok(Deployment {
            evm,
            verifier,
            registry,
            manager,
            events: vec![],
        })
    }

    /// Sends `call` to `to` from `from` with `value` wei.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the transaction halts or returns undecodable data; a
    /// revert is a [`Revert`] in [`Sent::result`].
    pub fn send<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: &C,
        value: U256,
    ) -> Result<Sent<C::Return>, SendError> {
        self.send_tx::<C>(Tx::new(from, to, call.abi_encode()).value(value))
    }

    /// Sends `tx`, whose calldata is a `C` call.
    ///
    /// # Errors
    ///
    /// As [`Deployment::send`].
    pub fn send_tx<C: SolCall>(&mut self, tx: Tx) -> Result<Sent<C::Return>, SendError> {
        let receipt = self.evm.transact(tx)?;
        self.events.extend(
            receipt
                .logs
                .iter()
                .filter(|log| log.address == self.manager)
                .filter_map(|log| ClaimManager::ClaimManagerEvents::decode_log(log).ok())
                .map(|log| log.data),
        );
        let result = match receipt.output {
            CallOutput::Return(data) => {
                Ok(C::abi_decode_returns(&data).map_err(|_| SendError::Return(data))?)
            }
            CallOutput::Revert(data) => Err(Revert::decode(&data)),
        };
        Ok(Sent {
            result,
            gas: receipt.gas,
            logs: receipt.logs,
        })
    }

    /// Calls the view `call` on `to` without committing anything.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the call halts or returns undecodable data; a revert
    /// is a [`Revert`].
    pub fn view<C: SolCall>(
        &mut self,
        to: Address,
        call: &C,
    ) -> Result<Result<C::Return, Revert>, SendError> {
        let out = self.evm.call(to, call.abi_encode().into())?;
        Ok(match out.output {
            CallOutput::Return(data) => {
                Ok(C::abi_decode_returns(&data).map_err(|_| SendError::Return(data))?)
            }
            CallOutput::Revert(data) => Err(Revert::decode(&data)),
        })
    }

    /// Every event `ClaimManager` has emitted, in order: what an agent
    /// following the chain sees.
    pub fn events(&self) -> &[ClaimManager::ClaimManagerEvents] {
        &self.events
    }

    /// The manager's ether and every account's: what a test of ether
    /// conservation sums.
    pub fn total_balance(&self, accounts: &[Address]) -> U256 {
        accounts
            .iter()
            .chain([&self.manager, &SENDER])
            .map(|&a| self.evm.balance(a))
            .sum()
    }
}
