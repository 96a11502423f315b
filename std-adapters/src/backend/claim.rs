//! Create-only writes on stores that cannot refuse to overwrite: the restic REST protocol, FTP,
//! and S3 servers that ignore `If-None-Match: *`.
//!
//! A writer first puts a *claim* for the name beside the locks (`locks/<random id>`, unsealed:
//! [`cairn_core::CLAIM_MAGIC`], then the object's kind and id), lists the claims, and backs off
//! (removes its claim, waits a random moment, starts again) if another claim for the same name is
//! there; otherwise it pauses, lists again, and only then checks that the name is free and writes
//! it. Of two writers that claim at once, each lists after its own claim is written, so at least
//! one sees the other: at most one writes, and the others then find the name taken. A claim left
//! by a killed writer is removed once a writer has seen it for [`STALE_CLAIM`].
//!
//! Only `init` (the config), new keys and the destination Test's probe write create-only; the
//! leases do not need it (FORMAT.md section 6.1).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_core::{CLAIM_MAGIC, FileKind, Handle, Id, IoError, IoErrorKind, ReadRange, Storage, WriteMode};

/// The pause between a claim's two listings: longer than such stores take to list a new object.
const SETTLE: Duration = Duration::from_millis(1000);
/// A claim seen this long belongs to a writer that is gone.
pub(crate) const STALE_CLAIM: Duration = Duration::from_secs(30);
/// How long a writer keeps trying while others claim the same name.
const PATIENCE: Duration = Duration::from_secs(120);

/// Writes `data` as `handle` unless an object of that name exists (then
/// [`IoErrorKind::AlreadyExists`]), on a store whose own writes always replace.
pub(crate) async fn create_new<S: Storage + ?Sized>(store: &S, handle: &Handle, data: Bytes) -> Result<(), IoError> {
    let started = Instant::now();
    let mut seen: HashMap<Id, Instant> = HashMap::new();
    let mut rng = crate::rng::os_rng();
    let mut body = Vec::with_capacity(CLAIM_MAGIC.len() + 1 + 32 + 16);
    body.extend_from_slice(CLAIM_MAGIC);
    body.push(kind_byte(handle.kind));
    body.extend_from_slice(handle.id.as_bytes());
    body.extend_from_slice(&cairn_core::random_bytes::<16, _>(&mut rng));
    let body = Bytes::from(body);
    loop {
        if exists(store, handle).await? {
            return Err(taken(handle));
        }
        let mine = Handle::new(FileKind::Lock, Id(cairn_core::random_bytes(&mut rng)));
        store.write(&mine, body.clone(), WriteMode::Replace).await?;
        let attempt = async {
            if others(store, handle, mine.id, &mut seen).await? {
                return Ok(false);
            }
            tokio::time::sleep(SETTLE).await;
            if others(store, handle, mine.id, &mut seen).await? {
                return Ok(false);
            }
            if exists(store, handle).await? {
                return Err(taken(handle));
            }
            store.write(handle, data.clone(), WriteMode::Replace).await.map(|()| true)
        };
        let outcome = attempt.await;
        let _ = store.remove(&mine).await;
        match outcome {
            Ok(true) => return Ok(()),
            Ok(false) if started.elapsed() < PATIENCE => {
                let jitter = u64::from(cairn_core::random_bytes::<1, _>(&mut rng)[0]) * 2;
                tokio::time::sleep(Duration::from_millis(100 + jitter)).await;
            }
            Ok(false) => {
                return Err(IoError::new(
                    IoErrorKind::Unavailable,
                    std::io::Error::other(format!("other processes kept creating {} at the same time", handle.path())),
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

fn kind_byte(kind: FileKind) -> u8 {
    FileKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

fn taken(handle: &Handle) -> IoError {
    IoError::new(IoErrorKind::AlreadyExists, std::io::Error::other(format!("{} already exists", handle.path())))
}

async fn exists<S: Storage + ?Sized>(store: &S, handle: &Handle) -> Result<bool, IoError> {
    match store.read(handle, ReadRange::Tail { len: 1 }).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == IoErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// True if a live claim for `handle` other than `mine` is there; removes claims seen for
/// [`STALE_CLAIM`].
async fn others<S: Storage + ?Sized>(
    store: &S,
    handle: &Handle,
    mine: Id,
    seen: &mut HashMap<Id, Instant>,
) -> Result<bool, IoError> {
    let mut prefix = CLAIM_MAGIC.to_vec();
    prefix.push(kind_byte(handle.kind));
    prefix.extend_from_slice(handle.id.as_bytes());
    let mut found = false;
    for o in store.list(FileKind::Lock).await? {
        if o.id == mine || o.size > 1024 {
            continue;
        }
        let h = Handle::new(FileKind::Lock, o.id);
        let bytes = match store.read(&h, ReadRange::All { max_len: 1024 }).await {
            Ok(b) => b,
            Err(e) if e.kind() == IoErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !bytes.starts_with(&prefix) {
            continue;
        }
        if seen.entry(o.id).or_insert_with(Instant::now).elapsed() >= STALE_CLAIM {
            let _ = store.remove(&h).await;
            continue;
        }
        found = true;
    }
    Ok(found)
}
