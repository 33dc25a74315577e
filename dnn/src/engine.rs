//! The two engines: the VM (the reference) and the native fast path, which
//! writes the same memory image and so can produce the VM's state at every
//! op boundary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use verdict_vm::isa::INSTR_SIZE;
use verdict_vm::memory::Memory;
use verdict_vm::{Core, Machine, State, Status};

use crate::boundary::{Boundaries, OpWrites, write_words};
use crate::compile::{CompileError, Program, compile, node_io};
use crate::ir::{Model, TensorId, numel};
use crate::ops::NativeIo;
use crate::plan::WEIGHTS_BASE;
use crate::weights::Weights;

/// VM steps from which a native run moves onto the rayon pool (about a
/// millisecond of native work).
const PARALLEL_STEPS: u64 = 1 << 24;

/// A model compiled and ready to run on either engine.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The model.
    pub model: Model,
    /// Its program.
    pub program: Program,
    /// Every weight, laid out as the image's weight region
    /// ([`Program::weight_region`]): the model's weights are runs of it, and
    /// the image maps it in place, so the weights are held once.
    region: Arc<[u32]>,
    /// Code and weights, hashed once when first needed: every state starts
    /// from a copy.
    base: OnceLock<Memory>,
    /// Per node, what the native kernel prepared from its weights.
    prepared: Vec<Option<Arc<[f32]>>>,
    /// Buffers of finished native runs, for the next one.
    recycled: Recycled,
    /// Per tensor, the tensor whose words it is (itself, or the input of
    /// the op that shares them: [`crate::ops::OpKind::shares_input`]).
    roots: Vec<TensorId>,
    /// Per tensor, the last node that reads its words (through the tensors
    /// that share them): where an output-only run gives its buffer back.
    last_reader: Vec<Option<usize>>,
}

/// What a native run keeps of the tensors it computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Every tensor: the run can rebuild the VM state at any op boundary.
    Everything,
    /// The output: a buffer goes back to the pool after its last reader,
    /// so the next op writes into memory still warm in cache.
    Output,
}

/// Buffers a finished native run gives back, so that the next run neither
/// faults in fresh pages (costly under a hypervisor) nor keeps growing the
/// heap. It holds at most `cap` words, what an output-only run has live at
/// its peak: a run that kept every tensor (a trace's) gives back more, and
/// an agent would otherwise hold a second copy of every activation.
#[derive(Debug, Default)]
struct Recycled {
    pool: Mutex<Vec<Vec<u32>>>,
    cap: usize,
}

impl Clone for Recycled {
    /// A copy of the model starts with no buffers of its own.
    fn clone(&self) -> Self {
        Recycled {
            pool: Mutex::default(),
            cap: self.cap,
        }
    }
}

impl Recycled {
    /// `len` words, the smallest recycled buffer that holds them (the one
    /// given back last among equals: the warmest) or a new one, holding
    /// whatever they held: ops write their outputs and scratch in full.
    fn take(&self, len: usize) -> Vec<u32> {
        let found = {
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            let best = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| (pool[i].capacity(), std::cmp::Reverse(i)));
            best.map(|i| pool.remove(i))
        };
        match found {
            Some(mut buf) => {
                buf.truncate(len);
                buf.resize(len, 0);
                buf
            }
            None => vec![0; len],
        }
    }

    /// Keeps `buffers`, dropping the coldest (given back first) beyond
    /// the cap.
    fn give(&self, buffers: impl IntoIterator<Item = Vec<u32>>) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.extend(buffers.into_iter().filter(|b| b.capacity() > 0));
        let mut held: usize = pool.iter().map(Vec::capacity).sum();
        let over = pool
            .iter()
            .take_while(|b| {
                let drop = held > self.cap;
                held -= b.capacity();
                drop
            })
            .count();
        pool.drain(..over);
    }
}

/// Why a run could not start or finish.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The input has the wrong number of elements.
    #[error("input has {got} values, the model takes {want} (shape {shape:?})")]
    InputSize {
        /// Values given.
        got: usize,
        /// Values expected.
        want: usize,
        /// The input shape.
        shape: Vec<usize>,
    },
    /// The VM did not halt cleanly (a compiler bug).
    #[error("the VM stopped with status {status:?}, exit {exit}, at step {step}")]
    Vm {
        /// Final status.
        status: Status,
        /// Exit or fault code.
        exit: u32,
        /// Step reached.
        step: u64,
    },
    /// An op boundary index past the end.
    #[error("op boundary {0} does not exist")]
    Boundary(usize),
    /// An input value its encoding cannot hold.
    #[error(
        "input value {index} is {}, not an integer from 0 to {max} (the model takes its input as {encoding})",
        f32::from_bits(*bits)
    )]
    InputValue {
        /// Its position.
        index: usize,
        /// The value's bits.
        bits: u32,
        /// The largest value the encoding holds.
        max: u32,
        /// The encoding's name.
        encoding: &'static str,
    },
    /// Input bytes of the wrong length.
    #[error("input has {got} bytes, the model takes {want}")]
    InputBytes {
        /// Bytes given.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
}

/// The VM's result.
#[derive(Debug)]
pub struct VmRun {
    /// The output tensor's values.
    pub output: Vec<f32>,
    /// The halted machine.
    pub machine: Machine,
}

/// The native engine's result, with every buffer it wrote.
#[derive(Debug)]
pub struct NativeRun<'a> {
    compiled: &'a Compiled,
    input: Vec<u32>,
    /// Each computed tensor, by tensor id (none for one sharing another's
    /// words).
    buffers: Vec<Option<Vec<u32>>>,
    /// Scratch buffers by node.
    scratch: Vec<Vec<Vec<u32>>>,
}

impl Compiled {
    /// Compiles `model`.
    ///
    /// # Errors
    ///
    /// As [`compile`].
    pub fn new(model: Model) -> Result<Compiled, CompileError> {
        let program = compile(&model)?;
        Ok(Compiled::from_parts(model, program))
    }

    /// Pairs a model with its already compiled program.
    pub fn from_parts(mut model: Model, program: Program) -> Compiled {
        let region = program.weight_region(&model);
        for (id, t) in model.tensors.iter_mut().enumerate() {
            if let Some(data) = &mut t.data {
                let at = ((program.layout.tensors[id] - WEIGHTS_BASE) / 4) as usize;
                *data = Weights::shared(region.clone(), at..at + data.len());
            }
        }
        // Nodes that read the same weights the same way (a decoder's passes
        // in a generation program) share one prepared copy.
        let mut shared: HashMap<String, Arc<[f32]>> = HashMap::new();
        let prepared = model
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let consts: Vec<Option<&[u32]>> = node
                    .inputs
                    .iter()
                    .map(|&t| weight_bits(&model, t))
                    .collect();
                if consts.iter().all(Option::is_none) {
                    return None;
                }
                let io = node_io(&model, &program.layout, n);
                let shapes: Vec<&[usize]> = io.inputs.iter().map(|i| i.shape.as_slice()).collect();
                let weights: Vec<Option<TensorId>> = node
                    .inputs
                    .iter()
                    .map(|&t| model.tensors[t].data.is_some().then_some(t))
                    .collect();
                let key = format!("{:?} {weights:?} {shapes:?}", node.op);
                if let Some(p) = shared.get(&key) {
                    return Some(p.clone());
                }
                let p: Arc<[f32]> = node.op.prepare(&io, &consts)?.into();
                shared.insert(key, p.clone());
                Some(p)
            })
            .collect();
        let roots = shared_roots(&model);
        let last_reader = last_readers(&model, &roots);
        let cap = peak_words(&model, &program, &roots, &last_reader);
        Compiled {
            model,
            program,
            region,
            base: OnceLock::new(),
            prepared,
            recycled: Recycled {
                pool: Mutex::default(),
                cap,
            },
            roots,
            last_reader,
        }
    }

    /// The memory image with a zeroed input, hashed: built on first use,
    /// so that native inference, which never reads it, never pays for it.
    fn base(&self) -> &Memory {
        self.base.get_or_init(|| {
            let mut base = self.program.image_of(self.region.clone());
            base.root();
            base
        })
    }

    /// Every weight, laid out as the image's weight region.
    pub fn weight_region(&self) -> &[u32] {
        &self.region
    }

    /// The memory root with a zeroed input: what the model id commits to.
    pub fn image_root(&self) -> B256 {
        self.base()
            .hashed_root()
            .expect("the base is hashed when built")
    }

    /// The input region's contents for `input`, as a claim posts them:
    /// little-endian binary32 words, or the model's packed integers.
    ///
    /// # Errors
    ///
    /// [`RunError::InputSize`], or [`RunError::InputValue`] for a value the
    /// model's input encoding cannot hold.
    pub fn encode_input(&self, input: &[f32]) -> Result<Vec<u8>, RunError> {
        let shape = &self.model.tensors[self.model.input].shape;
        if input.len() != numel(shape) {
            return Err(RunError::InputSize {
                got: input.len(),
                want: numel(shape),
                shape: shape.clone(),
            });
        }
        let Some(encoding) = self.model.input_encoding else {
            return Ok(input.iter().flat_map(|x| x.to_le_bytes()).collect());
        };
        let mut bytes = Vec::with_capacity(self.model.input_bytes());
        for (index, &value) in input.iter().enumerate() {
            let v = encoding.integer(value).ok_or(RunError::InputValue {
                index,
                bits: value.to_bits(),
                max: encoding.max(),
                encoding: encoding.name(),
            })?;
            bytes.extend_from_slice(&v.to_le_bytes()[..encoding.width()]);
        }
        Ok(bytes)
    }

    /// The input values that input region contents `bytes` hold (a posted
    /// claim's input): [`Compiled::encode_input`] undone.
    ///
    /// # Errors
    ///
    /// [`RunError::InputBytes`] for the wrong length.
    pub fn decode_input(&self, bytes: &[u8]) -> Result<Vec<f32>, RunError> {
        let want = self.model.input_bytes();
        if bytes.len() != want {
            return Err(RunError::InputBytes {
                got: bytes.len(),
                want,
            });
        }
        let Some(encoding) = self.model.input_encoding else {
            return Ok(bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect());
        };
        Ok(bytes
            .chunks_exact(encoding.width())
            .map(|b| b.iter().rev().fold(0u32, |v, &x| v << 8 | u32::from(x)) as f32)
            .collect())
    }

    /// The input region's words for `input` (zero-padded to a whole word).
    pub(crate) fn input_words(&self, input: &[f32]) -> Result<Vec<u32>, RunError> {
        let bytes = self.encode_input(input)?;
        Ok(bytes
            .chunks(4)
            .map(|b| {
                let mut w = [0; 4];
                w[..b.len()].copy_from_slice(b);
                u32::from_le_bytes(w)
            })
            .collect())
    }

    fn machine_with(&self, core: Core, writes: &[(u32, &[u32])]) -> Machine {
        let mut memory = self.base().clone();
        for (addr, words) in writes {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            memory.write_bytes(*addr, &bytes);
        }
        let mut m = Machine::from_parts(core, memory);
        m.cache_code(self.program.code.len() / INSTR_SIZE as usize);
        m
    }

    /// The initial machine for checked input words.
    pub(crate) fn initial_words(&self, input: &[u32]) -> Machine {
        self.machine_with(Core::at(0), &[(self.program.layout.input.addr, input)])
    }

    /// The regions op `op` writes, `(address, words)`: its output, then its
    /// scratch buffers. The planner gives every region its own addresses,
    /// which is what lets [`Boundaries`] read any op's writes back from the
    /// halt boundary.
    pub fn op_regions(&self, op: usize) -> Vec<(u32, usize)> {
        let p = &self.program;
        let out = self.model.nodes[op].output;
        let words = numel(&self.model.tensors[out].shape);
        let mut regions = vec![(p.layout.tensors[out], words)];
        regions.extend(p.layout.scratch[op].iter().copied());
        regions
    }

    /// Bytes op `op` writes.
    pub(crate) fn op_bytes(&self, op: usize) -> u64 {
        self.op_regions(op).iter().map(|&(_, w)| 4 * w as u64).sum()
    }

    /// The core at op boundary `op`: registers zero, pc at the op's code,
    /// the step from the boundary table.
    pub(crate) fn boundary_core(&self, op: usize) -> Core {
        let mut core = Core::at(self.program.op_pcs[op]);
        core.step = self.program.boundaries[op];
        core
    }

    /// The initial machine for `input`: pc 0, registers zero, the image plus
    /// the input.
    ///
    /// # Errors
    ///
    /// [`RunError::InputSize`].
    pub fn initial_machine(&self, input: &[f32]) -> Result<Machine, RunError> {
        Ok(self.initial_words(&self.input_words(input)?))
    }

    /// Runs the VM to the end.
    ///
    /// # Errors
    ///
    /// [`RunError`] for a wrong input size, or if the program does not halt
    /// with exit 0 in exactly its step count (a compiler bug).
    pub fn run_vm(&self, input: &[f32]) -> Result<VmRun, RunError> {
        self.run_vm_observed(input, &[], |_, _| ())
    }

    /// [`Compiled::run_vm`], showing `observe` the output words of each
    /// node of `nodes` (in node order) as soon as the VM has finished it:
    /// a generation streams its tokens so on the VM too.
    ///
    /// # Errors
    ///
    /// As [`Compiled::run_vm`].
    pub fn run_vm_observed(
        &self,
        input: &[f32],
        nodes: &[usize],
        mut observe: impl FnMut(usize, &[u32]),
    ) -> Result<VmRun, RunError> {
        self.run_vm_with(input, nodes, |n, _, words| observe(n, words))
    }

    /// [`Compiled::run_vm`], timing every op: the VM's speed on each
    /// (a dispute replays one op at a time), as `dnnc run --engine vm
    /// --profile` prints it.
    ///
    /// # Errors
    ///
    /// As [`Compiled::run_vm`].
    pub fn run_vm_profiled(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<Duration>), RunError> {
        let nodes: Vec<usize> = (0..self.model.nodes.len()).collect();
        let mut times = vec![Duration::ZERO; nodes.len()];
        let run = self.run_vm_with(input, &nodes, |n, t, _| times[n] = t)?;
        Ok((run.output, times))
    }

    /// Runs the VM, showing `observe` each node of `nodes` (in node order)
    /// with its output words and the VM's time since the node before it in
    /// `nodes` (or since the start): with every node, each op's own time.
    fn run_vm_with(
        &self,
        input: &[f32],
        nodes: &[usize],
        mut observe: impl FnMut(usize, Duration, &[u32]),
    ) -> Result<VmRun, RunError> {
        let mut machine = self.initial_machine(input)?;
        let words = |machine: &Machine, t: TensorId| -> Vec<u32> {
            machine
                .read_bytes(
                    self.program.layout.tensors[t],
                    4 * numel(&self.model.tensors[t].shape),
                )
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect()
        };
        for &n in nodes {
            let end = self.program.boundaries[n + 1];
            let start = Instant::now();
            machine.run(end.saturating_sub(machine.core.step));
            let time = start.elapsed();
            if machine.core.step != end {
                break;
            }
            observe(n, time, &words(&machine, self.model.nodes[n].output));
        }
        machine.run(self.program.total_steps.saturating_sub(machine.core.step));
        let c = machine.core;
        if c.status != Status::Halted || c.exit != 0 || c.step != self.program.total_steps {
            return Err(RunError::Vm {
                status: c.status,
                exit: c.exit,
                step: c.step,
            });
        }
        let output = words(&machine, self.model.output)
            .into_iter()
            .map(f32::from_bits)
            .collect();
        Ok(VmRun { output, machine })
    }

    /// Runs the native engine.
    ///
    /// # Errors
    ///
    /// [`RunError::InputSize`].
    pub fn run_native(&self, input: &[f32]) -> Result<NativeRun<'_>, RunError> {
        self.run_native_with(input, Keep::Everything, |_, _, _| ())
    }

    /// Runs the native engine for the output alone (inference): each
    /// tensor's buffer is reused once no later op reads it. The same bits
    /// as [`Compiled::run_native`], without its op boundary states.
    ///
    /// # Errors
    ///
    /// [`RunError::InputSize`].
    pub fn infer(&self, input: &[f32]) -> Result<Vec<f32>, RunError> {
        Ok(self
            .run_native_with(input, Keep::Output, |_, _, _| ())?
            .output())
    }

    /// [`Compiled::infer`], timing each op (wall clock, node order): where
    /// a model's time goes.
    ///
    /// # Errors
    ///
    /// [`RunError::InputSize`].
    pub fn infer_profiled(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<Duration>), RunError> {
        let mut times = vec![Duration::ZERO; self.model.nodes.len()];
        let run = self.run_native_with(input, Keep::Output, |n, t, _| times[n] = t)?;
        Ok((run.output(), times))
    }

    /// [`Compiled::infer`], showing `observe` each node's output words as
    /// soon as they are computed (node order): a generation streams its
    /// tokens so.
    ///
    /// # Errors
    ///
    /// [`RunError::InputSize`].
    pub fn infer_observed(
        &self,
        input: &[f32],
        mut observe: impl FnMut(usize, &[u32]) + Send,
    ) -> Result<Vec<f32>, RunError> {
        let run = self.run_native_with(input, Keep::Output, |n, _, words| observe(n, words))?;
        Ok(run.output())
    }

    /// Runs the native engine, keeping what `keep` says and showing
    /// `observe` each node's time and output words.
    fn run_native_with(
        &self,
        input: &[f32],
        keep: Keep,
        mut observe: impl FnMut(usize, Duration, &[u32]) + Send,
    ) -> Result<NativeRun<'_>, RunError> {
        let input = self.input_words(input)?;
        let model = &self.model;
        let mut buffers: Vec<Option<Vec<u32>>> = vec![None; model.tensors.len()];
        let mut scratch = Vec::with_capacity(model.nodes.len());
        let mut run = || {
            for (n, node) in model.nodes.iter().enumerate() {
                let start = Instant::now();
                if node.op.shares_input() {
                    scratch.push(Vec::new());
                    observe(
                        n,
                        start.elapsed(),
                        self.words(&input, &buffers, node.output),
                    );
                    continue;
                }
                let io = node_io(model, &self.program.layout, n);
                let mut output = self.recycled.take(numel(&model.tensors[node.output].shape));
                let mut bufs: Vec<Vec<u32>> = io
                    .scratch
                    .iter()
                    .map(|s| self.recycled.take(s.shape[0]))
                    .collect();
                let inputs: Vec<&[u32]> = node
                    .inputs
                    .iter()
                    .map(|&t| self.words(&input, &buffers, t))
                    .collect();
                node.op.native(
                    &io,
                    NativeIo {
                        inputs,
                        output: &mut output,
                        scratch: bufs.iter_mut().map(Vec::as_mut_slice).collect(),
                        prepared: self.prepared[n].as_deref(),
                    },
                );
                buffers[node.output] = Some(output);
                observe(
                    n,
                    start.elapsed(),
                    self.words(&input, &buffers, node.output),
                );
                if keep == Keep::Output {
                    self.recycled.give(bufs);
                    let output = self.roots[model.output];
                    let done = node.inputs.iter().chain([&node.output]).filter_map(|&t| {
                        let root = self.roots[t];
                        let read = self.last_reader[root].is_some_and(|last| last > n);
                        (!read && root != output).then(|| buffers[root].take())?
                    });
                    self.recycled.give(done.collect::<Vec<_>>());
                    scratch.push(Vec::new());
                } else {
                    scratch.push(bufs);
                }
            }
        };
        // A model with real work runs on a rayon worker, so the kernels'
        // parallel loops start without a hand-over from an outside thread at
        // every op; a tiny one would pay more for the one hand-over.
        if self.program.total_steps >= PARALLEL_STEPS {
            with_hot_pool(run);
        } else {
            run();
        }
        Ok(NativeRun {
            compiled: self,
            input,
            buffers,
            scratch,
        })
    }

    /// Tensor `t`'s words in a native run: the input, a weight, a buffer,
    /// or those of the tensor it shares them with.
    fn words<'w>(
        &'w self,
        input: &'w [u32],
        buffers: &'w [Option<Vec<u32>>],
        t: TensorId,
    ) -> &'w [u32] {
        let t = self.roots[t];
        if t == self.model.input {
            input
        } else if let Some(w) = weight_bits(&self.model, t) {
            w
        } else {
            buffers[t]
                .as_deref()
                .expect("tensors are computed before use")
        }
    }
}

/// How long a spinning worker waits for work before it gives up and lets
/// rayon put it to sleep.
const SPIN_IDLE: Duration = Duration::from_millis(2);

/// Runs `run` on a rayon worker while the pool's other workers wait for its
/// kernels' parallel loops spinning rather than asleep: a model of many
/// short ops would otherwise pay a kernel wake-up (tens of microseconds
/// under a hypervisor) at every loop, and keep little of what a second
/// thread gives; onnxruntime's pool spins the same way. A worker stops
/// spinning when the run ends or after [`SPIN_IDLE`] without work, so that
/// a spinner nested under another run's job cannot hold that run up for
/// longer, and a long serial stretch does not burn a core.
fn with_hot_pool(run: impl FnOnce() + Send) {
    /// Ends the spinning however `run` ends, a panic included.
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let done = AtomicBool::new(false);
    rayon::scope(|scope| {
        let here = rayon::current_thread_index();
        if rayon::current_num_threads() > 1 {
            let done = &done;
            scope.spawn_broadcast(move |_, worker| {
                if Some(worker.index()) == here {
                    return;
                }
                let mut idle = Instant::now();
                while !done.load(Ordering::Acquire) && idle.elapsed() < SPIN_IDLE {
                    if rayon::yield_now() == Some(rayon::Yield::Executed) {
                        idle = Instant::now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        let _done = Done(&done);
        run();
    });
}

/// Weight `t`'s bit patterns, read in place: the native engine works on
/// bits, and a copy of every weight would double the memory a model takes.
fn weight_bits(model: &Model, t: TensorId) -> Option<&[u32]> {
    model.tensors[t].data.as_ref().map(Weights::bits)
}

impl Drop for NativeRun<'_> {
    fn drop(&mut self) {
        let buffers = std::mem::take(&mut self.buffers).into_iter().flatten();
        let scratch = std::mem::take(&mut self.scratch).into_iter().flatten();
        self.compiled.recycled.give(buffers.chain(scratch));
    }
}

impl NativeRun<'_> {
    /// The output tensor's values.
    pub fn output(&self) -> Vec<f32> {
        self.words(self.compiled.model.output)
            .iter()
            .map(|&w| f32::from_bits(w))
            .collect()
    }

    fn words(&self, t: TensorId) -> &[u32] {
        self.compiled.words(&self.input, &self.buffers, t)
    }

    /// The VM machine at the start of op `op` (`op = nodes` is the final
    /// `halt`), rebuilt from the native memory image: registers zero, pc at
    /// the op's code, the step from the boundary table.
    ///
    /// # Errors
    ///
    /// [`RunError::Boundary`] past the end.
    pub fn machine_at(&self, op: usize) -> Result<Machine, RunError> {
        boundary_machine(self.compiled, &self.input, self, op)
    }

    /// The VM state hash at the start of op `op`.
    ///
    /// # Errors
    ///
    /// [`RunError::Boundary`] past the end.
    pub fn state_at(&self, op: usize) -> Result<State, RunError> {
        Ok(self.machine_at(op)?.state())
    }

    /// The VM's final (halted) state, from the native image.
    pub fn final_state(&self) -> State {
        let mut m = self
            .machine_at(self.compiled.model.nodes.len())
            .expect("the halt boundary exists");
        m.step();
        m.state()
    }

    /// Every op boundary's state hash and the machines to rebuild any
    /// boundary from, in one pass over the run's writes.
    pub fn boundaries(&self) -> Boundaries {
        Boundaries::build(self.compiled, &self.input, self).expect("native writes never fail")
    }
}

impl OpWrites for NativeRun<'_> {
    type Error = RunError;

    fn op_writes(&self, op: usize, write: &mut dyn FnMut(u32, &[u32])) -> Result<(), RunError> {
        let mut regions = self.compiled.op_regions(op).into_iter();
        let node = &self.compiled.model.nodes[op];
        if let Some((addr, _)) = regions.next() {
            write(addr, self.words(node.output));
        }
        for ((addr, _), words) in regions.zip(&self.scratch[op]) {
            write(addr, words);
        }
        Ok(())
    }
}

/// The machine at the start of op `op` of `run` on `input` (`op` = the op
/// count: the halt boundary): the initial machine plus every earlier op's
/// writes. The one rule both engines' boundary machines follow.
///
/// # Errors
///
/// [`RunError::Boundary`] past the end, or the engine's error.
pub(crate) fn boundary_machine<W: OpWrites>(
    compiled: &Compiled,
    input: &[u32],
    run: &W,
    op: usize,
) -> Result<Machine, W::Error> {
    if op >= compiled.program.boundaries.len() {
        return Err(RunError::Boundary(op).into());
    }
    let mut m = compiled.initial_words(input);
    for done in 0..op {
        run.op_writes(done, &mut |addr, words| write_words(&mut m, addr, words))?;
    }
    m.core = compiled.boundary_core(op);
    Ok(m)
}

/// Per tensor, the tensor whose words it is: itself, or for an op that
/// shares its input's words ([`crate::ops::OpKind::shares_input`]), that
/// input's.
fn shared_roots(model: &Model) -> Vec<TensorId> {
    let mut root: Vec<TensorId> = (0..model.tensors.len()).collect();
    for node in &model.nodes {
        if node.op.shares_input() {
            root[node.output] = root[node.inputs[0]];
        }
    }
    root
}

/// Per tensor, the last node reading its words through any tensor that
/// shares them; `None` if no node does.
/// The words an output-only run ([`Keep::Output`]) has live at its peak:
/// each op's output and scratch while it runs, each tensor until its last
/// reader is done.
fn peak_words(
    model: &Model,
    program: &Program,
    roots: &[TensorId],
    last_reader: &[Option<usize>],
) -> usize {
    let words = |t: TensorId| numel(&model.tensors[t].shape);
    let (mut live, mut peak) = (0, 0);
    for (n, node) in model.nodes.iter().enumerate() {
        if node.op.shares_input() {
            continue;
        }
        let scratch: usize = program.layout.scratch[n].iter().map(|&(_, w)| w).sum();
        live += words(node.output) + scratch;
        peak = peak.max(live);
        live -= scratch;
        let mut done: Vec<TensorId> = node
            .inputs
            .iter()
            .chain([&node.output])
            .map(|&t| roots[t])
            .filter(|&root| {
                let computed = model.tensors[root].data.is_none()
                    && root != model.input
                    && root != roots[model.output];
                computed && last_reader[root].is_none_or(|last| last <= n)
            })
            .collect();
        done.sort_unstable();
        done.dedup();
        live = done.iter().fold(live, |l, &t| l.saturating_sub(words(t)));
    }
    peak
}

fn last_readers(model: &Model, root: &[TensorId]) -> Vec<Option<usize>> {
    let mut last = vec![None; model.tensors.len()];
    for (n, node) in model.nodes.iter().enumerate() {
        for &t in &node.inputs {
            last[root[t]] = Some(n);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use rayon::prelude::*;

    use super::with_hot_pool;

    fn sum_in_hot_pool(i: u64) -> u64 {
        let mut sum = 0;
        with_hot_pool(|| sum = (0..10_000u64).into_par_iter().map(|x| x * i).sum());
        sum
    }

    /// Runs nested in another's parallel loop, and runs from several
    /// threads at once, all finish with their own results: a spinner
    /// under another run's job gives up its thread.
    #[test]
    fn hot_pool_runs_finish_nested_and_side_by_side() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let want: Vec<u64> = (0..16).map(|i| i * 49_995_000).collect();
        let nested: Vec<u64> =
            pool.install(|| (0..16).into_par_iter().map(sum_in_hot_pool).collect());
        assert_eq!(nested, want);
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|t| {
                    let pool = &pool;
                    s.spawn(move || {
                        pool.install(|| (0..16).map(|i| sum_in_hot_pool(i + t)).collect::<Vec<_>>())
                    })
                })
                .collect();
            for (t, run) in runs.into_iter().enumerate() {
                let got = run.join().unwrap();
                assert!(
                    got.iter()
                        .zip(0..)
                        .all(|(&g, i)| g == (i + t as u64) * 49_995_000)
                );
            }
        });
    }

    /// A run that panics ends the spinning and passes its panic on.
    #[test]
    fn a_panicking_hot_pool_run_panics_and_returns() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_hot_pool(|| panic!("boom")))
        }));
        assert!(caught.is_err());
        assert_eq!(pool.install(|| sum_in_hot_pool(1)), 49_995_000);
    }
}
