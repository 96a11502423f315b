//! `cairn snapshots` and `cairn ls`: what the repository holds.

use std::process::ExitCode;

use cairn_core::{Node, NodeKind, walk};
use cairn_std::{Error, ErrorKind, local_time, now};
use serde_json::json;

use crate::args::{Global, LsArgs, SnapshotsArgs};
use crate::output::{bytes, rfc3339};
use crate::repo::{self, Location, Session, normalize_snapshot_path};

pub(crate) async fn snapshots(g: &Global, a: &SnapshotsArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    let all = repo.snapshots().await?;
    let known = repo::Known::for_location(g, &location)?;
    let memory = known.memory();
    memory.remember(&repo.config().id, all.valid.iter().map(|(id, s)| (id, s)))?;
    if let (Some(name), repo::Known::Catalog(catalog)) = (&location.name, &known) {
        catalog.cache_snapshots(name, &all.valid)?;
    }
    let present = all.valid.iter().chain(&all.withdrawn).map(|(id, _)| *id);
    let missing = cairn_std::known::withheld(&repo, &memory, present).await?;
    if !missing.is_empty() {
        let e = cairn_std::known::withheld_error(&missing, "`cairn check` fails until they come back");
        eprintln!("warning: {e}");
    }
    for (id, _) in &all.withdrawn {
        eprintln!(
            "warning: snapshot {} was written after its backup's lock had been revoked and is not listed \
             (`cairn prune` removes it)",
            id.short()
        );
    }
    let now = now();
    let in_future = |s: &cairn_core::Snapshot| s.time.secs > now.secs + cairn_core::FUTURE_TOLERANCE_SECS;
    for (id, s) in all.valid.iter().filter(|(_, s)| in_future(s)) {
        eprintln!(
            "warning: snapshot {} is dated {} after now: the clock of {} was wrong; it never decides what \
             --keep-within keeps",
            id.short(),
            cairn_core::Span(s.time.secs - now.secs),
            s.hostname
        );
    }
    let list: Vec<_> =
        all.valid.into_iter().filter(|(_, s)| a.host.as_ref().is_none_or(|h| &s.hostname == h)).collect();
    if g.json {
        let items: Vec<_> = list
            .iter()
            .map(|(id, s)| {
                let mut v = crate::output::snapshot_json(id, s);
                v["in_future"] = json!(in_future(s));
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        if !g.quiet {
            println!("no snapshots");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let host_w = list.iter().map(|(_, s)| s.hostname.len()).max().unwrap_or(4).max(4);
    let tags: Vec<String> = list.iter().map(|(_, s)| s.tags.join(",")).collect();
    let tag_w = tags.iter().map(String::len).max().unwrap_or(4).max(4);
    println!("{:<8}  {:<19}  {:<host_w$}  {:<tag_w$}  {:>10}  Paths", "ID", "Time", "Host", "Tags", "Size");
    for ((id, s), tag) in list.iter().zip(&tags) {
        let paths: Vec<String> = s.paths.iter().map(|p| cairn_std::show_path(p)).collect();
        println!(
            "{:<8}  {:<19}  {:<host_w$}  {:<tag_w$}  {:>10}  {}",
            id.short(),
            local_time(s.time),
            s.hostname,
            tag,
            bytes(s.stats.bytes_total),
            paths.join(" ")
        );
    }
    println!("{} snapshots", list.len());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn mode_string(node: &Node) -> String {
    let t = match node.kind {
        NodeKind::Dir { .. } => 'd',
        NodeKind::Symlink { .. } => 'l',
        NodeKind::File { .. } => '-',
    };
    let m = node.meta.mode;
    // Owner, group, other: read, write, then execute shown with setuid, setgid or sticky as ls does.
    let triple = |shift: u32, special: u32, set: char| {
        let x = match (m >> shift & 1 != 0, m & special != 0) {
            (true, true) => set,
            (false, true) => set.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        };
        [if m >> (shift + 2) & 1 != 0 { 'r' } else { '-' }, if m >> (shift + 1) & 1 != 0 { 'w' } else { '-' }, x]
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    s.extend(triple(6, 0o4000, 's'));
    s.extend(triple(3, 0o2000, 's'));
    s.extend(triple(0, 0o1000, 't'));
    s
}

pub(crate) fn kind_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Dir { .. } => "dir",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::File { .. } => "file",
    }
}

pub(crate) async fn ls(g: &Global, session: &Session, a: &LsArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "ls", false).await?;
    let (_, snap) = repo.find_snapshot(&a.snapshot).await?;
    let index = crate::repo::load_index(g, &repo, false).await?;
    let path = normalize_snapshot_path(&a.path)?;
    let json = g.json;
    let long = a.long;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write_error = None;
    walk(&repo, &index, snap.tree, &path, &mut |p, node| {
        use std::io::Write;
        let shown = cairn_std::show_path(p);
        let line = if json {
            let mut v = json!({
                "path": shown,
                "type": kind_name(node),
                "size": node.meta.size,
                "mode": node.meta.mode,
                "uid": node.meta.uid,
                "gid": node.meta.gid,
                "user": node.meta.user,
                "group": node.meta.group,
                "mtime": rfc3339(node.meta.mtime),
            });
            if let NodeKind::Symlink { target } = &node.kind {
                v["target"] = json!(cairn_std::show_path(target));
            }
            v.to_string()
        } else if long {
            let target = match &node.kind {
                NodeKind::Symlink { target } => format!(" -> {}", cairn_std::show_path(target)),
                _ => String::new(),
            };
            format!(
                "{} {:>8} {:>8} {:>12} {} {shown}{target}",
                mode_string(node),
                node.meta.user.clone().unwrap_or_else(|| node.meta.uid.to_string()),
                node.meta.group.clone().unwrap_or_else(|| node.meta.gid.to_string()),
                node.meta.size,
                local_time(node.meta.mtime),
            )
        } else {
            shown
        };
        if write_error.is_none()
            && let Err(e) = writeln!(out, "{line}")
        {
            write_error = Some(e);
        }
    })
    .await?;
    use std::io::Write;
    let flushed = out.flush();
    match write_error.map_or(flushed, Err) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Error::new(ErrorKind::Io, format!("cannot write the listing: {e}"))),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}
