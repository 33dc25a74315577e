// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MerkleTree} from "./MerkleTree.sol";
import {SoftFloat32} from "./SoftFloat32.sol";
import {VMState} from "./VMState.sol";

/// @title VerdictVM
/// @notice The one-step verifier of the verdict dispute VM. Given the hash of a
///         pre-state and a step proof, it returns the hash of the state one step
///         later, following docs/spec/vm.md (version 1) to the bit; it agrees with
///         `verdict_vm::verify_step` on every input, errors included.
/// @dev The pre-state is copied to memory once; execution edits that copy in place
///      (step counter, status, exit, pc, one register, memory root) and the
///      post-state hash is the keccak256 of the edited copy.
contract VerdictVM {
    /// @notice The proof is not PROOF_SIZE bytes long.
    error ProofLength(uint256 got);
    /// @notice The proof's pre-state does not hash to the given pre-state hash.
    error StateHashMismatch();
    /// @notice The pre-state's status byte is not 0, 1 or 2.
    error InvalidStatus(uint8 status);
    /// @notice The instruction leaf and path do not fold to the memory root.
    error BadInstructionProof();
    /// @notice The data leaf and path do not fold to the memory root.
    error BadDataProof();

    // ---------------------------------------------------------------------
    // Opcodes (vm.md §3), the Solidity copy of verdict_vm's instruction table.
    // A test checks these lines against the VM's table.
    // ---------------------------------------------------------------------
    uint256 internal constant OP_ADD = 0x01;
    uint256 internal constant OP_SUB = 0x02;
    uint256 internal constant OP_MUL = 0x03;
    uint256 internal constant OP_DIV = 0x04;
    uint256 internal constant OP_DIVU = 0x05;
    uint256 internal constant OP_REM = 0x06;
    uint256 internal constant OP_REMU = 0x07;
    uint256 internal constant OP_AND = 0x08;
    uint256 internal constant OP_OR = 0x09;
    uint256 internal constant OP_XOR = 0x0A;
    uint256 internal constant OP_SLL = 0x0B;
    uint256 internal constant OP_SRL = 0x0C;
    uint256 internal constant OP_SRA = 0x0D;
    uint256 internal constant OP_SLT = 0x0E;
    uint256 internal constant OP_SLTU = 0x0F;
    uint256 internal constant OP_LW = 0x10;
    uint256 internal constant OP_LBU = 0x11;
    uint256 internal constant OP_SW = 0x12;
    uint256 internal constant OP_SB = 0x13;
    uint256 internal constant OP_BEQ = 0x20;
    uint256 internal constant OP_BNE = 0x21;
    uint256 internal constant OP_BLT = 0x22;
    uint256 internal constant OP_BGE = 0x23;
    uint256 internal constant OP_BLTU = 0x24;
    uint256 internal constant OP_BGEU = 0x25;
    uint256 internal constant OP_JAL = 0x26;
    uint256 internal constant OP_JALR = 0x27;
    uint256 internal constant OP_HALT = 0x28;
    uint256 internal constant OP_FADD = 0x30;
    uint256 internal constant OP_FSUB = 0x31;
    uint256 internal constant OP_FMUL = 0x32;
    uint256 internal constant OP_FDIV = 0x33;
    uint256 internal constant OP_FMADD = 0x34;
    uint256 internal constant OP_FSQRT = 0x35;
    uint256 internal constant OP_FMIN = 0x36;
    uint256 internal constant OP_FMAX = 0x37;
    uint256 internal constant OP_FEQ = 0x38;
    uint256 internal constant OP_FLT = 0x39;
    uint256 internal constant OP_FLE = 0x3A;
    uint256 internal constant OP_FTOI = 0x3B;
    uint256 internal constant OP_ITOF = 0x3C;

    /// @dev Opcode 0x00 is undefined; decoding reports any illegal instruction as it.
    uint256 private constant ILLEGAL = 0x00;

    /// @dev Bit `op` is set for every defined opcode.
    uint256 private constant DEFINED_OPCODES = (1 << OP_ADD) | (1 << OP_SUB) | (1 << OP_MUL)
        | (1 << OP_DIV) | (1 << OP_DIVU) | (1 << OP_REM) | (1 << OP_REMU) | (1 << OP_AND)
        | (1 << OP_OR) | (1 << OP_XOR) | (1 << OP_SLL) | (1 << OP_SRL) | (1 << OP_SRA)
        | (1 << OP_SLT) | (1 << OP_SLTU) | (1 << OP_LW) | (1 << OP_LBU) | (1 << OP_SW)
        | (1 << OP_SB) | (1 << OP_BEQ) | (1 << OP_BNE) | (1 << OP_BLT) | (1 << OP_BGE)
        | (1 << OP_BLTU) | (1 << OP_BGEU) | (1 << OP_JAL) | (1 << OP_JALR) | (1 << OP_HALT)
        | (1 << OP_FADD) | (1 << OP_FSUB) | (1 << OP_FMUL) | (1 << OP_FDIV) | (1 << OP_FMADD)
        | (1 << OP_FSQRT) | (1 << OP_FMIN) | (1 << OP_FMAX) | (1 << OP_FEQ) | (1 << OP_FLT)
        | (1 << OP_FLE) | (1 << OP_FTOI) | (1 << OP_ITOF);

    // ---------------------------------------------------------------------
    // Machine (vm.md §1, §2, §4). The state encoding is VMState's, the memory
    // tree MerkleTree's.
    // ---------------------------------------------------------------------
    uint256 internal constant CODE_END = 0x40000000;
    uint256 internal constant INSTRUCTION_SIZE = 8;
    uint256 internal constant PATH_SIZE = MerkleTree.TREE_DEPTH * 32;

    uint256 internal constant FAULT_ILLEGAL_INSTRUCTION = 1;
    uint256 internal constant FAULT_BAD_FETCH = 2;
    uint256 internal constant FAULT_MISALIGNED_ACCESS = 3;
    uint256 internal constant FAULT_STORE_TO_CODE = 4;

    uint256 private constant WORD_MASK = 0xFFFFFFFF;
    uint256 private constant WORD_SIGN = 0x80000000;

    // ---------------------------------------------------------------------
    // Step proof (vm.md §7): byte offsets.
    // ---------------------------------------------------------------------
    uint256 internal constant INSTRUCTION_LEAF_OFFSET = VMState.STATE_SIZE;
    uint256 internal constant INSTRUCTION_PATH_OFFSET =
        INSTRUCTION_LEAF_OFFSET + MerkleTree.LEAF_SIZE;
    uint256 internal constant DATA_LEAF_OFFSET = INSTRUCTION_PATH_OFFSET + PATH_SIZE;
    uint256 internal constant DATA_PATH_OFFSET = DATA_LEAF_OFFSET + MerkleTree.LEAF_SIZE;
    uint256 internal constant PROOF_SIZE = DATA_PATH_OFFSET + PATH_SIZE;

    /// @notice Executes one step: verify_step of vm.md §7.
    /// @param preStateHash keccak256 of the pre-state encoding.
    /// @param proof The step proof, PROOF_SIZE bytes.
    /// @return The post-state hash; `preStateHash` itself for a halted or faulted
    ///         state, which is a fixed point.
    function step(bytes32 preStateHash, bytes calldata proof) external pure returns (bytes32) {
        // 1. Length.
        if (proof.length != PROOF_SIZE) revert ProofLength(proof.length);
        uint256 p;
        assembly ("memory-safe") {
            p := proof.offset
        }
        // 2. The pre-state, copied to memory where it becomes the post-state.
        uint256 state = _copyState(p);
        if (_hash(state) != preStateHash) revert StateHashMismatch();
        // 3, 4. Status.
        uint256 status = VMState.status(p);
        if (status > VMState.STATUS_FAULTED) revert InvalidStatus(uint8(status));
        if (status != VMState.STATUS_RUNNING) return preStateHash;
        // Every executed step counts, the faulting one included; the counter
        // wraps at 2^64.
        unchecked {
            _write(state + VMState.STEP_OFFSET, 8, VMState.stepCount(p) + 1);
        }
        // States the VM produces have R[0] = 0 (vm.md §5), whatever the pre-state
        // held there.
        _write(state + VMState.REGS_OFFSET, 4, 0);
        // 5. Fetch.
        uint256 pc = VMState.read(p + VMState.PC_OFFSET, 4);
        if (pc % INSTRUCTION_SIZE != 0 || pc >= CODE_END) {
            return _fault(state, FAULT_BAD_FETCH);
        }
        // 6. Instruction proof.
        uint256 leaf = VMState.read(p + INSTRUCTION_LEAF_OFFSET, 32);
        uint256 index = pc >> MerkleTree.LEAF_INDEX_SHIFT;
        if (
            MerkleTree.fold(leaf, index, p + INSTRUCTION_PATH_OFFSET, MerkleTree.TREE_DEPTH)
                != VMState.memRoot(p)
        ) {
            revert BadInstructionProof();
        }
        // 7 to 9.
        _execute(p, state, pc);
        return _hash(state);
    }

    /// @dev Decodes and executes the instruction at `pc`, whose leaf is proven,
    ///      writing its effects into the state copy at `state`.
    function _execute(uint256 p, uint256 state, uint256 pc) private pure {
        // 7. Decode.
        (uint256 op, uint256 rd, uint256 a, uint256 r2, uint256 imm) = _decode(p, pc);
        if (op == ILLEGAL) {
            _setFault(state, FAULT_ILLEGAL_INSTRUCTION);
            return;
        }
        uint256 nextPc = pc + INSTRUCTION_SIZE;
        // Opcodes are grouped by class in ascending ranges.
        if (op <= OP_SLTU) {
            _setReg(state, rd, _alu(op, a, (r2 + imm) & WORD_MASK));
        } else if (op <= OP_SB) {
            // 8. Memory access; a fault leaves pc unchanged.
            if (!_access(p, state, op, rd, (a + imm) & WORD_MASK, r2)) return;
        } else if (op <= OP_HALT) {
            if (op == OP_JAL) {
                _setReg(state, rd, nextPc);
                nextPc = imm;
            } else if (op == OP_JALR) {
                _setReg(state, rd, nextPc);
                nextPc = (a + imm) & WORD_MASK;
            } else if (op == OP_HALT) {
                _write(state + VMState.STATUS_OFFSET, 1, VMState.STATUS_HALTED);
                _write(state + VMState.EXIT_OFFSET, 4, (r2 + imm) & WORD_MASK);
                nextPc = pc;
            } else if (_branchTaken(op, a, r2)) {
                nextPc = imm;
            }
        } else {
            _setReg(state, rd, _float(p, op, rd, a, r2));
        }
        _write(state + VMState.PC_OFFSET, 4, nextPc);
    }

    /// @dev Decodes the instruction at `pc` (vm.md §2) from the proven leaf and
    ///      reads its source registers from the pre-state.
    /// @return op The opcode, ILLEGAL for an undefined opcode or a register field >= 32.
    /// @return rd The destination register.
    /// @return a R[rs1].
    /// @return r2 R[rs2].
    /// @return imm The immediate, stored as u32 little-endian.
    function _decode(uint256 p, uint256 pc)
        private
        pure
        returns (uint256 op, uint256 rd, uint256 a, uint256 r2, uint256 imm)
    {
        uint256 instruction =
            VMState.read(p + INSTRUCTION_LEAF_OFFSET + pc % MerkleTree.LEAF_SIZE, INSTRUCTION_SIZE);
        op = instruction >> 56;
        rd = (instruction >> 48) & 0xFF;
        uint256 rs1 = (instruction >> 40) & 0xFF;
        uint256 rs2 = (instruction >> 32) & 0xFF;
        if (((DEFINED_OPCODES >> op) & 1) == 0 || (rd | rs1 | rs2) >= VMState.REGISTER_COUNT) {
            return (ILLEGAL, 0, 0, 0, 0);
        }
        a = _reg(p, rs1);
        r2 = _reg(p, rs2);
        imm = _byteSwap32(instruction & WORD_MASK);
    }

    /// @dev Integer ALU: R[rd] = f(a, b), b = R[rs2] + imm.
    function _alu(uint256 op, uint256 a, uint256 b) private pure returns (uint256) {
        unchecked {
            if (op == OP_ADD) return (a + b) & WORD_MASK;
            if (op == OP_SUB) return (a - b) & WORD_MASK;
            if (op == OP_MUL) return (a * b) & WORD_MASK;
            if (op == OP_DIV) {
                if (b == 0) return WORD_MASK;
                // In 256 bits, -2^31 / -1 = 2^31 does not overflow; its low 32 bits
                // are 0x80000000 as specified.
                return uint256(_signed(a) / _signed(b)) & WORD_MASK;
            }
            if (op == OP_DIVU) return b == 0 ? WORD_MASK : a / b;
            if (op == OP_REM) return b == 0 ? a : uint256(_signed(a) % _signed(b)) & WORD_MASK;
            if (op == OP_REMU) return b == 0 ? a : a % b;
            if (op == OP_AND) return a & b;
            if (op == OP_OR) return a | b;
            if (op == OP_XOR) return a ^ b;
            if (op == OP_SLL) return (a << (b & 31)) & WORD_MASK;
            if (op == OP_SRL) return a >> (b & 31);
            if (op == OP_SRA) return uint256(_signed(a) >> (b & 31)) & WORD_MASK;
            if (op == OP_SLT) return _signed(a) < _signed(b) ? 1 : 0;
            return a < b ? 1 : 0; // OP_SLTU
        }
    }

    /// @dev Loads and stores at `addr`. Returns false when the access faults.
    function _access(uint256 p, uint256 state, uint256 op, uint256 rd, uint256 addr, uint256 r2)
        private
        pure
        returns (bool)
    {
        bool isWord = op == OP_LW || op == OP_SW;
        bool isStore = op == OP_SW || op == OP_SB;
        if (isWord && addr % 4 != 0) {
            _setFault(state, FAULT_MISALIGNED_ACCESS);
            return false;
        }
        if (isStore && addr < CODE_END) {
            _setFault(state, FAULT_STORE_TO_CODE);
            return false;
        }
        uint256 leaf = _dataLeaf(p, addr);
        uint256 offset = addr % MerkleTree.LEAF_SIZE;
        if (!isStore) {
            _setReg(
                state, rd, isWord ? _byteSwap32(_bytesAt(leaf, offset, 4)) : _bytesAt(leaf, offset, 1)
            );
        } else {
            leaf = isWord
                ? _replaceBytes(leaf, offset, 4, _byteSwap32(r2))
                : _replaceBytes(leaf, offset, 1, r2 & 0xFF);
            // The new root folds the same path over the new leaf.
            _write(state + VMState.MEM_ROOT_OFFSET, 32, _foldDataPath(p, leaf, addr));
        }
        return true;
    }

    /// @dev The data leaf holding `addr`, checked against the pre-state's root.
    function _dataLeaf(uint256 p, uint256 addr) private pure returns (uint256 leaf) {
        leaf = VMState.read(p + DATA_LEAF_OFFSET, 32);
        if (_foldDataPath(p, leaf, addr) != VMState.memRoot(p)) revert BadDataProof();
    }

    /// @dev The root that the proof's data path gives `leaf` as the leaf of `addr`.
    function _foldDataPath(uint256 p, uint256 leaf, uint256 addr) private pure returns (uint256) {
        uint256 index = addr >> MerkleTree.LEAF_INDEX_SHIFT;
        return MerkleTree.fold(leaf, index, p + DATA_PATH_OFFSET, MerkleTree.TREE_DEPTH);
    }

    /// @dev Bytes [offset, offset + width) of `word`, as a big-endian integer.
    function _bytesAt(uint256 word, uint256 offset, uint256 width) private pure returns (uint256) {
        return (word << (8 * offset)) >> (256 - 8 * width);
    }

    /// @dev `word` with bytes [offset, offset + width) replaced by `value`, big-endian.
    function _replaceBytes(uint256 word, uint256 offset, uint256 width, uint256 value)
        private
        pure
        returns (uint256)
    {
        uint256 shift = 8 * (32 - offset - width);
        uint256 mask = ((1 << (8 * width)) - 1) << shift;
        return (word & ~mask) | (value << shift);
    }

    /// @dev Whether the conditional branch `op` is taken.
    function _branchTaken(uint256 op, uint256 a, uint256 b) private pure returns (bool) {
        if (op == OP_BEQ) return a == b;
        if (op == OP_BNE) return a != b;
        if (op == OP_BLT) return _signed(a) < _signed(b);
        if (op == OP_BGE) return _signed(a) >= _signed(b);
        if (op == OP_BLTU) return a < b;
        return a >= b; // OP_BGEU
    }

    /// @dev Float ops: the new R[rd] = f(a, R[rs2]), or a * R[rs2] + R[rd] for fmadd.
    function _float(uint256 p, uint256 op, uint256 rd, uint256 a, uint256 b)
        private
        pure
        returns (uint256)
    {
        uint32 x = uint32(a);
        uint32 y = uint32(b);
        if (op == OP_FADD) return SoftFloat32.add(x, y);
        if (op == OP_FSUB) return SoftFloat32.sub(x, y);
        if (op == OP_FMUL) return SoftFloat32.mul(x, y);
        if (op == OP_FDIV) return SoftFloat32.div(x, y);
        if (op == OP_FMADD) return SoftFloat32.fma(x, y, uint32(_reg(p, rd)));
        if (op == OP_FSQRT) return SoftFloat32.sqrt(x);
        if (op == OP_FMIN) return SoftFloat32.min(x, y);
        if (op == OP_FMAX) return SoftFloat32.max(x, y);
        if (op == OP_FEQ) return SoftFloat32.eq(x, y) ? 1 : 0;
        if (op == OP_FLT) return SoftFloat32.lt(x, y) ? 1 : 0;
        if (op == OP_FLE) return SoftFloat32.le(x, y) ? 1 : 0;
        if (op == OP_FTOI) return SoftFloat32.ftoi(x);
        return SoftFloat32.itof(x); // OP_ITOF
    }

    /// @dev Marks the state faulted with `code` (the step counter is already
    ///      incremented; nothing else changes) and returns its hash.
    function _fault(uint256 state, uint256 code) private pure returns (bytes32) {
        _setFault(state, code);
        return _hash(state);
    }

    function _setFault(uint256 state, uint256 code) private pure {
        _write(state + VMState.STATUS_OFFSET, 1, VMState.STATUS_FAULTED);
        _write(state + VMState.EXIT_OFFSET, 4, code);
    }

    /// @dev R[i] of the pre-state; r0 reads as 0 whatever its encoding holds.
    function _reg(uint256 p, uint256 i) private pure returns (uint256) {
        return i == 0 ? 0 : VMState.read(p + VMState.REGS_OFFSET + 4 * i, 4);
    }

    /// @dev R[i] = value in the post-state; writes to r0 are dropped.
    function _setReg(uint256 state, uint256 i, uint256 value) private pure {
        if (i != 0) _write(state + VMState.REGS_OFFSET + 4 * i, 4, value);
    }

    /// @dev Copies the pre-state encoding from calldata `p` to fresh memory.
    function _copyState(uint256 p) private pure returns (uint256 state) {
        uint256 size = VMState.STATE_SIZE;
        assembly ("memory-safe") {
            state := mload(0x40)
            calldatacopy(state, p, size)
            mstore(0x40, add(state, and(add(size, 31), not(31))))
        }
    }

    function _hash(uint256 state) private pure returns (bytes32 h) {
        uint256 size = VMState.STATE_SIZE;
        assembly ("memory-safe") {
            h := keccak256(state, size)
        }
    }

    /// @dev Writes the low `width` bytes of `value` big-endian to memory
    ///      [ptr, ptr + width), width <= 32, leaving the bytes around them alone.
    function _write(uint256 ptr, uint256 width, uint256 value) private pure {
        assembly ("memory-safe") {
            let word := sub(add(ptr, width), 32)
            let mask := sub(shl(shl(3, width), 1), 1)
            mstore(word, or(and(mload(word), not(mask)), and(value, mask)))
        }
    }

    /// @dev Reverses the byte order of a 32-bit value (little-endian <-> big-endian).
    function _byteSwap32(uint256 x) private pure returns (uint256) {
        return ((x & 0xFF) << 24) | ((x & 0xFF00) << 8) | ((x >> 8) & 0xFF00) | (x >> 24);
    }

    /// @dev A u32 read as two's complement i32.
    function _signed(uint256 x) private pure returns (int256) {
        return int256(int32(uint32(x)));
    }
}
