//! Keys: encrypted JSON keystores (the Web3 Secret Storage format geth and
//! foundry use), made or imported by `verdict keys`, and the account key
//! every sending command takes. A key never comes from the command line.

use std::io::IsTerminal;
use std::path::Path;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};

/// The keystore password: `VERDICT_KEYSTORE_PASSWORD`, else asked on the
/// terminal without echo (twice when `confirm`, for a new keystore).
pub(crate) fn password(path: &Path, confirm: bool) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("VERDICT_KEYSTORE_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "VERDICT_KEYSTORE_PASSWORD must hold the password of {} (no terminal to ask on)",
            path.display()
        );
    }
    let password = rpassword::prompt_password(format!("password of {}: ", path.display()))
        .context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        if again != password {
            bail!("the passwords differ");
        }
    }
    Ok(password)
}

/// The signer of the keystore at `path`.
pub(crate) fn open(path: &Path) -> anyhow::Result<PrivateKeySigner> {
    let password = password(path, false)?;
    PrivateKeySigner::decrypt_keystore(path, password)
        .with_context(|| format!("{}: cannot decrypt the keystore", path.display()))
}

/// The key in `VERDICT_PRIVATE_KEY`.
pub(crate) fn from_env() -> anyhow::Result<PrivateKeySigner> {
    let key = std::env::var("VERDICT_PRIVATE_KEY")
        .context("no key: set VERDICT_PRIVATE_KEY or give --keystore")?;
    key.trim()
        .parse::<PrivateKeySigner>()
        .context("VERDICT_PRIVATE_KEY is not a hex secp256k1 private key")
}

/// Writes `signer`'s key to a new keystore at `path` (refusing to replace a
/// file), encrypted with a password from [`password`].
pub(crate) fn save(path: &Path, signer: &PrivateKeySigner) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists: a keystore is never overwritten", path.display());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: not a file name", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let password = password(path, true)?;
    PrivateKeySigner::encrypt_keystore(
        dir,
        &mut rand::thread_rng(),
        signer.to_bytes(),
        password,
        Some(name),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
