//! The secrets a destination may need besides its repository password, listed once: each
//! slot's name (in the catalog's sealed record and in recovery exports) and the environment
//! variable the command line reads it from. The catalog seals them, recovery exports carry
//! them, the command line and the window fill them, all by walking [`SECRET_SLOTS`]: a new
//! slot is one line here, and none can be left behind by one of them.

use crate::secret::Secret;

/// One kind of secret a destination may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretSlot {
    /// Its name in the catalog's sealed record and in recovery exports.
    pub name: &'static str,
    /// The environment variable the command line reads it from.
    pub env: &'static str,
}

/// Declares the slots: the fields of [`DestinationSecrets`] and the table [`SECRET_SLOTS`].
macro_rules! secret_slots {
    ($($(#[doc = $doc:literal])* $field:ident = $env:literal),* $(,)?) => {
        /// Secrets of a destination other than its repository password, by slot.
        #[derive(Debug, Clone, Default)]
        #[non_exhaustive]
        pub struct DestinationSecrets {
            $($(#[doc = $doc])* pub $field: Option<Secret>,)*
        }

        /// Every slot, in the order of [`DestinationSecrets`]'s fields.
        pub const SECRET_SLOTS: &[SecretSlot] = &[$(SecretSlot { name: stringify!($field), env: $env }),*];

        impl DestinationSecrets {
            /// The secret in the slot named `name`, as a place to read or set.
            pub fn slot_mut(&mut self, name: &str) -> Option<&mut Option<Secret>> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            /// The secret in the slot named `name`, if there is one.
            pub fn get(&self, name: &str) -> Option<&Secret> {
                match name {
                    $(stringify!($field) => self.$field.as_ref(),)*
                    _ => None,
                }
            }
        }
    };
}

secret_slots! {
    /// S3 secret access key.
    s3_secret_key = "AWS_SECRET_ACCESS_KEY",
    /// REST server password.
    rest_password = "CAIRN_REST_PASSWORD",
    /// SSH key passphrase.
    ssh_passphrase = "CAIRN_SSH_PASSPHRASE",
    /// SSH password.
    ssh_password = "CAIRN_SSH_PASSWORD",
    /// Azure storage account key.
    azure_key = "AZURE_ACCOUNT_KEY",
    /// Azure SAS token.
    azure_sas = "AZURE_ACCOUNT_SAS",
    /// WebDAV password.
    webdav_password = "CAIRN_WEBDAV_PASSWORD",
    /// FTP password.
    ftp_password = "CAIRN_FTP_PASSWORD",
}

impl DestinationSecrets {
    /// The secrets that `read` finds for each slot's environment variable (the command line:
    /// `std::env::var`, empty values left out).
    pub fn from_env(read: impl Fn(&str) -> Option<Secret>) -> Self {
        let mut out = Self::default();
        for slot in SECRET_SLOTS {
            if let Some(place) = out.slot_mut(slot.name) {
                *place = read(slot.env);
            }
        }
        out
    }

    /// The secrets given, with the slots they are in.
    pub fn iter(&self) -> impl Iterator<Item = (&'static SecretSlot, &Secret)> {
        SECRET_SLOTS.iter().filter_map(|slot| self.get(slot.name).map(|s| (slot, s)))
    }

    /// Whether none is given.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Replaces each secret that `given` has; keeps the others.
    pub fn replace_with(&mut self, given: &Self) {
        for (slot, value) in given.iter() {
            if let Some(place) = self.slot_mut(slot.name) {
                *place = Some(value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_is_a_field_and_back() {
        let mut all = DestinationSecrets::default();
        for (i, slot) in SECRET_SLOTS.iter().enumerate() {
            *all.slot_mut(slot.name).unwrap() = Some(Secret::new(vec![i as u8]));
        }
        assert_eq!(all.iter().count(), SECRET_SLOTS.len());
        for (i, slot) in SECRET_SLOTS.iter().enumerate() {
            assert_eq!(all.get(slot.name).unwrap().expose(), [i as u8]);
        }
        assert!(all.slot_mut("password").is_none() && all.get("").is_none());
        let env = DestinationSecrets::from_env(|v| (v == "CAIRN_FTP_PASSWORD").then(|| Secret::new(b"f".to_vec())));
        assert_eq!(env.iter().map(|(s, _)| s.name).collect::<Vec<_>>(), ["ftp_password"]);
        let mut kept = all.clone();
        kept.replace_with(&env);
        assert_eq!(kept.ftp_password.unwrap().expose(), b"f");
        assert_eq!(kept.s3_secret_key.unwrap().expose(), [0]);
    }
}
