//! Finding the repository and its password.

use std::io::IsTerminal;

use std::cell::RefCell;
use std::time::Duration;

use cairn_core::{FileKind, Handle, Repository, Storage};
use cairn_std::{
    Access, Credentials, DestinationUrl, Error, ErrorKind, LockKeeper, Secret, lock_repository, parse_destination,
    paths, read_only_error,
};

use cairn_std::catalog::DestinationSecrets;

use crate::args::Global;

/// Where the repository is.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub(crate) url: DestinationUrl,
    /// The default repository, whose password lives in the data directory.
    pub(crate) is_default: bool,
    /// The password kept in the catalog, for `--destination NAME`.
    pub(crate) catalog_password: Option<Secret>,
    /// Whether the catalog generated that password (a random 256-bit key): a repository created
    /// with it derives its key with the light `KdfParams::GENERATED`.
    pub(crate) password_generated: bool,
    /// The catalog's name for it.
    pub(crate) name: Option<String>,
    /// A read-only catalog destination: opened through [`Access::ReadOnly`], never written.
    pub(crate) read_only: bool,
    /// The catalog's id, for a catalog destination (the owner its backup directory records).
    pub(crate) catalog_id: Option<String>,
}

impl Location {
    pub(crate) fn from_args(global: &Global) -> Result<Self, Error> {
        if global.destination.len() > 1 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "this command works on one destination: give --destination once",
            ));
        }
        if let Some(name) = global.destination.first() {
            let catalog = open_catalog(global)?;
            let d = catalog.candidate(name)?;
            return Ok(Self {
                url: d.parsed,
                is_default: false,
                password_generated: d.password_generated,
                catalog_password: Some(d.password),
                name: Some(d.name),
                read_only: d.read_only,
                catalog_id: Some(catalog.catalog_id()?),
            });
        }
        let Some(spec) = global.repo.as_deref().filter(|s| !s.is_empty()) else {
            // The default destination: a local repository in the data directory, its password
            // sealed in the catalog.
            let catalog = open_catalog(global)?;
            let (record, moved) = catalog.default_destination()?;
            if moved && !global.quiet {
                eprintln!(
                    "moved the default repository's password into the catalog, sealed (see it with \
                     `cairn destination get default --show-password`)"
                );
            }
            let d = catalog.candidate(&record.name)?;
            return Ok(Self {
                url: d.parsed,
                is_default: true,
                password_generated: d.password_generated,
                catalog_password: Some(d.password),
                name: Some(d.name),
                read_only: false,
                catalog_id: Some(catalog.catalog_id()?),
            });
        };
        // Every secret from its environment variable; the S3 secret key from its file first.
        // The access key: the flag, else the environment as for the AWS tools (an access key
        // in the URL wins over both).
        let env_secret =
            |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| Secret::new(v.into_bytes()));
        let mut secrets = DestinationSecrets::from_env(env_secret);
        if let Some(file) = &global.s3_secret_key_file {
            secrets.s3_secret_key = Some(paths::read_password_file(file).map_err(|e| e.context("S3 secret key"))?);
        }
        let credentials = Credentials {
            secrets,
            access_key: global
                .s3_access_key
                .clone()
                .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
                .filter(|v| !v.is_empty()),
            session_token: env_secret("AWS_SESSION_TOKEN"),
            ssh_key: global.ssh_key.clone(),
            accept_host_key: global.accept_host_key.clone(),
            known_hosts: global.known_hosts.clone(),
        };
        let url = parse_destination(spec, credentials)?;
        Ok(Self {
            url,
            is_default: false,
            catalog_password: None,
            password_generated: false,
            name: None,
            read_only: false,
            catalog_id: None,
        })
    }

    pub(crate) fn backend(&self) -> Result<Access, Error> {
        Ok(Access::new(self.url.open()?, self.read_only))
    }

    /// Whether a repository (its config object) is there. For a remote destination this is the
    /// first request, so a wrong key or bucket shows up here, with its own message.
    pub(crate) async fn exists(&self) -> Result<bool, Error> {
        match &self.url {
            DestinationUrl::Local(p) => Ok(p.join("config").exists()),
            _ => {
                let backend = self.backend()?;
                let found = backend
                    .list(FileKind::Config)
                    .await
                    .map_err(|e| storage_error(&self.show(), cairn_core::StorageOp::List, &Handle::CONFIG, e))?;
                Ok(!found.is_empty())
            }
        }
    }

    pub(crate) fn show(&self) -> String {
        match &self.name {
            Some(name) => format!("{} (destination {name})", self.url.show()),
            None => self.url.show(),
        }
    }
}

pub(crate) use cairn_std::storage_error;

/// The catalog: `--catalog FILE` (or `CAIRN_CATALOG`), else the data directory's; its key file
/// sits next to it (`FILE` with the extension `.key`).
pub(crate) fn open_catalog(global: &Global) -> Result<cairn_std::catalog::Catalog, Error> {
    let (db, key) = catalog_paths(global)?;
    cairn_std::catalog::Catalog::open(&db, &key)
}

/// The catalog's database and key file: `--catalog FILE` (and `FILE` with `.key`), else the
/// default place.
pub(crate) fn catalog_paths(global: &Global) -> Result<(std::path::PathBuf, std::path::PathBuf), Error> {
    match &global.catalog {
        Some(file) => Ok((file.clone(), file.with_extension("key"))),
        None => cairn_std::catalog::Catalog::default_paths(),
    }
}

/// How the password is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Open,
    Create,
}

/// The password: the catalog's (for a catalog destination, the default one included), then
/// `CAIRN_PASSWORD`, then `--password-file`, then a prompt on a terminal.
pub(crate) fn password(global: &Global, location: &Location, purpose: Purpose) -> Result<Secret, Error> {
    if let Some(p) = &location.catalog_password {
        return Ok(p.clone());
    }
    if let Some(secret) = given_secret("CAIRN_PASSWORD", global.password_file.as_deref())? {
        return Ok(secret);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::new(ErrorKind::InvalidInput, "no password given")
            .with_hint("set CAIRN_PASSWORD, use --password-file FILE, or run cairn in a terminal to be asked"));
    }
    let prompt = format!("password for {}: ", location.show());
    ask_secret(&prompt, (purpose == Purpose::Create).then_some("the same password again: "))
}

/// A secret from the environment variable `var` (if set and not empty), else from the first line
/// of `file` (if given); `None` if neither is there.
pub(crate) fn given_secret(var: &str, file: Option<&std::path::Path>) -> Result<Option<Secret>, Error> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Ok(Some(Secret::new(std::os::unix::ffi::OsStringExt::into_vec(p))));
    }
    file.map(paths::read_password_file).transpose()
}

/// Asks for a secret on the terminal; with `again`, asks a second time and requires the same.
pub(crate) fn ask_secret(prompt: &str, again: Option<&str>) -> Result<Secret, Error> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read the password from the terminal: {e}")))
    };
    let first = ask(prompt)?;
    if let Some(again) = again
        && ask(again)? != first
    {
        return Err(Error::new(ErrorKind::InvalidInput, "the two passwords differ"));
    }
    Ok(Secret::new(first.into_bytes()))
}

/// A repository as the commands use it: its destination wrapped to hold this process's lease.
pub(crate) type Repo = Repository<LockKeeper<Access>>;

/// The leases this run of cairn took: kept alive beside the command ([`Session::keep_alive`])
/// and given back when the command ends, however it ends (Ctrl-C and SIGTERM included).
#[derive(Debug, Default)]
pub(crate) struct Session {
    keepers: RefCell<Vec<LockKeeper<Access>>>,
}

impl Session {
    /// Takes a shared or exclusive lock on `repo` for `operation`, waiting up to --retry-lock.
    pub(crate) async fn lock(
        &self,
        global: &Global,
        location: &Location,
        repo: &Repo,
        operation: &str,
        exclusive: bool,
    ) -> Result<(), Error> {
        // Operations that only read; every other one writes to the repository.
        const READERS: [&str; 6] = ["ls", "restore", "check", "stats", "diff", "dump"];
        let writes = exclusive || !READERS.contains(&operation);
        // A read-only destination is never written, so it is read without a lock (like
        // `restic --no-lock`), and anything that would write is refused before it starts.
        if location.read_only {
            return if writes { Err(read_only_error(operation)) } else { Ok(()) };
        }
        // A catalog destination writes only to a backup directory it owns, and claims one
        // nobody owns (a default repository, or one made before owners were recorded).
        if writes && let (Some(name), Some(catalog_id)) = (&location.name, &location.catalog_id) {
            let mine = cairn_std::health::Owner::new(catalog_id, name);
            cairn_std::health::claim(repo.storage().inner().destination(), &mine, &location.show()).await?;
        }
        let wait = match &global.retry_lock {
            Some(s) => parse_wait(s)?,
            None => Duration::ZERO,
        };
        lock_repository(repo, operation, exclusive, wait).await?;
        self.keepers.borrow_mut().push(repo.storage().clone());
        Ok(())
    }

    /// Keeps every lease taken alive; never finishes (run it beside the command).
    pub(crate) async fn keep_alive(&self) {
        cairn_std::keep_alive(&self.keepers).await;
    }

    /// Gives back every lease taken (best effort: one left behind goes stale).
    pub(crate) async fn release(&self) {
        let keepers = self.keepers.take();
        for k in keepers {
            k.release().await;
        }
    }
}

/// After a command that may have changed the snapshots of a catalog destination, the
/// catalog's copy of their list (the counts of `destination list`, the window's) follows.
pub(crate) async fn recache(g: &Global, location: &Location, repo: &Repo) -> Result<(), Error> {
    let Some(name) = &location.name else { return Ok(()) };
    let snapshots = repo.list_snapshots().await?;
    open_catalog(g)?.cache_snapshots(name, &snapshots)
}

/// Where this machine remembers a repository's snapshots, to notice a store that withholds
/// some: the catalog for a catalog destination, else files in the data directory.
#[derive(Debug)]
pub(crate) enum Known {
    Catalog(cairn_std::catalog::Catalog),
    Files(std::path::PathBuf),
}

impl Known {
    pub(crate) fn for_location(global: &Global, location: &Location) -> Result<Self, Error> {
        if location.name.is_some() {
            return Ok(Self::Catalog(open_catalog(global)?));
        }
        Ok(Self::Files(cairn_std::known::default_dir()?))
    }

    pub(crate) fn memory(&self) -> cairn_std::known::Memory<'_> {
        match self {
            Self::Catalog(c) => cairn_std::known::Memory::Catalog(c),
            Self::Files(dir) => cairn_std::known::Memory::Files(dir.clone()),
        }
    }
}

/// Splits `SNAPSHOT[:PATH]` (the path defaults to `/`).
pub(crate) fn snapshot_and_path(s: &str) -> Result<(&str, Vec<u8>), Error> {
    match s.split_once(':') {
        Some((snap, p)) => Ok((snap, normalize_snapshot_path(p)?)),
        None => Ok((s, b"/".to_vec())),
    }
}

/// A path inside a snapshot as the user typed it: made absolute, trailing slash dropped.
pub(crate) fn normalize_snapshot_path(p: &str) -> Result<Vec<u8>, Error> {
    let mut path = if p.starts_with('/') { p.to_string() } else { format!("/{p}") };
    while path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    cairn_core::split_absolute(path.as_bytes()).map_err(|_| {
        Error::new(ErrorKind::InvalidInput, format!("invalid path {p:?} in the snapshot"))
            .with_hint("give the path as it was backed up, like /home/me/Documents, without . or ..")
    })?;
    Ok(path.into_bytes())
}

/// Finds a snapshot by id, prefix or `latest`. For `latest`, refuses when a snapshot this
/// machine saw, newer than the newest the store lists, is missing and not recorded as forgotten:
/// a rolled-back or withholding store would otherwise give an older version without a word.
pub(crate) async fn find_snapshot(
    global: &Global,
    location: &Location,
    repo: &Repo,
    spec: &str,
) -> Result<(cairn_core::SnapshotId, cairn_core::Snapshot), Error> {
    let found = repo.find_snapshot(spec).await?;
    if spec == "latest" {
        let known = Known::for_location(global, location)?;
        let memory = known.memory();
        let all = repo.snapshots().await?;
        memory.remember(&repo.config().id, all.valid.iter().map(|(id, s)| (id, s)))?;
        let present = all.valid.iter().chain(&all.withdrawn).map(|(id, _)| *id);
        let newer: Vec<_> = cairn_std::known::withheld(repo, &memory, present)
            .await?
            .into_iter()
            .filter(|(_, r)| r.time >= found.1.time.secs)
            .collect();
        if !newer.is_empty() {
            return Err(cairn_std::known::withheld_error(
                &newer,
                &format!(
                    "`latest` would be the older snapshot {}; name a snapshot by id to restore it anyway",
                    found.0.short()
                ),
            ));
        }
    }
    Ok(found)
}

/// `--forget-missing`: stops expecting the snapshots this machine saw in `repo` that are now
/// missing, and says which.
pub(crate) async fn accept_missing(
    global: &Global,
    repo: &Repo,
    memory: &cairn_std::known::Memory<'_>,
) -> Result<(), Error> {
    let all = repo.snapshots().await?;
    let present = all.valid.iter().chain(&all.withdrawn).map(|(id, _)| *id);
    let missing = cairn_std::known::withheld(repo, memory, present).await?;
    let ids: Vec<cairn_core::SnapshotId> = missing.iter().map(|(id, _)| *id).collect();
    memory.forget(&repo.config().id, &ids)?;
    if !global.quiet {
        for (id, r) in &missing {
            eprintln!(
                "no longer expecting snapshot {} (from {}, {}): accepted as gone",
                id.short(),
                r.hostname,
                cairn_std::local_time(cairn_core::Timestamp::new(r.time, 0))
            );
        }
    }
    Ok(())
}

/// Parses a --retry-lock duration: a number with s, m or h (`30s`, `5m`, `2h`).
pub(crate) fn parse_wait(s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| bad_wait(s))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n.checked_mul(60).ok_or_else(|| bad_wait(s))?,
        "h" => n.checked_mul(3600).ok_or_else(|| bad_wait(s))?,
        _ => return Err(bad_wait(s)),
    };
    Ok(Duration::from_secs(secs))
}

fn bad_wait(s: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("invalid --retry-lock duration {s:?}"))
        .with_hint("write a number with s, m or h: 30s, 5m, 2h")
}

/// Opens the repository, with a clear error if it does not exist.
pub(crate) async fn open(global: &Global, location: &Location) -> Result<Repo, Error> {
    if !location.exists().await? {
        // Keys without a config: a repository whose config object was lost, not an empty place.
        if let Ok(backend) = location.backend()
            && backend.list(FileKind::Key).await.is_ok_and(|keys| !keys.is_empty())
        {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("the repository at {} has keys but its config object is missing (deleted or lost)", location.show()),
            )
            .with_hint("copy `config` back from another copy of this repository: it holds the repository's identity and chunker key, and cannot be rebuilt"));
        }
        let err = Error::new(ErrorKind::RepositoryNotFound, format!("there is no repository at {}", location.show()));
        return Err(if location.is_default {
            err.with_hint("run `cairn backup PATH` to create the default repository with a first backup")
        } else {
            err.with_hint("check --repo / CAIRN_REPOSITORY, or create a repository there with `cairn init`")
        });
    }
    let password = password(global, location, Purpose::Open)?;
    match Repository::open(cairn_std::lock_keeper(location.backend()?), password.expose()).await {
        Ok(repo) => Ok(repo),
        // The password came from the catalog, not from the user: say so, and how to mend it.
        Err(e) if location.catalog_password.is_some() && std::env::var_os("CAIRN_PASSWORD").is_none() => {
            let e = Error::from(e);
            if e.kind() != ErrorKind::WrongPassword {
                return Err(e);
            }
            let name = location.name.as_deref().unwrap_or("default");
            Err(Error::new(
                ErrorKind::WrongPassword,
                format!(
                    "the password this catalog holds for destination {name:?} does not open the repository at {} \
                     (made by another catalog?)",
                    location.show()
                ),
            )
            .with_hint(format!(
                "restore the catalog that made it with `cairn recover` and its recovery kit, or, knowing the \
                 repository's password, adopt it: CAIRN_PASSWORD=... cairn destination reindex {name}"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// The repository's index, with a warning for each damaged index object (whose packs are then
/// read from their own headers, so that nothing is missed). `complete` (restores) also reads
/// packs that no index object lists, left by an interrupted backup or a lost index object.
pub(crate) async fn load_index<S: Storage>(
    global: &Global,
    repo: &Repository<S>,
    complete: bool,
) -> Result<cairn_core::Index, Error> {
    let load = repo.load_index_reporting(complete).await?;
    if !global.quiet {
        for (_, e) in &load.damaged {
            eprintln!("warning: {e}; packs were read from their own headers (run `cairn repair index`)");
        }
        if load.damaged.is_empty() && load.unindexed_packs > 0 {
            eprintln!(
                "warning: {} packs are in no index (an interrupted backup, or a lost index object); read from their own headers (`cairn repair index` records them)",
                load.unindexed_packs
            );
        }
    }
    Ok(load.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_paths() {
        assert_eq!(normalize_snapshot_path("home/me/").unwrap(), b"/home/me");
        assert_eq!(normalize_snapshot_path("/").unwrap(), b"/");
        assert!(normalize_snapshot_path("/a/../b").is_err());
    }
}
