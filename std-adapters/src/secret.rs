//! Secrets: values that never reach a log, an error message or the UI.

use std::fmt;

use zeroize::Zeroizing;

/// A secret (a password): printed as `**redacted**`, wiped from memory when dropped.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes, for the one place that needs them (key derivation).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s} {s:?}"), "**redacted** **redacted**");
        assert_eq!(s.expose(), b"hunter2");
    }
}
