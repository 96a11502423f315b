//! How a destination connects: the options every network type takes (TLS, retries, stall
//! timeout, connections at once), parsed and shown once, and the one retry policy.

use std::time::Duration;

use rand_core::Rng;

/// The connection options of a network destination, as its URL's query gives them
/// (`verify-tls=`, `retries=`, `stall-timeout=`, `connections=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// Verify the server's TLS certificate (turn off only for a server you control). SFTP
    /// checks host keys instead, and rclone sets up its own TLS.
    pub verify_tls: bool,
    /// Retries of a failed operation (connection lost, stalled, busy server), with
    /// [`backoff`] between.
    pub retries: u32,
    /// No byte for this long fails an attempt (which is then retried).
    pub stall_timeout: Duration,
    /// Requests or operations at once.
    pub connections: usize,
}

impl Default for ConnectionOptions {
    /// TLS verified, 3 retries, 60 s stall timeout, 4 connections.
    fn default() -> Self {
        Self { verify_tls: true, retries: 3, stall_timeout: Duration::from_secs(60), connections: 4 }
    }
}

/// The names of the options, as URLs write them.
pub(crate) const OPTION_NAMES: [&str; 4] = ["verify-tls", "retries", "stall-timeout", "connections"];

/// `true`/`yes`/`1` or `false`/`no`/`0`; otherwise what it must be.
pub(crate) fn parse_flag(v: &str) -> Result<bool, String> {
    match v {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!("must be true or false, not {v:?}")),
    }
}

impl ConnectionOptions {
    /// The defaults with `stall_timeout` (rclone's child answers more slowly than a server).
    pub fn with_stall_timeout(stall_timeout: Duration) -> Self {
        Self { stall_timeout, ..Self::default() }
    }

    /// Sets the option `name` (one of [`OPTION_NAMES`] that `allowed` holds) from `v`; `Ok(false)`
    /// if `name` is not one of them, and what `v` must be otherwise (for the caller to name the
    /// option as its user wrote it: a URL's query, a form's field).
    pub(crate) fn set(&mut self, allowed: &[&str], name: &str, v: &str) -> Result<bool, String> {
        if !allowed.contains(&name) {
            return Ok(false);
        }
        match name {
            "verify-tls" => self.verify_tls = parse_flag(v)?,
            "retries" => self.retries = v.parse().ok().filter(|n| *n <= 20).ok_or("must be 0 to 20")?,
            "stall-timeout" => {
                let secs: u64 = v.parse().ok().filter(|n| (1..=3600).contains(n)).ok_or("must be 1 to 3600 seconds")?;
                self.stall_timeout = Duration::from_secs(secs);
            }
            "connections" => {
                self.connections = v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or("must be 1 to 64")?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The wait before retry number `attempt + 1`, with full jitter: a random wait up to 0.25 s,
/// 0.5 s, 1 s, ... (at most 20 s). The one policy of every transport: HTTP, FTP, SFTP, rclone.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap_ms = (250u64 << attempt.min(7)).min(20_000);
    Duration::from_millis(crate::rng::os_rng().next_u64() % (cap_ms + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_within_bounds_and_only_where_allowed() {
        let mut o = ConnectionOptions::default();
        assert_eq!(o.set(&OPTION_NAMES, "retries", "7"), Ok(true));
        assert_eq!(o.set(&OPTION_NAMES, "stall-timeout", "30"), Ok(true));
        assert_eq!(o.set(&OPTION_NAMES, "connections", "9"), Ok(true));
        assert_eq!(o.set(&OPTION_NAMES, "verify-tls", "no"), Ok(true));
        assert_eq!((o.retries, o.stall_timeout.as_secs(), o.connections, o.verify_tls), (7, 30, 9, false));
        assert!(o.set(&OPTION_NAMES, "retries", "21").is_err());
        assert!(o.set(&OPTION_NAMES, "connections", "0").is_err());
        assert!(o.set(&OPTION_NAMES, "stall-timeout", "0").is_err());
        assert!(o.set(&OPTION_NAMES, "verify-tls", "maybe").is_err());
        assert_eq!(o.set(&["retries"], "verify-tls", "true"), Ok(false));
        assert_eq!(o.set(&OPTION_NAMES, "region", "x"), Ok(false));
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 0..40 {
            let cap = (250u64 << attempt.min(7)).min(20_000);
            assert!(backoff(attempt) <= Duration::from_millis(cap));
        }
    }
}
