//! The verdict DNN library.

pub mod scalar;
pub mod emit;
pub mod ir;
pub mod ops;
pub mod compile;
pub mod engine;
pub mod plan;
