//! The REST URL (`rest:`), and the rclone URL (`rclone:`) served through REST.

use super::RestConfig;
use super::rclone::RcloneConfig;
use crate::backend::connection::OPTION_NAMES;
use crate::backend::url::{bad, options, split_user};
use crate::error::{Error, ErrorKind};
use crate::http::percent_decode;
use crate::secret::Secret;

/// `rest:http(s)://[USER[:PASSWORD]@]HOST[:PORT]/PATH[?OPTIONS]`.
pub(crate) fn parse(url: &str, rest: &str, password: Option<Secret>) -> Result<RestConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, after) = location
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "http" | "https"))
        .ok_or_else(|| bad(url, "write rest:https://[USER@]HOST[:PORT]/PATH"))?;
    let (authority, path) = after.split_once('/').unwrap_or((after, ""));
    let (userinfo, host) = split_user(authority);
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    let (user, url_password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((name, pw)) => (Some(percent_decode(name)), Some(Secret::new(percent_decode(pw).into_bytes()))),
            None => (Some(percent_decode(u)), None),
        },
        None => (None, None),
    };
    let mut c = RestConfig::new(&format!("{scheme}://{host}/{}", path.trim_end_matches('/')));
    c.password = url_password.or(password);
    if user.is_some() && c.password.is_none() {
        return Err(Error::new(ErrorKind::InvalidInput, "no password for the REST server")
            .with_hint("set CAIRN_REST_PASSWORD, or put it in the URL as rest:https://USER:PASSWORD@HOST/PATH"));
    }
    c.user = user;
    options(url, query, &mut c.connection, &OPTION_NAMES, &[], |_, _| Ok(()))?;
    Ok(c)
}

/// `rclone:REMOTE:PATH[?OPTIONS]` (see [`crate::backend::destination`]).
pub(crate) fn parse_rclone(url: &str, rest: &str) -> Result<RcloneConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    // `:TYPE:PATH` is an on-the-fly backend: its name holds the first colon.
    let split = match location.strip_prefix(':') {
        Some(after) => after.find(':').map(|i| i + 1),
        None => location.find(':'),
    };
    let Some((remote, path)) = split.map(|i| (&location[..i], &location[i + 1..])) else {
        return Err(bad(url, "write rclone:REMOTE:PATH (a remote set up with `rclone config`)"));
    };
    if remote.contains(',') {
        // Not echoed: the options may be credentials.
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "invalid rclone destination: options after the remote's name (REMOTE,OPTION=VALUE) are not taken here: \
             they can hold credentials, which would end up in Cairn's catalog and logs",
        )
        .with_hint("set the remote up with `rclone config` and give its name"));
    }
    if !super::rclone::valid_remote_name(remote) {
        return Err(bad(url, format!("{remote:?} is not an rclone remote name"))
            .with_hint("`rclone listremotes` lists yours; `rclone config` sets one up"));
    }
    let path = percent_decode(path);
    if path.split('/').any(|p| p == "..") || path.contains(['\r', '\n', '\0']) {
        return Err(bad(url, "the path may not contain '..', line breaks or NUL"));
    }
    let mut c = RcloneConfig::new(remote, path.trim_end_matches('/'));
    // TLS is rclone's to set up.
    options(url, query, &mut c.connection, &["retries", "stall-timeout", "connections"], &[], |_, _| Ok(()))?;
    Ok(c)
}

/// The REST URL to show: no password in it.
pub(crate) fn show(c: &RestConfig) -> String {
    match &c.user {
        Some(u) => {
            let (scheme, rest) = c.url.split_once("://").unwrap_or(("https", &c.url));
            format!("rest:{scheme}://{u}@{rest}")
        }
        None => format!("rest:{}", c.url),
    }
}
