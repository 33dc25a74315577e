//! Running a compiled model on an OpenCL device.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use opencl3::memory::{Buffer, CL_MEM_COPY_HOST_PTR, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE, ClMem};
use opencl3::types::{CL_BLOCKING, cl_mem};
use verdict_vm::{CODE_END, Machine, State};

use super::GpuError;
use super::device::{DeviceChoice, DeviceInfo, choose};
use super::launch::{Plan, arena_at, plan_node};
use super::program::{Shared, shared};
use crate::boundary::{Boundaries, OpWrites};
use crate::engine::{Compiled, boundary_machine};
use crate::ir::{TensorId, numel};

/// One kernel launch, its parameters already on the device.
struct Launch {
    kernel: &'static str,
    params: Buffer<i32>,
    global: Vec<usize>,
    local: Option<Vec<usize>>,
}

/// A model ready to run on one OpenCL device: its weights and the
/// parameters of every launch live on the device.
pub struct GpuEngine {
    compiled: Arc<Compiled>,
    shared: Arc<Shared>,
    weights: Buffer<u32>,
    launches: Vec<Launch>,
    arena_words: usize,
}

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEngine")
            .field("model", &self.compiled.model.name)
            .field("device", &self.shared.info.name)
            .field("launches", &self.launches.len())
            .finish()
    }
}

/// One run's result: the arena stays on the device, and op-boundary images
/// are read back from it on demand.
pub struct GpuRun<'a> {
    engine: &'a GpuEngine,
    input: Vec<u32>,
    arena: Buffer<u32>,
    output: Vec<u32>,
}

impl std::fmt::Debug for GpuRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRun")
            .field("engine", self.engine)
            .field("output", &self.output.len())
            .finish()
    }
}

/// A read-only device buffer holding `data` (at least one element).
fn upload<T: Copy + Default>(shared: &Shared, data: &[T]) -> Result<Buffer<T>, GpuError> {
    let mut owned = data.to_vec();
    if owned.is_empty() {
        owned.push(T::default());
    }
    // SAFETY: the host pointer is valid for `owned.len()` elements of T and
    // is only read, during this call (CL_MEM_COPY_HOST_PTR).
    unsafe {
        Buffer::<T>::create(
            &shared.context,
            CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
            owned.len(),
            owned.as_mut_ptr().cast::<c_void>(),
        )
    }
    .map_err(|e| GpuError::cl("clCreateBuffer", e))
}

impl GpuEngine {
    /// Prepares `compiled` on the device `choice` names: uploads its weights
    /// and the parameters of every kernel launch, and builds the program if
    /// this process has not built it for that device yet.
    ///
    /// # Errors
    ///
    /// [`GpuError`] when no usable device is found or the device refuses
    /// the program or a buffer.
    pub fn new(compiled: Arc<Compiled>, choice: DeviceChoice) -> Result<GpuEngine, GpuError> {
        let shared = shared(choose(choice)?)?;
        let layout = &compiled.program.layout;
        let weights = upload(&shared, compiled.weight_region())?;
        let plans: Vec<Plan> = (0..compiled.model.nodes.len())
            .flat_map(|n| plan_node(&compiled, n))
            .filter(|p| p.global.iter().all(|&g| g > 0))
            .collect();
        let launches = plans
            .into_iter()
            .map(|p| {
                Ok(Launch {
                    kernel: p.kernel,
                    params: upload(&shared, &p.params)?,
                    global: p.global,
                    local: p.local,
                })
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let arena_words = ((layout.ram_end - u64::from(CODE_END)) / 4) as usize;
        Ok(GpuEngine {
            compiled,
            shared,
            weights,
            launches,
            arena_words,
        })
    }

    /// The device the engine runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.shared.info
    }

    /// Runs the model on `input`: a fresh zeroed arena, the input written at
    /// its VM address, every op's launches in order, the output read back.
    ///
    /// # Errors
    ///
    /// [`GpuError::Run`] for a wrong input size, [`GpuError::Cl`] when the
    /// device fails.
    pub fn run(&self, input: &[f32]) -> Result<GpuRun<'_>, GpuError> {
        let model = &self.compiled.model;
        let bits = self.compiled.input_words(input)?;
        let queue = &self.shared.queue;
        // SAFETY: no host pointer; the size is the arena's.
        let mut arena = unsafe {
            Buffer::<u32>::create(
                &self.shared.context,
                CL_MEM_READ_WRITE,
                self.arena_words,
                ptr::null_mut(),
            )
        }
        .map_err(|e| GpuError::cl("clCreateBuffer", e))?;
        // SAFETY: the pattern and the input outlive the calls, which block
        // or complete before `finish` below; sizes are within the arena.
        unsafe {
            queue
                .enqueue_fill_buffer(&mut arena, &[0u32], 0, 4 * self.arena_words, &[])
                .map_err(|e| GpuError::cl("clEnqueueFillBuffer", e))?;
            queue
                .enqueue_write_buffer(&mut arena, CL_BLOCKING, 0, &bits, &[])
                .map_err(|e| GpuError::cl("clEnqueueWriteBuffer", e))?;
        }
        {
            let kernels = self
                .shared
                .kernels
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let (arena_mem, weights_mem): (cl_mem, cl_mem) = (arena.get(), self.weights.get());
            for l in &self.launches {
                let k = &kernels[l.kernel];
                let params_mem: cl_mem = l.params.get();
                let global: Vec<usize> = match &l.local {
                    Some(local) => l
                        .global
                        .iter()
                        .zip(local)
                        .map(|(g, w)| g.div_ceil(*w) * w)
                        .collect(),
                    None => l.global.clone(),
                };
                // SAFETY: every kernel takes (global uint*, global const
                // uint*, global const int*), and these are live buffers of
                // those element types; the work sizes have the same length.
                unsafe {
                    k.set_arg(0, &arena_mem)
                        .and_then(|()| k.set_arg(1, &weights_mem))
                        .and_then(|()| k.set_arg(2, &params_mem))
                        .map_err(|e| GpuError::cl("clSetKernelArg", e))?;
                    queue
                        .enqueue_nd_range_kernel(
                            k.get(),
                            global.len() as u32,
                            ptr::null(),
                            global.as_ptr(),
                            l.local.as_ref().map_or(ptr::null(), |w| w.as_ptr()),
                            &[],
                        )
                        .map_err(|e| GpuError::cl("clEnqueueNDRangeKernel", e))?;
                }
            }
        }
        queue.finish().map_err(|e| GpuError::cl("clFinish", e))?;
        let mut run = GpuRun {
            engine: self,
            input: bits,
            arena,
            output: Vec::new(),
        };
        let out = model.output;
        run.output = run.read(
            self.compiled.program.layout.tensors[out],
            numel(&model.tensors[out].shape),
        )?;
        Ok(run)
    }
}

impl GpuRun<'_> {
    /// `words` words of the arena from VM address `addr`.
    fn read(&self, addr: u32, words: usize) -> Result<Vec<u32>, GpuError> {
        let mut out = vec![0u32; words];
        if words > 0 {
            // SAFETY: a blocking read into `out`, within the arena.
            unsafe {
                self.engine.shared.queue.enqueue_read_buffer(
                    &self.arena,
                    CL_BLOCKING,
                    4 * arena_at(addr) as usize,
                    &mut out,
                    &[],
                )
            }
            .map_err(|e| GpuError::cl("clEnqueueReadBuffer", e))?;
        }
        Ok(out)
    }

    /// The output tensor's values.
    pub fn output(&self) -> Vec<f32> {
        self.output.iter().map(|&w| f32::from_bits(w)).collect()
    }

    /// The words of tensor `id` as this run left them on the device (a
    /// weight's, the input's or an op's output).
    ///
    /// # Errors
    ///
    /// [`GpuError::Cl`] when the read fails.
    pub fn tensor(&self, id: TensorId) -> Result<Vec<u32>, GpuError> {
        let c = &self.engine.compiled;
        let t = &c.model.tensors[id];
        match &t.data {
            Some(d) => Ok(d.bits().to_vec()),
            None => self.read(c.program.layout.tensors[id], numel(&t.shape)),
        }
    }

    /// The VM machine at the start of op `op` (`op = nodes` is the final
    /// `halt`), rebuilt from the device's memory image by the rule the
    /// native engine follows ([`crate::engine::NativeRun::machine_at`]).
    ///
    /// # Errors
    ///
    /// [`GpuError::Run`] past the end, [`GpuError::Cl`] when a read fails.
    pub fn machine_at(&self, op: usize) -> Result<Machine, GpuError> {
        boundary_machine(&self.engine.compiled, &self.input, self, op)
    }

    /// Every op boundary's state hash and the machines to rebuild any
    /// boundary from, reading each op's writes back once.
    ///
    /// # Errors
    ///
    /// [`GpuError::Cl`] when a read fails.
    pub fn boundaries(&self) -> Result<Boundaries, GpuError> {
        Boundaries::build(&self.engine.compiled, &self.input, self)
    }

    /// The VM state at the start of op `op`.
    ///
    /// # Errors
    ///
    /// As [`GpuRun::machine_at`].
    pub fn state_at(&self, op: usize) -> Result<State, GpuError> {
        Ok(self.machine_at(op)?.state())
    }

    /// The VM's final (halted) state, from the device's image.
    ///
    /// # Errors
    ///
    /// [`GpuError::Cl`] when a read fails.
    pub fn final_state(&self) -> Result<State, GpuError> {
        let mut m = self.machine_at(self.engine.compiled.model.nodes.len())?;
        m.step();
        Ok(m.state())
    }
}

impl OpWrites for GpuRun<'_> {
    type Error = GpuError;

    fn op_writes(&self, op: usize, write: &mut dyn FnMut(u32, &[u32])) -> Result<(), GpuError> {
        for (addr, words) in self.engine.compiled.op_regions(op) {
            write(addr, &self.read(addr, words)?);
        }
        Ok(())
    }
}
