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
use crate::ops::sample::PARAMS;

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
    /// Tokens are drawn by [`crate::ops::sample::Sample`], whose five
    /// parameters ([`Sampling::params`]) follow the prompt in the input;
    /// otherwise each is the ArgMax.
    pub sampled: bool,
    /// The `tokenizer.json` that turns text into prompt ids and tokens back
    /// into text, if the package carries one: committed by the package's
    /// hash like its weights, so every party reads a prompt's text alike.
    pub tokenizer: Option<String>,
}

/// How a sampled generation draws its tokens: what a claim on it posts
/// after the prompt, as integers (docs/spec/kernels.md, Sample).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// The generator's seed.
    pub seed: u32,
    /// Logits are divided by it; 0 is greedy. Held in thousandths, at most
    /// 65.535.
    pub temperature: f32,
    /// Only the `top_k` largest weights are kept (0: all).
    pub top_k: u32,
    /// Then the fewest largest weights holding this share of their mass,
    /// in `[0, 1]` (1: all). Held in ten-thousandths.
    pub top_p: f32,
}

impl Default for Sampling {
    /// Sampling from the model's distribution as it is: temperature 1, no
    /// top-k or top-p, seed 0.
    fn default() -> Sampling {
        Sampling {
            seed: 0,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl Sampling {
    /// The five input values: the seed's low and high 16 bits, the
    /// temperature in thousandths, top-k, top-p in ten-thousandths (each
    /// fits 16 bits, so a `u16` input holds them).
    ///
    /// # Errors
    ///
    /// [`PromptError::Sampling`] naming a parameter out of its range.
    pub fn params(&self) -> Result<[f32; 5], PromptError> {
        let bad = |what: &'static str, range: &'static str| PromptError::Sampling { what, range };
        let thousandths = (self.temperature * 1000.0).round();
        if !(0.0..=65535.0).contains(&thousandths) {
            return Err(bad("temperature", "from 0 to 65.535"));
        }
        if self.top_k > 0xFFFF {
            return Err(bad("top-k", "from 0 to 65535"));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return Err(bad("top-p", "from 0 to 1"));
        }
        Ok([
            (self.seed & 0xFFFF) as f32,
            (self.seed >> 16) as f32,
            thousandths,
            self.top_k as f32,
            (self.top_p * 10000.0).round(),
        ])
    }
}

/// A prompt that a generation package cannot take.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PromptError {
    /// A sampling parameter out of its range.
    #[error("the {what} must be {range}")]
    Sampling {
        /// The parameter.
        what: &'static str,
        /// Its range.
        range: &'static str,
    },
    /// Sampling parameters for a greedy package.
    #[error("this package generates greedily; it takes no sampling parameters")]
    Greedy,
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

    /// The token node `node` of `model` (whose generation this is) made,
    /// if its output is one of the tokens; `words` is that output, as
    /// [`crate::engine::Compiled::infer_observed`] shows it.
    pub fn token_of(&self, model: &Model, node: usize, words: &[u32]) -> Option<u32> {
        let output = model.nodes[node].output;
        (self.tokens.contains(&output)).then(|| f32::from_bits(words[0]) as u32)
    }

    /// The nodes of `model` (whose generation this is) that make the
    /// tokens, in node order: what a VM run observes to stream them.
    pub fn token_nodes(&self, model: &Model) -> Vec<usize> {
        (0..model.nodes.len())
            .filter(|&n| self.tokens.contains(&model.nodes[n].output))
            .collect()
    }

    /// Tokens in a prompt of `model` (whose generation this is).
    pub fn prompt_len(&self, model: &Model) -> usize {
        let sampling = if self.sampled { PARAMS } else { 0 };
        numel(&model.tensors[model.input].shape) - sampling
    }

    /// The input of `model` (whose generation this is) for the prompt `ids`
    /// and, for a sampled generation, `sampling` (its default if `None`).
    ///
    /// # Errors
    ///
    /// [`PromptError`] naming the first problem of the prompt, or of the
    /// sampling parameters, or sampling parameters given to a greedy one.
    pub fn input(
        &self,
        model: &Model,
        ids: &[f32],
        sampling: Option<Sampling>,
    ) -> Result<Vec<f32>, PromptError> {
        self.check_prompt(model, ids)?;
        let params = match (self.sampled, sampling) {
            (false, Some(_)) => return Err(PromptError::Greedy),
            (false, None) => Vec::new(),
            (true, s) => s.unwrap_or_default().params()?.to_vec(),
        };
        Ok([ids, &params].concat())
    }

    /// Why `ids` is not a prompt of `model` (whose generation this is), if
    /// it is not.
    ///
    /// # Errors
    ///
    /// [`PromptError`] naming the first problem.
    pub fn check_prompt(&self, model: &Model, ids: &[f32]) -> Result<(), PromptError> {
        let want = self.prompt_len(model);
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
