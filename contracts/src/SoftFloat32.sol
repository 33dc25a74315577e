// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title SoftFloat32
/// @notice IEEE 754 binary32 arithmetic on bit patterns, exactly as the verdict VM
///         computes it (docs/spec/vm.md §3): round to nearest, ties to even;
///         subnormal inputs and outputs kept; no exception flags; every NaN result
///         is the canonical quiet NaN 0x7FC00000.
/// @dev Every operation is integer arithmetic followed by one rounding in
///      `_round`. A finite nonzero operand is unpacked to `sig * 2^exp`, `sig` an
///      integer below 2^24 and `exp` the exponent of its least significant bit.
///      Sums and products are exact in 256 bits; a quotient or a square root has
///      at least 40 bits plus a sticky bit for its remainder. Addends too far
///      apart to interact are first moved closer (ADD_MAX_ALIGN), which changes
///      no rounding.
library SoftFloat32 {
    uint256 private constant SIGN_BIT = 0x80000000;
    uint256 private constant ABS_MASK = 0x7FFFFFFF;
    uint256 private constant FRAC_MASK = 0x007FFFFF;
    uint256 private constant FRAC_BITS = 23;
    uint256 private constant INF = 0x7F800000;
    /// @dev The one NaN every operation returns.
    uint32 internal constant CANONICAL_NAN = 0x7FC00000;

    /// @dev `exp` of a significand's least significant bit: biased exponent field
    ///      minus EXP_BIAS (127 + 23 fraction bits); subnormals use field 1.
    int256 private constant EXP_BIAS = 150;
    /// @dev Exponent of the least significant bit of a subnormal, the finest quantum.
    int256 private constant MIN_QUANTUM_EXP = -149;

    /// @dev Largest alignment shift `add` performs. A smaller operand that lies
    ///      further below the larger one is under 2^-16 of the larger one's ulp; any
    ///      such value rounds the same way (it sits strictly between two rounding
    ///      boundaries), so it is moved up to this distance and added exactly.
    uint256 private constant ADD_MAX_ALIGN = 40;
    /// @dev The same bound for `fma`, whose product has up to 48 bits.
    uint256 private constant FMA_MAX_ALIGN = 100;
    /// @dev Extra quotient bits in `div`: the quotient has at least 40 bits, so the
    ///      remainder can be folded into its lowest bit below the rounding position.
    uint256 private constant DIV_EXTRA_BITS = 64;
    /// @dev Half of the extra bits of the radicand in `sqrt` (root of at least 50 bits).
    uint256 private constant SQRT_EXTRA_BITS = 50;

    /// @notice a + b.
    function add(uint32 a, uint32 b) internal pure returns (uint32) {
        return _add(a, b);
    }

    /// @notice a - b.
    function sub(uint32 a, uint32 b) internal pure returns (uint32) {
        return _add(a, b ^ SIGN_BIT);
    }

    /// @notice a * b.
    function mul(uint32 a, uint32 b) internal pure returns (uint32) {
        unchecked {
            uint256 absA = a & ABS_MASK;
            uint256 absB = b & ABS_MASK;
            if (absA > INF || absB > INF) return CANONICAL_NAN;
            uint256 sign = (a ^ b) & SIGN_BIT;
            if (absA == INF || absB == INF) {
                return (absA == 0 || absB == 0) ? CANONICAL_NAN : uint32(sign | INF);
            }
            if (absA == 0 || absB == 0) return uint32(sign);
            (uint256 sigA, int256 expA) = _unpack(absA);
            (uint256 sigB, int256 expB) = _unpack(absB);
            return _round(sign, sigA * sigB, expA + expB);
        }
    }

    /// @notice a / b.
    function div(uint32 a, uint32 b) internal pure returns (uint32) {
        unchecked {
            uint256 absA = a & ABS_MASK;
            uint256 absB = b & ABS_MASK;
            if (absA > INF || absB > INF) return CANONICAL_NAN;
            uint256 sign = (a ^ b) & SIGN_BIT;
            if (absA == INF) return absB == INF ? CANONICAL_NAN : uint32(sign | INF);
            if (absB == INF) return uint32(sign);
            if (absB == 0) return absA == 0 ? CANONICAL_NAN : uint32(sign | INF);
            if (absA == 0) return uint32(sign);
            (uint256 sigA, int256 expA) = _unpack(absA);
            (uint256 sigB, int256 expB) = _unpack(absB);
            uint256 num = sigA << DIV_EXTRA_BITS;
            uint256 quot = num / sigB;
            // A nonzero remainder sets the sticky bit (at least 17 bits below the
            // rounding position, since the quotient has at least 40 bits).
            if (quot * sigB != num) quot |= 1;
            return _round(sign, quot, expA - expB - int256(DIV_EXTRA_BITS));
        }
    }

    /// @notice a * b + c with a single rounding (fused multiply-add).
    function fma(uint32 a, uint32 b, uint32 c) internal pure returns (uint32) {
        unchecked {
            uint256 absA = a & ABS_MASK;
            uint256 absB = b & ABS_MASK;
            uint256 absC = c & ABS_MASK;
            if (absA > INF || absB > INF || absC > INF) return CANONICAL_NAN;
            uint256 signP = (a ^ b) & SIGN_BIT;
            uint256 signC = c & SIGN_BIT;
            if (absA == INF || absB == INF) {
                // 0 * inf, or inf - inf in the sum.
                if (absA == 0 || absB == 0) return CANONICAL_NAN;
                if (absC == INF && signC != signP) return CANONICAL_NAN;
                return uint32(signP | INF);
            }
            if (absC == INF) return c;
            if (absA == 0 || absB == 0) {
                // An exact zero product: c unchanged, or the sign rule of a zero sum.
                return absC == 0 ? uint32(signP & signC) : c;
            }
            (uint256 sigA, int256 expA) = _unpack(absA);
            (uint256 sigB, int256 expB) = _unpack(absB);
            uint256 sigP = sigA * sigB;
            int256 expP = expA + expB;
            if (absC == 0) return _round(signP, sigP, expP);
            (uint256 sigC, int256 expC) = _unpack(absC);
            // Align both terms to the smaller exponent (see FMA_MAX_ALIGN).
            int256 exp;
            if (expP >= expC) {
                uint256 shift = _min(uint256(expP - expC), FMA_MAX_ALIGN);
                sigP <<= shift;
                exp = expP - int256(shift);
            } else {
                uint256 shift = _min(uint256(expC - expP), FMA_MAX_ALIGN);
                sigC <<= shift;
                exp = expC - int256(shift);
            }
            if (signP == signC) return _round(signP, sigP + sigC, exp);
            if (sigP > sigC) return _round(signP, sigP - sigC, exp);
            if (sigC > sigP) return _round(signC, sigC - sigP, exp);
            return 0; // An exact zero sum of opposite-signed terms is +0.
        }
    }

    /// @notice Square root, correctly rounded.
    function sqrt(uint32 a) internal pure returns (uint32) {
        unchecked {
            if ((a & ABS_MASK) == 0) return a; // sqrt(+-0) = +-0
            if (a > INF) return CANONICAL_NAN; // NaN or negative
            if (a == INF) return a;
            (uint256 sig, int256 exp) = _unpack(a);
            if ((exp & 1) != 0) {
                sig <<= 1;
                exp -= 1;
            }
            uint256 radicand = sig << (2 * SQRT_EXTRA_BITS);
            uint256 root = _isqrt(radicand);
            if (root * root != radicand) root |= 1; // sticky
            return _round(0, root, exp / 2 - int256(SQRT_EXTRA_BITS));
        }
    }

    /// @notice IEEE 754-2019 minimum: NaN if either is NaN, and -0 < +0.
    function min(uint32 a, uint32 b) internal pure returns (uint32) {
        if (_isNaN(a) || _isNaN(b)) return CANONICAL_NAN;
        return _orderKey(a) <= _orderKey(b) ? a : b;
    }

    /// @notice IEEE 754-2019 maximum: NaN if either is NaN, and -0 < +0.
    function max(uint32 a, uint32 b) internal pure returns (uint32) {
        if (_isNaN(a) || _isNaN(b)) return CANONICAL_NAN;
        return _orderKey(a) >= _orderKey(b) ? a : b;
    }

    /// @notice a == b; false if either is NaN, and -0 == +0.
    function eq(uint32 a, uint32 b) internal pure returns (bool) {
        if (_isNaN(a) || _isNaN(b)) return false;
        return a == b || _bothZero(a, b);
    }

    /// @notice a < b; false if either is NaN, and -0 == +0.
    function lt(uint32 a, uint32 b) internal pure returns (bool) {
        if (_isNaN(a) || _isNaN(b) || _bothZero(a, b)) return false;
        return _orderKey(a) < _orderKey(b);
    }

    /// @notice a <= b; false if either is NaN, and -0 == +0.
    function le(uint32 a, uint32 b) internal pure returns (bool) {
        if (_isNaN(a) || _isNaN(b)) return false;
        return _bothZero(a, b) || _orderKey(a) <= _orderKey(b);
    }

    /// @notice Float to i32 (as its u32 bit pattern), rounded toward zero and
    ///         saturating; NaN gives 0.
    function ftoi(uint32 a) internal pure returns (uint32) {
        unchecked {
            uint256 abs = a & ABS_MASK;
            if (abs > INF) return 0;
            uint256 field = abs >> FRAC_BITS;
            // Field 158 is 2^31: out of range unless it is exactly -2^31, which
            // saturates to the same bits.
            if (field >= 158) return (a & SIGN_BIT) == 0 ? 0x7FFFFFFF : 0x80000000;
            if (field < 127) return 0; // |a| < 1
            uint256 sig = (abs & FRAC_MASK) | (1 << FRAC_BITS);
            uint256 mag = field >= 150 ? sig << (field - 150) : sig >> (150 - field);
            return uint32((a & SIGN_BIT) == 0 ? mag : (1 << 32) - mag);
        }
    }

    /// @notice i32 (given as its u32 bit pattern) to float, round to nearest even.
    function itof(uint32 a) internal pure returns (uint32) {
        unchecked {
            if (a == 0) return 0;
            uint256 sign = a & SIGN_BIT;
            uint256 mag = sign == 0 ? a : (1 << 32) - a;
            return _round(sign, mag, 0);
        }
    }

    /// @dev a + b for bit patterns (a `uint256` so `sub` can flip b's sign).
    function _add(uint256 a, uint256 b) private pure returns (uint32) {
        unchecked {
            uint256 absA = a & ABS_MASK;
            uint256 absB = b & ABS_MASK;
            if (absA > INF || absB > INF) return CANONICAL_NAN;
            if (absA < absB) (a, b, absA, absB) = (b, a, absB, absA);
            // From here |a| >= |b|.
            if (absA == INF) return (absB == INF && a != b) ? CANONICAL_NAN : uint32(a);
            if (absB == 0) return uint32(absA == 0 ? a & b : a); // -0 + -0 = -0
            (uint256 sigA, int256 expA) = _unpack(absA);
            (uint256 sigB, int256 expB) = _unpack(absB);
            uint256 shift = _min(uint256(expA - expB), ADD_MAX_ALIGN);
            sigA <<= shift;
            uint256 sum = ((a ^ b) & SIGN_BIT) == 0 ? sigA + sigB : sigA - sigB;
            if (sum == 0) return 0; // x + (-x) = +0
            return _round(a & SIGN_BIT, sum, expA - int256(shift));
        }
    }

    /// @dev Splits a finite nonzero |x| into `sig * 2^exp`, `sig < 2^24`.
    function _unpack(uint256 abs) private pure returns (uint256 sig, int256 exp) {
        unchecked {
            uint256 field = abs >> FRAC_BITS;
            if (field == 0) return (abs, 1 - EXP_BIAS);
            return ((abs & FRAC_MASK) | (1 << FRAC_BITS), int256(field) - EXP_BIAS);
        }
    }

    /// @dev Rounds `sig * 2^lsbExp` (sig > 0) to binary32, nearest even, with sign
    ///      `sign` (0 or SIGN_BIT). A caller with an inexact `sig` sets its lowest
    ///      bit as a sticky bit, at least two bits below the rounding position.
    function _round(uint256 sign, uint256 sig, int256 lsbExp) private pure returns (uint32 r) {
        assembly ("memory-safe") {
            // Exponent of the leading bit, then of the result's last bit: 23 below
            // the leading bit for a normal result, MIN_QUANTUM_EXP for a subnormal.
            let quantum := sub(add(sub(255, clz(sig)), lsbExp), FRAC_BITS)
            if slt(quantum, MIN_QUANTUM_EXP) { quantum := MIN_QUANTUM_EXP }
            let shift := sub(quantum, lsbExp)
            let m
            switch sgt(shift, 0)
            case 0 { m := shl(sub(0, shift), sig) }
            default {
                m := shr(shift, sig)
                let rest := sub(sig, shl(shift, m))
                let half := shl(sub(shift, 1), 1)
                m := add(m, or(gt(rest, half), and(eq(rest, half), and(m, 1))))
            }
            // A normal m lies in [2^23, 2^24]: its leading bit adds one to the
            // exponent field, and a carry out of rounding adds one more. A
            // subnormal m lies in [0, 2^23], the top value being the smallest normal.
            let bits := add(shl(FRAC_BITS, sub(quantum, MIN_QUANTUM_EXP)), m)
            if gt(bits, INF) { bits := INF }
            r := or(sign, bits)
        }
    }

    /// @dev floor(sqrt(x)) for 0 < x < 2^128, by Newton's method from above.
    function _isqrt(uint256 x) private pure returns (uint256 r) {
        assembly ("memory-safe") {
            // 2^ceil(bits/2) >= sqrt(x); each step decreases until floor(sqrt(x)).
            r := shl(shr(1, sub(257, clz(x))), 1)
            for {} 1 {} {
                let next := shr(1, add(r, div(x, r)))
                if iszero(lt(next, r)) { break }
                r := next
            }
        }
    }

    /// @dev Maps a non-NaN bit pattern to an unsigned key in the order of its value,
    ///      with -0 just below +0.
    function _orderKey(uint256 x) private pure returns (uint256) {
        return (x & SIGN_BIT) == 0 ? x | SIGN_BIT : x ^ 0xFFFFFFFF;
    }

    function _isNaN(uint256 x) private pure returns (bool) {
        return (x & ABS_MASK) > INF;
    }

    function _bothZero(uint256 a, uint256 b) private pure returns (bool) {
        return ((a | b) & ABS_MASK) == 0;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
