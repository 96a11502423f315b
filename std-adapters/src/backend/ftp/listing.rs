//! What FTP servers answer, parsed: `MLSD` and Unix `LIST` lines, `MDTM` times, `EPSV` and
//! `PASV` ports. Untrusted bytes: parsed without panics.

use crate::backend::path_store::FolderEntry;

/// An `MLSD` line: `type=file;size=12;modify=20261122100000; name`.
pub(super) fn parse_mlsd(line: &str) -> Option<FolderEntry> {
    let (facts, name) = line.split_once(' ')?;
    let mut e = FolderEntry { name: name.to_string(), is_dir: false, size: 0, modified: None };
    let mut kind = None;
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=')?;
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = Some(v.to_ascii_lowercase()),
            "size" => e.size = v.parse().ok()?,
            "modify" => e.modified = ftp_time(v),
            _ => {}
        }
    }
    match kind.as_deref() {
        Some("file") => {}
        Some("dir") => e.is_dir = true,
        _ => return None,
    }
    (!e.name.is_empty() && !e.name.contains('/')).then_some(e)
}

/// A Unix-format `LIST` line: `-rw-r--r-- 1 owner group 12 Nov 22 10:00 name`.
pub(super) fn parse_list(line: &str) -> Option<FolderEntry> {
    let kind = line.chars().next()?;
    if kind != '-' && kind != 'd' {
        return None;
    }
    let mut rest = line;
    let mut fields = Vec::with_capacity(8);
    for _ in 0..8 {
        rest = rest.trim_start();
        let end = rest.find(' ')?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let name = rest.strip_prefix(' ')?.to_string();
    let size = fields[4].parse().ok()?;
    (!name.is_empty() && !name.contains('/')).then_some(FolderEntry { name, is_dir: kind == 'd', size, modified: None })
}

/// `YYYYMMDDHHMMSS[.sss]` (UTC) as Unix seconds.
pub(super) fn ftp_time(v: &str) -> Option<i64> {
    let v = v.split('.').next()?;
    if v.len() != 14 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| v[r].parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        n(0..4)?,
        n(4..6)? as i8,
        n(6..8)? as i8,
        n(8..10)? as i8,
        n(10..12)? as i8,
        n(12..14)? as i8,
        0,
    )
    .ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_second())
}

/// The port of an `EPSV` reply: `Entering Extended Passive Mode (|||6446|)`.
pub(super) fn epsv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let d = inner.chars().next()?;
    let parts: Vec<&str> = inner.split(d).collect();
    match parts.as_slice() {
        ["", "", "", port, ""] => port.parse().ok().filter(|p| *p != 0),
        _ => None,
    }
}

/// The port of a `PASV` reply: `Entering Passive Mode (127,0,0,1,25,34)` (its address is not
/// used: data connections go to the control connection's peer).
pub(super) fn pasv_port(text: &str) -> Option<u16> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok().filter(|n| *n <= 255))
        .collect::<Option<_>>()?;
    (nums.len() == 6).then(|| nums[4] * 256 + nums[5]).filter(|p| *p != 0)
}
