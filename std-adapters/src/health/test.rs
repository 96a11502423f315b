//! The destination Test, step by step, and saving a destination only behind a Test that passed.

use std::time::Instant;

use bytes::Bytes;
use cairn_core::{FileKind, Handle, Id, ReadRange, Repository, Storage, StorageOp, write_new};
use serde::Serialize;

use super::disk::measure_disk;
use super::owner::{Owner, owned_elsewhere, read_owner, refuse_foreign_folder, whose, write_owner};
use crate::catalog::{Candidate, Catalog, DestinationRecord, DestinationUpdate, NewDestination};
use crate::error::{Error, ErrorKind, storage_error};

/// One step of a Test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TestStep {
    /// What was done.
    pub name: String,
    /// Whether it worked.
    pub ok: bool,
    /// How long it took.
    pub millis: u64,
    /// What was found, or what went wrong.
    pub detail: Option<String>,
}

/// A Test's outcome.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TestReport {
    /// The steps, in order; the last one failed if the Test did.
    pub steps: Vec<TestStep>,
    /// Whether every step passed.
    pub ok: bool,
    /// Why it failed (with what to do).
    pub error: Option<String>,
    /// Whether the Test created the repository.
    pub initialised: bool,
    /// The fingerprint of an SFTP server's host key that is not known yet (the Test failed
    /// at its first step): what a user may accept.
    pub unknown_host_key: Option<String>,
}

impl TestReport {
    /// One line per step, for history and logs.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                let detail = s.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
                format!("{} {} ({} ms){detail}", s.name, if s.ok { "ok" } else { "FAILED" }, s.millis)
            })
            .collect();
        if let Some(e) = &self.error {
            parts.push(e.clone());
        }
        parts.join("; ")
    }
}

struct Steps<'a> {
    steps: Vec<TestStep>,
    on_step: &'a mut dyn FnMut(&TestStep),
}

impl Steps<'_> {
    async fn run<T, F>(&mut self, name: &str, f: F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<(T, Option<String>), Error>>,
    {
        let t = Instant::now();
        let result = f.await;
        let millis = t.elapsed().as_millis() as u64;
        let (ok, detail) = match &result {
            Ok((_, d)) => (true, d.clone()),
            Err(e) => (false, Some(e.to_string())),
        };
        let step = TestStep { name: name.to_string(), ok, millis, detail };
        (self.on_step)(&step);
        self.steps.push(step);
        result.map(|(v, _)| v)
    }
}

/// Runs the Test on `candidate` (see the [module docs](self)), calling `on_step` as each step
/// ends. `owner` is who the destination's backup directory must belong to.
pub async fn test_destination(candidate: &Candidate, owner: &Owner, on_step: &mut dyn FnMut(&TestStep)) -> TestReport {
    run_steps(candidate, owner, true, on_step).await
}

/// The Test of settings not saved yet (a form's Test button): every step, except that a
/// missing repository is reported (saving creates it) instead of created with a password that
/// nothing would keep, and the backup directory is not claimed.
pub async fn test_unsaved(candidate: &Candidate, owner: &Owner, on_step: &mut dyn FnMut(&TestStep)) -> TestReport {
    run_steps(candidate, owner, false, on_step).await
}

async fn run_steps(
    candidate: &Candidate,
    owner: &Owner,
    create: bool,
    on_step: &mut dyn FnMut(&TestStep),
) -> TestReport {
    let mut steps = Steps { steps: Vec::new(), on_step };
    let mut initialised = false;
    let mut unknown_host_key = None;
    let result = run_test(candidate, owner, create, &mut steps, &mut initialised, &mut unknown_host_key).await;
    TestReport {
        ok: result.is_ok(),
        error: result.err().map(|e| e.with_hint_inline()),
        steps: steps.steps,
        initialised,
        unknown_host_key,
    }
}

async fn run_test(
    candidate: &Candidate,
    owner: &Owner,
    create: bool,
    steps: &mut Steps<'_>,
    initialised: &mut bool,
    unknown_host_key: &mut Option<String>,
) -> Result<(), Error> {
    let backend = candidate.parsed.open()?;
    let place = candidate.parsed.show();
    let existing = steps
        .run("connect, authenticate and list", async {
            let mut detail = None;
            let mut listed = backend.list(FileKind::Config).await;
            // A missing Azure container is created (a bucket is not: it carries billing and
            // region choices a Test should not make).
            if let (Err(e), crate::Destination::Azure(azure), false) = (&listed, &backend, candidate.read_only)
                && e.kind() == cairn_core::IoErrorKind::NotFound
            {
                azure
                    .create_container()
                    .await
                    .map_err(|e| storage_error(&place, StorageOp::Write, &Handle::CONFIG, e))?;
                detail = Some(format!("created the container {}", azure.config().container));
                listed = backend.list(FileKind::Config).await;
            }
            // FTP: say whether the connection is private (ftp:// falls back to clear text when
            // the server offers no TLS).
            if let (Ok(_), crate::Destination::Ftp(ftp)) = (&listed, &backend) {
                detail = Some(match ftp.secured() {
                    Some(true) => "over TLS".to_string(),
                    _ => "in clear text: the server offers no TLS, so the FTP password and the (encrypted) \
                          backups travel unprotected; use a server with FTPS where you can"
                        .to_string(),
                });
            }
            let found = listed.map_err(|e| {
                if let Some(u) = e.inner().and_then(|s| s.downcast_ref::<crate::UnknownHostKey>()) {
                    *unknown_host_key = Some(u.fingerprint.clone());
                }
                storage_error(&place, StorageOp::List, &Handle::CONFIG, e)
            })?;
            Ok((!found.is_empty(), detail))
        })
        .await?;
    let claimed = steps
        .run("check who owns the backup directory", async {
            let found = read_owner(&backend).await?;
            let detail = match &found {
                Some(o) if o.is_for(owner) => "this destination".to_string(),
                Some(o) => format!("destination {:?} of {}", o.destination, whose(o, owner)),
                None if backend.has_side_files() => "nobody yet".to_string(),
                None => "not recorded on this kind of destination".to_string(),
            };
            if let Some(o) = &found
                && !o.is_for(owner)
                && !candidate.read_only
            {
                return Err(owned_elsewhere(&place, o, owner));
            }
            Ok((found.is_some_and(|o| o.is_for(owner)), Some(detail)))
        })
        .await?;
    if !existing && !candidate.read_only && matches!(candidate.parsed, crate::DestinationUrl::Local(_)) {
        // Before the probe, which would leave its folder there.
        steps
            .run("check the folder is free for a repository", async {
                refuse_foreign_folder(&candidate.parsed)?;
                Ok(((), None))
            })
            .await?;
    }
    if !candidate.read_only {
        let mut id = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut crate::rng::os_rng(), &mut id);
        let probe = Handle::new(FileKind::Lock, Id(id));
        const PROBE: &[u8] = b"cairn write probe";
        steps
            .run("write a probe", async {
                // Its name is random: a retried write that finds it finds its own earlier try.
                write_new(&backend, &probe, Bytes::from_static(PROBE))
                    .await
                    .map_err(|e| storage_error(&place, StorageOp::Write, &probe, e))?;
                Ok(((), None))
            })
            .await?;
        steps
            .run("read it back", async {
                let back = backend
                    .read(&probe, ReadRange::All { max_len: 64 })
                    .await
                    .map_err(|e| storage_error(&place, StorageOp::Read, &probe, e))?;
                if &back[..] != PROBE {
                    return Err(Error::new(ErrorKind::Corrupt, "the probe read back differs from what was written"));
                }
                Ok(((), None))
            })
            .await?;
        steps
            .run("delete it", async {
                backend.remove(&probe).await.map_err(|e| storage_error(&place, StorageOp::Remove, &probe, e))?;
                Ok(((), None))
            })
            .await?;
    }
    let password = candidate.password.clone();
    if existing {
        steps
            .run("open the repository", async {
                let repo = Repository::open(crate::lock::lock_keeper(&backend), password.expose()).await.map_err(|e| {
                    let e = Error::from(e);
                    if e.kind() == ErrorKind::WrongPassword {
                        Error::new(
                            ErrorKind::WrongPassword,
                            format!("a repository exists at {place}, and this destination's password does not open it"),
                        )
                        .with_hint(
                            "it belongs to someone else: add it read-only with its password, or give its password to adopt it",
                        )
                    } else {
                        e
                    }
                })?;
                Ok(((), Some(format!("repository {} found", &repo.config().id.to_hex()[..8]))))
            })
            .await?;
    } else {
        if candidate.read_only {
            let e = Error::new(
                ErrorKind::RepositoryNotFound,
                format!("there is no repository at {place}, and the destination is read-only"),
            )
            .with_hint("check the backup directory");
            steps.run("find the repository", async { Err::<((), Option<String>), _>(e) }).await?;
        }
        if !create {
            steps
                .run("find the repository", async {
                    Ok(((), Some("none yet: saving the destination creates one".to_string())))
                })
                .await?;
            return Ok(());
        }
        steps
            .run("initialise a repository", async {
                let mut options = cairn_core::InitOptions::default();
                options.kdf = candidate.kdf();
                options.compression = cairn_core::Compression::best_available();
                let repo = Repository::init(
                    crate::lock::lock_keeper(&backend),
                    password.expose(),
                    &options,
                    &mut crate::rng::os_rng(),
                )
                .await?;
                Ok(((), Some(format!("none found: created repository {}", &repo.config().id.to_hex()[..8]))))
            })
            .await?;
        *initialised = true;
    }
    if !candidate.read_only && !claimed && backend.has_side_files() {
        steps
            .run("claim the backup directory", async {
                write_owner(&backend, owner).await?;
                Ok(((), None))
            })
            .await?;
    }
    Ok(())
}

/// A destination saved behind its Test ([`create_tested`], [`update_tested`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Saved {
    /// The Test's outcome.
    pub report: TestReport,
    /// The destination as saved; `None` when the Test failed and nothing was saved.
    pub record: Option<DestinationRecord>,
}

/// Checks a new destination, runs its Test (calling `on_step` as each step ends) and saves it
/// only if the Test passed, with the Test's outcome and the disk info measured at `now`.
/// Invalid settings are an error; a failed Test is a [`Saved`] without a record.
pub async fn create_tested(
    catalog: &Catalog,
    new: &NewDestination,
    now: i64,
    on_step: &mut dyn FnMut(&TestStep),
) -> Result<Saved, Error> {
    let candidate = catalog.check_new(new)?;
    // A generated password is kept before the Test can initialise a repository with it: if
    // this process dies before the destination is saved, creating it again reuses it.
    if new.password.is_none() && !candidate.read_only {
        catalog.keep_pending_password(&candidate)?;
    }
    save_behind_test(catalog, &candidate, now, on_step, || catalog.insert_destination(new, &candidate)).await
}

/// Checks changed settings of destination `name`, runs the Test with them and saves them only
/// if it passed (else the destination keeps its previous settings).
pub async fn update_tested(
    catalog: &Catalog,
    name: &str,
    update: &DestinationUpdate,
    now: i64,
    on_step: &mut dyn FnMut(&TestStep),
) -> Result<Saved, Error> {
    let candidate = catalog.check_update(name, update)?;
    save_behind_test(catalog, &candidate, now, on_step, || catalog.apply_update(update, &candidate)).await
}

/// Runs the Test on `candidate`; if it passed, `save`s it and records the Test's outcome and
/// the disk info measured at `now`.
async fn save_behind_test(
    catalog: &Catalog,
    candidate: &Candidate,
    now: i64,
    on_step: &mut dyn FnMut(&TestStep),
    save: impl FnOnce() -> Result<DestinationRecord, Error>,
) -> Result<Saved, Error> {
    let owner = Owner::new(&catalog.catalog_id()?, &candidate.name);
    let report = test_destination(candidate, &owner, on_step).await;
    if !report.ok {
        return Ok(Saved { report, record: None });
    }
    let name = save()?.name;
    catalog.record_test_at(&name, now, true, &report.summary())?;
    // Disk info is a bonus: a destination that cannot tell its free space is still saved.
    if let Ok(disk) = measure_disk(&candidate.parsed.open()?, now).await {
        catalog.set_disk_info(&name, &disk)?;
    }
    Ok(Saved { report, record: Some(catalog.require_destination(&name)?) })
}

/// Runs the Test on a catalog's destination and records its outcome (at `now`).
pub async fn test_saved(
    catalog: &Catalog,
    name: &str,
    now: i64,
    on_step: &mut dyn FnMut(&TestStep),
) -> Result<TestReport, Error> {
    let candidate = catalog.candidate(name)?;
    let owner = Owner::new(&catalog.catalog_id()?, name);
    let report = test_destination(&candidate, &owner, on_step).await;
    catalog.record_test_at(name, now, report.ok, &report.summary())?;
    Ok(report)
}
