//! What an agent records in its data directory: how far it has read the
//! chain, the models it plays, the claims and games it follows. One JSON
//! document, replaced atomically (written beside, synced, renamed), so a
//! `kill -9` leaves either the old or the new record, never a torn one.
//! Everything else an agent knows it re-reads from the chain.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use verdict_contracts::rules::Party;

/// The record's file name in the data directory.
pub const STATE_FILE: &str = "agent.json";

/// What the agent thinks of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Its final state is the true one.
    True,
    /// Its final state is not the true one.
    False,
    /// Its model is not one this agent has.
    Unknown,
}

/// Where a claim stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimStatus {
    /// In its window, or with games open.
    Pending,
    /// Final.
    Finalized,
    /// Lost a game.
    Rejected,
}

/// A claim the agent follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// Its model.
    pub model_id: B256,
    /// Its input bytes; empty once forgotten ([`ClaimRecord::forget_input`]).
    pub input: Bytes,
    /// Its final state hash.
    pub final_hash: B256,
    /// Who posted it (the defender of its games).
    pub submitter: Address,
    /// Challenges are accepted strictly before this time.
    pub deadline: u64,
    /// What the agent's own run says.
    pub verdict: Verdict,
    /// Where it stands.
    pub status: ClaimStatus,
    /// Whether the chain shows this agent's challenge of it (a refused
    /// challenge leaves it false, to be sent again).
    pub challenged: bool,
    /// The transaction that posted it, when known (records written before
    /// it was kept have none).
    #[serde(default)]
    pub tx: Option<B256>,
}

impl ClaimRecord {
    /// The record of the claim `event` posted in transaction `tx`, judged
    /// `verdict`.
    pub fn submitted(
        event: &verdict_contracts::bindings::ClaimManager::ClaimSubmitted,
        tx: Option<B256>,
        verdict: Verdict,
    ) -> ClaimRecord {
        ClaimRecord {
            model_id: event.modelId,
            input: event.input.clone(),
            final_hash: event.finalStateHash,
            submitter: event.submitter,
            deadline: event.challengeDeadline,
            verdict,
            status: ClaimStatus::Pending,
            challenged: false,
            tx,
        }
    }

    /// Drops the input of a claim this agent will not run again. Every
    /// claim has an input (a model's input region is never empty), so an
    /// empty one means forgotten.
    pub fn forget_input(&mut self) {
        self.input = Bytes::new();
    }

    /// Whether this records the claim `event` posted (a claim id a reorg
    /// gave to another claim does not; a forgotten input is not compared).
    pub fn is_of(&self, event: &verdict_contracts::bindings::ClaimManager::ClaimSubmitted) -> bool {
        self.model_id == event.modelId
            && (self.input.is_empty() || self.input == event.input)
            && self.final_hash == event.finalStateHash
            && self.submitter == event.submitter
            && self.deadline == event.challengeDeadline
    }
}

/// The agent's side in a game.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The claim's submitter.
    Defender,
    /// The challenger.
    Challenger,
}

impl Role {
    /// The contract's party for this side.
    pub fn party(self) -> Party {
        match self {
            Role::Defender => Party::Defender,
            Role::Challenger => Party::Challenger,
        }
    }
}

/// How a game ended for the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameStatus {
    /// Still being played.
    Open,
    /// The agent won.
    Won,
    /// The agent lost.
    Lost,
    /// The claim was rejected by another game; the challenge bond came back.
    Refunded,
}

/// A game the agent plays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameRecord {
    /// The claim disputed.
    pub claim_id: u64,
    /// The agent's side.
    pub role: Role,
    /// The defender's last dissection, from its `Bisected` event.
    pub posted: Vec<B256>,
    /// Where it stands.
    pub status: GameStatus,
    /// Moves the agent made.
    pub moves: u32,
    /// Gas the agent's moves used.
    pub gas: u64,
}

/// Where an inference request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestStatus {
    /// Waiting for a final claim of its result.
    Open,
    /// Fulfilled: the fee went to the first claim of its result.
    Fulfilled,
    /// Cancelled after its expiry: the fee went back to the requester.
    Cancelled,
}

/// An inference request for one of the models a node serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The model asked for.
    pub model_id: B256,
    /// Its input bytes.
    pub input: Bytes,
    /// Wei, paid to the submitter of the claim that fulfils it.
    pub fee: U256,
    /// After this time the requester may cancel it.
    pub expiry: u64,
    /// The true final state hash, once the node has run the model on the
    /// input.
    pub answer: Option<B256>,
    /// Where it stands.
    pub status: RequestStatus,
    /// The claim that fulfilled it.
    pub claim_id: Option<u64>,
}

/// Everything the agent records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// The next block to read events from.
    pub cursor: u64,
    /// The models the agent has packages for: model id to package hash.
    pub models: BTreeMap<B256, B256>,
    /// Registrations that name one of its packages' hashes with another
    /// model record, ignored: model id to the package hash they name.
    #[serde(default)]
    pub spoofed: BTreeMap<B256, B256>,
    /// Claims by id.
    pub claims: BTreeMap<u64, ClaimRecord>,
    /// Games the agent plays, by id.
    pub games: BTreeMap<u64, GameRecord>,
    /// Requests for the models a node serves, by id.
    #[serde(default)]
    pub requests: BTreeMap<u64, RequestRecord>,
}

/// The record on disk.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// The record in memory; [`Store::save`] writes it.
    pub state: AgentState,
    /// The bytes on disk, when this store wrote or read them: an agent saves
    /// after every tick, and an idle one must not rewrite and sync the same
    /// record ten times a second.
    on_disk: Option<Vec<u8>>,
}

/// The record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The file is not an agent record.
    #[error("{path}: not an agent record: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The failure.
        source: serde_json::Error,
    },
}

impl Store {
    /// Opens the record in `dir` (created if missing), or starts a new one
    /// reading the chain from block `start`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] naming the file.
    pub fn open(dir: &Path, start: u64) -> Result<Store, StoreError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(STATE_FILE);
        let (state, on_disk) = match std::fs::read(&path) {
            Ok(bytes) => {
                let state = serde_json::from_slice(&bytes).map_err(|source| StoreError::Parse {
                    path: path.display().to_string(),
                    source,
                })?;
                (state, Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let state = AgentState {
                    cursor: start,
                    ..AgentState::default()
                };
                (state, None)
            }
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(Store {
            path,
            state,
            on_disk,
        })
    }

    /// Writes the record if it differs from what is on disk. Returns
    /// whether it wrote.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] naming the file.
    pub fn save(&mut self) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec_pretty(&self.state).expect("the record serialises");
        if self.on_disk.as_ref() == Some(&bytes) {
            return Ok(false);
        }
        write_atomic(&self.path, &bytes).map_err(|source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        })?;
        self.on_disk = Some(bytes);
        Ok(true)
    }
}

/// Replaces `path` with `bytes` atomically: a reader (or a restart after a
/// crash) sees the old content or the new, never part of it.
///
/// # Errors
///
/// The I/O error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn an_unchanged_record_is_not_rewritten() {
        let dir = std::env::temp_dir().join(format!("verdict-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join(STATE_FILE);
        let inode = || std::fs::metadata(&file).unwrap().ino();
        let mut store = Store::open(&dir, 7).unwrap();
        assert!(store.save().unwrap(), "a new record is written");
        let first = inode();
        for _ in 0..3 {
            assert!(!store.save().unwrap());
        }
        assert_eq!(inode(), first, "not replaced");

        let mut reopened = Store::open(&dir, 0).unwrap();
        assert_eq!(reopened.state.cursor, 7);
        assert!(!reopened.save().unwrap(), "the record as read is on disk");
        reopened.state.cursor = 8;
        assert!(reopened.save().unwrap());
        assert_ne!(inode(), first, "a change is written (beside, then renamed)");
        assert_eq!(Store::open(&dir, 0).unwrap().state.cursor, 8);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
