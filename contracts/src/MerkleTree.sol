// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title MerkleTree
/// @notice The hashing rule of the VM's memory tree (docs/spec/vm.md §6), the one
///         implementation every contract uses: a parent is keccak256(left ‖ right),
///         a level-0 node is a 32-byte leaf itself, an all-zero subtree of height
///         k has root Z[k] with Z[0] = 0 and Z[k+1] = keccak256(Z[k] ‖ Z[k]).
///         The same rule also hashes the op boundary table of a model
///         (docs/spec/protocol.md §2).
library MerkleTree {
    /// @notice Bytes in a leaf.
    uint256 internal constant LEAF_SIZE = 32;
    /// @notice log2(LEAF_SIZE): the leaf of byte address `a` is `a >> LEAF_INDEX_SHIFT`.
    uint256 internal constant LEAF_INDEX_SHIFT = 5;
    /// @notice Levels between a leaf and the root of the 2^32-byte memory.
    uint256 internal constant TREE_DEPTH = 27;

    /// @notice Folds `depth` sibling hashes stored back to back in calldata at
    ///         `path` (lowest level first) over `node`, the node at position
    ///         `index` of its level: bit k of `index` set means the node is the
    ///         right child at height k above it.
    /// @return root The root the path leads to.
    function fold(uint256 node, uint256 index, uint256 path, uint256 depth)
        internal
        pure
        returns (uint256 root)
    {
        assembly ("memory-safe") {
            root := node
            for { let end := add(path, shl(5, depth)) } lt(path, end) { path := add(path, 32) } {
                let right := shl(5, and(index, 1))
                mstore(right, root)
                mstore(xor(right, 32), calldataload(path))
                root := keccak256(0, 64)
                index := shr(1, index)
            }
        }
    }

    /// @notice Z[height]: the root of an all-zero subtree of 2^height leaves.
    function zeroRoot(uint256 height) internal pure returns (uint256 root) {
        assembly ("memory-safe") {
            for {} height { height := sub(height, 1) } {
                mstore(0, root)
                mstore(32, root)
                root := keccak256(0, 64)
            }
        }
    }

    /// @notice The root of a subtree of 2^height leaves whose bytes are the
    ///         `length` calldata bytes at `data` followed by zeros. The caller
    ///         ensures `length <= LEAF_SIZE << height`.
    /// @dev Hashes level by level in place, in memory past the free pointer
    ///      (scratch it does not keep); zero padding costs one hash per level.
    function subtreeRoot(uint256 data, uint256 length, uint256 height)
        internal
        pure
        returns (uint256 root)
    {
        assembly ("memory-safe") {
            let nodes := mload(0x40)
            calldatacopy(nodes, data, length)
            // Zero the rest of the last, partial leaf.
            mstore(add(nodes, length), 0)
            let count := shr(5, add(length, 31))
            let zero := 0
            for {} height { height := sub(height, 1) } {
                if and(count, 1) {
                    mstore(add(nodes, shl(5, count)), zero)
                    count := add(count, 1)
                }
                count := shr(1, count)
                for { let i := 0 } lt(i, count) { i := add(i, 1) } {
                    mstore(add(nodes, shl(5, i)), keccak256(add(nodes, shl(6, i)), 64))
                }
                mstore(0, zero)
                mstore(32, zero)
                zero := keccak256(0, 64)
            }
            root := zero
            if count { root := mload(nodes) }
        }
    }
}
