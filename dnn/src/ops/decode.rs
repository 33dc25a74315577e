//! Decode: a model input posted as small unsigned integers (image bytes,
//! token ids) widened to the binary32 values every other op reads.
//!
//! A claim posts its input as calldata, 16 gas a byte: an image as bytes
//! costs a quarter of its binary32 values. The input region then holds the
//! integers packed little-endian, `width` bytes each (the region's words
//! are those bytes), and Decode is the one op that reads it. Canonical
//! semantics, for every element `i`:
//!
//! ```text
//! v = the width-byte little-endian unsigned integer at byte i·width
//! y[i] = itof(v)            (exact: v < 2^16)
//! ```

use serde::{Deserialize, Serialize};
use verdict_vm::Op;
use verdict_vm::builder::ZERO;

use crate::emit::Emitter;
#[cfg(feature = "gpu")]
use crate::gpu::launch::{Plan, Site};
#[cfg(feature = "gpu")]
use crate::gpu::params::DecodeParams;
use crate::ir::numel;
use crate::ops::{Io, NativeIo, ShapeError, elementwise_shape};
use crate::scalar::{Eval, Scalar};

/// How a model's input values are laid out in its input region, and so in
/// a claim's input bytes, when they are not binary32 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// One byte a value, 0 to 255 (image pixels).
    U8,
    /// Two bytes a value, little-endian, 0 to 65,535 (token ids).
    U16,
}

impl Encoding {
    /// Bytes a value takes.
    pub fn width(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::U16 => 2,
        }
    }

    /// The largest value it holds.
    pub fn max(self) -> u32 {
        match self {
            Encoding::U8 => u8::MAX.into(),
            Encoding::U16 => u16::MAX.into(),
        }
    }

    /// Its name, as `dnnc` flags and messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::U8 => "u8",
            Encoding::U16 => "u16",
        }
    }

    /// The encoding a name spells (`u8`, `u16`).
    pub fn parse(name: &str) -> Option<Encoding> {
        [Encoding::U8, Encoding::U16]
            .into_iter()
            .find(|e| e.name() == name)
    }

    /// `v`'s integer, if `v` is one this encoding holds.
    pub fn integer(self, v: f32) -> Option<u32> {
        (v.trunc() == v && (0.0..=self.max() as f32).contains(&v)).then_some(v as u32)
    }

    /// Value `i` of the packed little-endian words `words`.
    pub fn value(self, words: &[u32], i: usize) -> u32 {
        let byte = i * self.width();
        (words[byte / 4] >> (8 * (byte % 4))) & self.max()
    }
}

/// The input's values widened from their [`Encoding`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decode {
    /// How the input holds them.
    pub from: Encoding,
}

impl Decode {
    pub(crate) fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ShapeError> {
        elementwise_shape(inputs)
    }

    pub(crate) fn emit(&self, e: &mut Emitter, io: &Io) {
        let n = numel(&io.output.shape);
        let width = self.from.width();
        e.nd_loop(
            &[n],
            &[io.inputs[0].addr, io.output.addr],
            &[vec![width as i64], vec![4]],
            |e, p| {
                let (v, hi) = (e.reg(), e.reg());
                e.b.load(Op::Lbu, v, p[0], 0);
                for k in 1..width {
                    e.b.load(Op::Lbu, hi, p[0], k as i32);
                    e.b.alu(Op::Sll, hi, hi, ZERO, 8 * k as i32);
                    e.b.alu(Op::Or, v, v, hi, 0);
                }
                e.b.float(Op::Itof, v, v, ZERO);
                e.b.store(Op::Sw, v, p[1], 0);
                e.free(v);
                e.free(hi);
            },
        );
    }

    pub(crate) fn native(&self, _io: &Io, data: NativeIo<'_>) {
        for (i, y) in data.output.iter_mut().enumerate() {
            let v = self.from.value(data.inputs[0], i);
            *y = Eval.float(Op::Itof, v, v);
        }
    }
}

#[cfg(feature = "gpu")]
impl Decode {
    /// The OpenCL launch (`copy.cl`): one value a work item.
    pub(crate) fn gpu(&self, s: &Site<'_>) -> Vec<Plan> {
        let params = DecodeParams {
            x: s.input(0),
            y: s.y(),
            count: s.count(),
            width: self.from.width(),
        };
        vec![Plan::flat("decode", params, s.count())]
    }
}
