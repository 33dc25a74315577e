//! ONNX to verdict model IR through tract-onnx.
//!
//! [`convert_file`] reads an ONNX model with tract-onnx ([`load`]), lets
//! tract type and declutter it, and lowers tract's typed ops onto verdict
//! ops ([`lower`], driven by the op list in [`registry`]). [`check`] runs
//! tract and both verdict engines on one input and compares them;
//! [`inspect`] summarises a package, [`profile`] times its ops; [`tensor_io`] reads and writes the
//! tensors the command line takes (`.npy`, JSON, PNG).

pub mod args;
pub mod check;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod load;
pub mod lower;
pub mod npy;
pub mod profile;
pub mod reader;
pub mod registry;
pub mod tensor_io;
pub mod text;

use std::path::Path;

use tract_onnx::prelude::TypedModel;
use verdict_dnn::ir::Model;

pub use error::ConvertError;
pub use load::{Constant, InputShape, Inputs, Preprocess};
pub use lower::Progress;

/// A converted model, with the tract model it came from (for checks).
#[derive(Debug)]
pub struct Converted {
    /// tract's decluttered typed model.
    pub tract: TypedModel,
    /// The verdict model.
    pub model: Model,
}

/// Converts ONNX bytes; `dir` is where external data files are looked up,
/// `inputs` fixes the graph inputs' shapes and binds constants.
///
/// # Errors
///
/// A [`ConvertError`] naming what could not be read or mapped.
pub fn convert_bytes(
    bytes: &[u8],
    dir: Option<&Path>,
    name: &str,
    inputs: &Inputs,
    progress: Progress<'_>,
) -> Result<Converted, ConvertError> {
    guarded(|| {
        let inference = load::parse_onnx(bytes, dir, &inputs.constants, inputs.output.as_deref())?;
        let tract = load::typed_model(inference, &inputs.shapes)?;
        let model = lower::lower(&tract, name, &inputs.preprocess, progress)?;
        Ok(Converted { tract, model })
    })
}

/// Runs a conversion, turning a panic into an error.
///
/// tract indexes its tables by names read from the file and can panic on a
/// malformed model (or a sequence past a model's positions) that the checks
/// before it do not catch: that is an error of this file, never a crash of
/// the caller, so the panic is not printed either (the panic hook is
/// wrapped once, and stays silent only on a thread inside this call).
pub(crate) fn guarded<T>(
    convert: impl FnOnce() -> Result<T, ConvertError>,
) -> Result<T, ConvertError> {
    thread_local! {
        static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(convert));
    GUARDED.with(|g| g.set(was));
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an internal error".to_owned());
        Err(ConvertError::Tract {
            stage: "converting",
            message: format!("tract failed on this model: {message}"),
        })
    })
}

/// Why an ONNX file could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The model could not be converted.
    #[error("{path}: {source}")]
    Convert {
        /// The file.
        path: String,
        /// What went wrong.
        source: ConvertError,
    },
}

/// Converts an ONNX file; the model is named after the file stem.
///
/// # Errors
///
/// [`FileError`] naming the file.
pub fn convert_file(
    path: &Path,
    inputs: &Inputs,
    progress: Progress<'_>,
) -> Result<Converted, FileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: shown.clone(),
        source,
    })?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    convert_bytes(&bytes, path.parent(), name, inputs, progress).map_err(|source| {
        FileError::Convert {
            path: shown,
            source,
        }
    })
}
