//! The Azure URL: account, container, directory, endpoint and options.

use super::{AzureAuth, AzureConfig};
use crate::backend::Credentials;
use crate::backend::connection::OPTION_NAMES;
use crate::backend::s3::validate_directory;
use crate::backend::url::{bad, options, refuse_secret_options};
use crate::error::{Error, ErrorKind};

/// `azure:ACCOUNT/CONTAINER[/DIR][?OPTIONS]` (see [`crate::backend::destination`]).
pub(crate) fn parse(url: &str, rest: &str, credentials: Credentials) -> Result<AzureConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut parts = location.splitn(3, '/');
    let account = parts.next().unwrap_or_default();
    let container = parts.next().unwrap_or_default();
    let dir = parts.next().unwrap_or_default();
    if account.is_empty() || container.is_empty() {
        return Err(bad(url, "write azure:ACCOUNT/CONTAINER/DIR"));
    }
    if !super::valid_account_name(account) {
        return Err(bad(url, format!("{account:?} is not a storage account name (3 to 24 of a-z and 0-9)")));
    }
    if !super::valid_container_name(container) {
        return Err(bad(
            url,
            format!(
                "{container:?} is not a container name (3 to 63 of a-z, 0-9 and single '-', starting with a letter or digit)"
            ),
        ));
    }
    let directory = format!("/{}", dir.trim_end_matches('/'));
    validate_directory(&directory).map_err(|e| bad(url, e))?;
    let auth = match (credentials.secrets.azure_key, credentials.secrets.azure_sas) {
        (Some(k), _) => AzureAuth::SharedKey(k),
        (None, Some(t)) => AzureAuth::Sas(t),
        (None, None) => {
            return Err(Error::new(ErrorKind::InvalidInput, "no Azure account key or SAS token")
                .with_hint("set AZURE_ACCOUNT_KEY (the storage account's key1 or key2) or AZURE_ACCOUNT_SAS"));
        }
    };
    let mut c = AzureConfig::new(account, container, auth);
    c.directory = directory;
    refuse_secret_options(
        url,
        query,
        &["key", "account-key", "sas", "sig"],
        "the account key or SAS token cannot go in the URL",
        "set AZURE_ACCOUNT_KEY or AZURE_ACCOUNT_SAS (or keep it in the catalog)",
    )?;
    options(url, query, &mut c.connection, &OPTION_NAMES, &["endpoint", "access-tier"], |k, v| {
        if k == "endpoint" {
            if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() < 9 {
                return Err(bad(url, format!("the endpoint {v:?} must be an https:// URL")));
            }
            c.endpoint = v.trim_end_matches('/').to_string();
            return Ok(());
        }
        c.pack_access_tier = match v.to_ascii_lowercase().as_str() {
            "" => None,
            "hot" => Some("Hot".into()),
            "cool" => Some("Cool".into()),
            "cold" => Some("Cold".into()),
            "archive" => {
                return Err(bad(url, "access-tier Archive cannot hold packs: reading them back takes hours")
                    .with_hint("use Cool or Cold, or a lifecycle rule on old data"));
            }
            _ => return Err(bad(url, format!("access-tier must be Hot, Cool or Cold, not {v:?}"))),
        };
        Ok(())
    })?;
    Ok(c)
}

/// The URL to show: no secret in it.
pub(crate) fn show(c: &AzureConfig) -> String {
    let dir = if c.directory == "/" { String::new() } else { c.directory.clone() };
    let default = format!("https://{}.blob.core.windows.net", c.account);
    let endpoint = if c.endpoint == default { String::new() } else { format!("?endpoint={}", c.endpoint) };
    format!("azure:{}/{}{dir}{endpoint}", c.account, c.container)
}
