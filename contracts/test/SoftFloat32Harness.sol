// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {SoftFloat32} from "../src/SoftFloat32.sol";

/// @title SoftFloat32Harness
/// @notice Test-only: exposes each SoftFloat32 operation as an external function,
///         so the Rust tests can compare it with the VM's semantics directly.
contract SoftFloat32Harness {
    function add(uint32 a, uint32 b) external pure returns (uint32) {
        return SoftFloat32.add(a, b);
    }

    function sub(uint32 a, uint32 b) external pure returns (uint32) {
        return SoftFloat32.sub(a, b);
    }

    function mul(uint32 a, uint32 b) external pure returns (uint32) {
        return SoftFloat32.mul(a, b);
    }

    function div(uint32 a, uint32 b) external pure returns (uint32) {
        return SoftFloat32.div(a, b);
    }

    function fma(uint32 a, uint32 b, uint32 c) external pure returns (uint32) {
        return SoftFloat32.fma(a, b, c);
    }

    function sqrt(uint32 a) external pure returns (uint32) {
        return SoftFloat32.sqrt(a);
    }

    function min(uint32 a, uint32 b) external pure returns (uint32) {
        return SoftFloat32.min(a, b);
    }

    function max(uint32 a, uint32 b) external pure returns (uint32) {
        return SoftFloat32.max(a, b);
    }

    function eq(uint32 a, uint32 b) external pure returns (bool) {
        return SoftFloat32.eq(a, b);
    }

    function lt(uint32 a, uint32 b) external pure returns (bool) {
        return SoftFloat32.lt(a, b);
    }

    function le(uint32 a, uint32 b) external pure returns (bool) {
        return SoftFloat32.le(a, b);
    }

    function ftoi(uint32 a) external pure returns (uint32) {
        return SoftFloat32.ftoi(a);
    }

    function itof(uint32 a) external pure returns (uint32) {
        return SoftFloat32.itof(a);
    }
}
