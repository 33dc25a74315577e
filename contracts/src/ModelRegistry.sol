// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MerkleTree} from "./MerkleTree.sol";
import {Model, Region, Regions} from "./ModelTypes.sol";

/// @title ModelRegistry
/// @notice Permissionless, immutable registry of compiled models
///         (docs/spec/protocol.md §2). A model id is the keccak256 of the ABI
///         encoding of its `Model` record, which commits to the image root, the
///         input and output regions, the op boundary table and the package hash.
///         Registering checks what the claim manager relies on later: the regions
///         are whole subtrees, the input region is zero in the image, and the
///         boundary table rises strictly from step 0.
contract ModelRegistry {
    /// @notice The model is already registered; registration is immutable.
    error ModelAlreadyRegistered(bytes32 modelId);
    /// @notice No model has this id.
    error UnknownModel(bytes32 modelId);
    /// @notice The boundary table has fewer than three points, does not start at
    ///         step 0, does not rise strictly, or ends at 2^64 or later.
    error BadBoundaryTable();

    /// @notice A model was registered. Agents take the boundary table and the
    ///         input path from here.
    event ModelRegistered(
        bytes32 indexed modelId,
        bytes32 indexed packageHash,
        Model model,
        uint256[] pointSteps,
        bytes32[] inputPath
    );

    mapping(bytes32 modelId => Model) private _models;

    /// @notice Registers a model. Anyone may register any model, once.
    /// @param imageRoot Memory root of code and weights with the input region zero.
    /// @param input The input region.
    /// @param output The output region.
    /// @param pointSteps The step of every level-1 point of a dispute: the op
    ///        boundary table (0 for op 0, the first step of each later op, the
    ///        step of the final `halt`), then the total step count.
    /// @param inputPath The input region's siblings in the image, from its own
    ///        level up to the root.
    /// @param packageHash keccak256 of the `.dnn` package file.
    /// @return modelId The new model's id.
    function register(
        bytes32 imageRoot,
        Region calldata input,
        Region calldata output,
        uint256[] calldata pointSteps,
        bytes32[] calldata inputPath,
        bytes32 packageHash
    ) external returns (bytes32 modelId) {
        uint256 inputHeight = Regions.height(input);
        Regions.height(output);
        uint256 points = pointSteps.length;
        if (points < 3 || pointSteps[0] != 0 || pointSteps[points - 1] > type(uint64).max) {
            revert BadBoundaryTable();
        }
        for (uint256 i = 1; i < points; ++i) {
            if (pointSteps[i] <= pointSteps[i - 1]) revert BadBoundaryTable();
        }
        Regions.checkZeroInput(input, inputHeight, imageRoot, inputPath);
        uint256 depth = Regions.ceilLog2(points);
        uint256 table;
        assembly ("memory-safe") {
            table := pointSteps.offset
        }
        Model memory m = Model({
            imageRoot: imageRoot,
            input: input,
            output: output,
            opCount: uint32(points - 2),
            totalSteps: uint64(pointSteps[points - 1]),
            boundaryRoot: bytes32(MerkleTree.subtreeRoot(table, points * 32, depth)),
            boundaryDepth: uint8(depth),
            packageHash: packageHash
        });
        modelId = keccak256(abi.encode(m));
        if (_models[modelId].imageRoot != 0) revert ModelAlreadyRegistered(modelId);
        _models[modelId] = m;
        emit ModelRegistered(modelId, packageHash, m, pointSteps, inputPath);
    }

    /// @notice The model `modelId`; reverts with UnknownModel if there is none.
    function model(bytes32 modelId) external view returns (Model memory m) {
        m = _models[modelId];
        if (m.imageRoot == 0) revert UnknownModel(modelId);
    }
}
