//! What every type's URL parser shares: the error that quotes the URL, flags, the split of
//! `[USER@]HOST[:PORT]`, and the walk of a query through the type's own options and the
//! [connection options](crate::backend::connection::ConnectionOptions).

use crate::backend::connection::{ConnectionOptions, parse_flag};
use crate::error::{Error, ErrorKind};
use crate::http::percent_decode;

/// The error for the destination URL `url`, saying what is wrong.
pub(crate) fn bad(url: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("invalid destination {url:?}: {why}"))
}

/// The flag option `name` of `url`.
pub(crate) fn flag(url: &str, name: &str, v: &str) -> Result<bool, Error> {
    parse_flag(v).map_err(|e| bad(url, format!("{name} {e}")))
}

/// `authority` as the user name (if any, not decoded) and `HOST[:PORT]`.
pub(crate) fn split_user(authority: &str) -> (Option<&str>, &str) {
    match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    }
}

/// `HOST[:PORT]` (IPv6 in brackets) as the host and the port, `default` when none is given.
pub(crate) fn host_port(url: &str, hostport: &str, default: u16) -> Result<(String, u16), Error> {
    let port =
        |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad(url, format!("{p:?} is not a port")));
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| bad(url, "no ']' after the IPv6 address"))?;
        match after {
            "" => (host, default),
            _ => (host, port(after.strip_prefix(':').unwrap_or(after))?),
        }
    } else {
        match hostport.rsplit_once(':') {
            // An IPv6 address without brackets has no port.
            Some((host, p)) if !host.contains(':') => (host, port(p)?),
            _ => (hostport, default),
        }
    };
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    Ok((host.to_string(), port))
}

/// Refuses `url` if its query has one of the options `secrets` (in any case): a secret never
/// goes in a URL, which the catalog keeps in clear and the window shows. `why` says which
/// secret, `hint` where it goes instead.
pub(crate) fn refuse_secret_options(
    url: &str,
    query: &str,
    secrets: &[&str],
    why: &str,
    hint: &str,
) -> Result<(), Error> {
    let names = query.split('&').map(|p| p.split_once('=').map_or(p, |(k, _)| k).to_ascii_lowercase());
    if names.into_iter().any(|k| secrets.contains(&k.as_str())) {
        return Err(bad(url, why).with_hint(hint));
    }
    Ok(())
}

/// Walks the query of `url`: each option (its value percent-decoded) is one of the connection
/// options the type takes (`allowed`, set on `connection`), or one of its own (`own`, given to
/// `take`); any other is refused with the list of those it takes.
pub(crate) fn options(
    url: &str,
    query: &str,
    connection: &mut ConnectionOptions,
    allowed: &[&str],
    own: &[&str],
    mut take: impl FnMut(&str, String) -> Result<(), Error>,
) -> Result<(), Error> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (k.to_ascii_lowercase(), percent_decode(v));
        if connection.set(allowed, &k, &v).map_err(|e| bad(url, format!("{k} {e}")))? {
            continue;
        }
        if own.contains(&k.as_str()) {
            take(&k, v)?;
            continue;
        }
        let known: Vec<&str> = own.iter().chain(allowed).copied().collect();
        return Err(bad(url, format!("unknown option {k:?}")).with_hint(format!("known options: {}", known.join(", "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_split_whatever_the_address() {
        let hp = |s: &str| host_port("u", s, 21).map_err(|e| e.to_string());
        assert_eq!(hp("ftp.lan"), Ok(("ftp.lan".to_string(), 21)));
        assert_eq!(hp("ftp.lan:2121"), Ok(("ftp.lan".to_string(), 2121)));
        assert_eq!(hp("[::1]:2121"), Ok(("::1".to_string(), 2121)));
        assert_eq!(hp("[::1]"), Ok(("::1".to_string(), 21)));
        assert_eq!(hp("::1"), Ok(("::1".to_string(), 21)));
        for bad in ["ftp.lan:0", "ftp.lan:x", ":21", "[::1", "[::1]x", "[]:21"] {
            assert!(hp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_options_are_refused_with_the_known_ones() {
        let mut c = ConnectionOptions::default();
        let mut seen = Vec::new();
        options("u", "retries=5&key=%2Fa%20b&Connections=2", &mut c, &["retries", "connections"], &["key"], |k, v| {
            seen.push((k.to_string(), v));
            Ok(())
        })
        .unwrap();
        assert_eq!((c.retries, c.connections), (5, 2));
        assert_eq!(seen, [("key".to_string(), "/a b".to_string())]);
        let e = options("u", "verify-tls=false", &mut c, &["retries"], &["key"], |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("unknown option \"verify-tls\""), "{e}");
        assert!(e.hint().is_some_and(|h| h.contains("key, retries")), "{:?}", e.hint());
    }
}
