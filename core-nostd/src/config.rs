//! The repository config: the one object that says how a repository is laid out.
//!
//! Terms:
//! - **format version**: the layout of every object. A reader refuses a version it does not know.
//! - **feature flags**: named extensions within a version. An unknown *mandatory* flag refuses to
//!   open (the repository relies on something this build would get wrong); an unknown *optional*
//!   flag is ignored (it only enables something an old build can safely not know about).
//!
//! The config is sealed with the master key (label `cairn.config`) because it holds the secret
//! chunker seed. Its fields are decoded in order: version, mandatory flags, optional flags, then
//! the rest, so that a future layout is refused with a clear message instead of a decode error.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkerParams;
use crate::compress::{Codec, Compression};
use crate::error::{DecodeError, Error};
use crate::id::Id;

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Feature flags this build understands.
///
/// - `zstd` (mandatory when present): blobs and objects may be compressed with Zstandard
///   (codec 2). Known only to builds with the `zstd` cargo feature.
/// - `leases` (mandatory, written by `init` since lock format 2): writers hold leases (FORMAT.md
///   section 6.1) and prune deletes in two phases; a build that takes the older fixed-name
///   exclusive lock must not write to such a repository.
pub const KNOWN_FEATURES: &[&str] =
    if cfg!(feature = "zstd") { &[FEATURE_ZSTD, FEATURE_LEASES] } else { &[FEATURE_LEASES] };

/// The feature flag of repositories that write zstd.
pub const FEATURE_ZSTD: &str = "zstd";
/// The feature flag of repositories whose writers hold leases (FORMAT.md section 6.1).
pub const FEATURE_LEASES: &str = "leases";

/// How long a lease lasts without being refreshed: repository settings, so that every process
/// judges every other by the same numbers (and tests can shorten them honestly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockSettings {
    /// A lease whose lock objects an observer has seen unchanged for this long is stale.
    pub stale_after_secs: u32,
    /// Holders write a new lock object this often.
    pub refresh_every_secs: u32,
    /// Exclusive takers (and anyone who revoked a stale lease) list the locks again after this
    /// pause, so that a lock written just before their first listing but not yet listed by the
    /// store is seen: at least the store's listing delay.
    pub settle_millis: u32,
}

impl LockSettings {
    /// 30 minutes, 5 minutes, 2 seconds.
    pub const DEFAULT: Self = Self { stale_after_secs: 30 * 60, refresh_every_secs: 5 * 60, settle_millis: 2000 };

    /// Checks the settings: refreshes at least 1 s apart, staleness after at least three
    /// refresh periods (a holder gets two tries before anyone may judge it stale), at most a
    /// week, and a settle pause of at most 10 minutes.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.refresh_every_secs == 0 {
            return Err("the refresh period must be at least 1 second");
        }
        if u64::from(self.stale_after_secs) < 3 * u64::from(self.refresh_every_secs) {
            return Err("the stale age must be at least three refresh periods");
        }
        if self.stale_after_secs > 7 * 24 * 3600 {
            return Err("the stale age must be at most 7 days");
        }
        if self.settle_millis > 600_000 {
            return Err("the settle pause must be at most 10 minutes");
        }
        Ok(())
    }
}

impl Default for LockSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The largest config object accepted (sealed), 64 KiB.
pub const MAX_CONFIG_LEN: u64 = 64 * 1024;

/// The repository config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Features a reader must understand to open the repository.
    pub mandatory_features: Vec<String>,
    /// Features a reader may ignore.
    pub optional_features: Vec<String>,
    /// Random id of this repository.
    pub id: Id,
    /// Chunker parameters, including the secret seed.
    pub chunker: ChunkerParams,
    /// Target size of pack files in bytes.
    pub pack_size: u32,
    /// Compression of new blobs and objects.
    pub compression: Compression,
    /// Lease timing (appended field; absent in configs written before it, which read as
    /// [`LockSettings::DEFAULT`], and omitted by writers when it holds the default).
    #[serde(skip)]
    pub locks: LockSettings,
}

impl Config {
    /// Default target pack size: 16 MiB.
    pub const DEFAULT_PACK_SIZE: u32 = 16 * 1024 * 1024;
    /// Smallest allowed target pack size: 64 KiB (tests use small packs).
    pub const MIN_PACK_SIZE: u32 = 64 * 1024;
    /// Largest allowed target pack size: 1 GiB.
    pub const MAX_PACK_SIZE: u32 = 1024 * 1024 * 1024;

    /// A new config with default sizes, the given random repository id and chunker seed.
    pub fn new(id: Id, chunker_seed: [u8; 32]) -> Self {
        Self {
            version: FORMAT_VERSION,
            mandatory_features: Vec::new(),
            optional_features: Vec::new(),
            id,
            chunker: ChunkerParams::with_seed(chunker_seed),
            pack_size: Self::DEFAULT_PACK_SIZE,
            compression: Compression::DEFAULT,
            locks: LockSettings::DEFAULT,
        }
    }

    /// Requires the `leases` feature (see [`KNOWN_FEATURES`]).
    pub fn require_leases(&mut self) {
        if !self.mandatory_features.iter().any(|f| f == FEATURE_LEASES) {
            self.mandatory_features.push(String::from(FEATURE_LEASES));
        }
    }

    /// Sets the compression of new data, and the `zstd` mandatory feature if it needs zstd (so
    /// that a build without zstd refuses the repository up front instead of failing per blob).
    pub fn set_compression(&mut self, compression: Compression) {
        self.compression = compression;
        if compression.codec == Codec::Zstd && !self.mandatory_features.iter().any(|f| f == FEATURE_ZSTD) {
            self.mandatory_features.push(String::from(FEATURE_ZSTD));
        }
    }

    /// Checks every parameter is within bounds.
    pub fn validate(&self) -> Result<(), Error> {
        self.chunker.validate().map_err(|reason| Error::InvalidParameter { name: "chunker parameters", reason })?;
        if !(Self::MIN_PACK_SIZE..=Self::MAX_PACK_SIZE).contains(&self.pack_size) {
            return Err(Error::InvalidParameter { name: "pack size", reason: "must be between 64 KiB and 1 GiB" });
        }
        self.compression.validate().map_err(|reason| Error::InvalidParameter { name: "compression", reason })?;
        self.locks.validate().map_err(|reason| Error::InvalidParameter { name: "lock settings", reason })
    }

    /// The plaintext form (before framing and sealing). The appended lock settings are left
    /// out when they hold the default, so that configs without them keep their exact bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = postcard::to_allocvec(self).unwrap_or_default();
        if self.locks != LockSettings::DEFAULT {
            out.extend_from_slice(&postcard::to_allocvec(&self.locks).unwrap_or_default());
        }
        out
    }

    /// Decodes a plaintext config, checking version and feature flags first.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let obj = |e: DecodeError| Error::decode(crate::ObjectKind::Config, Id::ZERO, e);
        let (version, rest) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| obj(e.into()))?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                object: crate::ObjectKind::Config,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let (mandatory, _) = postcard::take_from_bytes::<Vec<String>>(rest).map_err(|e| obj(e.into()))?;
        if let Some(unknown) = mandatory.iter().find(|f| !KNOWN_FEATURES.contains(&f.as_str())) {
            return Err(Error::UnknownMandatoryFeature { name: unknown.clone() });
        }
        // Fields are only ever appended at the end; trailing bytes from a newer writer are ignored.
        let (mut config, rest) = postcard::take_from_bytes::<Self>(bytes).map_err(|e| obj(e.into()))?;
        if let Some((locks, _)) = crate::appended::field(rest).map_err(obj)? {
            config.locks = locks;
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn round_trip_and_trailing_bytes_ignored() {
        let mut c = Config::new(Id([1; 32]), [2; 32]);
        assert_eq!(Config::decode(&c.encode()).unwrap(), c);
        // A newer writer appends after the groups this build knows (writing them out when it
        // has anything after them).
        c.locks.settle_millis = 1;
        let mut bytes = c.encode();
        bytes.extend_from_slice(b"future fields");
        assert_eq!(Config::decode(&bytes).unwrap(), c);
    }

    #[test]
    fn lock_settings_are_appended_only_when_not_the_default() {
        let mut c = Config::new(Id([1; 32]), [2; 32]);
        let plain = c.encode();
        c.locks = LockSettings { stale_after_secs: 30, refresh_every_secs: 5, settle_millis: 100 };
        let set = c.encode();
        assert!(set.len() > plain.len() && set.starts_with(&plain));
        assert_eq!(Config::decode(&set).unwrap(), c);
        c.locks.stale_after_secs = 10;
        assert!(matches!(Config::decode(&c.encode()), Err(Error::InvalidParameter { .. })));
    }

    #[test]
    fn feature_flags() {
        let mut c = Config::new(Id([1; 32]), [2; 32]);
        c.optional_features.push("from-the-future".to_string());
        assert_eq!(Config::decode(&c.encode()).unwrap(), c);
        c.mandatory_features.push("from-the-future".to_string());
        match Config::decode(&c.encode()) {
            Err(Error::UnknownMandatoryFeature { name }) => assert_eq!(name, "from-the-future"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn newer_version_refused() {
        let mut c = Config::new(Id([1; 32]), [2; 32]);
        c.version = 2;
        assert!(matches!(Config::decode(&c.encode()), Err(Error::UnsupportedVersion { found: 2, .. })));
    }

    #[test]
    fn bad_parameters_refused() {
        let mut c = Config::new(Id([1; 32]), [2; 32]);
        c.chunker.avg_size = 1000;
        assert!(matches!(Config::decode(&c.encode()), Err(Error::InvalidParameter { .. })));
        let mut c = Config::new(Id([1; 32]), [2; 32]);
        c.pack_size = 10;
        assert!(Config::decode(&c.encode()).is_err());
    }
}
