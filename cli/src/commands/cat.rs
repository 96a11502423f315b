//! `cairn cat`: one repository object, decrypted, as JSON (the chunker key is never shown).

use std::process::ExitCode;

use cairn_core::{FileKind, IndexFile, IndexId, LockInfo};
use cairn_std::{Error, ErrorKind};
use serde_json::{Value, json};

use crate::args::{CatArgs, Global};
use crate::output::rfc3339;
use crate::repo::{self, Location, Repo};

/// Reads without a lock (like `snapshots`): it shows the locks as they are, its own not among
/// them, and is not held up by a prune.
pub(crate) async fn cat_cmd(g: &Global, a: &CatArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    let value = match (a.what.as_str(), a.id.as_deref()) {
        ("config", _) => config_json(&repo),
        ("locks", _) => {
            let store = cairn_core::LockStore {
                storage: repo.storage().inner(),
                keys: repo.keys(),
                compression: repo.config().compression,
            };
            let entries = store.entries().await?;
            Value::Array(
                entries
                    .iter()
                    .map(|e| match &e.info {
                        Some(info) => lock_json(&e.id.to_hex(), info),
                        None => json!({ "id": e.id.to_hex(), "unreadable": true }),
                    })
                    .collect(),
            )
        }
        ("snapshot", Some(spec)) => {
            let (id, s) = repo.find_snapshot(spec).await?;
            crate::output::snapshot_json(&id, &s)
        }
        ("index", Some(prefix)) => {
            let id = find_id(&repo, FileKind::Index, prefix).await?;
            index_json(&id.to_hex(), &repo.load_index_file(IndexId(id)).await?)
        }
        (what, None) => {
            return Err(Error::new(ErrorKind::InvalidInput, format!("`cairn cat {what}` needs an id"))
                .with_hint("list them with `cairn snapshots`, or name `latest`"));
        }
        (what, _) => return Err(Error::new(ErrorKind::InvalidInput, format!("cannot show {what:?}"))),
    };
    println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

/// The object of `kind` whose id starts with `prefix` (exactly one).
async fn find_id(repo: &Repo, kind: FileKind, prefix: &str) -> Result<cairn_core::Id, Error> {
    let matches: Vec<_> = repo.list(kind).await?.into_iter().filter(|id| id.has_hex_prefix(prefix)).collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::new(ErrorKind::NotFound, format!("no {kind} object matches {prefix:?}"))),
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{prefix:?} matches several {kind} objects; give more digits"),
        )),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn config_json(repo: &Repo) -> Value {
    let c = repo.config();
    json!({
        "version": c.version,
        "id": c.id.to_hex(),
        "mandatory_features": c.mandatory_features,
        "optional_features": c.optional_features,
        "chunker": {
            "min_size": c.chunker.min_size, "avg_size": c.chunker.avg_size, "max_size": c.chunker.max_size,
            "seed": "(secret: not shown)",
        },
        "pack_size": c.pack_size,
        "compression": { "codec": format!("{:?}", c.compression.codec).to_lowercase(), "level": c.compression.level },
        "locks": {
            "stale_after_secs": c.locks.stale_after_secs,
            "refresh_every_secs": c.locks.refresh_every_secs,
            "settle_millis": c.locks.settle_millis,
        },
    })
}

fn lock_json(id: &str, i: &LockInfo) -> Value {
    let revoked = i.lease.revoked.as_ref().map(|r| {
        json!({
            "by": r.by,
            "at": rfc3339(r.at),
            "seen_snapshots": r.seen.as_ref().map(|s| s.iter().map(|id| id.to_hex()).collect::<Vec<_>>()),
        })
    });
    json!({
        "id": id,
        "exclusive": i.exclusive,
        "operation": i.operation,
        "hostname": i.hostname,
        "username": i.username,
        "pid": i.pid,
        "created": rfc3339(i.created),
        "refreshed": rfc3339(i.refreshed),
        "token": hex(&i.token),
        "sequence": i.lease.sequence,
        "revoked": revoked,
    })
}

fn index_json(id: &str, f: &IndexFile) -> Value {
    json!({
        "id": id,
        "packs": f.packs.iter().map(|p| json!({
            "id": p.id.to_hex(),
            "type": p.blob_type.to_string(),
            "size": p.size,
            "blobs": p.blobs.iter().map(|b| json!({
                "id": b.id.to_hex(), "offset": b.offset, "length": b.length, "raw_length": b.raw_len,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "condemned": f.condemned.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
        "forgotten": f.forgotten.iter().map(|s| s.to_hex()).collect::<Vec<_>>(),
    })
}
