//! The memory planner: where code, weights, input, activations, scratch and
//! output live in VM memory.
//!
//! Layout (docs/spec/kernels.md, "Memory layout"):
//! - code from address 0; weights from [`WEIGHTS_BASE`], both in the
//!   read-only code region;
//! - the input at [`CODE_END`], a power-of-two sized, aligned region;
//! - the output in the next region aligned to its own power-of-two size;
//! - activations and scratch buffers after it, 32-byte aligned, never reused
//!   (every op boundary state keeps every tensor computed so far).
//!
//! Input and output being aligned powers of two makes each one whole subtree
//! of the memory tree, so the chain can check them with one root each.

use serde::{Deserialize, Serialize};
use verdict_vm::CODE_END;

use crate::ir::{Model, numel};

/// Where weights start: the code has the 256 MiB below.
pub const WEIGHTS_BASE: u32 = 0x1000_0000;

/// A region of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// First byte.
    pub addr: u32,
    /// Size in bytes.
    pub size: u32,
}

/// Addresses of everything a model's program touches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Address of each tensor, by tensor id.
    pub tensors: Vec<u32>,
    /// Scratch buffers of each node: `(address, words)`.
    pub scratch: Vec<Vec<(u32, usize)>>,
    /// The input region (power of two, aligned).
    pub input: Region,
    /// The output region (power of two, aligned).
    pub output: Region,
    /// End of the weights.
    pub weights_end: u32,
    /// End of everything in writable memory.
    pub ram_end: u64,
}

/// A model that does not fit the address space.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The weights exceed the code region.
    #[error("weights need {0} bytes, more than the {1} bytes of the weight region")]
    Weights(u64, u64),
    /// Activations exceed writable memory.
    #[error("activations need {0} bytes past {CODE_END:#x}, more than writable memory holds")]
    Memory(u64),
}

fn pow2_region(bytes: u64) -> u64 {
    bytes.max(32).next_power_of_two()
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Plans the memory of `model`.
///
/// # Errors
///
/// [`PlanError`] if it does not fit in 4 GiB as laid out above.
pub fn plan(model: &Model) -> Result<Layout, PlanError> {
    let mut addr = vec![0u32; model.tensors.len()];
    let mut w = u64::from(WEIGHTS_BASE);
    for (id, t) in model.tensors.iter().enumerate() {
        if t.data.is_some() {
            addr[id] = w as u32;
            w = align(w + 4 * numel(&t.shape) as u64, 32);
        }
    }
    if w > u64::from(CODE_END) {
        return Err(PlanError::Weights(
            w - u64::from(WEIGHTS_BASE),
            u64::from(CODE_END - WEIGHTS_BASE),
        ));
    }
    let bytes = |id: usize| 4 * numel(&model.tensors[id].shape) as u64;
    let input_size = pow2_region(model.input_bytes() as u64);
    let output_size = pow2_region(bytes(model.output));
    let output_addr = align(u64::from(CODE_END) + input_size, output_size);
    addr[model.input] = CODE_END;
    let mut next = output_addr + output_size;
    let mut scratch = Vec::with_capacity(model.nodes.len());
    for node in &model.nodes {
        if node.output == model.output {
            addr[node.output] = output_addr as u32;
        } else {
            addr[node.output] = next as u32;
            next = align(next + bytes(node.output), 32);
        }
        let shapes: Vec<&[usize]> = node
            .inputs
            .iter()
            .map(|&i| model.tensors[i].shape.as_slice())
            .collect();
        let bufs = node
            .op
            .scratch(&shapes)
            .into_iter()
            .map(|words| {
                let a = next as u32;
                next = align(next + 4 * words as u64, 32);
                (a, words)
            })
            .collect();
        scratch.push(bufs);
        if next > 1 << 32 {
            return Err(PlanError::Memory(next - u64::from(CODE_END)));
        }
    }
    Ok(Layout {
        tensors: addr,
        scratch,
        input: Region {
            addr: CODE_END,
            size: input_size as u32,
        },
        output: Region {
            addr: output_addr as u32,
            size: output_size as u32,
        },
        weights_end: w as u32,
        ram_end: next,
    })
}
