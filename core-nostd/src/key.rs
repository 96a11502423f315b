//! Key objects: the master key sealed by a password.
//!
//! A repository has one random master key and any number of key objects, one per password. Each
//! stores its own Argon2id parameters and salt, and the master key sealed (label `cairn.key`)
//! with the key derived from its password. Key objects are stored unencrypted (postcard), so the
//! parameters can be read before the password is tried; tampering with them only makes the
//! derived key wrong, which the seal detects.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::crypto::{self, KdfError, KdfParams, MasterKey, NONCE_LEN};
use crate::error::{DecodeError, Error};
use crate::id::KeyId;
use crate::time::Timestamp;

/// The key object layout version this build writes and reads.
pub const KEY_VERSION: u32 = 1;
/// The largest key object accepted, 64 KiB.
pub const MAX_KEY_LEN: u64 = 64 * 1024;

/// The password-based key derivation function and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kdf {
    /// Argon2id, version 0x13.
    Argon2id(KdfParams),
}

/// A key object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyObject {
    /// Layout version ([`KEY_VERSION`]).
    pub version: u32,
    /// How the password becomes a key.
    pub kdf: Kdf,
    /// Random salt for the KDF.
    pub salt: [u8; 32],
    /// When the key was added (from the caller's clock).
    pub created: Timestamp,
    /// The host that added it.
    pub hostname: String,
    /// The user that added it.
    pub username: String,
    /// The master key sealed with the derived key (`nonce || ciphertext || tag`).
    #[serde(with = "serde_bytes")]
    pub sealed_master: Vec<u8>,
}

/// Who and when, recorded in a new key object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    /// When the key is added.
    pub created: Timestamp,
    /// The host adding it.
    pub hostname: String,
    /// The user adding it.
    pub username: String,
}

impl KeyObject {
    /// Seals `master` with `password`. `salt` and `nonce` come from the caller's RNG.
    pub fn create(
        master: &MasterKey,
        password: &[u8],
        params: KdfParams,
        salt: [u8; 32],
        nonce: [u8; NONCE_LEN],
        info: KeyInfo,
    ) -> Result<Self, KdfError> {
        let kek = crypto::derive_key(password, &salt, &params)?;
        Ok(Self {
            version: KEY_VERSION,
            kdf: Kdf::Argon2id(params),
            salt,
            created: info.created,
            hostname: info.hostname,
            username: info.username,
            sealed_master: kek.seal_master(&nonce, master),
        })
    }

    /// Opens the master key with `password`. `Ok(None)` means the password does not fit this key.
    pub fn open(&self, password: &[u8]) -> Result<Option<MasterKey>, KdfError> {
        let Kdf::Argon2id(params) = self.kdf;
        let kek = crypto::derive_key(password, &self.salt, &params)?;
        Ok(kek.open_master(&self.sealed_master).ok())
    }

    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes stored bytes, refusing unknown versions.
    pub fn decode(id: KeyId, bytes: &[u8]) -> Result<Self, Error> {
        let err = |e: DecodeError| Error::decode(crate::ObjectKind::Key, id, e);
        let (version, _) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| err(e.into()))?;
        if version != KEY_VERSION {
            return Err(Error::UnsupportedVersion {
                object: crate::ObjectKind::Key,
                found: version,
                supported: KEY_VERSION,
            });
        }
        let key: Self = postcard::from_bytes(bytes).map_err(|e| err(e.into()))?;
        let Kdf::Argon2id(params) = key.kdf;
        params.validate().map_err(|_| err(DecodeError::Malformed("key derivation parameters out of bounds")))?;
        Ok(key)
    }

    /// The id this key object is stored under: the hash of its bytes.
    pub fn id_of(bytes: &[u8]) -> KeyId {
        KeyId(crypto::object_hash(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_open_encode_decode() {
        let master = MasterKey::from_bytes(&[3; 64]);
        let info = KeyInfo { created: Timestamp::new(1_700_000_000, 5), hostname: "h".into(), username: "u".into() };
        let k = KeyObject::create(&master, b"secret", KdfParams::INSECURE_FOR_TESTS, [1; 32], [2; 24], info).unwrap();
        let bytes = k.encode();
        let id = KeyObject::id_of(&bytes);
        let back = KeyObject::decode(id, &bytes).unwrap();
        assert_eq!(back, k);
        assert!(back.open(b"secret").unwrap().is_some());
        assert!(back.open(b"wrong").unwrap().is_none());
    }

    #[test]
    fn hostile_parameters_are_refused_before_deriving() {
        let master = MasterKey::from_bytes(&[3; 64]);
        let mut k =
            KeyObject::create(&master, b"pw", KdfParams::INSECURE_FOR_TESTS, [1; 32], [2; 24], KeyInfo::default())
                .unwrap();
        k.kdf = Kdf::Argon2id(KdfParams { memory_kib: u32::MAX, iterations: 1, parallelism: 1 });
        let bytes = k.encode();
        assert!(matches!(KeyObject::decode(KeyObject::id_of(&bytes), &bytes), Err(Error::Decode { .. })));
    }
}
