//! `cairn key`: the repository's keys and their passwords.

use std::process::ExitCode;

use cairn_core::KdfParams;
use cairn_std::{Error, ErrorKind, local_time, os_rng};
use serde_json::json;

use super::init::key_info;
use crate::args::{Global, KeyCommand, NewPasswordArgs};
use crate::output::rfc3339;
use crate::repo::{self, Location, Purpose, Repo, Session};

/// The new password for `key add` / `key passwd`: `CAIRN_NEW_PASSWORD`, then
/// `--new-password-file`, then a prompt on a terminal.
pub(crate) fn new_password(a: &NewPasswordArgs) -> Result<cairn_std::Secret, Error> {
    use std::io::IsTerminal;
    let secret = match repo::given_secret("CAIRN_NEW_PASSWORD", a.new_password_file.as_deref())? {
        Some(secret) => secret,
        None if std::io::stdin().is_terminal() => {
            repo::ask_secret("new password: ", Some("the same new password again: "))?
        }
        None => {
            return Err(Error::new(ErrorKind::InvalidInput, "no new password given").with_hint(
                "set CAIRN_NEW_PASSWORD, use --new-password-file FILE, or run cairn in a terminal to be asked",
            ));
        }
    };
    if secret.expose().is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "the new password cannot be empty"));
    }
    Ok(secret)
}

/// A key's derivation cost for `key list --json`.
pub(crate) fn kdf_json(kdf: &cairn_core::Kdf) -> serde_json::Value {
    match kdf {
        cairn_core::Kdf::Argon2id(p) => json!({
            "algorithm": "argon2id", "memory_kib": p.memory_kib, "iterations": p.iterations,
            "parallelism": p.parallelism, "generated_password": *p == KdfParams::GENERATED,
        }),
    }
}

/// A key's derivation cost for `key list`: "Argon2id 64 MiB x3", or "... (generated)" for the
/// light cost of a catalog-generated password.
pub(crate) fn kdf_text(kdf: &cairn_core::Kdf) -> String {
    match kdf {
        cairn_core::Kdf::Argon2id(p) => {
            let memory = if p.memory_kib % 1024 == 0 {
                format!("{} MiB", p.memory_kib / 1024)
            } else {
                format!("{} KiB", p.memory_kib)
            };
            let generated = if *p == KdfParams::GENERATED { " (generated)" } else { "" };
            format!("Argon2id {memory} x{}{generated}", p.iterations)
        }
    }
}

/// Adds a key for a new password, with the same key-derivation cost as the key in use (the
/// full default if that key's password was generated, and so derived with the light cost).
pub(crate) async fn add_key_for(
    g: &Global,
    location: &Location,
    repo: &Repo,
    a: &NewPasswordArgs,
) -> Result<(cairn_core::KeyId, cairn_std::Secret), Error> {
    let new = new_password(a)?;
    let current = repo::password(g, location, Purpose::Open)?;
    let master = repo.master_key(current.expose()).await?;
    let kdf = match repo.list_keys().await?.into_iter().find(|(id, _)| *id == repo.key_id()) {
        Some((_, key)) => match key.kdf {
            cairn_core::Kdf::Argon2id(params) => params,
        },
        None => KdfParams::DEFAULT,
    };
    // The new password is one a person gives: never the light cost of a generated one.
    let kdf = if kdf == KdfParams::GENERATED { KdfParams::DEFAULT } else { kdf };
    let id = repo.add_key(&master, new.expose(), kdf, key_info(), &mut os_rng()).await?;
    Ok((id, new))
}

pub(crate) async fn key_cmd(g: &Global, session: &Session, k: &KeyCommand) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "key", false).await?;
    match k {
        KeyCommand::List => {
            let keys = repo.key_objects().await?;
            if g.json {
                let items: Vec<_> = keys
                    .iter()
                    .map(|(id, key)| match key {
                        Ok(key) => json!({
                            "id": id.to_hex(), "current": *id == repo.key_id(), "created": rfc3339(key.created),
                            "hostname": key.hostname, "username": key.username,
                            "kdf": kdf_json(&key.kdf),
                        }),
                        Err(e) => json!({ "id": id.to_hex(), "current": false, "damaged": e.to_string() }),
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else {
                println!("  {:<8}  {:<19}  {:<16}  {:<22}  User", "ID", "Created", "Host", "Key derivation");
                for (id, key) in &keys {
                    let mark = if *id == repo.key_id() { "*" } else { " " };
                    match key {
                        Ok(key) => println!(
                            "{mark} {:<8}  {:<19}  {:<16}  {:<22}  {}",
                            id.short(),
                            local_time(key.created),
                            key.hostname,
                            kdf_text(&key.kdf),
                            key.username
                        ),
                        Err(_) => {
                            println!("! {:<8}  DAMAGED (remove it with `cairn key remove {}`)", id.short(), id.short())
                        }
                    }
                }
                println!("{} keys (* opened by your password, ! damaged)", keys.len());
            }
        }
        KeyCommand::Add(a) => {
            let (id, _) = add_key_for(g, &location, &repo, a).await?;
            if g.json {
                println!("{}", json!({ "added": id.to_hex() }));
            } else if !g.quiet {
                println!("added key {}", id.short());
            }
        }
        KeyCommand::Remove { id } => {
            repo.storage().inner().ensure_deletes_allowed("key remove").await?;
            let keys = repo.key_objects().await?;
            let matches: Vec<_> = keys.iter().filter(|(k, _)| k.to_hex().starts_with(id.as_str())).collect();
            let (target, _) = match matches.as_slice() {
                [one] => *one,
                [] => {
                    return Err(Error::new(ErrorKind::NotFound, format!("no key matches \"{id}\""))
                        .with_hint("list the keys with `cairn key list`"));
                }
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("\"{id}\" matches several keys; give more digits"),
                    ));
                }
            };
            if *target == repo.key_id() {
                return Err(Error::new(ErrorKind::InvalidInput, "refusing to remove the key your password opened")
                    .with_hint(
                        "open the repository with another password to remove this key, or use `cairn key passwd`",
                    ));
            }
            repo.remove_key(*target).await?;
            if g.json {
                println!("{}", json!({ "removed": target.to_hex() }));
            } else if !g.quiet {
                println!("removed key {}", target.short());
            }
        }
        KeyCommand::Passwd(a) => {
            repo.storage().inner().ensure_deletes_allowed("key passwd").await?;
            let (id, new) = add_key_for(g, &location, &repo, a).await?;
            // A catalog destination's password is kept in the catalog: it follows the change
            // before the old key goes (so the stored one always opens the repository).
            if let Some(name) = &location.name {
                repo::open_catalog(g)?.set_destination_password(name, &new)?;
            }
            repo.remove_key(repo.key_id()).await?;
            if g.json {
                println!("{}", json!({ "added": id.to_hex(), "removed": repo.key_id().to_hex() }));
            } else if !g.quiet {
                println!("password changed: key {} replaces key {}", id.short(), repo.key_id().short());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
