//! Command-line arguments that `dnnc` and `verdict` share.

use std::path::PathBuf;

use verdict_dnn::generation::Sampling;

use crate::text::{Text, TextError};

/// A generation's prompt: token ids, or text and the tokenizer that turns
/// it into ids (and the generated ids back into text).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct PromptArgs {
    /// The prompt's token ids: `845,139,124`.
    #[arg(
        long,
        value_name = "ID,...",
        value_delimiter = ',',
        conflicts_with = "prompt"
    )]
    pub prompt_ids: Vec<u32>,
    /// The prompt as text, tokenized by `--tokenizer` or else the
    /// package's own tokenizer.
    #[arg(long)]
    pub prompt: Option<String>,
    /// A Hugging Face `tokenizer.json` (read locally; nothing downloads):
    /// tokenizes `--prompt` and shows generated tokens as text, in place
    /// of the tokenizer the package carries.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
}

impl PromptArgs {
    /// Whether a prompt was given.
    pub fn given(&self) -> bool {
        !self.prompt_ids.is_empty() || self.prompt.is_some()
    }

    /// The tokenizer: the one given, else the one the package carries
    /// (`packaged`), if any.
    ///
    /// # Errors
    ///
    /// [`TextError::Load`] or [`TextError::Packaged`].
    pub fn text(&self, packaged: Option<&str>) -> Result<Option<Text>, TextError> {
        match (&self.tokenizer, packaged) {
            (Some(path), _) => Text::load(path).map(Some),
            (None, Some(json)) => Text::from_json(json).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The prompt's ids, as binary32 values; `text` is [`PromptArgs::text`].
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`] if the tokenizer fails on the text,
    /// [`TextError::Missing`] if there is none to read it.
    pub fn ids(&self, text: Option<&Text>) -> Result<Vec<f32>, TextError> {
        let ids = match (&self.prompt, text) {
            (Some(prompt), Some(text)) => text.encode(prompt)?,
            (Some(_), None) => return Err(TextError::Missing),
            (None, _) => self.prompt_ids.clone(),
        };
        Ok(ids.into_iter().map(|id| id as f32).collect())
    }
}

/// A sampled generation's parameters (`dnnc convert --generate --sample`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SamplingArgs {
    /// The generator's seed [default: 0].
    #[arg(long)]
    pub seed: Option<u32>,
    /// Logits are divided by it; 0 is greedy [default: 1].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep only the K most likely tokens (0: all) [default: 0].
    #[arg(long = "top-k", value_name = "K")]
    pub top_k: Option<u32>,
    /// Then the fewest most likely tokens holding this share of the
    /// probability [default: 1].
    #[arg(long = "top-p", value_name = "P")]
    pub top_p: Option<f32>,
}

impl SamplingArgs {
    /// The parameters, if any was given (the others at their defaults).
    pub fn sampling(&self) -> Option<Sampling> {
        let given = self.seed.is_some()
            || self.temperature.is_some()
            || self.top_k.is_some()
            || self.top_p.is_some();
        let d = Sampling::default();
        given.then(|| Sampling {
            seed: self.seed.unwrap_or(d.seed),
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p: self.top_p.unwrap_or(d.top_p),
        })
    }
}
