//! Cryptography: the master key, sealing, blob ids, object hashes and the password KDF.
//!
//! Terms:
//! - **master key**: 64 random bytes made at `init`: a 32-byte *encryption key* for
//!   XChaCha20-Poly1305 and a separate 32-byte *id key* for keyed BLAKE2b-256 blob ids.
//! - **sealed**: `nonce (24) || ciphertext || tag (16)`, XChaCha20-Poly1305 under the encryption
//!   key, with an *associated-data label* that names what the bytes are (`cairn.tree`,
//!   `cairn.index`, ...) so that one kind of object can never be passed off as another.
//! - **object hash**: unkeyed BLAKE2b-256 of stored bytes, the name of every stored object.
//! - **KEK** (key-encryption key): Argon2id of a password, which seals the master key in a key object.
//!
//! Nonces come from the caller's RNG; nothing here reads a clock or an entropy source.

use alloc::vec::Vec;
use core::fmt;

use blake2::digest::consts::U32;
use blake2::digest::{Digest, Mac};
use blake2::{Blake2b256, Blake2bMac};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::id::{BlobId, Id};

/// Length of a nonce.
pub const NONCE_LEN: usize = 24;
/// Length of an authentication tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Length of the master key (encryption key + id key).
pub const MASTER_KEY_LEN: usize = 64;

/// Associated-data labels: what a sealed message is.
pub mod label {
    /// The repository config.
    pub const CONFIG: &[u8] = b"cairn.config";
    /// A master key sealed by a password-derived key.
    pub const KEY: &[u8] = b"cairn.key";
    /// A snapshot object.
    pub const SNAPSHOT: &[u8] = b"cairn.snapshot";
    /// An index object.
    pub const INDEX: &[u8] = b"cairn.index";
    /// The header of a pack.
    pub const PACK_HEADER: &[u8] = b"cairn.pack-header";
    /// A data blob.
    pub const DATA: &[u8] = b"cairn.data";
    /// A tree blob.
    pub const TREE: &[u8] = b"cairn.tree";
    /// Lock objects.
    pub const LOCK: &[u8] = b"cairn.lock";
}

/// A sealed message failed authentication: wrong key, or the bytes were changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthError;

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("authentication failed")
    }
}

impl core::error::Error for AuthError {}

/// The repository's master key: 32 bytes for encryption, 32 for blob ids. Wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    encryption: [u8; 32],
    id: [u8; 32],
}

impl MasterKey {
    /// Builds a master key from 64 random bytes (the caller's RNG).
    pub fn from_bytes(bytes: &[u8; MASTER_KEY_LEN]) -> Self {
        let mut encryption = [0u8; 32];
        let mut id = [0u8; 32];
        encryption.copy_from_slice(&bytes[..32]);
        id.copy_from_slice(&bytes[32..]);
        Self { encryption, id }
    }

    /// The 64 bytes, encryption key first. Only for sealing into a key object.
    pub(crate) fn to_bytes(&self) -> [u8; MASTER_KEY_LEN] {
        let mut out = [0u8; MASTER_KEY_LEN];
        out[..32].copy_from_slice(&self.encryption);
        out[32..].copy_from_slice(&self.id);
        out
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(**redacted**)")
    }
}

/// The working keys of an open repository, shared with worker threads.
pub struct Keys {
    cipher: XChaCha20Poly1305,
    id_key: MasterKeyPart,
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct MasterKeyPart([u8; 32]);

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(**redacted**)")
    }
}

impl Keys {
    /// The working keys for `master`.
    pub fn new(master: &MasterKey) -> Self {
        Self { cipher: seal_cipher(&master.encryption), id_key: MasterKeyPart(master.id) }
    }

    /// The id of a blob with this plaintext: BLAKE2b-256 keyed with the id key.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(keyed_hash(&self.id_key.0, plaintext))
    }

    /// Seals `plaintext` under the encryption key with `nonce` and the label `aad`.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher, nonce, aad, plaintext)
    }

    /// Seals a message whose plaintext is already in `buf[NONCE_LEN..]` (the first `NONCE_LEN`
    /// bytes are overwritten by the nonce, the tag is appended). Saves a copy of large blobs.
    pub fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut Vec<u8>) {
        seal_in_place_with(&self.cipher, nonce, aad, buf)
    }

    /// Opens a sealed message made by [`Keys::seal`] with the same label.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
        open_with(&self.cipher, aad, sealed)
    }

    /// [`Keys::open`] into `out` (cleared first), so that a caller opening many messages reuses
    /// one buffer. On failure `out` is left empty: unauthenticated bytes are never handed out.
    pub fn open_into(&self, aad: &[u8], sealed: &[u8], out: &mut Vec<u8>) -> Result<(), AuthError> {
        open_into_with(&self.cipher, aad, sealed, out)
    }

    /// [`Keys::open`] in place: decrypts the message in `sealed` where it lies and returns the
    /// plaintext, the part of `sealed` between the nonce and the tag. On failure `sealed`
    /// is left as it was.
    pub fn open_in_place<'b>(&self, aad: &[u8], sealed: &'b mut [u8]) -> Result<&'b mut [u8], AuthError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(AuthError);
        }
        let (nonce, rest) = sealed.split_at_mut(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = (&*nonce).try_into().map_err(|_| AuthError)?;
        let tag = Tag::try_from(&*tag).map_err(|_| AuthError)?;
        self.cipher
            .decrypt_inout_detached(&XNonce::from(nonce), aad, (&mut *ciphertext).into(), &tag)
            .map_err(|_| AuthError)?;
        Ok(ciphertext)
    }
}

fn seal_cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

pub(crate) fn seal_with(cipher: &XChaCha20Poly1305, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
    buf.extend_from_slice(nonce);
    buf.extend_from_slice(plaintext);
    seal_in_place_with(cipher, nonce, aad, &mut buf);
    buf
}

fn seal_in_place_with(cipher: &XChaCha20Poly1305, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut Vec<u8>) {
    if buf.len() < NONCE_LEN {
        buf.resize(NONCE_LEN, 0);
    }
    let (head, body) = buf.split_at_mut(NONCE_LEN);
    head.copy_from_slice(nonce);
    let xnonce = XNonce::from(*nonce);
    // Encryption only fails for messages longer than 256 GiB, far beyond any blob or object here.
    let tag = cipher.encrypt_inout_detached(&xnonce, aad, body.into()).unwrap_or_default();
    buf.extend_from_slice(&tag);
}

pub(crate) fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::new();
    open_into_with(cipher, aad, sealed, &mut out)?;
    Ok(out)
}

fn open_into_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8], out: &mut Vec<u8>) -> Result<(), AuthError> {
    out.clear();
    if sealed.len() < SEAL_OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AuthError)?;
    let tag = Tag::try_from(tag).map_err(|_| AuthError)?;
    out.extend_from_slice(ciphertext);
    if cipher.decrypt_inout_detached(&XNonce::from(nonce), aad, out.as_mut_slice().into(), &tag).is_err() {
        out.clear();
        return Err(AuthError);
    }
    Ok(())
}

fn keyed_hash(key: &[u8; 32], data: &[u8]) -> Id {
    // A 32-byte key is always valid for BLAKE2b (keys of up to 64 bytes are).
    let mut mac = match <Blake2bMac<U32> as blake2::digest::KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_key_length(),
    };
    Mac::update(&mut mac, data);
    let out = mac.finalize().into_bytes();
    let mut id = [0u8; 32];
    id.copy_from_slice(&out);
    Id(id)
}

#[cold]
#[allow(clippy::panic)] // Not reachable from any input: the key length is a constant BLAKE2b accepts.
fn unreachable_key_length() -> ! {
    panic!("BLAKE2b rejected a 32-byte key")
}

/// The unkeyed BLAKE2b-256 of `data`: the name of a stored object.
pub fn object_hash(data: &[u8]) -> Id {
    let out = Blake2b256::digest(data);
    let mut id = [0u8; 32];
    id.copy_from_slice(&out);
    Id(id)
}

/// Argon2id parameters, stored in every key object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl KdfParams {
    /// The default for new keys: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommendation, one lane).
    pub const DEFAULT: Self = Self { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };
    /// For passwords that are random keys already, such as the 256-bit passwords the catalog
    /// generates for its destinations: 1 MiB, 1 pass, 1 lane. Stretching cannot make a
    /// full-strength random key harder to guess, and the 64 MiB of [`KdfParams::DEFAULT`]
    /// would set the memory floor of every command on a small box. Never use it for a
    /// password a person chose.
    pub const GENERATED: Self = Self { memory_kib: 1024, iterations: 1, parallelism: 1 };
    /// The cheapest parameters Argon2 accepts. For tests only: a key made with these is easy to guess.
    pub const INSECURE_FOR_TESTS: Self = Self { memory_kib: 8, iterations: 1, parallelism: 1 };
    /// The largest memory a key object may ask for (4 GiB): a hostile key cannot exhaust memory.
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    /// The largest number of passes a key object may ask for.
    pub const MAX_ITERATIONS: u32 = 64;
    /// The largest parallelism a key object may ask for.
    pub const MAX_PARALLELISM: u32 = 64;

    /// Checks that the parameters are within Argon2's limits and Cairn's bounds.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.parallelism == 0 || self.parallelism > Self::MAX_PARALLELISM {
            return Err("parallelism must be between 1 and 64");
        }
        if self.iterations == 0 || self.iterations > Self::MAX_ITERATIONS {
            return Err("iterations must be between 1 and 64");
        }
        if self.memory_kib < 8 * self.parallelism || self.memory_kib > Self::MAX_MEMORY_KIB {
            return Err("memory must be between 8 KiB per lane and 4 GiB");
        }
        Ok(())
    }
}

/// Why a key could not be derived from a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfError {
    /// The parameters are out of bounds.
    Params(&'static str),
    /// The memory Argon2 needs could not be allocated.
    OutOfMemory,
}

impl fmt::Display for KdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Params(why) => write!(f, "invalid key derivation parameters: {why}"),
            Self::OutOfMemory => f.write_str("not enough memory for the key derivation"),
        }
    }
}

impl core::error::Error for KdfError {}

/// A 32-byte key derived from a password, wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct DerivedKey([u8; 32]);

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivedKey(**redacted**)")
    }
}

impl DerivedKey {
    /// Seals the master key with this key.
    pub(crate) fn seal_master(&self, nonce: &[u8; NONCE_LEN], master: &MasterKey) -> Vec<u8> {
        let mut bytes = master.to_bytes();
        let sealed = seal_with(&seal_cipher(&self.0), nonce, label::KEY, &bytes);
        bytes.zeroize();
        sealed
    }

    /// Opens a master key sealed with this key.
    pub(crate) fn open_master(&self, sealed: &[u8]) -> Result<MasterKey, AuthError> {
        let mut plain = open_with(&seal_cipher(&self.0), label::KEY, sealed)?;
        let result = match <&[u8; MASTER_KEY_LEN]>::try_from(plain.as_slice()) {
            Ok(bytes) => Ok(MasterKey::from_bytes(bytes)),
            Err(_) => Err(AuthError),
        };
        plain.zeroize();
        result
    }
}

/// Derives a key from `password` and `salt` with Argon2id (version 0x13).
pub(crate) fn derive_key(password: &[u8], salt: &[u8], params: &KdfParams) -> Result<DerivedKey, KdfError> {
    params.validate().map_err(KdfError::Params)?;
    let p = argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, Some(32))
        .map_err(|_| KdfError::Params("rejected by Argon2"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = [0u8; 32];
    argon.hash_password_into(password, salt, &mut out).map_err(|e| match e {
        argon2::Error::OutOfMemory => KdfError::OutOfMemory,
        _ => KdfError::Params("rejected by Argon2"),
    })?;
    Ok(DerivedKey(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let mut b = [0u8; 64];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        Keys::new(&MasterKey::from_bytes(&b))
    }

    #[test]
    fn seal_open_round_trip_and_labels_matter() {
        let k = keys();
        let sealed = k.seal(&[7; 24], label::DATA, b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(k.open(label::DATA, &sealed).as_deref(), Ok(&b"hello"[..]));
        assert_eq!(k.open(label::TREE, &sealed), Err(AuthError));
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert_eq!(k.open(label::DATA, &bad), Err(AuthError));
        assert_eq!(k.open(label::DATA, &sealed[..10]), Err(AuthError));
    }

    #[test]
    fn open_into_and_in_place_match_open() {
        let k = keys();
        let sealed = k.seal(&[7; 24], label::DATA, b"hello, world");
        let mut out = b"left over from before".to_vec();
        assert_eq!(k.open_into(label::DATA, &sealed, &mut out), Ok(()));
        assert_eq!(out, b"hello, world");
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert_eq!(k.open_into(label::DATA, &bad, &mut out), Err(AuthError));
        assert!(out.is_empty(), "no unauthenticated bytes handed out");
        assert_eq!(k.open_into(label::DATA, &sealed[..10], &mut out), Err(AuthError));

        let mut inplace = sealed.clone();
        assert_eq!(k.open_in_place(label::DATA, &mut inplace).map(|p| p.to_vec()), Ok(b"hello, world".to_vec()));
        assert_eq!(&inplace[NONCE_LEN..NONCE_LEN + 12], b"hello, world");
        let mut refused = bad.clone();
        assert_eq!(k.open_in_place(label::DATA, &mut refused), Err(AuthError));
        assert_eq!(refused, bad, "left as it was");
        assert_eq!(k.open_in_place(label::TREE, &mut sealed.clone()), Err(AuthError));
        assert_eq!(k.open_in_place(label::DATA, &mut [0u8; 10]), Err(AuthError));
    }

    #[test]
    fn seal_in_place_matches_seal() {
        let k = keys();
        let mut buf = alloc::vec![0u8; NONCE_LEN];
        buf.extend_from_slice(b"payload bytes");
        k.seal_in_place(&[9; 24], label::INDEX, &mut buf);
        assert_eq!(buf, k.seal(&[9; 24], label::INDEX, b"payload bytes"));
    }

    #[test]
    fn blob_ids_are_keyed() {
        let a = keys();
        let b = Keys::new(&MasterKey::from_bytes(&[1; 64]));
        assert_ne!(a.blob_id(b"x"), b.blob_id(b"x"));
        assert_eq!(a.blob_id(b"x"), a.blob_id(b"x"));
        assert_ne!(Id::from(a.blob_id(b"x")), object_hash(b"x"));
    }

    #[test]
    fn kdf_rejects_hostile_parameters() {
        let huge = KdfParams { memory_kib: u32::MAX, iterations: 1, parallelism: 1 };
        assert!(matches!(derive_key(b"pw", &[0; 16], &huge), Err(KdfError::Params(_))));
        let zero = KdfParams { memory_kib: 8, iterations: 0, parallelism: 1 };
        assert!(derive_key(b"pw", &[0; 16], &zero).is_err());
        let master = MasterKey::from_bytes(&[5; 64]);
        let kek = derive_key(b"pw", &[0; 16], &KdfParams::INSECURE_FOR_TESTS).unwrap();
        let sealed = kek.seal_master(&[1; 24], &master);
        assert_eq!(kek.open_master(&sealed).unwrap().to_bytes(), [5; 64]);
        let other = derive_key(b"pw2", &[0; 16], &KdfParams::INSECURE_FOR_TESTS).unwrap();
        assert!(other.open_master(&sealed).is_err());
    }
}
