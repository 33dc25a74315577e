//! A weight's values, held where every engine reads them.
//!
//! A compiled model keeps all its weights in one word buffer laid out as
//! the memory image's weight region ([`crate::engine::Compiled`]): the
//! native engine reads them there and the image maps the same words
//! read-only ([`verdict_vm::memory::Memory::map_rom`]), so an agent holds
//! each weight once, not once per engine.

use std::fmt;
use std::ops::{Deref, DerefMut, Range};
use std::sync::Arc;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use verdict_vm::CODE_END;

use crate::plan::WEIGHTS_BASE;

/// A weight's values: a run of a word buffer that may hold other weights
/// too. Serialized as its values alone, like a `Vec<f32>`.
#[derive(Clone)]
pub struct Weights {
    words: Arc<[u32]>,
    range: Range<usize>,
}

impl Weights {
    /// The run `range` of `words`.
    ///
    /// # Panics
    ///
    /// If `range` is not inside `words`.
    pub fn shared(words: Arc<[u32]>, range: Range<usize>) -> Weights {
        assert!(range.start <= range.end && range.end <= words.len());
        Weights { words, range }
    }

    /// The values' bit patterns.
    pub fn bits(&self) -> &[u32] {
        &self.words[self.range.clone()]
    }
}

impl From<Vec<f32>> for Weights {
    fn from(values: Vec<f32>) -> Weights {
        let words: Arc<[u32]> = values.into_iter().map(f32::to_bits).collect();
        let range = 0..words.len();
        Weights { words, range }
    }
}

impl Deref for Weights {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        let bits = self.bits();
        // SAFETY: `u32` and `f32` have the same size and alignment, and
        // every bit pattern is a valid `f32`.
        unsafe { std::slice::from_raw_parts(bits.as_ptr().cast(), bits.len()) }
    }
}

impl DerefMut for Weights {
    /// The values, copied out of a shared buffer first.
    fn deref_mut(&mut self) -> &mut [f32] {
        if Arc::get_mut(&mut self.words).is_none() || self.range != (0..self.words.len()) {
            *self = Weights::from(self.to_vec());
        }
        let words = Arc::get_mut(&mut self.words).expect("just made unique");
        // SAFETY: as in `deref`, and `words` is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len()) }
    }
}

impl PartialEq for Weights {
    fn eq(&self, other: &Weights) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Serialized as one byte string: the values' binary32 words,
/// little-endian. A decoder reads it with one copy, where a sequence of
/// `f32` would be decoded value by value (a third of a large model's load
/// time).
impl Serialize for Weights {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bits = self.bits();
        if cfg!(target_endian = "little") {
            // SAFETY: the bytes of `bits`, which has no padding; a `u8`
            // needs no alignment.
            let bytes = unsafe { std::slice::from_raw_parts(bits.as_ptr().cast(), 4 * bits.len()) };
            serializer.serialize_bytes(bytes)
        } else {
            let bytes: Vec<u8> = bits.iter().flat_map(|w| w.to_le_bytes()).collect();
            serializer.serialize_bytes(&bytes)
        }
    }
}

/// The most values a weight can have: the weight region's words.
const MAX_VALUES: usize = ((CODE_END - WEIGHTS_BASE) / 4) as usize;

impl<'de> Deserialize<'de> for Weights {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Weights, D::Error> {
        struct Bytes;

        impl<'de> Visitor<'de> for Bytes {
            type Value = Weights;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("binary32 values as little-endian bytes")
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Weights, E> {
                if !bytes.len().is_multiple_of(4) || bytes.len() / 4 > MAX_VALUES {
                    return Err(E::invalid_length(bytes.len(), &self));
                }
                let mut words = Arc::<[u32]>::new_uninit_slice(bytes.len() / 4);
                let slots = Arc::get_mut(&mut words).expect("just made");
                for (slot, word) in slots.iter_mut().zip(bytes.as_chunks::<4>().0) {
                    slot.write(u32::from_le_bytes(*word));
                }
                // SAFETY: every slot was written above: there are as many
                // words as slots.
                let words = unsafe { words.assume_init() };
                Ok(Weights {
                    range: 0..words.len(),
                    words,
                })
            }

            /// A format that writes bytes as a sequence (JSON does).
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Weights, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                self.visit_bytes(&bytes)
            }
        }

        deserializer.deserialize_bytes(Bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_one_string_of_little_endian_words() {
        let values = [1.5f32, -0.0, f32::NAN, 3.0];
        let config = bincode::config::standard();
        let words: Arc<[u32]> = [7, 8]
            .into_iter()
            .chain(values.iter().map(|v| v.to_bits()))
            .collect();
        let shared = Weights::shared(words, 2..6);
        let bytes = bincode::serde::encode_to_vec(&shared, config).unwrap();
        let expected: Vec<u8> = std::iter::once(16)
            .chain(values.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        assert_eq!(bytes, expected);
        let (back, _): (Weights, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back.bits(), shared.bits());
        let json = serde_json::to_string(&shared).unwrap();
        assert_eq!(
            serde_json::from_str::<Weights>(&json).unwrap().bits(),
            shared.bits()
        );
    }

    #[test]
    fn a_length_that_is_not_whole_words_is_refused() {
        let config = bincode::config::standard();
        let err = bincode::serde::decode_from_slice::<Weights, _>(&[3, 1, 2, 3], config)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid length 3"), "{err}");
    }

    #[test]
    fn a_write_copies_the_run_out_of_a_shared_buffer() {
        let words: Arc<[u32]> = (0..8u32).map(|i| (i as f32).to_bits()).collect();
        let mut w = Weights::shared(words.clone(), 2..5);
        w[0] = 9.0;
        assert_eq!(&*w, &[9.0, 3.0, 4.0]);
        assert_eq!(f32::from_bits(words[2]), 2.0);
    }
}
