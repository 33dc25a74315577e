//! Incremental memory roots against a from-scratch reference tree.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use proptest::prelude::*;
use verdict_vm::memory::Memory;
use verdict_vm::merkle::{TREE_DEPTH, ZERO_HASHES, fold_path, hash_pair};

/// The root of a tree whose non-zero leaves are given, built level by level
/// with no caching: an independent statement of docs/spec/vm.md §6.
fn reference_root(leaves: &BTreeMap<u32, [u8; 32]>) -> B256 {
    let mut level: BTreeMap<u32, B256> = leaves
        .iter()
        .filter(|(_, l)| **l != [0; 32])
        .map(|(&i, l)| (i, B256::from(*l)))
        .collect();
    for k in 0..TREE_DEPTH {
        let mut next = BTreeMap::new();
        for &i in level.keys() {
            let parent = i >> 1;
            if next.contains_key(&parent) {
                continue;
            }
            let child = |j: u32| level.get(&j).copied().unwrap_or(ZERO_HASHES[k]);
            next.insert(
                parent,
                hash_pair(&child(parent * 2), &child(parent * 2 + 1)),
            );
        }
        level = next;
    }
    level.get(&0).copied().unwrap_or(ZERO_HASHES[TREE_DEPTH])
}

fn address() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..0x3000,
        0x4000_0000u32..0x4000_3000,
        any::<u32>(),
        (0xFFFF_F000u32..=0xFFFF_FFFF),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn incremental_root_equals_a_fresh_computation(
        batches in prop::collection::vec(
            prop::collection::vec((address(), prop::collection::vec(any::<u8>(), 1..80)), 1..12),
            1..4,
        ),
        zero_some in any::<bool>(),
    ) {
        let mut memory = Memory::new();
        let mut shadow: BTreeMap<u32, [u8; 32]> = BTreeMap::new();
        for batch in &batches {
            for (addr, bytes) in batch {
                let bytes: Vec<u8> = if zero_some { vec![0; bytes.len()] } else { bytes.clone() };
                memory.write_bytes(*addr, &bytes);
                for (k, &b) in bytes.iter().enumerate() {
                    let a = addr.wrapping_add(k as u32);
                    shadow.entry(a >> 5).or_insert([0; 32])[(a & 31) as usize] = b;
                }
            }
            let root = memory.root();
            prop_assert_eq!(root, reference_root(&shadow));
            for &index in shadow.keys().take(4) {
                prop_assert_eq!(fold_path(index, &memory.leaf(index), &memory.path(index)), root);
            }
        }
    }
}

#[test]
fn many_dirty_pages_hash_in_parallel_to_the_same_root() {
    let mut memory = Memory::new();
    let mut shadow = BTreeMap::new();
    for page in 0..300u32 {
        let addr = 0x4000_0000 + page * 4096 + (page % 128) * 32;
        let leaf = [page as u8 | 1; 32];
        memory.write_bytes(addr, &leaf);
        shadow.insert(addr >> 5, leaf);
    }
    assert_eq!(memory.root(), reference_root(&shadow));
}
