// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ClaimManager} from "../src/ClaimManager.sol";
import {IVerdictConsumer} from "../src/IVerdictConsumer.sol";

/// @title DigitsConsumer
/// @notice An example application contract: asks verdict to classify a
///         handwritten digit with a registered digits model, and keeps the
///         verified class when a node fulfils its request.
contract DigitsConsumer is IVerdictConsumer {
    /// @notice The manager requests go to.
    ClaimManager public immutable manager;
    /// @notice The registered digits model.
    bytes32 public immutable modelId;
    /// @notice The verified class of each fulfilled request, plus one (zero
    ///         while it is not fulfilled).
    mapping(uint256 requestId => uint256) public classOf;

    /// @notice Request `requestId` was fulfilled: the digit is `digit`.
    event Classified(uint256 indexed requestId, uint256 digit);

    /// @notice Only the manager calls back.
    error NotTheManager(address caller);

    /// @param manager_ The ClaimManager.
    /// @param modelId_ The digits model's id.
    constructor(ClaimManager manager_, bytes32 modelId_) {
        manager = manager_;
        modelId = modelId_;
    }

    /// @notice Asks for the class of `input` (the model's input tensor,
    ///         little-endian f32), paying `msg.value` as the fee.
    /// @return requestId The request.
    function classify(bytes calldata input) external payable returns (uint256 requestId) {
        requestId = manager.request{value: msg.value}(modelId, input, address(this));
    }

    /// @inheritdoc IVerdictConsumer
    function onVerdict(uint256 requestId, uint256, bytes calldata output) external {
        if (msg.sender != address(manager)) revert NotTheManager(msg.sender);
        uint256 best;
        uint256 bestKey;
        for (uint256 i = 0; i < output.length / 4; ++i) {
            uint256 key = _orderKey(output, i);
            if (i == 0 || key > bestKey) {
                (best, bestKey) = (i, key);
            }
        }
        classOf[requestId] = best + 1;
        emit Classified(requestId, best);
    }

    /// @dev The `i`-th little-endian f32 of `b` as an unsigned key that
    ///      orders as the floats do (negative floats have their bits
    ///      inverted, positive ones their sign bit set).
    function _orderKey(bytes calldata b, uint256 i) private pure returns (uint256) {
        uint256 o = 4 * i;
        uint256 bits = uint256(uint8(b[o])) | uint256(uint8(b[o + 1])) << 8 | uint256(uint8(b[o + 2])) << 16
            | uint256(uint8(b[o + 3])) << 24;
        return bits & 0x80000000 != 0 ? ~bits & 0xffffffff : bits | 0x80000000;
    }
}
