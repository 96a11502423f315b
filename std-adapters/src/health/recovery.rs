//! Disaster recovery: configuration exports and `cairn recover`.
//!
//! Destinations flagged "export config" receive, once a day, an encrypted copy of the catalog's
//! configuration: its identity, every destination with its URL, secrets and repository
//! password, every job and the notification sinks. Exports are files beside the repository,
//! `cairn-config/YYYYMMDDTHHMMSSZ.cairn-config`; the newest 7 are kept.
//!
//! An export is `CAIRNCFG1\n`, a 24-byte nonce, then the JSON configuration sealed with
//! XChaCha20-Poly1305 under the catalog's master key (associated data
//! `cairn.catalog.export.v1`). The recovery kit (`cairn-catalog-key:<64 hex digits>`) is that
//! key: with it, [`recover`] rebuilds the catalog on a new machine from any destination that
//! holds an export. Destinations it adds are read-only until the user makes them writable
//! (`cairn destination update NAME --writable`), so that two machines never write to one
//! backup directory by accident.

use bytes::Bytes;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::backend::destination::Destination;
use crate::catalog::{Catalog, DestinationSecrets, JobSpec, NewDestination, NotificationSink};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

pub use crate::backend::path_store::EXPORT_DIR;
/// Exports kept per destination.
pub const KEEP_EXPORTS: usize = 7;
const MAGIC: &[u8] = b"CAIRNCFG1\n";
const AAD: &[u8] = b"cairn.catalog.export.v1";
const MAX_EXPORT: u64 = 16 << 20;

/// The secrets of a destination by slot name (`s3_secret_key`, ...; see
/// [`crate::catalog::SECRET_SLOTS`]), as text. A slot without a secret is left out; older
/// exports wrote it as `null`, which reads as left out.
type ExportedSecrets = std::collections::BTreeMap<String, Option<String>>;

#[derive(Serialize, Deserialize)]
struct ExportedDestination {
    name: String,
    url: String,
    owner: String,
    enabled: bool,
    read_only: bool,
    export_config: bool,
    password: String,
    secrets: ExportedSecrets,
}

#[derive(Serialize, Deserialize)]
struct ExportedJob {
    name: String,
    spec: JobSpec,
    enabled: bool,
}

#[derive(Serialize, Deserialize)]
struct Export {
    version: u32,
    catalog_id: String,
    exported_at: i64,
    destinations: Vec<ExportedDestination>,
    jobs: Vec<ExportedJob>,
    notifications: Vec<NotificationSink>,
}

fn secret(s: &Option<String>) -> Option<Secret> {
    s.as_ref().map(|s| Secret::new(s.clone().into_bytes()))
}

fn export_name(time: i64) -> String {
    let stamp = jiff::Timestamp::from_second(time)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "19700101T000000Z".into());
    format!("{stamp}.cairn-config")
}

/// Seals the catalog's configuration (see the [module docs](self)).
fn seal(catalog: &Catalog, now: i64) -> Result<Vec<u8>, Error> {
    let mut destinations = Vec::new();
    for d in catalog.list_destinations()? {
        let s = catalog.destination_secrets(&d)?;
        destinations.push(ExportedDestination {
            password: String::from_utf8_lossy(catalog.destination_password(&d.name)?.expose()).into_owned(),
            secrets: s
                .iter()
                .map(|(slot, v)| (slot.name.to_string(), Some(String::from_utf8_lossy(v.expose()).into_owned())))
                .collect(),
            name: d.name,
            url: d.url,
            owner: d.owner,
            enabled: d.enabled,
            read_only: d.read_only,
            export_config: d.export_config,
        });
    }
    let jobs = catalog
        .list_jobs()?
        .into_iter()
        .map(|j| ExportedJob { name: j.name, spec: j.spec, enabled: j.enabled })
        .collect();
    let notifications = catalog.notifications()?.into_iter().map(|(_, n)| n).collect();
    let export =
        Export { version: 1, catalog_id: catalog.catalog_id()?, exported_at: now, destinations, jobs, notifications };
    let plain = Zeroizing::new(serde_json::to_vec(&export).map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?);
    let mut nonce = [0u8; 24];
    crate::rng::os_rng().fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(catalog.master_key().into());
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: &plain, aad: AAD })
        .map_err(|_| Error::new(ErrorKind::Other, "cannot seal the configuration"))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 24 + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_export(key: &[u8; 32], data: &[u8]) -> Result<Export, Error> {
    let damaged = || Error::new(ErrorKind::Corrupt, "the configuration export is damaged or not one");
    let rest = data.strip_prefix(MAGIC).ok_or_else(damaged)?;
    let (nonce, sealed) = rest.split_at_checked(24).ok_or_else(damaged)?;
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| damaged())?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain =
        Zeroizing::new(cipher.decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: AAD }).map_err(|_| {
            Error::new(ErrorKind::WrongPassword, "the recovery kit does not open this configuration export").with_hint(
                "use the recovery kit of the catalog that wrote it (`cairn catalog recovery-kit` on that machine)",
            )
        })?);
    let export: Export = serde_json::from_slice(&plain).map_err(|_| damaged())?;
    if export.version != 1 {
        return Err(Error::new(ErrorKind::Unsupported, "the configuration export was written by a newer Cairn")
            .with_hint("upgrade Cairn"));
    }
    Ok(export)
}

/// Writes a configuration export to destination `name` and keeps the newest 7 there.
pub async fn export_config(catalog: &Catalog, name: &str, now: i64) -> Result<String, Error> {
    let dest = catalog.destination_url(name)?.open()?;
    let file = format!("{EXPORT_DIR}/{}", export_name(now));
    dest.put_file(&file, Bytes::from(seal(catalog, now)?))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write {file}: {e}")))?;
    let mut existing = list_exports(&dest).await?;
    existing.reverse();
    for old in existing.iter().skip(KEEP_EXPORTS) {
        dest.remove_file(&format!("{EXPORT_DIR}/{old}"))
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot remove {EXPORT_DIR}/{old}: {e}")))?;
    }
    catalog.set_last_export(name, now)?;
    Ok(file)
}

/// The exports on a destination, oldest first.
pub async fn list_exports(dest: &Destination) -> Result<Vec<String>, Error> {
    let files = dest
        .list_files(EXPORT_DIR)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot list {EXPORT_DIR}: {e}")))?;
    let mut names: Vec<String> = files.into_iter().map(|(n, _)| n).filter(|n| n.ends_with(".cairn-config")).collect();
    names.sort();
    Ok(names)
}

/// Parses a recovery kit line (`cairn-catalog-key:` and 64 hex digits).
pub fn parse_kit(kit: &Secret) -> Result<Zeroizing<[u8; 32]>, Error> {
    let bad = || {
        Error::new(ErrorKind::InvalidInput, "the recovery kit is not a cairn-catalog-key: line with 64 hex digits")
            .with_hint("give the line `cairn catalog recovery-kit` printed")
    };
    let text = std::str::from_utf8(kit.expose()).map_err(|_| bad())?.trim();
    let hex = text.strip_prefix("cairn-catalog-key:").ok_or_else(bad)?;
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, b) in key.iter_mut().enumerate() {
        *b = hex.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(bad)?;
    }
    Ok(key)
}

/// What a recovery restored.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The export used.
    pub export: String,
    /// When it was written (Unix seconds).
    pub exported_at: i64,
    /// Destinations added (all read-only).
    pub destinations: Vec<String>,
    /// Jobs added.
    pub jobs: Vec<String>,
    /// Notification sinks added.
    pub notifications: usize,
}

/// Rebuilds an empty catalog from the newest configuration export on `from`, opened with the
/// recovery kit. The catalog takes over the old one's identity and master key (so the same
/// recovery kit keeps working); every destination comes back read-only.
pub async fn recover(catalog: &mut Catalog, from: &Destination, kit: &Secret) -> Result<RecoveryReport, Error> {
    let key = parse_kit(kit)?;
    if !catalog.list_destinations()?.is_empty() || !catalog.list_jobs()?.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "the catalog is not empty: recovery rebuilds an empty one")
            .with_hint("recover into a new catalog (--catalog FILE), then compare"));
    }
    let exports = list_exports(from).await?;
    let newest = exports.last().ok_or_else(|| {
        Error::new(ErrorKind::NotFound, format!("there is no configuration export in {EXPORT_DIR}/ there"))
            .with_hint("give a destination that had \"export config\" turned on")
    })?;
    let data = from
        .get_file(&format!("{EXPORT_DIR}/{newest}"), MAX_EXPORT)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {EXPORT_DIR}/{newest}: {e}")))?;
    let export = open_export(&key, &data)?;
    catalog.replace_master_key(&key)?;
    catalog.set_meta("catalog_id", &export.catalog_id)?;
    let mut report = RecoveryReport {
        export: newest.clone(),
        exported_at: export.exported_at,
        destinations: Vec::new(),
        jobs: Vec::new(),
        notifications: 0,
    };
    for d in &export.destinations {
        let mut new = NewDestination::new(&d.name, &d.url);
        // The account recovering becomes the owner on this machine.
        new.owner = None;
        new.read_only = true;
        new.recovered = !d.read_only;
        new.export_config = d.export_config;
        new.password = Some(Secret::new(d.password.clone().into_bytes()));
        let mut secrets = DestinationSecrets::default();
        for (name, value) in &d.secrets {
            let place = secrets.slot_mut(name).ok_or_else(|| {
                Error::new(ErrorKind::Corrupt, format!("destination {}: unknown secret {name:?} in the export", d.name))
                    .with_hint("recover with the Cairn version that made the export, or a newer one")
            })?;
            *place = secret(value);
        }
        new.secrets = secrets;
        catalog.create_destination(&new).map_err(|e| e.context(format!("destination {}", d.name)))?;
        if !d.enabled {
            catalog.set_enabled(&d.name, false)?;
        }
        report.destinations.push(d.name.clone());
    }
    for j in &export.jobs {
        catalog.insert_recovered_job(&j.name, &j.spec, j.enabled, export.exported_at)?;
        report.jobs.push(j.name.clone());
    }
    for n in &export.notifications {
        catalog.add_notification(n)?;
        report.notifications += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SECRET_SLOTS;

    /// A slot the export left out would be a secret lost in a recovery: every one goes out
    /// and comes back.
    #[test]
    fn every_secret_slot_survives_an_export_and_a_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("a.sqlite"), &dir.path().join("a.key")).unwrap();
        let mut new = NewDestination::new("nas", dir.path().join("repo").to_str().unwrap());
        new.password = Some(Secret::new(b"pw".to_vec()));
        for (i, slot) in SECRET_SLOTS.iter().enumerate() {
            *new.secrets.slot_mut(slot.name).unwrap() = Some(Secret::new(format!("secret {i}").into_bytes()));
        }
        catalog.create_destination(&new).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(export_config(&catalog, "nas", 1_800_000_000)).unwrap();
        let mut other = Catalog::open(&dir.path().join("b.sqlite"), &dir.path().join("b.key")).unwrap();
        let from = catalog.destination_url("nas").unwrap().open().unwrap();
        rt.block_on(recover(&mut other, &from, &catalog.recovery_kit())).unwrap();
        let d = other.get_destination("nas").unwrap().unwrap();
        let got = other.destination_secrets(&d).unwrap();
        for (i, slot) in SECRET_SLOTS.iter().enumerate() {
            let value = got.get(slot.name).map(|s| s.expose().to_vec());
            assert_eq!(value, Some(format!("secret {i}").into_bytes()), "{}", slot.name);
        }
    }
}
