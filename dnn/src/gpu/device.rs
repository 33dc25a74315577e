//! OpenCL platforms and devices: listing them, checking that a device can
//! compute the canonical semantics, and choosing one.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use opencl3::device::{
    CL_DEVICE_TYPE_ACCELERATOR, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU,
    CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT, CL_FP_DENORM, CL_FP_FMA, CL_FP_INF_NAN,
    CL_FP_ROUND_TO_NEAREST, Device,
};
use opencl3::error_codes::{
    CL_DEVICE_NOT_FOUND, CL_PLATFORM_NOT_FOUND_KHR, DLOPEN_RUNTIME_LOAD_FAILED,
};
use opencl3::platform::get_platforms;

use super::GpuError;

/// The single-precision capabilities the canonical semantics need, with the
/// name each is reported under.
const REQUIRED: [(u64, &str); 5] = [
    (CL_FP_DENORM, "denormals"),
    (CL_FP_INF_NAN, "inf and NaN"),
    (CL_FP_ROUND_TO_NEAREST, "round to nearest even"),
    (CL_FP_FMA, "IEEE fused multiply-add"),
    (
        CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT,
        "correctly rounded divide and sqrt",
    ),
];

/// One OpenCL device, as [`devices`] lists it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Index of its platform.
    pub platform: usize,
    /// Index among its platform's devices.
    pub index: usize,
    /// Platform name (`Portable Computing Language` for PoCL).
    pub platform_name: String,
    /// Device name.
    pub name: String,
    /// Device kind: `GPU`, `CPU`, `accelerator` or `other`.
    pub kind: &'static str,
    /// OpenCL version string of the device.
    pub version: String,
    /// Driver version.
    pub driver: String,
    /// Compute units.
    pub compute_units: u32,
    /// Global memory in bytes.
    pub memory: u64,
    /// The capabilities the canonical semantics need that this device lacks
    /// (empty when it can run the engine).
    pub missing: Vec<&'static str>,
    pub(super) id: Device,
}

impl DeviceInfo {
    /// `true` if the device has every capability the canonical semantics
    /// need.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty()
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}  {} [{}] on {} ({}, driver {}, {} compute units, {} MiB)",
            self.platform,
            self.index,
            self.name,
            self.kind,
            self.platform_name,
            self.version,
            self.driver,
            self.compute_units,
            self.memory >> 20
        )?;
        if self.is_exact() {
            write!(f, ", bit-exact capable")
        } else {
            write!(f, ", lacks {}", self.missing.join(", "))
        }
    }
}

/// Which device to run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The first capable GPU, or else the first capable device of any kind.
    #[default]
    Default,
    /// Device `device` of platform `platform`, as [`devices`] numbers them.
    Index {
        /// Platform index.
        platform: usize,
        /// Device index within the platform.
        device: usize,
    },
}

impl FromStr for DeviceChoice {
    type Err = String;

    /// `default`, or `PLATFORM:DEVICE` (`0:1`).
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "default" {
            return Ok(DeviceChoice::Default);
        }
        let parsed = s
            .split_once(':')
            .and_then(|(p, d)| Some((p.parse().ok()?, d.parse().ok()?)));
        match parsed {
            Some((platform, device)) => Ok(DeviceChoice::Index { platform, device }),
            None => Err(format!(
                "device `{s}`: expected `default` or PLATFORM:DEVICE, such as 0:0"
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Default => write!(f, "default"),
            DeviceChoice::Index { platform, device } => write!(f, "{platform}:{device}"),
        }
    }
}

/// Every OpenCL device of every platform.
///
/// # Errors
///
/// [`GpuError::NoRuntime`] when libOpenCL cannot be loaded,
/// [`GpuError::NoPlatform`] when it finds no platform, [`GpuError::Cl`] when
/// a query fails.
pub fn devices() -> Result<Vec<DeviceInfo>, GpuError> {
    // ICD loaders and drivers may initialise lazily and not thread-safely
    // (PoCL, concurrently, has reported no devices): one query at a time.
    static QUERY: Mutex<()> = Mutex::new(());
    let _one_at_a_time = QUERY.lock().unwrap_or_else(|e| e.into_inner());
    let platforms = match get_platforms() {
        Ok(p) if p.is_empty() => return Err(GpuError::NoPlatform),
        Ok(p) => p,
        Err(e) if e.0 == DLOPEN_RUNTIME_LOAD_FAILED => return Err(GpuError::NoRuntime),
        Err(e) if e.0 == CL_PLATFORM_NOT_FOUND_KHR => return Err(GpuError::NoPlatform),
        Err(e) => return Err(GpuError::cl("clGetPlatformIDs", e)),
    };
    let mut out = Vec::new();
    for (pi, platform) in platforms.iter().enumerate() {
        let platform_name = platform
            .name()
            .map_err(|e| GpuError::cl("clGetPlatformInfo", e))?;
        let ids = match platform.get_devices(CL_DEVICE_TYPE_ALL) {
            Ok(ids) => ids,
            Err(e) if e.0 == CL_DEVICE_NOT_FOUND => Vec::new(),
            Err(e) => return Err(GpuError::cl("clGetDeviceIDs", e)),
        };
        for (di, &raw) in ids.iter().enumerate() {
            let d = Device::new(raw);
            let query = |e| GpuError::cl("clGetDeviceInfo", e);
            let fp = d.single_fp_config().map_err(query)?;
            let kind = d.dev_type().map_err(query)?;
            out.push(DeviceInfo {
                platform: pi,
                index: di,
                platform_name: platform_name.clone(),
                name: d.name().map_err(query)?,
                kind: if kind & CL_DEVICE_TYPE_GPU != 0 {
                    "GPU"
                } else if kind & CL_DEVICE_TYPE_CPU != 0 {
                    "CPU"
                } else if kind & CL_DEVICE_TYPE_ACCELERATOR != 0 {
                    "accelerator"
                } else {
                    "other"
                },
                version: d.version().map_err(query)?,
                driver: d.driver_version().map_err(query)?,
                compute_units: d.max_compute_units().map_err(query)?,
                memory: d.global_mem_size().map_err(query)?,
                missing: REQUIRED
                    .iter()
                    .filter(|(bit, _)| fp & bit == 0)
                    .map(|&(_, name)| name)
                    .collect(),
                id: d,
            });
        }
    }
    Ok(out)
}

/// The device `choice` names, checked to be capable.
///
/// # Errors
///
/// As [`devices`]; [`GpuError::NoDevice`] when nothing matches,
/// [`GpuError::Capability`] when the chosen device lacks a capability.
pub(super) fn choose(choice: DeviceChoice) -> Result<DeviceInfo, GpuError> {
    let all = devices()?;
    let chosen = match choice {
        DeviceChoice::Default => all
            .iter()
            .filter(|d| d.is_exact())
            .find(|d| d.kind == "GPU")
            .or_else(|| all.iter().find(|d| d.is_exact()))
            .or_else(|| all.first()),
        DeviceChoice::Index { platform, device } => all
            .iter()
            .find(|d| d.platform == platform && d.index == device),
    };
    let Some(d) = chosen else {
        return Err(GpuError::NoDevice {
            choice,
            available: all.len(),
        });
    };
    if !d.is_exact() {
        return Err(GpuError::Capability {
            device: d.name.clone(),
            missing: d.missing.join(", "),
        });
    }
    Ok(d.clone())
}
