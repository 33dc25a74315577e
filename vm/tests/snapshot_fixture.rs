//! The snapshot format pinned by a committed fixture: snapshots are the
//! bincode 2 encoding of `snapshot::Saved`, so the order of its fields and
//! of `Core`'s is the wire format (docs/spec/package.md). A machine mid-way
//! through a small float program is saved; the committed bytes must decode
//! to it and its state hash, and a fresh snapshot must give the same bytes.
//! `VERDICT_BLESS=1` rewrites the fixture after a deliberate format change
//! (with a new format version).

use std::path::Path;

use alloy_primitives::keccak256;
use serde_json::{Value, json};
use verdict_vm::builder::Builder;
use verdict_vm::{CODE_END, Machine, Op};

/// A running machine stopped after 40 steps: a loop that reads 12 words,
/// squares them, takes the square root and stores it into a second page, so
/// code, data and written pages are all in the snapshot.
fn machine() -> Machine {
    let (x, y) = (0x800, CODE_END + 0x3000);
    let mut b = Builder::new();
    b.li(1, x);
    b.li(2, y);
    b.repeat(10, 12, |b| {
        b.load(Op::Lw, 4, 1, 0);
        b.float(Op::Fmul, 5, 4, 4);
        b.float(Op::Fsqrt, 6, 5, 0);
        b.store(Op::Sw, 6, 2, 0);
        b.addi(1, 1, 4);
        b.addi(2, 2, 4);
    });
    b.halt(6, 0);
    let mut m = Machine::new();
    m.load_program(&b.finish().expect("well formed"));
    let words: Vec<u8> = (0..12u32)
        .flat_map(|i| ((i * 7 % 11) as f32 * 0.3 - 1.2).to_le_bytes())
        .collect();
    m.write_bytes(x, &words);
    m.run(40);
    m
}

#[test]
fn committed_snapshot_decodes_and_is_reproduced() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let (bin, meta) = (dir.join("snapshot.bin"), dir.join("snapshot.json"));
    let mut m = machine();
    let fresh = m.snapshot();
    let facts = json!({
        "snapshot_keccak": keccak256(&fresh).to_string(),
        "state_hash": m.state_hash().to_string(),
        "step": m.core.step,
    });
    if std::env::var("VERDICT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&bin, &fresh).unwrap();
        std::fs::write(&meta, serde_json::to_string_pretty(&facts).unwrap() + "\n").unwrap();
    }
    let committed = std::fs::read(&bin).expect("tests/golden/snapshot.bin");
    let want: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(
        keccak256(&committed).to_string(),
        want["snapshot_keccak"],
        "snapshot.bin is not the file snapshot.json describes"
    );
    let mut restored = Machine::restore(&committed).expect("the fixture decodes");
    assert_eq!(restored.core.step, want["step"]);
    assert_eq!(restored.state_hash().to_string(), want["state_hash"]);
    assert_eq!(
        fresh, committed,
        "the snapshot encoding changed: bump SNAPSHOT_VERSION, then bless"
    );
    assert_eq!(facts, want);
    restored.run(1_000);
    m.run(1_000);
    assert_eq!(
        restored.state_hash(),
        m.state_hash(),
        "the restored run differs"
    );
}
