//! The verdict DNN library.

pub mod boundary;
pub mod compile;
pub mod emit;
pub mod engine;
pub mod generation;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod ir;
pub mod kernels;
pub mod math;
pub mod ops;
pub mod package;
pub mod plan;
pub mod scalar;
pub mod schema;
pub mod weights;
