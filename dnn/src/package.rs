//! The model package (`.dnn`): everything needed to run, prove and register
//! a model, in one versioned, content-hashed file.
//!
//! Bytes: the magic `VRDDNN\0\0`, a u32 little-endian format version, the
//! keccak256 of the body (32 bytes), then the body: the bincode 2 (standard
//! configuration, serde) encoding of [`Package`].

use std::path::Path;

use alloy_primitives::{B256, keccak256};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use verdict_vm::keccak::hash_chunks;

use crate::compile::{CompileError, Program, compile};
use crate::ir::{Model, ModelError};

/// First bytes of every package.
pub const PACKAGE_MAGIC: [u8; 8] = *b"VRDDNN\0\0";
/// The body digest's chunk: 1 MiB.
const DIGEST_CHUNK: usize = 1 << 20;
/// Chunks hashed together by one thread: a multiple of every backend's
/// lanes.
const DIGEST_GROUP: usize = 8;

/// The header's digest of a body: keccak256 of the keccak256 of each
/// [`DIGEST_CHUNK`] of it in order (the last one shorter), so that the
/// chunks hash side by side, eight to a core with AVX-512 and over every
/// core: a 500 MB package checks at several times one keccak's speed. A
/// package's identity ([`Package::hash`]) is still the keccak256 of its
/// whole file.
fn body_digest(body: &[u8]) -> B256 {
    let groups: Vec<Vec<B256>> = body
        .par_chunks(DIGEST_GROUP * DIGEST_CHUNK)
        .map(|group| hash_chunks(group, DIGEST_CHUNK))
        .collect();
    keccak256(groups.concat().concat())
}

/// Current format version: 2 since Conv carries its fused Relu, 3 since a
/// model names the parts of its input and output (`Ports`) and the header
/// holds a chunked digest of the body, 6 since a generation package may
/// carry its tokenizer, 7 since weights are byte strings; a package of an
/// earlier version does not decode, it must be converted again.
pub const PACKAGE_VERSION: u32 = 7;
const HASH_OFFSET: usize = PACKAGE_MAGIC.len() + 4;
const BODY_OFFSET: usize = HASH_OFFSET + 32;
/// Largest body a package may declare (bounds decoding of corrupt input).
const MAX_BODY: usize = 1 << 32;

/// A model with its compiled program and image root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// The model IR with its weights.
    pub model: Model,
    /// Program, layout and op boundary table.
    pub program: Program,
    /// Memory root of code and weights with a zeroed input region.
    pub image_root: B256,
}

/// Why package bytes were rejected.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Not a package.
    #[error("not a verdict model package (bad magic)")]
    Magic,
    /// Written by another format version.
    #[error("package format version {0}, this build reads version {PACKAGE_VERSION}")]
    Version(u32),
    /// Shorter than its header.
    #[error("package is truncated ({0} bytes)")]
    Truncated(usize),
    /// The body does not match its hash: corrupt or truncated.
    #[error("package content hash mismatch: the file is corrupt or truncated")]
    Hash,
    /// The body does not decode.
    #[error("package body does not decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Bytes after the body.
    #[error("{0} trailing bytes after the package body")]
    Trailing(usize),
    /// The model inside is malformed.
    #[error("invalid model in package: {0}")]
    Model(#[from] ModelError),
    /// The program or image root does not match a fresh compile of the model.
    #[error("package program does not match its model: {0}")]
    Mismatch(&'static str),
    /// Compiling the model failed.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
}

impl Package {
    /// Compiles `model` into a package.
    ///
    /// # Errors
    ///
    /// [`PackageError::Compile`] if the model does not compile.
    pub fn build(model: Model) -> Result<Package, PackageError> {
        let program = compile(&model)?;
        let image_root = program.image_root(&model);
        Ok(Package {
            model,
            program,
            image_root,
        })
    }

    /// The file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .expect("a package always encodes");
        let mut out = Vec::with_capacity(BODY_OFFSET + body.len());
        out.extend_from_slice(&PACKAGE_MAGIC);
        out.extend_from_slice(&PACKAGE_VERSION.to_le_bytes());
        out.extend_from_slice(body_digest(&body).as_slice());
        out.extend_from_slice(&body);
        out
    }

    /// Parses file bytes: header, content hash, body, model validity. The
    /// program is not checked against the model: see [`Package::load`].
    ///
    /// # Errors
    ///
    /// A [`PackageError`] naming what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() < PACKAGE_MAGIC.len() || bytes[..PACKAGE_MAGIC.len()] != PACKAGE_MAGIC {
            return Err(PackageError::Magic);
        }
        if bytes.len() < BODY_OFFSET {
            return Err(PackageError::Truncated(bytes.len()));
        }
        let version = u32::from_le_bytes(
            bytes[PACKAGE_MAGIC.len()..HASH_OFFSET]
                .try_into()
                .expect("4 bytes"),
        );
        if version != PACKAGE_VERSION {
            return Err(PackageError::Version(version));
        }
        let body = &bytes[BODY_OFFSET..];
        if body_digest(body).as_slice() != &bytes[HASH_OFFSET..BODY_OFFSET] {
            return Err(PackageError::Hash);
        }
        let config = bincode::config::standard().with_limit::<MAX_BODY>();
        let (package, used): (Package, usize) = bincode::serde::decode_from_slice(body, config)?;
        if used != body.len() {
            return Err(PackageError::Trailing(body.len() - used));
        }
        package.model.validate()?;
        Ok(package)
    }

    /// The package's identity: keccak256 of its file bytes.
    pub fn hash(&self) -> B256 {
        keccak256(self.to_bytes())
    }

    /// Recompiles the model and checks that the program and image root in
    /// the package are exactly what this build produces.
    ///
    /// # Errors
    ///
    /// [`PackageError::Mismatch`] naming the part that differs.
    pub fn verify(&self) -> Result<(), PackageError> {
        self.verify_program()?;
        if self.program.image_root(&self.model) != self.image_root {
            return Err(PackageError::Mismatch("image root"));
        }
        Ok(())
    }

    /// Recompiles the model and checks that the program, layout and
    /// boundary table in the package are what this build produces: what a
    /// native run depends on (it writes every tensor where the program
    /// does). The image root, which only the chain reads, is left to
    /// [`Package::verify`].
    ///
    /// # Errors
    ///
    /// [`PackageError::Mismatch`] if the program differs.
    pub fn verify_program(&self) -> Result<(), PackageError> {
        if compile(&self.model)? != self.program {
            return Err(PackageError::Mismatch("program, layout or boundary table"));
        }
        Ok(())
    }

    /// Writes the package to `path`.
    ///
    /// # Errors
    ///
    /// [`PackageError::Io`] naming the file.
    pub fn save(&self, path: &Path) -> Result<(), PackageError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| PackageError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads a package file and verifies it ([`Package::verify`]): the
    /// program, layout, boundary table and image root must be what this
    /// build compiles from the model. An engine that runs the model natively
    /// while the chain runs the package's program would disagree with the
    /// chain, so a file is never trusted as it is. Verifying costs about
    /// twice the read itself (0.3 ms for the digits MLP, 0.1 s more for a
    /// 16 MiB package).
    ///
    /// # Errors
    ///
    /// [`PackageError::Io`] naming the file, what [`Package::from_bytes`]
    /// rejects, or [`PackageError::Mismatch`] naming the part that differs.
    pub fn load(path: &Path) -> Result<Package, PackageError> {
        let package = Package::read(path)?;
        package.verify()?;
        Ok(package)
    }

    /// [`Package::load`], with the package's identity ([`Package::hash`])
    /// hashed from the file's bytes while they are read, rather than from
    /// the package encoded again: a large model's file then never sits in
    /// memory beside its decoded copy and a second encoding.
    ///
    /// # Errors
    ///
    /// As [`Package::load`].
    pub fn load_hashed(path: &Path) -> Result<(Package, B256), PackageError> {
        let bytes = read_file(path)?;
        let hash = keccak256(&bytes);
        let package = Package::from_bytes(&bytes)?;
        drop(bytes);
        package.verify()?;
        Ok((package, hash))
    }

    /// Reads a package file for a native run: [`Package::load`] without
    /// building and hashing the memory image ([`Package::verify_program`]
    /// instead of [`Package::verify`]). Whatever registers, claims or
    /// disputes the model loads it with [`Package::load`].
    ///
    /// # Errors
    ///
    /// As [`Package::load`], the image root aside.
    pub fn load_for_native(path: &Path) -> Result<Package, PackageError> {
        let package = Package::read(path)?;
        package.verify_program()?;
        Ok(package)
    }

    fn read(path: &Path) -> Result<Package, PackageError> {
        Package::from_bytes(&read_file(path)?)
    }
}

/// A package file's bytes.
fn read_file(path: &Path) -> Result<Vec<u8>, PackageError> {
    std::fs::read(path).map_err(|source| PackageError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ModelBuilder;
    use crate::ops::OpKind;
    use crate::ops::gemm::Gemm;

    fn package() -> Package {
        let mut b = ModelBuilder::new("tiny", &[1, 4]);
        let w = b
            .weight("w", &[4, 3], (0..12).map(|i| i as f32 - 6.0).collect())
            .unwrap();
        let y = b
            .node("fc", OpKind::Gemm(Gemm::default()), &[b.input(), w])
            .unwrap();
        Package::build(b.finish(y)).unwrap()
    }

    /// Writes `package` to a fresh file and loads it back.
    fn reload(package: &Package, name: &str) -> Result<Package, PackageError> {
        let dir = std::env::temp_dir().join(format!("verdict-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        package.save(&path).unwrap();
        let loaded = Package::load(&path);
        std::fs::remove_file(&path).unwrap();
        loaded
    }

    #[test]
    fn a_package_hashed_as_read_has_its_own_hash() {
        let good = package();
        let dir = std::env::temp_dir().join(format!("verdict-hashed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("good.dnn");
        good.save(&path).unwrap();
        let (loaded, hash) = Package::load_hashed(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(loaded, good);
        assert_eq!(hash, good.hash());
    }

    #[test]
    fn load_refuses_a_program_that_is_not_its_models() {
        let good = package();
        assert_eq!(reload(&good, "good.dnn").unwrap(), good);

        let mut program = good.clone();
        program.program.boundaries[1] += 1;
        assert!(matches!(
            reload(&program, "program.dnn"),
            Err(PackageError::Mismatch("program, layout or boundary table"))
        ));

        // Weights changed under the program and image root of the original:
        // the native engine would compute another model than the chain.
        let mut weights = good.clone();
        let w = weights
            .model
            .tensors
            .iter_mut()
            .find_map(|t| t.data.as_mut());
        w.unwrap()[0] += 1.0;
        let err = reload(&weights, "weights.dnn").unwrap_err();
        assert!(matches!(err, PackageError::Mismatch("image root")), "{err}");
        assert!(
            err.to_string().contains("does not match its model"),
            "{err}"
        );
    }

    /// A native run checks the program but never builds the image: the
    /// weights' file runs as it is, under its own program; a program that is
    /// not the model's is refused all the same.
    #[test]
    fn loading_for_a_native_run_checks_the_program_not_the_image_root() {
        let dir = std::env::temp_dir().join(format!("verdict-native-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = package();
        let mut root = good.clone();
        root.image_root = B256::ZERO;
        let path = dir.join("root.dnn");
        root.save(&path).unwrap();
        assert_eq!(Package::load_for_native(&path).unwrap(), root);
        assert!(matches!(
            Package::load(&path),
            Err(PackageError::Mismatch("image root"))
        ));
        let mut program = good;
        program.program.boundaries[1] += 1;
        program.save(&path).unwrap();
        assert!(matches!(
            Package::load_for_native(&path),
            Err(PackageError::Mismatch("program, layout or boundary table"))
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
