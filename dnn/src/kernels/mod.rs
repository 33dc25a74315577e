//! Kernels the ops share, private to the native engine (and the VM code
//! generators, for the strided copy): no op of their own, no attributes.
//! The ops in [`crate::ops`] hold what an op is (attributes, shape rule,
//! VM code, native kernel) and call these for the loops they have in
//! common. `matmul` is public for the benchmarks.

pub(crate) mod copy;
pub(crate) mod finish;
pub mod matmul;
pub(crate) mod slide;
