//! Files beside the repository, outside its format (the ownership marker, archives of
//! `archived` and `compressed` jobs, configuration exports), written once over every
//! [`PathStore`]: names are checked here, temporaries and hidden files are never listed, and
//! large files are read and written a piece at a time.

use bytes::Bytes;
use cairn_core::{IoError, IoErrorKind, ReadRange, WriteMode};

use crate::backend::path_store::{Body, PathStore, join, temporary_folders};

/// Checks a side file's name: `/`-separated segments of letters, digits, `-`, `_` and `.`, none
/// starting with a dot (so none is a temporary or hidden file, nor climbs out).
pub(crate) fn check_name(name: &str) -> Result<(), IoError> {
    let valid = !name.is_empty()
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if valid {
        Ok(())
    } else {
        Err(crate::http::error(
            IoErrorKind::InvalidData,
            format!(
                "{name:?} is not a name for a file beside the repository (folders and names of letters, digits, \
                 '-', '_' and '.', not starting with '.')"
            ),
        ))
    }
}

/// Writes the file `name` from `body` (create-only with [`WriteMode::CreateNew`]: a file
/// already there is kept and the write fails with `AlreadyExists`).
pub(crate) async fn put<P: PathStore + ?Sized>(
    store: &P,
    name: &str,
    body: Body<'_>,
    mode: WriteMode,
) -> Result<(), IoError> {
    check_name(name)?;
    store.write_path(name, body, mode).await
}

/// Reads the file `name` (at most `max_len` bytes).
pub(crate) async fn get<P: PathStore + ?Sized>(store: &P, name: &str, max_len: u64) -> Result<Bytes, IoError> {
    check_name(name)?;
    store.read_path(name, ReadRange::All { max_len }).await
}

/// Copies the file `name`, `size` bytes long (as listed), into `out`, a few MiB at a time.
pub(crate) async fn get_into<P: PathStore + ?Sized>(
    store: &P,
    name: &str,
    size: u64,
    out: &mut impl std::io::Write,
) -> Result<(), IoError> {
    const PIECE: u64 = 8 << 20;
    check_name(name)?;
    let mut at = 0u64;
    while at < size {
        let len = PIECE.min(size - at) as u32;
        let piece = store.read_path(name, ReadRange::Span { offset: at, len }).await?;
        if piece.len() != len as usize {
            return Err(crate::http::error(IoErrorKind::InvalidData, format!("{name} is shorter than listed")));
        }
        out.write_all(&piece).map_err(|e| {
            crate::http::error(IoErrorKind::Other, format!("cannot write what was read of {name}: {e}"))
        })?;
        at += u64::from(len);
    }
    Ok(())
}

/// The files directly in `dir`, with their sizes, sorted by name: not folders, hidden files
/// or the temporaries of writes under way.
pub(crate) async fn list<P: PathStore + ?Sized>(store: &P, dir: &str) -> Result<Vec<(String, u64)>, IoError> {
    check_name(dir)?;
    let temporary = P::TEMPORARY_PREFIX;
    let mut out: Vec<(String, u64)> = store
        .list_folder(dir)
        .await?
        .into_iter()
        .filter(|e| !e.is_dir && !e.name.starts_with('.') && !temporary.is_some_and(|t| e.name.starts_with(t)))
        .map(|e| (e.name, e.size))
        .collect();
    out.sort();
    Ok(out)
}

/// Removes the file `name` (absent is fine).
pub(crate) async fn remove<P: PathStore + ?Sized>(store: &P, name: &str) -> Result<(), IoError> {
    check_name(name)?;
    store.remove_path(name).await
}

/// Removes the temporary files that interrupted uploads left in the repository's folders and
/// beside it, last changed more than `older_than` ago (by the listing's time, else
/// [`PathStore::modified`]; a file whose time is unknown is kept); returns how many.
pub(crate) async fn remove_stale_temporaries<P: PathStore + ?Sized>(
    store: &P,
    older_than: std::time::Duration,
) -> Result<u64, IoError> {
    let Some(prefix) = P::TEMPORARY_PREFIX else { return Ok(0) };
    let cutoff = jiff::Timestamp::now().as_second() - older_than.as_secs() as i64;
    let mut removed = 0;
    for dir in temporary_folders(store).await? {
        for e in store.list_folder(&dir).await? {
            if e.is_dir || !e.name.starts_with(prefix) {
                continue;
            }
            let path = join(&dir, &e.name);
            let modified = match e.modified {
                Some(m) => Some(m),
                None => store.modified(&path).await?,
            };
            if modified.is_some_and(|m| m < cutoff) {
                store.remove_path(&path).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
