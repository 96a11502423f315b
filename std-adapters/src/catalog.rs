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

use crate::destination::{Credentials, DestinationUrl, parse_destination};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

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
];

/// Secrets of a destination other than its repository password.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DestinationSecrets {
    /// S3 secret access key.
    pub s3_secret_key: Option<Secret>,
    /// REST server password.
    pub rest_password: Option<Secret>,
    /// SSH key passphrase.
    pub ssh_passphrase: Option<Secret>,
    /// SSH password.
    pub ssh_password: Option<Secret>,
}

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
        }
    }
}

/// The catalog (see the [module docs](self)).
pub struct Catalog {
    conn: Connection,
    key: Zeroizing<[u8; 32]>,
    path: PathBuf,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish_non_exhaustive()
    }
}

fn db_error(what: &str, e: rusqlite::Error) -> Error {
    Error::new(ErrorKind::Io, format!("catalog: {what}: {e}"))
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
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("cannot create the catalog key", path, e))?;
        f.write_all(format!("{}\n", hex.as_str()).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("cannot write the catalog key", path, e))?;
        return Ok(key);
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

fn valid_name(name: &str) -> bool {
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
        let key = master_key(key_file)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_error("cannot open", e))?;
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| db_error("cannot enable WAL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| db_error("cannot enable foreign keys", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| db_error("cannot set a busy timeout", e))?;
        let catalog = Self { conn, key, path: path.to_path_buf() };
        catalog.migrate()?;
        Ok(catalog)
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
            let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot migrate", e))?;
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

    /// Adds a destination after checking every field; generates its repository password.
    pub fn create_destination(&self, new: &NewDestination) -> Result<DestinationRecord, Error> {
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
        let mut url = new.url.clone();
        if let Some(ak) = &new.s3_access_key {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("access-key=");
            url.push_str(ak);
        }
        let parsed = parse_destination(&url, self.credentials_for(&new.secrets)).map_err(|e| {
            Error::new(e.kind(), format!("url: {}", e.message())).with_hint(e.hint().unwrap_or("").to_string())
        })?;
        let kind = match &parsed {
            DestinationUrl::Local(_) => "local",
            DestinationUrl::S3(_) => "s3",
            DestinationUrl::Rest(_) => "rest",
            DestinationUrl::Sftp(_) => "sftp",
        };
        if kind == "rest" && rest_url_has_password(&url) {
            return Err(Error::new(ErrorKind::InvalidInput, "url: the REST password cannot be stored in the URL")
                .with_hint("give it as a secret; the catalog keeps it encrypted"));
        }
        let owner = new.owner.clone().unwrap_or_else(crate::process::username);
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save", e))?;
        let mut password = Zeroizing::new([0u8; 32]);
        crate::rng::os_rng().fill_bytes(&mut *password);
        let hex = Zeroizing::new(password.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let password_secret = self.put_secret(hex.as_bytes())?;
        let credentials_secret = match encode_secrets(&new.secrets) {
            Some(blob) => Some(self.put_secret(&blob)?),
            None => None,
        };
        let now = crate::process::now().secs;
        self.conn
            .execute(
                "INSERT INTO destinations (name, kind, url, owner, read_only, password_secret, credentials_secret, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![new.name, kind, url, owner, new.read_only, password_secret, credentials_secret, now],
            )
            .map_err(|e| db_error("cannot save the destination", e))?;
        tx.commit().map_err(|e| db_error("cannot save", e))?;
        self.get_destination(&new.name)?
            .ok_or_else(|| Error::new(ErrorKind::Other, "catalog: the new destination vanished"))
    }

    fn credentials_for(&self, secrets: &DestinationSecrets) -> Credentials {
        Credentials {
            secret_key: secrets.s3_secret_key.clone(),
            rest_password: secrets.rest_password.clone(),
            ssh_passphrase: secrets.ssh_passphrase.clone(),
            ssh_password: secrets.ssh_password.clone(),
            ..Credentials::default()
        }
    }

    fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DestinationRecord> {
        let last_time: Option<i64> = r.get(8)?;
        let last_ok: Option<bool> = r.get(9)?;
        let last_report: Option<String> = r.get(10)?;
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
        })
    }

    const COLUMNS: &'static str =
        "id, name, kind, url, owner, enabled, read_only, created, last_test_time, last_test_ok, last_test_report";

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

    fn require(&self, name: &str) -> Result<DestinationRecord, Error> {
        self.get_destination(name)?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no destination named {name:?}"))
                .with_hint("list them with `cairn destination list`")
        })
    }

    /// The repository password of a destination (for a sealed envelope, or to open it).
    pub fn destination_password(&self, name: &str) -> Result<Secret, Error> {
        let d = self.require(name)?;
        let id: i64 = self
            .conn
            .query_row("SELECT password_secret FROM destinations WHERE id = ?1", [d.id], |r| r.get(0))
            .map_err(|e| db_error("cannot read a destination", e))?;
        self.get_secret(id)
    }

    /// The destination's URL parsed with its stored secrets, ready to open.
    pub fn destination_url(&self, name: &str) -> Result<DestinationUrl, Error> {
        let d = self.require(name)?;
        let secret_id: Option<i64> = self
            .conn
            .query_row("SELECT credentials_secret FROM destinations WHERE id = ?1", [d.id], |r| r.get(0))
            .map_err(|e| db_error("cannot read a destination", e))?;
        let secrets = match secret_id {
            Some(id) => decode_secrets(self.get_secret(id)?.expose())?,
            None => DestinationSecrets::default(),
        };
        parse_destination(&d.url, self.credentials_for(&secrets))
    }

    /// Enables or disables a destination.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), Error> {
        let d = self.require(name)?;
        self.conn
            .execute("UPDATE destinations SET enabled = ?1 WHERE id = ?2", params![enabled, d.id])
            .map_err(|e| db_error("cannot update a destination", e))?;
        Ok(())
    }

    /// Records the outcome of a Test.
    pub fn record_test(&self, name: &str, ok: bool, report: &str) -> Result<(), Error> {
        let d = self.require(name)?;
        self.conn
            .execute(
                "UPDATE destinations SET last_test_time = ?1, last_test_ok = ?2, last_test_report = ?3 WHERE id = ?4",
                params![crate::process::now().secs, ok, report, d.id],
            )
            .map_err(|e| db_error("cannot update a destination", e))?;
        Ok(())
    }

    /// Deletes a destination and its secrets (the repository itself is left where it is).
    pub fn delete_destination(&self, name: &str) -> Result<(), Error> {
        let d = self.require(name)?;
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

/// Whether a `rest:` URL carries `user:password@`.
fn rest_url_has_password(url: &str) -> bool {
    let after = url.split_once("://").map_or("", |(_, a)| a);
    let authority = after.split('/').next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The secrets as `name=hex` lines (hex keeps any byte safe), or `None` if there are none.
fn encode_secrets(s: &DestinationSecrets) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::new());
    let fields = [
        ("s3_secret_key", &s.s3_secret_key),
        ("rest_password", &s.rest_password),
        ("ssh_passphrase", &s.ssh_passphrase),
        ("ssh_password", &s.ssh_password),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            for b in v.expose() {
                out.extend_from_slice(format!("{b:02x}").as_bytes());
            }
            out.push(b'\n');
        }
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
        let value = Some(Secret::new(value));
        match name {
            b"s3_secret_key" => s.s3_secret_key = value,
            b"rest_password" => s.rest_password = value,
            b"ssh_passphrase" => s.ssh_passphrase = value,
            b"ssh_password" => s.ssh_password = value,
            _ => return Err(bad()),
        }
    }
    Ok(s)
}
