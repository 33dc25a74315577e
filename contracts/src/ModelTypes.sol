// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MerkleTree} from "./MerkleTree.sol";

/// @notice A region of VM memory that is one whole subtree of the memory tree:
///         `size` is a power of two, at least a leaf, and `addr` a multiple of it.
///         The first `length` bytes hold the tensor; the rest is zero.
struct Region {
    uint32 addr;
    uint32 size;
    uint32 length;
}

/// @notice A registered model (docs/spec/protocol.md §2). Its id is the
///         keccak256 of its ABI encoding.
/// @param imageRoot Memory root of code and weights with the input region zero.
/// @param input The input region.
/// @param output The output region.
/// @param opCount Number of ops n; the boundary table has n + 2 points.
/// @param totalSteps Steps from the initial state to the halted final state.
/// @param boundaryRoot Merkle root (MerkleTree's rule, depth `boundaryDepth`) over
///        the steps of the points 0 .. n + 1, one 32-byte big-endian leaf each,
///        zero leaves after them.
/// @param boundaryDepth ceil(log2(n + 2)).
/// @param packageHash keccak256 of the `.dnn` package file.
struct Model {
    bytes32 imageRoot;
    Region input;
    Region output;
    uint32 opCount;
    uint64 totalSteps;
    bytes32 boundaryRoot;
    uint8 boundaryDepth;
    bytes32 packageHash;
}

/// @notice A region is not a whole subtree, or its tensor does not fit it.
error BadRegion(uint32 addr, uint32 size, uint32 length);
/// @notice Input or output bytes are not the tensor's length.
error BadTensorLength(uint256 got, uint256 want);
/// @notice The input path does not lead from a zero input region to the image root.
error BadInputPath();
/// @notice A Merkle path has the wrong number of siblings.
error BadPathLength(uint256 got, uint256 want);

/// @title Regions
/// @notice The rules for a model's input and output regions as subtrees of the
///         memory tree, shared by the registry and the claim manager.
library Regions {
    /// @notice The height of `region`'s subtree, log2(size / LEAF_SIZE).
    /// @dev Reverts with BadRegion unless the region is a whole subtree holding a
    ///      non-empty tensor.
    function height(Region memory region) internal pure returns (uint256 h) {
        uint256 size = region.size;
        if (
            size < MerkleTree.LEAF_SIZE || size & (size - 1) != 0 || region.addr % size != 0
                || region.length == 0 || region.length > size
        ) {
            revert BadRegion(region.addr, region.size, region.length);
        }
        h = ceilLog2(size) - MerkleTree.LEAF_INDEX_SHIFT;
    }

    /// @notice The memory root with `subtree` as the region's subtree root, the
    ///         rest of the tree given by `path`: the region's siblings from its
    ///         own level `h` (its height) up to the root.
    function rootWith(Region memory region, uint256 h, uint256 subtree, bytes32[] calldata path)
        internal
        pure
        returns (bytes32)
    {
        uint256 depth = MerkleTree.TREE_DEPTH - h;
        if (path.length != depth) revert BadPathLength(path.length, depth);
        uint256 index = uint256(region.addr) >> (MerkleTree.LEAF_INDEX_SHIFT + h);
        uint256 offset;
        assembly ("memory-safe") {
            offset := path.offset
        }
        return bytes32(MerkleTree.fold(subtree, index, offset, depth));
    }

    /// @notice Checks that `path` leads from the input region `input` (of height
    ///         `h`), all zero, to `imageRoot`: the region is zero in the image.
    /// @dev Reverts with BadInputPath otherwise.
    function checkZeroInput(Region memory input, uint256 h, bytes32 imageRoot, bytes32[] calldata path)
        internal
        pure
    {
        if (rootWith(input, h, MerkleTree.zeroRoot(h), path) != imageRoot) revert BadInputPath();
    }

    /// @notice The root of the region's subtree holding `data` (calldata), zero
    ///         padded; `data` must be exactly the tensor's `length` bytes.
    function contentRoot(Region memory region, uint256 h, bytes calldata data)
        internal
        pure
        returns (uint256)
    {
        if (data.length != region.length) revert BadTensorLength(data.length, region.length);
        uint256 offset;
        assembly ("memory-safe") {
            offset := data.offset
        }
        return MerkleTree.subtreeRoot(offset, data.length, h);
    }

    /// @notice ceil(log2(x)) for x >= 1.
    function ceilLog2(uint256 x) internal pure returns (uint256 n) {
        while ((uint256(1) << n) < x) ++n;
    }
}
