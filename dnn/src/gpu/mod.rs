//! The GPU engine: the DNN library's ops as OpenCL kernels that compute the
//! VM's bits (docs/spec/gpu.md).
//!
//! Each kernel runs the canonical order of binary32 operations of its op
//! (docs/spec/kernels.md) for each output, in parallel over outputs; the
//! transcendental recipes are generated from `crate::math` itself. The
//! engine keeps the VM's memory layout on the device: the weights in one
//! buffer, uploaded once per model, and input, output, activations and
//! scratch in one arena per run at their VM addresses, so the memory image
//! at any op boundary can be read back and stand in for
//! [`crate::engine::NativeRun`]'s.
//!
//! OpenCL is loaded at run time: a binary built with the `gpu` feature
//! starts where no OpenCL is installed, and [`devices`] then says so.

mod device;
mod engine;
pub(crate) mod launch;
pub(crate) mod params;
mod program;
pub(crate) mod recipes;

use opencl3::error_codes::ClError;

pub use device::{DeviceChoice, DeviceInfo, devices};
pub use engine::{GpuEngine, GpuRun};

use crate::engine::RunError;

/// Why the GPU engine could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The OpenCL ICD loader is not installed.
    #[error(
        "libOpenCL.so could not be loaded: no OpenCL ICD loader is installed \
         (Debian: ocl-icd-libopencl1, with a driver such as pocl-opencl-icd)"
    )]
    NoRuntime,
    /// The loader found no driver.
    #[error(
        "no OpenCL platform found: install an OpenCL driver \
         (a GPU vendor's, or pocl-opencl-icd for the CPU)"
    )]
    NoPlatform,
    /// No device matches the choice.
    #[error("no OpenCL device `{choice}` among the {available} found (list them with `devices`)")]
    NoDevice {
        /// What was asked for.
        choice: DeviceChoice,
        /// How many devices there are.
        available: usize,
    },
    /// The device cannot compute the canonical semantics.
    #[error("OpenCL device `{device}` cannot compute the VM's bits: it lacks {missing}")]
    Capability {
        /// Device name.
        device: String,
        /// The missing capabilities.
        missing: String,
    },
    /// The kernels did not compile.
    #[error("building the OpenCL program for `{device}` failed:\n{log}")]
    Build {
        /// Device name.
        device: String,
        /// The compiler's log.
        log: String,
    },
    /// An OpenCL call failed.
    #[error("OpenCL {call} failed: {error} ({code})", code = .error.0)]
    Cl {
        /// The API call.
        call: &'static str,
        /// Its error code.
        error: ClError,
    },
    /// The input or an op boundary is wrong.
    #[error(transparent)]
    Run(#[from] RunError),
}

impl GpuError {
    fn cl(call: &'static str, error: ClError) -> GpuError {
        GpuError::Cl { call, error }
    }
}
