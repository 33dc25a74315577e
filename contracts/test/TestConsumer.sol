// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ClaimManager} from "../src/ClaimManager.sol";
import {IVerdictConsumer} from "../src/IVerdictConsumer.sol";

/// @title TestConsumer
/// @notice Test-only: a request callback that behaves well or badly on demand,
///         so the tests can check that no callback blocks a fulfilment.
contract TestConsumer is IVerdictConsumer {
    /// @notice How `onVerdict` behaves.
    enum Mode {
        Record,
        Revert,
        BurnGas,
        Reenter,
        ReturnBomb
    }

    /// @notice The behaviour of the next callbacks.
    Mode public mode;
    /// @notice Callbacks that ran to the end.
    uint256 public calls;
    /// @notice The last output received.
    bytes public lastOutput;
    /// @notice Whether a re-entrant call into the manager succeeded.
    bool public reentered;

    /// @notice Sets the behaviour.
    function setMode(Mode m) external {
        mode = m;
    }

    /// @inheritdoc IVerdictConsumer
    function onVerdict(uint256 requestId, uint256 claimId, bytes calldata output) external {
        if (mode == Mode.Revert) revert("consumer refuses");
        if (mode == Mode.BurnGas) {
            while (true) {
                calls += 1;
            }
        }
        if (mode == Mode.Reenter) {
            ClaimManager manager = ClaimManager(msg.sender);
            (bool a,) = address(manager).call(abi.encodeCall(ClaimManager.fulfil, (requestId, claimId)));
            (bool b,) = address(manager).call(abi.encodeCall(ClaimManager.finalize, (claimId)));
            (bool c,) = address(manager).call(abi.encodeCall(ClaimManager.withdraw, ()));
            reentered = a || b || c;
        }
        if (mode == Mode.ReturnBomb) {
            assembly ("memory-safe") {
                return(0, 100000)
            }
        }
        calls += 1;
        lastOutput = output;
    }
}
