//! Kernels the ops share, private to the native engine (and the VM code
//! generators, for the strided copy): no op of their own, no attributes.
//! The ops in [`crate::ops`] hold what an op is (attributes, shape rule,
//! VM code, native kernel) and call these for the loops they have in
//! common. `matmul` is public for the benchmarks.

pub(crate) mod copy;
pub(crate) mod finish;
pub(crate) mod lanes;
pub mod matmul;
pub(crate) mod slide;

/// One value of every class a kernel must keep bit-exact: zeros, infinities,
/// quiet and signalling NaNs of both signs, subnormals, ones, the largest
/// finite values.
#[cfg(test)]
pub(crate) const SPECIAL_BITS: [u32; 13] = [
    0,
    0x8000_0000,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0xFFC0_0001,
    0x7F80_0001,
    0x0000_0001,
    0x8000_0001,
    0x3F80_0000,
    0xBF80_0000,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
];
