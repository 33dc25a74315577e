//! The OpenCL program: every kernel in one source, built once per device
//! and process, with the options that keep the canonical semantics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::kernel::Kernel;
use opencl3::program::Program;

use super::GpuError;
use super::device::DeviceInfo;
use super::{launch, params, recipes};

/// Build options: IEEE division and square root, and nothing that relaxes
/// the arithmetic. `-cl-denorms-are-zero`, `-cl-mad-enable`,
/// `-cl-fast-relaxed-math` and the like are deliberately absent, and the
/// source turns `FP_CONTRACT` off.
pub(super) const BUILD_OPTIONS: &str = "-cl-fp32-correctly-rounded-divide-sqrt -cl-std=CL1.2";

/// The kernel files, one per op family, after `common.cl`, the generated
/// sizes, codes and slot indices, and the generated recipes.
const KERNELS: [&str; 11] = [
    include_str!("kernels/elementwise.cl"),
    include_str!("kernels/copy.cl"),
    include_str!("kernels/gemm.cl"),
    include_str!("kernels/conv.cl"),
    include_str!("kernels/pool.cl"),
    include_str!("kernels/reduce.cl"),
    include_str!("kernels/softmax.cl"),
    include_str!("kernels/sample.cl"),
    include_str!("kernels/norm.cl"),
    include_str!("kernels/gather.cl"),
    include_str!("kernels/lrn.cl"),
];

/// The whole program source.
pub(super) fn source() -> String {
    let mut src = String::from(include_str!("kernels/common.cl"));
    src.push('\n');
    src.push_str(&launch::defines());
    src.push('\n');
    src.push_str(&params::defines());
    src.push('\n');
    src.push_str(&recipes::source());
    for k in KERNELS {
        src.push('\n');
        src.push_str(k);
    }
    src
}

/// A device with its context, queue, built program and kernels, shared by
/// every engine on that device in the process.
pub(super) struct Shared {
    /// The device.
    pub(super) info: DeviceInfo,
    /// Its context.
    pub(super) context: Context,
    /// An in-order queue.
    pub(super) queue: CommandQueue,
    /// The kernels by name; a run holds the lock from its first argument to
    /// its last enqueue, since arguments live in the kernel objects.
    pub(super) kernels: Mutex<HashMap<&'static str, Kernel>>,
    /// Kept alive for the kernels.
    _program: Program,
}

type Cache = Mutex<HashMap<(usize, usize), Arc<Shared>>>;

/// The shared state for `info`, building the program on first use.
///
/// # Errors
///
/// [`GpuError::Build`] with the compiler's log, [`GpuError::Cl`] when
/// creating the context, queue or kernels fails.
pub(super) fn shared(info: DeviceInfo) -> Result<Arc<Shared>, GpuError> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    let key = (info.platform, info.index);
    if let Some(s) = map.get(&key) {
        return Ok(Arc::clone(s));
    }
    let context = Context::from_device(&info.id).map_err(|e| GpuError::cl("clCreateContext", e))?;
    let queue = CommandQueue::create_default(&context, 0)
        .map_err(|e| GpuError::cl("clCreateCommandQueue", e))?;
    let program = Program::create_and_build_from_source(&context, &source(), BUILD_OPTIONS)
        .map_err(|log| GpuError::Build {
            device: info.name.clone(),
            log,
        })?;
    let mut kernels = HashMap::new();
    for name in params::kernel_names() {
        let k = Kernel::create(&program, name).map_err(|e| GpuError::cl("clCreateKernel", e))?;
        kernels.insert(name, k);
    }
    let s = Arc::new(Shared {
        info,
        context,
        queue,
        kernels: Mutex::new(kernels),
        _program: program,
    });
    map.insert(key, Arc::clone(&s));
    Ok(s)
}
