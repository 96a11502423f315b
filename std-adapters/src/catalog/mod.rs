//! The catalog: the SQLite database where the CLI and the desktop app keep destinations (and,
//! later, jobs, schedules and run history), so that nobody types repository URLs every night.
//!
//! - One file, `$XDG_DATA_HOME/cairn/catalog.sqlite` by default, in WAL mode with foreign keys
//!   on; its schema is versioned (`PRAGMA user_version`) and migrated forward on open.
//! - **Secrets** (each destination's repository password, S3 secret keys, SSH passphrases and
//!   passwords, REST passwords) are sealed with XChaCha20-Poly1305 under a 256-bit master key that
//!   lives in its own file, readable only by the user (`catalog.key` next to the database). The
//!   sealed bytes are bound to their row (the row id is the associated data), so a secret cannot
//!   be moved to another destination. [`Catalog::recovery_kit`] exports the master key.
//! - A **destination** is stored as its URL (the one syntax of [`crate::parse_destination`],
//!   never holding a secret) plus the fields every destination has: a unique name, an owner,
//!   enabled, read-only (fixed at creation), verify TLS, HTTP retries and connections. Its
//!   repository password is generated (256 bits) when it is created.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::backend::destination::{Credentials, DestinationUrl, parse_destination};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

mod jobs;
mod known;
mod settings;
pub use crate::backend::secrets::{DestinationSecrets, SECRET_SLOTS, SecretSlot};
pub use jobs::{JobRecord, JobSpec, NotificationSink, Retention, RunRecord, RunStatus, Structure};

/// The schema, one migration per version (index + 1 = version).
const MIGRATIONS: &[&str] = &[
    // 1: secrets and destinations.
    "CREATE TABLE secrets (
        id INTEGER PRIMARY KEY,
        nonce BLOB NOT NULL,
        sealed BLOB NOT NULL
    );
    CREATE TABLE destinations (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        owner TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        read_only INTEGER NOT NULL DEFAULT 0,
        password_secret INTEGER NOT NULL REFERENCES secrets(id),
        credentials_secret INTEGER REFERENCES secrets(id),
        created INTEGER NOT NULL,
        last_test_time INTEGER,
        last_test_ok INTEGER,
        last_test_report TEXT
    );",
    // 2: the catalog's identity, destination flags and disk info, the snapshot cache, jobs,
    // their destinations, run history and notification sinks.
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ALTER TABLE destinations ADD COLUMN export_config INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE destinations ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE destinations ADD COLUMN last_export INTEGER;
    ALTER TABLE destinations ADD COLUMN disk_time INTEGER;
    ALTER TABLE destinations ADD COLUMN disk_repository_bytes INTEGER;
    ALTER TABLE destinations ADD COLUMN disk_free_bytes INTEGER;
    CREATE TABLE snapshot_cache (
        destination_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
        snapshot_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        hostname TEXT NOT NULL,
        paths TEXT NOT NULL,
        tags TEXT NOT NULL,
        files INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (destination_id, snapshot_id)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        created INTEGER NOT NULL,
        next_due INTEGER,
        last_run INTEGER
    );
    CREATE TABLE job_destinations (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        destination_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE RESTRICT,
        position INTEGER NOT NULL,
        PRIMARY KEY (job_id, destination_id)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        destination TEXT NOT NULL,
        started INTEGER NOT NULL,
        ended INTEGER NOT NULL,
        status TEXT NOT NULL,
        files INTEGER NOT NULL DEFAULT 0,
        bytes_read INTEGER NOT NULL DEFAULT 0,
        bytes_added INTEGER NOT NULL DEFAULT 0,
        snapshot TEXT,
        error TEXT,
        output TEXT
    );
    CREATE INDEX runs_by_job ON runs (job_id, started);
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 3: the generated password of a destination being created, kept from before its
    // repository is initialised until the destination is saved: a create interrupted in
    // between and run again uses the same password, and opens the repository it made.
    "CREATE TABLE pending_passwords (
        url TEXT PRIMARY KEY,
        password_secret INTEGER NOT NULL REFERENCES secrets(id),
        created INTEGER NOT NULL
    );",
    // 4: whether a destination's repository password was generated (a random 256-bit key, so
    // its repository key is derived with the light KdfParams::GENERATED) or given by a person.
    "ALTER TABLE destinations ADD COLUMN password_generated INTEGER NOT NULL DEFAULT 0;",
    // 5: the snapshots this catalog's programs saw in each repository (by repository id), to
    // catch a store that withholds some (FORMAT.md section 6.3).
    "CREATE TABLE known_snapshots (
        repository TEXT NOT NULL,
        snapshot_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        hostname TEXT NOT NULL,
        PRIMARY KEY (repository, snapshot_id)
    );",
    // 6: the size of what a run backed up (all its files, read or unchanged).
    "ALTER TABLE runs ADD COLUMN bytes_total INTEGER NOT NULL DEFAULT 0;",
];

/// A destination as the catalog holds it (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationRecord {
    /// Catalog id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// `local`, `s3`, `sftp` or `rest`.
    pub kind: String,
    /// The destination URL (no secrets).
    pub url: String,
    /// The account allowed to change it.
    pub owner: String,
    /// Whether jobs use it.
    pub enabled: bool,
    /// Restore and browse only; set at creation.
    pub read_only: bool,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Last test: when (Unix seconds), whether it passed, and its report.
    pub last_test: Option<(i64, bool, String)>,
    /// Receives a daily encrypted copy of the catalog's configuration (keep 7).
    pub export_config: bool,
    /// Added by `cairn recover`: read-only until the user makes it writable.
    pub recovered: bool,
    /// Last configuration export (Unix seconds).
    pub last_export: Option<i64>,
    /// Disk info, if measured.
    pub disk: Option<DiskInfo>,
}

/// What a destination holds and, where it can tell, how much room is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DiskInfo {
    /// When it was measured (Unix seconds).
    pub time: i64,
    /// Bytes stored by the repository and the files beside it.
    pub repository_bytes: u64,
    /// Free bytes on the destination, where it can tell (local disks, SFTP servers with statvfs).
    pub free_bytes: Option<u64>,
}

impl DiskInfo {
    /// Disk info measured at `time`.
    pub fn new(time: i64, repository_bytes: u64, free_bytes: Option<u64>) -> Self {
        Self { time, repository_bytes, free_bytes }
    }
}

/// A snapshot as the catalog caches it (for listings without a round trip).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct CachedSnapshot {
    /// The snapshot id (hex).
    pub id: String,
    /// Its time (Unix seconds).
    pub time: i64,
    /// The host it was taken on.
    pub hostname: String,
    /// The paths it holds.
    pub paths: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Files in it.
    pub files: u64,
    /// Bytes of file data in it.
    pub bytes: u64,
}

impl CachedSnapshot {
    /// A cache entry for snapshot `id` of `snapshot`.
    pub fn of(id: cairn_core::SnapshotId, snapshot: &cairn_core::Snapshot) -> Self {
        Self {
            id: id.to_hex(),
            time: snapshot.time.secs,
            hostname: snapshot.hostname.clone(),
            paths: snapshot.paths.iter().map(|p| crate::show_path(p)).collect(),
            tags: snapshot.tags.clone(),
            files: snapshot.stats.files_new + snapshot.stats.files_changed + snapshot.stats.files_unmodified,
            bytes: snapshot.stats.bytes_total,
        }
    }
}

/// What [`Catalog::create_destination`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewDestination {
    /// Unique name: letters, digits, `-`, `_` and `.`, 1 to 64 of them.
    pub name: String,
    /// The destination URL (see [`crate::parse_destination`]); no secret in it.
    pub url: String,
    /// The owner [default: the current user].
    pub owner: Option<String>,
    /// Read-only (restore and browse only).
    pub read_only: bool,
    /// Secrets it needs.
    pub secrets: DestinationSecrets,
    /// The S3 access key (not secret; kept in the URL as `access-key=`).
    pub s3_access_key: Option<String>,
    /// The repository password, to adopt a repository that exists already [default: a new one
    /// is generated, 256 bits].
    pub password: Option<Secret>,
    /// Receives a daily encrypted copy of the catalog's configuration.
    pub export_config: bool,
    /// Added by a recovery (always read-only).
    pub recovered: bool,
}

/// A new or changed destination that passed validation, not saved yet: what the Test runs on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Candidate {
    /// Its name.
    pub name: String,
    /// `local`, `s3`, `sftp` or `rest`.
    pub kind: String,
    /// The URL to store (no secret in it).
    pub url: String,
    /// The URL parsed, with its secrets, ready to open.
    pub parsed: DestinationUrl,
    /// Its repository password.
    pub password: Secret,
    /// Whether the catalog generated that password (a random 256-bit key) rather than a
    /// person giving it: a repository created with it derives its key with the light
    /// [`cairn_core::KdfParams::GENERATED`] (see [`Candidate::kdf`]).
    pub password_generated: bool,
    /// Read-only.
    pub read_only: bool,
}

impl Candidate {
    /// The key-derivation cost for a repository created with this destination's password:
    /// light for a generated password, the full default for one a person gave.
    pub fn kdf(&self) -> cairn_core::KdfParams {
        if self.password_generated { cairn_core::KdfParams::GENERATED } else { cairn_core::KdfParams::DEFAULT }
    }
}

/// Changes to a destination ([`Catalog::check_update`]); `None` keeps what is there.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DestinationUpdate {
    /// A new URL (no secret in it).
    pub url: Option<String>,
    /// A new S3 access key.
    pub s3_access_key: Option<String>,
    /// Secrets to replace (each one given replaces the stored one).
    pub secrets: DestinationSecrets,
    /// Turn configuration exports on or off.
    pub export_config: Option<bool>,
    /// Make a recovered destination writable (only recovered ones can be: read-only is fixed at
    /// creation otherwise).
    pub make_writable: bool,
}

impl NewDestination {
    /// A destination named `name` at `url`.
    pub fn new(name: &str, url: &str) -> Self {
        Self {
            name: name.to_string(),
            url: url.to_string(),
            owner: None,
            read_only: false,
            secrets: DestinationSecrets::default(),
            s3_access_key: None,
            password: None,
            export_config: false,
            recovered: false,
        }
    }
}

/// The catalog (see the [module docs](self)).
pub struct Catalog {
    pub(crate) conn: Connection,
    key: Zeroizing<[u8; 32]>,
    path: PathBuf,
    key_path: PathBuf,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish_non_exhaustive()
    }
}

pub(crate) fn db_error(what: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let (kind, hint) = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => (
            ErrorKind::Locked,
            "another program has held the catalog for over 10 seconds (a database tool, or a Cairn stuck \
             on it): close it and try again; nothing was changed",
        ),
        Some(C::ReadOnly) => (
            ErrorKind::PermissionDenied,
            "the catalog file, or its folder, cannot be written (read-only disk or permissions): make \
             both writable; nothing was changed",
        ),
        Some(C::CannotOpen | C::PermissionDenied) => (
            ErrorKind::PermissionDenied,
            "check that the catalog's folder exists and that you may read and write it and the file",
        ),
        Some(C::NotADatabase | C::DatabaseCorrupt) => (
            ErrorKind::Corrupt,
            "the catalog file is damaged; Cairn has not changed it. Move it aside (keep it: it \
             holds your destinations' settings and sealed secrets), then start afresh or rebuild it with \
             `cairn recover` from a configuration export and your recovery kit",
        ),
        Some(C::DiskFull) => (ErrorKind::StorageFull, "the disk that holds the catalog is full: free some space"),
        Some(C::SystemIoFailure) => (ErrorKind::Io, "the disk that holds the catalog failed to read or write"),
        _ => return Error::new(ErrorKind::Io, format!("catalog: {what}: {e}")),
    };
    Error::new(kind, format!("catalog: {what}: {e}")).with_hint(hint)
}

/// Puts the catalog in WAL mode (once per file). Switching needs the database to itself, and
/// SQLite may answer "busy" at once, without waiting, while another process opens the same new
/// catalog: then it is tried again for up to 10 seconds, unless the other one switched it.
fn enable_wal(conn: &Connection) -> Result<(), Error> {
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                let mode: Option<String> = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).ok();
                if mode.is_some_and(|m| m.eq_ignore_ascii_case("wal")) {
                    return Ok(());
                }
                if started.elapsed() > std::time::Duration::from_secs(10) {
                    return Err(db_error("cannot enable WAL", e));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(db_error("cannot enable WAL", e)),
        }
    }
}

/// Reads the master key file, or creates it (256 random bits, hex, mode 0600) if missing.
fn master_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, Error> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let mut key = Zeroizing::new([0u8; 32]);
        crate::rng::os_rng().fill_bytes(&mut *key);
        let hex = Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect::<String>());
        // Written whole under a temporary name, then linked into place: another process that
        // opens the catalog at the same moment sees no key or the whole key, never part of
        // one, and exactly one key wins.
        let tmp = path.with_extension(format!("key.{}.{:016x}", std::process::id(), crate::rng::os_rng().next_u64()));
        let written = (|| {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            f.write_all(format!("{}\n", hex.as_str()).as_bytes())?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("cannot create the catalog key", path, e));
        }
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("cannot create the catalog key", path, e)),
        }
    }
    let meta = fs::metadata(path).map_err(|e| Error::io("cannot read the catalog key", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("the catalog key {} can be read by other users", path.display()),
        )
        .with_hint(format!("run `chmod 600 {}`", path.display())));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| Error::io("cannot read the catalog key", path, e))?);
    let hex = text.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    let valid = hex.len() == 64
        && key.iter_mut().enumerate().all(|(i, b)| {
            match u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16) {
                Ok(v) => {
                    *b = v;
                    true
                }
                Err(_) => false,
            }
        });
    if !valid {
        return Err(Error::new(ErrorKind::Corrupt, format!("the catalog key {} is not 64 hex digits", path.display()))
            .with_hint("restore it from your recovery kit"));
    }
    Ok(key)
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl Catalog {
    /// The default database and key files, in the data directory.
    pub fn default_paths() -> Result<(PathBuf, PathBuf), Error> {
        let dir = crate::paths::data_dir()?;
        Ok((dir.join("catalog.sqlite"), dir.join("catalog.key")))
    }

    /// Opens (creating if needed) the catalog at `path` with the master key in `key_file`
    /// (created if missing), and migrates its schema.
    pub fn open(path: &Path, key_file: &Path) -> Result<Self, Error> {
        Self::open_inner(path, key_file).map_err(|e| match e.kind() {
            ErrorKind::Locked | ErrorKind::PermissionDenied | ErrorKind::Corrupt | ErrorKind::Unsupported => {
                e.context(path.display())
            }
            _ => e,
        })
    }

    fn open_inner(path: &Path, key_file: &Path) -> Result<Self, Error> {
        let key = master_key(key_file)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_error("cannot open", e))?;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| db_error("cannot set a busy timeout", e))?;
        enable_wal(&conn)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| db_error("cannot enable foreign keys", e))?;
        let catalog = Self { conn, key, path: path.to_path_buf(), key_path: key_file.to_path_buf() };
        catalog.migrate()?;
        if catalog.meta("catalog_id")?.is_none() {
            let mut id = [0u8; 16];
            crate::rng::os_rng().fill_bytes(&mut id);
            // Another process opening the new catalog at once may set it first: its id stays.
            let id = id.iter().map(|b| format!("{b:02x}")).collect::<String>();
            catalog
                .conn
                .execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('catalog_id', ?1)", [id])
                .map_err(|e| db_error("cannot save the catalog's identity", e))?;
        }
        Ok(catalog)
    }

    /// A value of the `meta` table.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| db_error("cannot read the catalog's identity", e))
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<(), Error> {
        self.conn
            .execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])
            .map_err(|e| db_error("cannot save the catalog's identity", e))?;
        Ok(())
    }

    /// Every `meta` entry whose key starts with `prefix`.
    pub(crate) fn metas_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1")
            .map_err(|e| db_error("cannot read the catalog's settings", e))?;
        let rows = stmt
            .query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| db_error("cannot read the catalog's settings", e))?;
        rows.collect::<Result<_, _>>().map_err(|e| db_error("cannot read the catalog's settings", e))
    }

    pub(crate) fn delete_meta(&self, key: &str) -> Result<(), Error> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])
            .map_err(|e| db_error("cannot save the catalog's settings", e))?;
        Ok(())
    }

    /// This catalog's identity (random, 128 bits, hex): backup directories record it as their
    /// owner. A recovery carries it over to the new machine.
    pub fn catalog_id(&self) -> Result<String, Error> {
        self.meta("catalog_id")?.ok_or_else(|| Error::new(ErrorKind::Corrupt, "the catalog has no identity"))
    }

    /// Replaces the master key (a recovery takes over the old catalog's key, so that its
    /// recovery kit keeps working). Only an empty catalog can: nothing is sealed under the
    /// old key yet.
    pub(crate) fn replace_master_key(&mut self, key: &[u8; 32]) -> Result<(), Error> {
        let sealed: i64 = self
            .conn
            .query_row("SELECT count(*) FROM secrets", [], |r| r.get(0))
            .map_err(|e| db_error("cannot read secrets", e))?;
        if sealed > 0 {
            return Err(Error::new(ErrorKind::InvalidInput, "the catalog holds secrets already"));
        }
        let hex = Zeroizing::new(key.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let tmp = self.key_path.with_extension("key.new");
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("cannot create the catalog key", &tmp, e))?;
        f.write_all(format!("{}\n", hex.as_str()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("cannot write the catalog key", &tmp, e))?;
        fs::rename(&tmp, &self.key_path).map_err(|e| Error::io("cannot replace the catalog key", &self.key_path, e))?;
        *self.key = *key;
        Ok(())
    }

    /// The master key (for configuration exports, which the recovery kit opens).
    pub(crate) fn master_key(&self) -> &[u8; 32] {
        &self.key
    }

    fn migrate(&self) -> Result<(), Error> {
        let version = usize::try_from(self.schema_version_raw()?).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("the catalog {} was written by a newer Cairn (schema {version})", self.path.display()),
            )
            .with_hint("upgrade Cairn"));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            // Several processes (the window's commands, the daemon, the CLI) may open a catalog
            // that needs migrating at once: each step takes the write lock first, then checks
            // whether another one has applied it meanwhile.
            let tx = rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| db_error("cannot migrate", e))?;
            let now: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(|e| db_error("cannot read the schema version", e))?;
            if now > i as i64 {
                continue;
            }
            tx.execute_batch(sql).map_err(|e| db_error(&format!("migration {}", i + 1), e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(|e| db_error("cannot migrate", e))?;
            tx.commit().map_err(|e| db_error("cannot migrate", e))?;
        }
        Ok(())
    }

    fn schema_version_raw(&self) -> Result<i64, Error> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| db_error("cannot read the schema version", e))
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64, Error> {
        self.schema_version_raw()
    }

    /// The master key as a recovery kit line (keep it offline: it opens every stored secret).
    pub fn recovery_kit(&self) -> Secret {
        Secret::new(format!("cairn-catalog-key:{}", self.key.iter().map(|b| format!("{b:02x}")).collect::<String>()))
    }

    fn aad(id: i64) -> Vec<u8> {
        format!("cairn.catalog.secret:{id}").into_bytes()
    }

    /// Seals `plain` into a new secrets row and returns its id.
    fn put_secret(&self, plain: &[u8]) -> Result<i64, Error> {
        self.conn
            .execute("INSERT INTO secrets (nonce, sealed) VALUES (x'', x'')", [])
            .map_err(|e| db_error("cannot store a secret", e))?;
        let id = self.conn.last_insert_rowid();
        let mut nonce = [0u8; 24];
        crate::rng::os_rng().fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&*self.key).into());
        let aad = Self::aad(id);
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: &aad })
            .map_err(|_| Error::new(ErrorKind::Other, "cannot seal a secret"))?;
        self.conn
            .execute("UPDATE secrets SET nonce = ?1, sealed = ?2 WHERE id = ?3", params![&nonce[..], sealed, id])
            .map_err(|e| db_error("cannot store a secret", e))?;
        Ok(id)
    }

    fn get_secret(&self, id: i64) -> Result<Secret, Error> {
        let (nonce, sealed): (Vec<u8>, Vec<u8>) = self
            .conn
            .query_row("SELECT nonce, sealed FROM secrets WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| db_error("cannot read a secret", e))?;
        let nonce: [u8; 24] =
            nonce.as_slice().try_into().map_err(|_| Error::new(ErrorKind::Corrupt, "a stored secret is damaged"))?;
        let cipher = XChaCha20Poly1305::new((&*self.key).into());
        let aad = Self::aad(id);
        let plain = cipher.decrypt(&XNonce::from(nonce), Payload { msg: &sealed, aad: &aad }).map_err(|_| {
            Error::new(ErrorKind::Corrupt, "a stored secret does not open with this catalog key")
                .with_hint("the catalog key file does not belong to this catalog: restore it from your recovery kit")
        })?;
        Ok(Secret::new(plain))
    }

    /// Refuses a change to destination `d` by anyone but its owner (a catalog shared between
    /// accounts keeps each one's destinations to them).
    fn check_owner(&self, d: &DestinationRecord) -> Result<(), Error> {
        let me = crate::process::username();
        if d.owner != me && !me.is_empty() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("destination {} belongs to {}, and only its owner may change it", d.name, d.owner),
            )
            .with_hint(format!("run this as {}", d.owner)));
        }
        Ok(())
    }

    /// The name of the default destination.
    pub const DEFAULT_DESTINATION: &'static str = "default";

    /// The default destination: the local repository in the data directory, used when no
    /// `--repo` or `--destination` is given. It is added on first use, with a generated
    /// password, or with the password of a default repository made by an older Cairn (whose
    /// plain password file is then removed: the password is sealed in the catalog instead).
    /// Its repository is created by the first backup. Returns it, and whether a password file
    /// was moved in.
    pub fn default_destination(&self) -> Result<(DestinationRecord, bool), Error> {
        if let Some(d) = self.get_destination(Self::DEFAULT_DESTINATION)? {
            return Ok((d, false));
        }
        let repo = crate::paths::default_repository()?;
        let url = repo.to_str().ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, format!("the data directory {} is not UTF-8", repo.display()))
        })?;
        let mut new = NewDestination::new(Self::DEFAULT_DESTINATION, url);
        let old_file = crate::paths::default_password_file()?;
        let moved = old_file.exists();
        if moved {
            new.password = Some(crate::paths::read_password_file(&old_file)?);
        } else if repo.join("config").exists() {
            // A repository made with a catalog that is gone (deleted, or another --catalog): a
            // new password would not open it, and a wrong-password error would puzzle.
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the default repository at {url} was made with a catalog that is not this one, and this catalog \
                     holds no password for it"
                ),
            )
            .with_hint(format!(
                "restore that catalog with your recovery kit (`cairn recover`); or, knowing the repository's \
                 password, add it read-only to restore from it: CAIRN_PASSWORD=... cairn destination create --name \
                 old-default --url {url} --read-only"
            )));
        }
        let record = self.create_destination(&new)?;
        if moved {
            // Sealed in the catalog now (and checked to read back): the plain copy goes.
            if self.destination_password(Self::DEFAULT_DESTINATION)?.expose()
                == new.password.as_ref().map_or(&[][..], |p| p.expose())
            {
                let _ = fs::remove_file(&old_file);
            }
        }
        Ok((record, moved))
    }

    /// Checks every field of a new destination and returns what the Test runs on; nothing is
    /// saved. The repository password is the one given, or a new one (256 bits).
    pub fn check_new(&self, new: &NewDestination) -> Result<Candidate, Error> {
        if !valid_name(&new.name) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("name: {:?} is not a valid destination name", new.name),
            )
            .with_hint("use 1 to 64 letters, digits, '-', '_' or '.'"));
        }
        if self.get_destination(&new.name)?.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("name: a destination named {:?} exists already", new.name),
            )
            .with_hint("choose another name, or update that destination"));
        }
        let url = with_access_key(&new.url, new.s3_access_key.as_deref());
        let (kind, parsed) = self.parse_url(&url, &new.secrets)?;
        check_export(kind, new.export_config)?;
        let read_only = new.read_only || new.recovered;
        // A backup directory belongs to one destination: another destination of this catalog
        // at the same place is refused, Test or not; added read-only, it opens with that
        // destination's password unless another is given.
        let sharing = self.destinations_at(&parsed)?;
        if let Some((other, _)) = sharing.iter().find(|(_, other_read_only)| !other_read_only)
            && !read_only
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("url: {} is the backup directory of destination {other:?} of this catalog", parsed.show()),
            )
            .with_hint(format!(
                "a backup directory belongs to one destination: back up to {other:?}, or add this one read-only \
                 (--read-only) to restore from it"
            )));
        }
        let password = match (&new.password, &sharing[..]) {
            (Some(p), _) => p.clone(),
            (None, [(other, _), ..]) => self.destination_password(other)?,
            (None, []) => match self.pending_password(&url)? {
                Some(p) => p,
                None => {
                    let mut bytes = Zeroizing::new([0u8; 32]);
                    crate::rng::os_rng().fill_bytes(&mut *bytes);
                    Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes())
                }
            },
        };
        Ok(Candidate {
            name: new.name.clone(),
            kind: kind.to_string(),
            url,
            parsed,
            password,
            password_generated: new.password.is_none() && sharing.is_empty(),
            read_only,
        })
    }

    /// The destinations of this catalog (name, read-only) whose backup directory is where
    /// `parsed` points (see [`DestinationUrl::place`]).
    fn destinations_at(&self, parsed: &DestinationUrl) -> Result<Vec<(String, bool)>, Error> {
        let place = parsed.place();
        let mut out = Vec::new();
        for d in self.list_destinations()? {
            // One that does not parse any more is no place.
            if self.destination_url(&d.name).is_ok_and(|u| u.place() == place) {
                out.push((d.name, d.read_only));
            }
        }
        Ok(out)
    }

    fn parse_url(&self, url: &str, secrets: &DestinationSecrets) -> Result<(&'static str, DestinationUrl), Error> {
        let parsed = parse_destination(url, self.credentials_for(secrets)).map_err(|e| e.context("url"))?;
        let kind = match &parsed {
            DestinationUrl::Local(_) => "local",
            DestinationUrl::S3(_) => "s3",
            DestinationUrl::Rest(_) => "rest",
            DestinationUrl::Sftp(_) => "sftp",
            DestinationUrl::Azure(_) => "azure",
            DestinationUrl::WebDav(_) => "webdav",
            DestinationUrl::Ftp(_) => "ftp",
            DestinationUrl::Rclone(_) => "rclone",
        };
        if kind == "rest" && rest_url_has_password(url) {
            return Err(Error::new(ErrorKind::InvalidInput, "url: the REST password cannot be stored in the URL")
                .with_hint("give it as a secret; the catalog keeps it encrypted"));
        }
        Ok((kind, parsed))
    }

    /// Adds a destination after checking every field (no Test: see the health module).
    pub fn create_destination(&self, new: &NewDestination) -> Result<DestinationRecord, Error> {
        let candidate = self.check_new(new)?;
        self.insert_destination(new, &candidate)
    }

    /// The secret that holds the password kept for a destination at `url` whose creation was
    /// interrupted.
    fn pending_secret_id(&self, url: &str) -> Result<Option<i64>, Error> {
        self.conn
            .query_row("SELECT password_secret FROM pending_passwords WHERE url = ?1", [url], |r| r.get(0))
            .optional()
            .map_err(|e| db_error("cannot read a pending destination", e))
    }

    /// The password kept for a destination at `url` whose creation was interrupted.
    fn pending_password(&self, url: &str) -> Result<Option<Secret>, Error> {
        self.pending_secret_id(url)?.map(|id| self.get_secret(id)).transpose()
    }

    /// Keeps the generated password of `candidate` before its Test initialises a repository
    /// with it (see `health::create_tested`); saving the destination drops it.
    pub fn keep_pending_password(&self, candidate: &Candidate) -> Result<(), Error> {
        if self.pending_password(&candidate.url)?.is_some_and(|p| p.expose() == candidate.password.expose()) {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        self.drop_pending_password(&candidate.url)?;
        let id = self.put_secret(candidate.password.expose())?;
        self.conn
            .execute(
                "INSERT INTO pending_passwords (url, password_secret, created) VALUES (?1, ?2, ?3)",
                params![candidate.url, id, crate::process::now().secs],
            )
            .map_err(|e| db_error("cannot save a pending destination", e))?;
        tx.commit().map_err(|e| db_error("cannot save", e))
    }

    fn drop_pending_password(&self, url: &str) -> Result<(), Error> {
        if let Some(id) = self.pending_secret_id(url)? {
            self.conn
                .execute("DELETE FROM pending_passwords WHERE url = ?1", [url])
                .and_then(|_| self.conn.execute("DELETE FROM secrets WHERE id = ?1", [id]))
                .map_err(|e| db_error("cannot drop a pending destination", e))?;
        }
        Ok(())
    }

    /// Saves a destination checked by [`Catalog::check_new`] (and, normally, tested).
    pub fn insert_destination(&self, new: &NewDestination, candidate: &Candidate) -> Result<DestinationRecord, Error> {
        let owner = new.owner.clone().unwrap_or_else(crate::process::username);
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        self.drop_pending_password(&candidate.url)?;
        let password_secret = self.put_secret(candidate.password.expose())?;
        let credentials_secret = match encode_secrets(&new.secrets) {
            Some(blob) => Some(self.put_secret(&blob)?),
            None => None,
        };
        let now = crate::process::now().secs;
        self.conn
            .execute(
                "INSERT INTO destinations (name, kind, url, owner, read_only, password_secret, credentials_secret,
                    created, export_config, recovered, password_generated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    candidate.name,
                    candidate.kind,
                    candidate.url,
                    owner,
                    candidate.read_only,
                    password_secret,
                    credentials_secret,
                    now,
                    new.export_config,
                    new.recovered,
                    candidate.password_generated
                ],
            )
            .map_err(|e| db_error("cannot save the destination", e))?;
        tx.commit().map_err(|e| db_error("cannot save", e))?;
        self.require_destination(&candidate.name)
    }

    /// Checks changes to destination `name` and returns the destination as it would be, for
    /// the Test; nothing is saved ([`Catalog::apply_update`] saves).
    pub fn check_update(&self, name: &str, update: &DestinationUpdate) -> Result<Candidate, Error> {
        let d = self.require_destination(name)?;
        self.check_owner(&d)?;
        if update.make_writable && !d.recovered && d.read_only {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("read-only: {name} was created read-only, and that is fixed at creation"),
            )
            .with_hint("only destinations added by `cairn recover` can be made writable; create a new destination"));
        }
        let mut secrets = self.destination_secrets(&d)?;
        let given = &update.secrets;
        secrets.replace_with(given);
        let mut url = update.url.clone().unwrap_or_else(|| d.url.clone());
        if let Some(ak) = &update.s3_access_key {
            url = with_access_key(&strip_option(&url, "access-key"), Some(ak));
        } else if update.url.is_some() && !url.contains("access-key=") {
            // Keep the stored access key when only the rest of the URL changes.
            if let Some(ak) = option_value(&d.url, "access-key") {
                url = with_access_key(&url, Some(&ak));
            }
        }
        let (kind, parsed) = self.parse_url(&url, &secrets)?;
        if kind != d.kind {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("url: {name} is a {} destination; the new URL is {kind}", d.kind),
            )
            .with_hint("the type is fixed at creation: create a new destination instead"));
        }
        check_export(kind, update.export_config.unwrap_or(d.export_config))?;
        Ok(Candidate {
            name: d.name.clone(),
            kind: kind.to_string(),
            url,
            parsed,
            password: self.destination_password(name)?,
            password_generated: self.password_generated(d.id)?,
            read_only: d.read_only && !update.make_writable,
        })
    }

    /// Saves changes checked by [`Catalog::check_update`] (and tested).
    pub fn apply_update(&self, update: &DestinationUpdate, candidate: &Candidate) -> Result<DestinationRecord, Error> {
        let d = self.require_destination(&candidate.name)?;
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        let given = &update.secrets;
        if !given.is_empty() {
            let mut merged = self.destination_secrets(&d)?;
            merged.replace_with(given);
            let old = self.credentials_secret_id(d.id)?;
            let new_id = match encode_secrets(&merged) {
                Some(blob) => Some(self.put_secret(&blob)?),
                None => None,
            };
            self.conn
                .execute("UPDATE destinations SET credentials_secret = ?1 WHERE id = ?2", params![new_id, d.id])
                .map_err(|e| db_error("cannot update a destination", e))?;
            if let Some(old) = old {
                self.conn
                    .execute("DELETE FROM secrets WHERE id = ?1", [old])
                    .map_err(|e| db_error("cannot update", e))?;
            }
        }
        self.conn
            .execute(
                "UPDATE destinations SET url = ?1, read_only = ?2, export_config = ?3,
                    recovered = CASE WHEN ?2 THEN recovered ELSE 0 END WHERE id = ?4",
                params![candidate.url, candidate.read_only, update.export_config.unwrap_or(d.export_config), d.id],
            )
            .map_err(|e| db_error("cannot update a destination", e))?;
        tx.commit().map_err(|e| db_error("cannot save", e))?;
        self.require_destination(&candidate.name)
    }

    /// Replaces the repository password of a destination (adopting a repository written
    /// elsewhere, once its password has been checked); a password given is never counted as
    /// generated.
    pub fn set_destination_password(&self, name: &str, password: &Secret) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        let old: i64 = self
            .conn
            .query_row("SELECT password_secret FROM destinations WHERE id = ?1", [d.id], |r| r.get(0))
            .map_err(|e| db_error("cannot read a destination", e))?;
        let new_id = self.put_secret(password.expose())?;
        self.conn
            .execute(
                "UPDATE destinations SET password_secret = ?1, password_generated = 0 WHERE id = ?2",
                params![new_id, d.id],
            )
            .map_err(|e| db_error("cannot update a destination", e))?;
        self.conn.execute("DELETE FROM secrets WHERE id = ?1", [old]).map_err(|e| db_error("cannot update", e))?;
        tx.commit().map_err(|e| db_error("cannot save", e))
    }

    fn credentials_for(&self, secrets: &DestinationSecrets) -> Credentials {
        Credentials { secrets: secrets.clone(), ..Credentials::default() }
    }

    fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DestinationRecord> {
        let last_time: Option<i64> = r.get(8)?;
        let last_ok: Option<bool> = r.get(9)?;
        let last_report: Option<String> = r.get(10)?;
        let disk_time: Option<i64> = r.get(14)?;
        let disk_repo: Option<i64> = r.get(15)?;
        let disk_free: Option<i64> = r.get(16)?;
        Ok(DestinationRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            kind: r.get(2)?,
            url: r.get(3)?,
            owner: r.get(4)?,
            enabled: r.get(5)?,
            read_only: r.get(6)?,
            created: r.get(7)?,
            last_test: last_time.map(|t| (t, last_ok.unwrap_or(false), last_report.unwrap_or_default())),
            export_config: r.get(11)?,
            recovered: r.get(12)?,
            last_export: r.get(13)?,
            disk: disk_time.map(|time| DiskInfo {
                time,
                repository_bytes: disk_repo.unwrap_or(0).max(0) as u64,
                free_bytes: disk_free.map(|f| f.max(0) as u64),
            }),
        })
    }

    const COLUMNS: &'static str = "id, name, kind, url, owner, enabled, read_only, created, last_test_time, \
         last_test_ok, last_test_report, export_config, recovered, last_export, disk_time, \
         disk_repository_bytes, disk_free_bytes";

    /// Every destination, by name.
    pub fn list_destinations(&self) -> Result<Vec<DestinationRecord>, Error> {
        let sql = format!("SELECT {} FROM destinations ORDER BY name", Self::COLUMNS);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| db_error("cannot list destinations", e))?;
        let rows = stmt.query_map([], Self::record).map_err(|e| db_error("cannot list destinations", e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| db_error("cannot list destinations", e))
    }

    /// The destination named `name`.
    pub fn get_destination(&self, name: &str) -> Result<Option<DestinationRecord>, Error> {
        let sql = format!("SELECT {} FROM destinations WHERE name = ?1", Self::COLUMNS);
        self.conn.query_row(&sql, [name], Self::record).optional().map_err(|e| db_error("cannot read a destination", e))
    }

    /// The destination named `name`, or the error that says there is none.
    pub fn require_destination(&self, name: &str) -> Result<DestinationRecord, Error> {
        self.get_destination(name)?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no destination named {name:?}"))
                .with_hint("list them with `cairn destination list`")
        })
    }

    /// The repository password of a destination (for a sealed envelope, or to open it).
    pub fn destination_password(&self, name: &str) -> Result<Secret, Error> {
        let d = self.require_destination(name)?;
        let id: i64 = self
            .conn
            .query_row("SELECT password_secret FROM destinations WHERE id = ?1", [d.id], |r| r.get(0))
            .map_err(|e| db_error("cannot read a destination", e))?;
        self.get_secret(id)
    }

    /// Whether the repository password of destination `id` was generated by the catalog.
    fn password_generated(&self, id: i64) -> Result<bool, Error> {
        self.conn
            .query_row("SELECT password_generated FROM destinations WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| db_error("cannot read a destination", e))
    }

    fn credentials_secret_id(&self, id: i64) -> Result<Option<i64>, Error> {
        self.conn
            .query_row("SELECT credentials_secret FROM destinations WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| db_error("cannot read a destination", e))
    }

    /// The stored secrets of a destination other than its repository password.
    pub fn destination_secrets(&self, d: &DestinationRecord) -> Result<DestinationSecrets, Error> {
        match self.credentials_secret_id(d.id)? {
            Some(id) => decode_secrets(self.get_secret(id)?.expose()),
            None => Ok(DestinationSecrets::default()),
        }
    }

    /// The destination's URL parsed with its stored secrets, ready to open.
    pub fn destination_url(&self, name: &str) -> Result<DestinationUrl, Error> {
        let d = self.require_destination(name)?;
        let secrets = self.destination_secrets(&d)?;
        parse_destination(&d.url, self.credentials_for(&secrets))
    }

    /// The destination as the Test and the jobs use it.
    pub fn candidate(&self, name: &str) -> Result<Candidate, Error> {
        let d = self.require_destination(name)?;
        Ok(Candidate {
            name: d.name.clone(),
            kind: d.kind.clone(),
            url: d.url.clone(),
            parsed: self.destination_url(name)?,
            password: self.destination_password(name)?,
            password_generated: self.password_generated(d.id)?,
            read_only: d.read_only,
        })
    }

    /// Enables or disables a destination.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        self.check_owner(&d)?;
        self.conn
            .execute("UPDATE destinations SET enabled = ?1 WHERE id = ?2", params![enabled, d.id])
            .map_err(|e| db_error("cannot update a destination", e))?;
        Ok(())
    }

    /// Records the outcome of a Test at `time` (Unix seconds).
    pub fn record_test_at(&self, name: &str, time: i64, ok: bool, report: &str) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        self.conn
            .execute(
                "UPDATE destinations SET last_test_time = ?1, last_test_ok = ?2, last_test_report = ?3 WHERE id = ?4",
                params![time, ok, report, d.id],
            )
            .map_err(|e| db_error("cannot update a destination", e))?;
        Ok(())
    }

    /// Records the outcome of a Test now.
    pub fn record_test(&self, name: &str, ok: bool, report: &str) -> Result<(), Error> {
        self.record_test_at(name, crate::process::now().secs, ok, report)
    }

    /// Records a destination's disk info.
    pub fn set_disk_info(&self, name: &str, disk: &DiskInfo) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        let repo = i64::try_from(disk.repository_bytes).unwrap_or(i64::MAX);
        let free = disk.free_bytes.map(|f| i64::try_from(f).unwrap_or(i64::MAX));
        self.conn
            .execute(
                "UPDATE destinations SET disk_time = ?1, disk_repository_bytes = ?2, disk_free_bytes = ?3 WHERE id = ?4",
                params![disk.time, repo, free, d.id],
            )
            .map_err(|e| db_error("cannot update a destination", e))?;
        Ok(())
    }

    /// Records that the configuration was exported to `name` at `time`.
    pub fn set_last_export(&self, name: &str, time: i64) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        self.conn
            .execute("UPDATE destinations SET last_export = ?1 WHERE id = ?2", params![time, d.id])
            .map_err(|e| db_error("cannot update a destination", e))?;
        Ok(())
    }

    /// Replaces the cached snapshot list of destination `name` with `snapshots`, as listed
    /// from its repository (after a backup, a forget, a prune, a repair, a reindex).
    pub fn cache_snapshots(
        &self,
        name: &str,
        snapshots: &[(cairn_core::SnapshotId, cairn_core::Snapshot)],
    ) -> Result<(), Error> {
        let cached: Vec<CachedSnapshot> = snapshots.iter().map(|(id, s)| CachedSnapshot::of(*id, s)).collect();
        self.replace_snapshot_cache(name, &cached)
    }

    /// Replaces the cached snapshot list of a destination.
    pub fn replace_snapshot_cache(&self, name: &str, snapshots: &[CachedSnapshot]) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        tx.execute("DELETE FROM snapshot_cache WHERE destination_id = ?1", [d.id])
            .map_err(|e| db_error("cannot update the snapshot cache", e))?;
        for s in snapshots {
            let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT OR REPLACE INTO snapshot_cache (destination_id, snapshot_id, time, hostname, paths, tags, files, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    d.id,
                    s.id,
                    s.time,
                    s.hostname,
                    json(&s.paths),
                    json(&s.tags),
                    i64::try_from(s.files).unwrap_or(i64::MAX),
                    i64::try_from(s.bytes).unwrap_or(i64::MAX)
                ],
            )
            .map_err(|e| db_error("cannot update the snapshot cache", e))?;
        }
        tx.commit().map_err(|e| db_error("cannot save", e))
    }

    /// The cached snapshot list of a destination, oldest first.
    pub fn snapshot_cache(&self, name: &str) -> Result<Vec<CachedSnapshot>, Error> {
        let d = self.require_destination(name)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT snapshot_id, time, hostname, paths, tags, files, bytes FROM snapshot_cache
                 WHERE destination_id = ?1 ORDER BY time, snapshot_id",
            )
            .map_err(|e| db_error("cannot read the snapshot cache", e))?;
        let rows = stmt
            .query_map([d.id], |r| {
                let paths: String = r.get(3)?;
                let tags: String = r.get(4)?;
                Ok(CachedSnapshot {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    hostname: r.get(2)?,
                    paths: serde_json::from_str(&paths).unwrap_or_default(),
                    tags: serde_json::from_str(&tags).unwrap_or_default(),
                    files: r.get::<_, i64>(5)?.max(0) as u64,
                    bytes: r.get::<_, i64>(6)?.max(0) as u64,
                })
            })
            .map_err(|e| db_error("cannot read the snapshot cache", e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| db_error("cannot read the snapshot cache", e))
    }

    /// How many snapshots the cache lists for destination `d`, without reading them.
    pub fn cached_snapshot_count(&self, d: &DestinationRecord) -> Result<u64, Error> {
        self.conn
            .query_row("SELECT COUNT(*) FROM snapshot_cache WHERE destination_id = ?1", [d.id], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| db_error("cannot read the snapshot cache", e))
    }

    /// The names of the jobs that write to destination `name`.
    pub fn jobs_targeting(&self, name: &str) -> Result<Vec<String>, Error> {
        let d = self.require_destination(name)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT j.name FROM jobs j JOIN job_destinations jd ON jd.job_id = j.id
                 WHERE jd.destination_id = ?1 ORDER BY j.name",
            )
            .map_err(|e| db_error("cannot list jobs", e))?;
        let rows = stmt.query_map([d.id], |r| r.get(0)).map_err(|e| db_error("cannot list jobs", e))?;
        rows.collect::<Result<Vec<String>, _>>().map_err(|e| db_error("cannot list jobs", e))
    }

    /// Deletes a destination and its secrets (the repository itself is left where it is);
    /// refused while a job writes to it.
    pub fn delete_destination(&self, name: &str) -> Result<(), Error> {
        let d = self.require_destination(name)?;
        self.check_owner(&d)?;
        let jobs = self.jobs_targeting(name)?;
        if !jobs.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("destination {name} is used by the job(s) {}", jobs.join(", ")),
            )
            .with_hint("remove it from those jobs (`cairn job update`) or delete them first"));
        }
        let (p, c): (i64, Option<i64>) = self
            .conn
            .query_row("SELECT password_secret, credentials_secret FROM destinations WHERE id = ?1", [d.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| db_error("cannot read a destination", e))?;
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot delete", e))?;
        tx.execute("DELETE FROM destinations WHERE id = ?1", [d.id]).map_err(|e| db_error("cannot delete", e))?;
        tx.execute("DELETE FROM secrets WHERE id = ?1", [p]).map_err(|e| db_error("cannot delete", e))?;
        if let Some(c) = c {
            tx.execute("DELETE FROM secrets WHERE id = ?1", [c]).map_err(|e| db_error("cannot delete", e))?;
        }
        tx.commit().map_err(|e| db_error("cannot delete", e))
    }
}

/// `url` with `access-key=KEY` added (if given).
fn with_access_key(url: &str, key: Option<&str>) -> String {
    let mut url = url.to_string();
    if let Some(ak) = key {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("access-key=");
        url.push_str(ak);
    }
    url
}

/// The value of option `name` in a URL's query, if there.
fn option_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
}

/// `url` without option `name`.
fn strip_option(url: &str, name: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return url.to_string() };
    let kept: Vec<&str> = query.split('&').filter(|kv| kv.split('=').next() != Some(name)).collect();
    if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
}

/// Configuration exports are files beside the repository, which a REST server cannot hold.
fn check_export(kind: &str, export_config: bool) -> Result<(), Error> {
    if export_config && matches!(kind, "rest" | "rclone") {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "export-config: a REST server (and rclone's restic service) holds only repository objects",
        )
        .with_hint("choose a local, S3, SFTP, Azure, WebDAV or FTP destination for configuration exports"));
    }
    Ok(())
}

/// Whether a `rest:` URL carries `user:password@`.
fn rest_url_has_password(url: &str) -> bool {
    let after = url.split_once("://").map_or("", |(_, a)| a);
    let authority = after.split('/').next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The secrets as `name=hex` lines (hex keeps any byte safe), or `None` if there are none.
fn encode_secrets(s: &DestinationSecrets) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::new());
    for (slot, v) in s.iter() {
        out.extend_from_slice(slot.name.as_bytes());
        out.push(b'=');
        for b in v.expose() {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        out.push(b'\n');
    }
    (!out.is_empty()).then_some(out)
}

fn decode_secrets(bytes: &[u8]) -> Result<DestinationSecrets, Error> {
    let bad = || Error::new(ErrorKind::Corrupt, "a stored secret is damaged");
    let mut s = DestinationSecrets::default();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let eq = line.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (name, hex) = (&line[..eq], &line[eq + 1..]);
        if hex.len() % 2 != 0 {
            return Err(bad());
        }
        let value: Vec<u8> = hex
            .chunks(2)
            .map(|p| std::str::from_utf8(p).ok().and_then(|t| u8::from_str_radix(t, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let place = std::str::from_utf8(name).ok().and_then(|n| s.slot_mut(n)).ok_or_else(bad)?;
        *place = Some(Secret::new(value));
    }
    Ok(s)
}
