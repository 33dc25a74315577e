//! A model package as the protocol sees it: the registry record it commits
//! to (docs/spec/protocol.md §2), its level-1 points and the Merkle paths the
//! contracts ask for.

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{B256, U256};
use verdict_contracts::bindings::ModelRegistry;
use verdict_contracts::rules::{self, BoundaryTree, level1_points};
use verdict_dnn::boundary::Boundaries;
use verdict_dnn::engine::{Compiled, RunError};
use verdict_dnn::ir::numel;
use verdict_dnn::package::{Package, PackageError};
use verdict_dnn::plan::Region;
use verdict_vm::Machine;

/// A run that could not produce the op-boundary images.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The native engine refused the input.
    #[error(transparent)]
    Native(#[from] RunError),
    /// The GPU engine failed.
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Gpu(#[from] verdict_dnn::gpu::GpuError),
}

/// A compiled model with everything a registration, a claim or a game needs.
#[derive(Debug)]
pub struct ModelInfo {
    /// The model, compiled for every engine.
    pub compiled: Arc<Compiled>,
    /// The GPU engine that runs its claims, when one was chosen: its weights
    /// stay on the device for the model's lifetime.
    #[cfg(feature = "gpu")]
    gpu: Option<verdict_dnn::gpu::GpuEngine>,
    /// keccak256 of the package file: the registry's `packageHash`.
    pub package_hash: B256,
    /// The step of every level-1 point: the op boundary table (or every
    /// `g`-th op's boundary in a model of more ops than points,
    /// [`level1_points`]), then the total step count.
    pub points: Vec<u64>,
    /// The op each level-1 point but the last starts.
    point_ops: Vec<usize>,
    /// The input region's siblings in the image (input zero), lowest first.
    pub input_path: Vec<B256>,
    /// The boundary table tree.
    boundary_tree: BoundaryTree,
}

impl ModelInfo {
    /// Reads a `.dnn` package (its hash and program checked on load).
    ///
    /// # Errors
    ///
    /// [`PackageError`] if the file is missing, corrupt or does not compile.
    pub fn load(path: &Path) -> Result<ModelInfo, PackageError> {
        let (package, package_hash) = Package::load_hashed(path)?;
        Ok(ModelInfo::hashed(package, package_hash))
    }

    /// The protocol view of `package`.
    pub fn new(package: Package) -> ModelInfo {
        let package_hash = package.hash();
        ModelInfo::hashed(package, package_hash)
    }

    /// The protocol view of `package`, whose [`Package::hash`] is
    /// `package_hash`.
    fn hashed(package: Package, package_hash: B256) -> ModelInfo {
        let compiled = Arc::new(Compiled::from_parts(package.model, package.program));
        let p = &compiled.program;
        let (points, point_ops) = level1_points(&p.boundaries, p.total_steps);
        let zero = vec![0.0; tensor_len(&compiled, compiled.model.input)];
        let mut image = compiled
            .initial_machine(&zero)
            .expect("a zero input has the input's length");
        image.state();
        let input_path = region_path(&image, p.layout.input);
        let boundary_tree = BoundaryTree::new(&points);
        ModelInfo {
            compiled,
            #[cfg(feature = "gpu")]
            gpu: None,
            package_hash,
            points,
            point_ops,
            input_path,
            boundary_tree,
        }
    }

    /// Runs this model's claims on the GPU engine on `choice` from now on.
    ///
    /// # Errors
    ///
    /// The GPU engine's error when no usable device is found.
    #[cfg(feature = "gpu")]
    pub fn use_gpu(
        &mut self,
        choice: verdict_dnn::gpu::DeviceChoice,
    ) -> Result<(), verdict_dnn::gpu::GpuError> {
        self.gpu = Some(verdict_dnn::gpu::GpuEngine::new(
            self.compiled.clone(),
            choice,
        )?);
        Ok(())
    }

    /// Every op boundary of this model's run on `input` ([`Boundaries`]):
    /// from the GPU engine if one was chosen, else the native one.
    ///
    /// # Errors
    ///
    /// [`EngineError`] if the input has the wrong length or the device fails.
    pub fn boundaries(&self, input: &[f32]) -> Result<Boundaries, EngineError> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            return Ok(gpu.run(input)?.boundaries()?);
        }
        Ok(self.compiled.run_native(input)?.boundaries())
    }

    /// The hash of the final state of this model's run on `input`: all a
    /// claim is judged by. No boundary machine is built, so judging a claim
    /// holds no more than the engine's buffers while it runs.
    ///
    /// # Errors
    ///
    /// [`EngineError`] if the input has the wrong length or the device fails.
    pub fn final_hash(&self, input: &[f32]) -> Result<B256, EngineError> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            return Ok(gpu.run(input)?.final_state()?.hash());
        }
        Ok(self.compiled.run_native(input)?.final_state().hash())
    }

    /// The step of position `x` of `level` (1: a level-1 point, 2: a step).
    pub fn step_at(&self, level: u8, x: u64) -> u64 {
        if level == rules::LEVEL_OPS {
            self.points[x as usize]
        } else {
            x
        }
    }

    /// The model's ops, as `dnnc inspect` counts them. Level-1 points may
    /// be fewer: past 8,192 ops they stand for groups of ops
    /// ([`level1_points`]).
    pub fn ops(&self) -> u64 {
        self.compiled.model.nodes.len() as u64
    }

    /// The op that level-1 point `p` (not the last) starts.
    pub fn point_op(&self, p: usize) -> usize {
        self.point_ops[p]
    }

    /// The last level-1 point, `n + 1`: the final state.
    pub fn last_point(&self) -> u64 {
        self.points.len() as u64 - 1
    }

    /// Steps from the initial state to the final state.
    pub fn total_steps(&self) -> u64 {
        *self.points.last().expect("at least three points")
    }

    /// Bytes of a claim's input (the input region's contents).
    pub fn input_bytes(&self) -> usize {
        self.compiled.model.input_bytes()
    }

    /// The input bytes a claim posts for `input`: binary32 words, or the
    /// model's packed integers.
    ///
    /// # Errors
    ///
    /// [`RunError`] for a wrong length or a value the encoding cannot hold.
    pub fn encode_input(&self, input: &[f32]) -> Result<Vec<u8>, RunError> {
        self.compiled.encode_input(input)
    }

    /// The input values a claim's posted bytes hold.
    ///
    /// # Errors
    ///
    /// [`RunError::InputBytes`] for a wrong length.
    pub fn decode_input(&self, bytes: &[u8]) -> Result<Vec<f32>, RunError> {
        self.compiled.decode_input(bytes)
    }

    /// Bytes of the output tensor.
    pub fn output_bytes(&self) -> usize {
        4 * tensor_len(&self.compiled, self.compiled.model.output)
    }

    /// The registry's region record of `region` holding `bytes` bytes.
    fn region(region: Region, bytes: usize) -> ModelRegistry::Region {
        ModelRegistry::Region {
            addr: region.addr,
            size: region.size,
            length: bytes as u32,
        }
    }

    /// The `register` call that records this model.
    pub fn register_call(&self) -> ModelRegistry::registerCall {
        let layout = &self.compiled.program.layout;
        ModelRegistry::registerCall {
            imageRoot: self.compiled.image_root(),
            input: ModelInfo::region(layout.input, self.input_bytes()),
            output: ModelInfo::region(layout.output, self.output_bytes()),
            pointSteps: self.points.iter().map(|&s| U256::from(s)).collect(),
            inputPath: self.input_path.clone(),
            packageHash: self.package_hash,
        }
    }

    /// The registry's record of this model.
    pub fn record(&self) -> ModelRegistry::Model {
        rules::model_record(&self.register_call())
            .expect("a compiled program's boundary table starts at 0 and increases")
    }

    /// The model id the registry gives this model.
    pub fn model_id(&self) -> B256 {
        rules::model_id(&self.record())
    }

    /// Level-1 point `p`'s siblings in the boundary table tree, lowest first.
    pub fn boundary_path(&self, p: u64) -> Vec<B256> {
        self.boundary_tree
            .path(p)
            .expect("a game's positions are points of its model")
    }

    /// The output region's siblings in `machine`'s memory: a claim's
    /// `outputPath`.
    pub fn output_path(&self, machine: &Machine) -> Vec<B256> {
        region_path(machine, self.compiled.program.layout.output)
    }
}

/// `region`'s siblings in `machine`'s memory, from the region's own level up.
fn region_path(machine: &Machine, region: Region) -> Vec<B256> {
    rules::region_path(machine, region.addr, region.size)
        .expect("a compiled layout's regions are whole subtrees")
}

/// Elements of tensor `id` of `compiled`.
fn tensor_len(compiled: &Compiled, id: usize) -> usize {
    numel(&compiled.model.tensors[id].shape)
}

#[cfg(test)]
mod tests {
    use verdict_dnn::ir::ModelBuilder;
    use verdict_dnn::ops::OpKind;
    use verdict_dnn::ops::unary::{Unary, UnaryOp};

    use super::*;

    /// A model with more ops than level-1 points (a long generation) is
    /// reported with its ops, not with its points.
    #[test]
    fn ops_are_counted_when_points_group_them() {
        const OPS: usize = 8_300;
        let mut b = ModelBuilder::new("chain", &[1]);
        let mut x = b.input();
        for i in 0..OPS {
            let relu = OpKind::Unary(Unary { op: UnaryOp::Relu });
            x = b.node(&format!("relu{i}"), relu, &[x]).expect("fits");
        }
        let model = b.finish(x);
        let info = ModelInfo::new(Package::build(model).expect("compiles"));
        assert_eq!(info.ops(), OPS as u64);
        assert!(info.last_point() < OPS as u64, "the ops are grouped");
    }
}
