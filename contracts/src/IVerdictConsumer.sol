// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IVerdictConsumer
/// @notice What a contract implements to be called back when its inference
///         request is fulfilled (docs/spec/protocol.md §4). The call gets
///         `ClaimManager.CALLBACK_GAS_LIMIT` gas; whether it returns or reverts,
///         the request is fulfilled and the fee paid.
interface IVerdictConsumer {
    /// @notice Request `requestId` is fulfilled by the final claim `claimId`,
    ///         whose output is `output`.
    function onVerdict(uint256 requestId, uint256 claimId, bytes calldata output) external;
}
