//! Generation packages: a decoder's passes unrolled into one program.
//!
//! The program prefills a prompt of fixed length, then decodes one token
//! per pass, each pass reading the previous pass's token and KV cache
//! (tensors in VM memory like any other), so op boundaries span every pass
//! and a dispute narrows to one op of one pass. Its input is the prompt's
//! token ids, its output the new tokens; [`Generation`] records what a
//! runner needs beyond the graph.

use serde::{Deserialize, Serialize};

use crate::ir::{Model, ModelError, TensorId, numel};

/// What a generation package's program computes, besides its graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// Token ids run from 0 to `vocab - 1`; a larger id reads no embedding
    /// row (NaN, as Gather's spec says), so a prompt is checked against it.
    pub vocab: usize,
    /// Greedy decoding stops at this id: every token after it is this id too.
    pub eos: Option<u32>,
    /// The tensor holding each new token, in order: a runner can stream a
    /// token once its pass is done.
    pub tokens: Vec<TensorId>,
}

/// A prompt that a generation package cannot take.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PromptError {
    /// The prompt's length is not the package's.
    #[error("the prompt has {got} tokens; this package takes exactly {want}")]
    Length {
        /// Tokens given.
        got: usize,
        /// Tokens the package takes.
        want: usize,
    },
    /// A token id outside the vocabulary.
    #[error("prompt token {index} is {value}, not a token id from 0 to {}", vocab - 1)]
    Token {
        /// Its position.
        index: usize,
        /// The value given.
        value: f32,
        /// The vocabulary's size.
        vocab: usize,
    },
}

impl Generation {
    /// How many tokens the program generates.
    pub fn max_new_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Why `ids` is not a prompt of `model` (whose generation this is), if
    /// it is not.
    ///
    /// # Errors
    ///
    /// [`PromptError`] naming the first problem.
    pub fn check_prompt(&self, model: &Model, ids: &[f32]) -> Result<(), PromptError> {
        let want = numel(&model.tensors[model.input].shape);
        if ids.len() != want {
            return Err(PromptError::Length {
                got: ids.len(),
                want,
            });
        }
        let bad = |&v: &f32| v.trunc() != v || !(0.0..self.vocab as f32).contains(&v);
        match ids.iter().position(bad) {
            Some(index) => Err(PromptError::Token {
                index,
                value: ids[index],
                vocab: self.vocab,
            }),
            None => Ok(()),
        }
    }

    /// Checks that the token tensors are computed, one value each, and
    /// together as many as the output's values.
    pub(crate) fn validate(&self, model: &Model) -> Result<(), ModelError> {
        let bad = |message: &str| ModelError::Graph {
            node: "<generation>".into(),
            message: message.into(),
        };
        let computed = |t: &TensorId| model.nodes.iter().any(|n| n.output == *t);
        if !self.tokens.iter().all(computed) {
            return Err(bad("a token tensor is not computed by a node"));
        }
        if self
            .tokens
            .iter()
            .any(|&t| numel(&model.tensors[t].shape) != 1)
        {
            return Err(bad("a token tensor holds more than one value"));
        }
        if self.tokens.len() != numel(&model.tensors[model.output].shape) {
            return Err(bad("the output is not one value per token"));
        }
        if self.vocab == 0 || self.vocab > 1 << 24 {
            return Err(bad("the vocabulary is empty or beyond 2^24 ids"));
        }
        Ok(())
    }
}
