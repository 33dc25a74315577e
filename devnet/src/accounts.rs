//! The devnet's funded accounts: the keys anvil derives from the well-known
//! test mnemonic, so `0xf39F...2266` is account 0 on both.

use alloy::signers::local::coins_bip39::English;
use alloy::signers::local::{LocalSignerError, MnemonicBuilder, PrivateKeySigner};
use alloy_primitives::{Address, B256};

use super::DevnetError;

/// The BIP-39 mnemonic the dev keys come from (anvil's and hardhat's
/// default): public, so the keys are for local chains only.
pub const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// A funded account of the devnet and its private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevAccount {
    /// The account's address.
    pub address: Address,
    /// Its secp256k1 private key.
    pub private_key: B256,
}

impl DevAccount {
    /// A signer for the account.
    ///
    /// # Errors
    ///
    /// [`LocalSignerError`] if the key is not a valid secp256k1 scalar (never
    /// for the keys the devnet derives).
    pub fn signer(&self) -> Result<PrivateKeySigner, LocalSignerError> {
        Ok(PrivateKeySigner::from_bytes(&self.private_key)?)
    }
}

/// The first `count` dev accounts: those of [`TEST_MNEMONIC`] at the
/// derivation paths `m/44'/60'/0'/0/i`, as on anvil, hardhat and every
/// devnet.
///
/// # Errors
///
/// [`DevnetError::Accounts`] if derivation fails (it does not, for this
/// mnemonic).
pub fn dev_accounts(count: u32) -> Result<Vec<DevAccount>, DevnetError> {
    let parent = MnemonicBuilder::<English>::default()
        .phrase(TEST_MNEMONIC)
        .build_parent_key()?;
    (0..count)
        .map(|index| {
            let signer = parent.child(index)?.signer();
            Ok(DevAccount {
                address: signer.address(),
                private_key: signer.to_bytes(),
            })
        })
        .collect::<Result<_, LocalSignerError>>()
        .map_err(DevnetError::Accounts)
}
