//! Saving and restoring a whole machine (docs/spec/vm.md §9).

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::memory::{Memory, PAGE_SIZE};
use crate::state::Core;

/// First bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"VRDSNAP\0";
/// Current snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;
const HEADER_SIZE: usize = SNAPSHOT_MAGIC.len() + 4;

/// Why snapshot bytes were rejected.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start with [`SNAPSHOT_MAGIC`].
    #[error("not a verdict VM snapshot (bad magic)")]
    Magic,
    /// A format version this build does not read.
    #[error("snapshot format version {0}, this build reads version {SNAPSHOT_VERSION}")]
    Version(u32),
    /// The body does not decode.
    #[error("corrupt snapshot body: {0}")]
    Body(#[from] bincode::error::DecodeError),
    /// Bytes after the body.
    #[error("{0} trailing bytes after the snapshot")]
    Trailing(usize),
    /// A page of the wrong size or a duplicated page.
    #[error("corrupt snapshot page {0}")]
    Page(u32),
}

#[derive(Serialize, Deserialize)]
struct Saved {
    core: Core,
    /// Decoded-code cache length in instructions.
    code_len: u64,
    pages: Vec<(u32, Vec<u8>)>,
}

impl Machine {
    /// Saves the whole machine.
    pub fn snapshot(&self) -> Vec<u8> {
        let saved = Saved {
            core: self.core,
            code_len: self.code_len() as u64,
            pages: self.memory().pages(),
        };
        let mut out = Vec::from(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        bincode::serde::encode_into_std_write(&saved, &mut out, bincode::config::standard())
            .expect("writing to a Vec cannot fail");
        out
    }

    /// Restores a machine saved by [`Machine::snapshot`].
    ///
    /// # Errors
    ///
    /// [`SnapshotError`] for a wrong magic or version, or corrupt, truncated
    /// or trailing bytes.
    pub fn restore(bytes: &[u8]) -> Result<Machine, SnapshotError> {
        if bytes.len() < HEADER_SIZE || bytes[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC {
            return Err(SnapshotError::Magic);
        }
        let version = u32::from_le_bytes(
            bytes[SNAPSHOT_MAGIC.len()..HEADER_SIZE]
                .try_into()
                .expect("4 bytes"),
        );
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        let body = &bytes[HEADER_SIZE..];
        let config = bincode::config::standard().with_limit::<{ 1 << 33 }>();
        let (saved, used): (Saved, usize) = bincode::serde::decode_from_slice(body, config)?;
        if used != body.len() {
            return Err(SnapshotError::Trailing(body.len() - used));
        }
        let mut memory = Memory::new();
        let mut seen = std::collections::HashSet::new();
        for (index, data) in &saved.pages {
            if data.len() != PAGE_SIZE || !seen.insert(*index) || *index as usize >= (1 << 20) {
                return Err(SnapshotError::Page(*index));
            }
            memory.write_bytes(index << crate::memory::PAGE_BITS, data);
        }
        let mut machine = Machine::from_parts(saved.core, memory);
        machine.cache_code(saved.code_len.min(u64::from(crate::exec::CODE_END / 8)) as usize);
        Ok(machine)
    }
}
