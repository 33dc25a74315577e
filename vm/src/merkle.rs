//! The memory tree's hashing rule (docs/spec/vm.md §6), shared by the memory,
//! the prover and the verifier.

use std::sync::LazyLock;

use alloy_primitives::{B256, keccak256};

use crate::keccak::{hash_leaf_pairs, hash_pairs};

/// Bytes in one leaf.
pub const LEAF_SIZE: usize = 32;
/// log2 of [`LEAF_SIZE`].
pub const LEAF_BITS: u32 = LEAF_SIZE.trailing_zeros();
/// Levels between a leaf and the root: 2^32 bytes in 32-byte leaves.
pub const TREE_DEPTH: usize = 32 - LEAF_BITS as usize;

/// A 32-byte leaf.
pub type Leaf = [u8; LEAF_SIZE];
/// The sibling hashes from a leaf up to the root, leaf level first.
pub type Path = [B256; TREE_DEPTH];

/// A parent node: `keccak256(left ‖ right)`.
#[inline]
pub fn hash_pair(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left.as_slice());
    buf[32..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// `ZERO_HASHES[k]` is the root of an all-zero subtree of height `k`.
pub static ZERO_HASHES: LazyLock<[B256; TREE_DEPTH + 1]> = LazyLock::new(|| {
    let mut z = [B256::ZERO; TREE_DEPTH + 1];
    for k in 1..=TREE_DEPTH {
        z[k] = hash_pair(&z[k - 1], &z[k - 1]);
    }
    z
});

/// Hashes `leaves` (a power-of-two count) into their subtree root.
pub fn subtree_root(leaves: &[Leaf]) -> B256 {
    debug_assert!(leaves.len().is_power_of_two());
    if leaves.len() == 1 {
        return B256::from(leaves[0]);
    }
    let mut level = vec![B256::ZERO; leaves.len() / 2];
    hash_leaf_pairs(leaves.as_flattened(), &mut level);
    while level.len() > 1 {
        let mut parents = vec![B256::ZERO; level.len() / 2];
        hash_pairs(&level, &mut parents);
        level = parents;
    }
    level[0]
}

/// The root reached from `leaf` at `leaf_index` through `path`.
pub fn fold_path(leaf_index: u32, leaf: &Leaf, path: &Path) -> B256 {
    let mut node = B256::from(*leaf);
    for (k, sibling) in path.iter().enumerate() {
        node = if (leaf_index >> k) & 1 == 1 {
            hash_pair(sibling, &node)
        } else {
            hash_pair(&node, sibling)
        };
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_tree_matches_folding_a_zero_leaf() {
        let path: Path = std::array::from_fn(|k| ZERO_HASHES[k]);
        for index in [0, 1, 12345, (1 << TREE_DEPTH) - 1] {
            assert_eq!(
                fold_path(index, &[0; LEAF_SIZE], &path),
                ZERO_HASHES[TREE_DEPTH]
            );
        }
        assert_eq!(subtree_root(&[[0; LEAF_SIZE]; 8]), ZERO_HASHES[3]);
    }

    #[test]
    fn subtree_root_hashes_pairs_level_by_level() {
        for count in [1, 2, 8, 64] {
            let leaves: Vec<Leaf> = (0..count).map(|i| [i as u8 ^ 0xA5; LEAF_SIZE]).collect();
            let mut level: Vec<B256> = leaves.iter().map(|l| B256::from(*l)).collect();
            while level.len() > 1 {
                level = level
                    .chunks_exact(2)
                    .map(|p| hash_pair(&p[0], &p[1]))
                    .collect();
            }
            assert_eq!(subtree_root(&leaves), level[0], "{count} leaves");
        }
    }
}
