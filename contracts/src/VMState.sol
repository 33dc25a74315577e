// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title VMState
/// @notice The VM state encoding (docs/spec/vm.md §5), the one copy every contract
///         uses: byte offsets of each field of the 177-byte big-endian encoding,
///         the status values, and readers of an encoding held in calldata.
library VMState {
    /// @notice Registers r0 .. r31, 4 bytes each.
    uint256 internal constant REGISTER_COUNT = 32;

    uint256 internal constant MEM_ROOT_OFFSET = 0;
    uint256 internal constant PC_OFFSET = MEM_ROOT_OFFSET + 32;
    uint256 internal constant STEP_OFFSET = PC_OFFSET + 4;
    uint256 internal constant STATUS_OFFSET = STEP_OFFSET + 8;
    uint256 internal constant EXIT_OFFSET = STATUS_OFFSET + 1;
    uint256 internal constant REGS_OFFSET = EXIT_OFFSET + 4;
    /// @notice Bytes in a state encoding.
    uint256 internal constant STATE_SIZE = REGS_OFFSET + REGISTER_COUNT * 4;

    uint256 internal constant STATUS_RUNNING = 0;
    uint256 internal constant STATUS_HALTED = 1;
    uint256 internal constant STATUS_FAULTED = 2;

    /// @notice The big-endian integer in calldata bytes [ptr, ptr + width), width <= 32.
    function read(uint256 ptr, uint256 width) internal pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := shr(sub(256, shl(3, width)), calldataload(ptr))
        }
    }

    /// @notice The memory root of the encoding at calldata `state`.
    function memRoot(uint256 state) internal pure returns (uint256) {
        return read(state + MEM_ROOT_OFFSET, 32);
    }

    /// @notice The step counter of the encoding at calldata `state`.
    function stepCount(uint256 state) internal pure returns (uint256) {
        return read(state + STEP_OFFSET, 8);
    }

    /// @notice The status byte of the encoding at calldata `state`.
    function status(uint256 state) internal pure returns (uint256) {
        return read(state + STATUS_OFFSET, 1);
    }

    /// @notice The exit code of the encoding at calldata `state`.
    function exitCode(uint256 state) internal pure returns (uint256) {
        return read(state + EXIT_OFFSET, 4);
    }

    /// @notice The hash of a running state at pc 0, step 0, exit 0, registers
    ///         zero, over memory `root`: a program's initial state.
    function initialStateHash(uint256 root) internal pure returns (bytes32 h) {
        uint256 size = STATE_SIZE;
        assembly ("memory-safe") {
            let state := mload(0x40)
            mstore(state, root)
            // Every other field is zero.
            calldatacopy(add(state, 32), calldatasize(), sub(size, 32))
            h := keccak256(state, size)
        }
    }
}
