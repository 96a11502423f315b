//! Identifiers.
//!
//! Every object and blob in a repository is named by a 32-byte [`Id`], written as 64 lowercase hex
//! digits. The newtypes ([`BlobId`], [`PackId`], [`SnapshotId`], [`IndexId`], [`KeyId`]) keep the
//! kinds apart in the API; on the wire they are all the same 32 bytes.
//!
//! - A **blob id** is the keyed BLAKE2b-256 of the blob's plaintext (see [`crate::Keys::blob_id`]).
//! - Every **stored object** except `config` (packs, index files, snapshots, keys) is named by the
//!   unkeyed BLAKE2b-256 of its stored bytes, so storage integrity can be checked without a password.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

/// Length of every id in bytes.
pub const ID_LEN: usize = 32;

/// A 32-byte identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Id(pub [u8; ID_LEN]);

/// The input to [`Id::from_hex`] was not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseIdError;

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id is 64 hexadecimal digits")
    }
}

impl core::error::Error for ParseIdError {}

/// The lowercase hex digit for a nibble (`n < 16`).
fn hex_digit(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'a' + (n - 10) }
}

impl Id {
    /// The all-zero id, used as the name of singleton objects such as `config`.
    pub const ZERO: Self = Self([0; ID_LEN]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(ID_LEN * 2);
        for b in self.0 {
            s.push(char::from(hex_digit(b >> 4)));
            s.push(char::from(hex_digit(b & 0xf)));
        }
        s
    }

    /// Parses exactly 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, ParseIdError> {
        let bytes = s.as_bytes();
        if bytes.len() != ID_LEN * 2 {
            return Err(ParseIdError);
        }
        let mut out = [0u8; ID_LEN];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let (hi, lo) = match pair {
                [hi, lo] => (hex_val(*hi)?, hex_val(*lo)?),
                _ => return Err(ParseIdError),
            };
            *o = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// True if the hex form of this id starts with `prefix` (lowercase hex digits).
    pub fn has_hex_prefix(&self, prefix: &str) -> bool {
        prefix.len() <= ID_LEN * 2 && prefix.bytes().zip(self.hex_digits()).all(|(p, d)| p.to_ascii_lowercase() == d)
    }

    fn hex_digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().flat_map(|b| [hex_digit(b >> 4), hex_digit(b & 0xf)])
    }
}

fn hex_val(c: u8) -> Result<u8, ParseIdError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(ParseIdError),
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.hex_digits() {
            fmt::Write::write_char(f, char::from(d))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 8 bytes are plenty to tell ids apart in debug output.
        for d in self.hex_digits().take(16) {
            fmt::Write::write_char(f, char::from(d))?;
        }
        Ok(())
    }
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Id);

        impl $name {
            /// The 64-digit lowercase hex form.
            pub fn to_hex(&self) -> String {
                self.0.to_hex()
            }

            /// Parses exactly 64 hex digits.
            pub fn from_hex(s: &str) -> Result<Self, ParseIdError> {
                Id::from_hex(s).map(Self)
            }

            /// The first 8 hex digits, as shown to people.
            pub fn short(&self) -> String {
                let mut s = self.0.to_hex();
                s.truncate(8);
                s
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl From<Id> for $name {
            fn from(id: Id) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Id {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_newtype!(
    /// Id of a blob: keyed BLAKE2b-256 of its plaintext.
    BlobId
);
id_newtype!(
    /// Id of a pack file: BLAKE2b-256 of its stored bytes.
    PackId
);
id_newtype!(
    /// Id of a snapshot object: BLAKE2b-256 of its stored bytes.
    SnapshotId
);
id_newtype!(
    /// Id of an index object: BLAKE2b-256 of its stored bytes.
    IndexId
);
id_newtype!(
    /// Id of a key object: BLAKE2b-256 of its stored bytes.
    KeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i * 7 + 3) as u8;
        }
        let id = Id(b);
        let h = id.to_hex();
        assert_eq!(h.len(), 64);
        assert_eq!(Id::from_hex(&h), Ok(id));
        assert_eq!(Id::from_hex(&h.to_uppercase()), Ok(id));
        assert!(id.has_hex_prefix(&h[..5]));
        assert!(!id.has_hex_prefix("zz"));
        assert_eq!(Id::from_hex("abc"), Err(ParseIdError));
        assert_eq!(Id::from_hex(&"g".repeat(64)), Err(ParseIdError));
    }
}
