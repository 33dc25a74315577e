//! Text prompts and generated text through a Hugging Face `tokenizer.json`
//! read from a local file (nothing downloads).

use std::borrow::Borrow;
use std::path::{Path, PathBuf};

/// A tokenizer loaded from a `tokenizer.json`.
pub struct Text {
    tokenizer: tokenizers::Tokenizer,
}

/// Why text could not be turned into token ids, or back.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The file is missing or is not a tokenizer.
    #[error("tokenizer {path}: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A package's tokenizer is not a `tokenizer.json`.
    #[error("the package's tokenizer: {0}")]
    Packaged(String),
    /// A text prompt with no tokenizer to read it.
    #[error("a text prompt needs a tokenizer: this package carries none, give --tokenizer FILE")]
    Missing,
    /// The tokenizer failed on this text or these ids.
    #[error("tokenizer: {0}")]
    Tokenize(String),
}

impl Text {
    /// Reads `path`.
    ///
    /// # Errors
    ///
    /// [`TextError::Load`] naming the file.
    pub fn load(path: &Path) -> Result<Text, TextError> {
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| TextError::Load {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Text { tokenizer })
    }

    /// Reads a `tokenizer.json`'s text, as a package carries it.
    ///
    /// # Errors
    ///
    /// [`TextError::Packaged`].
    pub fn from_json(json: &str) -> Result<Text, TextError> {
        let tokenizer = json
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| TextError::Packaged(e.to_string()))?;
        Ok(Text { tokenizer })
    }

    /// Token ids it gives run from 0 to this, less one (added tokens
    /// included).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The token ids of `text`, without special tokens added.
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids` (special tokens skipped).
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`].
    pub fn decode(&self, ids: &[u32]) -> Result<String, TextError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| TextError::Tokenize(e.to_string()))
    }
}

/// Generated tokens turned into text as they come: the text so far is
/// decoded anew at each token and its new end given, since a token may end
/// inside a character. `T` holds the tokenizer: `&Text` or `Arc<Text>`.
pub struct TextStream<T> {
    text: T,
    ids: Vec<u32>,
    shown: String,
}

impl<T: Borrow<Text>> TextStream<T> {
    /// An empty stream through `text`.
    pub fn new(text: T) -> TextStream<T> {
        TextStream {
            text,
            ids: Vec::new(),
            shown: String::new(),
        }
    }

    /// The text `id` adds.
    ///
    /// # Errors
    ///
    /// [`TextError::Tokenize`].
    pub fn push(&mut self, id: u32) -> Result<String, TextError> {
        self.ids.push(id);
        let all = self.text.borrow().decode(&self.ids)?;
        let piece = all
            .strip_prefix(self.shown.as_str())
            .unwrap_or(&all)
            .to_owned();
        self.shown = all;
        Ok(piece)
    }

    /// The whole text so far.
    pub fn text(&self) -> &str {
        &self.shown
    }
}
