//! Destinations: the list, the form (checked field by field), the Test, save, enable/disable,
//! delete and browse.

use cairn_std::Secret;
use cairn_std::catalog::{Catalog, DestinationRecord, DestinationSecrets, DestinationUpdate, NewDestination};
use cairn_std::form::DestinationFields;
use cairn_std::health::{Owner, Saved, TestReport, browse, create_tested, test_saved, test_unsaved, update_tested};
use cairn_std::s3_vendors::{VENDORS, resolve_template, vendor};

use crate::{
    DestinationForm, DestinationView, DiskView, EventSink, FieldError, FormCheck, Gui, GuiError, GuiEvent, HealthView,
    ObjectView, SaveView, StepView, TestView, VendorView, now,
};

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn secret(s: &str) -> Option<Secret> {
    (!s.is_empty()).then(|| Secret::new(s.as_bytes().to_vec()))
}

impl DestinationForm {
    /// The form as the catalog's fields.
    fn fields(&self) -> DestinationFields {
        let mut f = DestinationFields::default();
        f.kind = self.kind.trim().to_string();
        f.backup_dir = self.backup_dir.trim().to_string();
        if f.kind == "s3" {
            f.vendor = some(&self.vendor);
            f.endpoint = some(&self.endpoint);
            f.region = some(&self.region);
            f.bucket = some(&self.bucket);
            f.account = some(&self.account);
            f.access_key = some(&self.access_key);
            f.storage_class = some(&self.storage_class);
        }
        if f.kind == "azure" {
            f.account = some(&self.account);
            f.container = some(&self.container);
            f.endpoint = some(&self.endpoint);
            f.access_tier = some(&self.access_tier);
        }
        if f.kind == "rclone" {
            f.remote = some(&self.remote);
        }
        if matches!(f.kind.as_str(), "sftp" | "rest" | "webdav" | "ftp") {
            f.host = some(&self.host);
            f.port = (self.port != 0).then_some(self.port);
            f.user = some(&self.user);
        }
        if f.kind == "sftp" {
            f.key_file = some(&self.key_file).map(Into::into);
            f.host_key = some(&self.host_key);
        }
        if matches!(f.kind.as_str(), "rest" | "webdav" | "ftp") {
            f.scheme = some(&self.scheme);
        }
        f.verify_tls = (!self.verify_tls && matches!(f.kind.as_str(), "s3" | "rest" | "azure" | "webdav" | "ftp"))
            .then_some(false);
        f.retries = (self.retries != 0).then_some(self.retries);
        f.connections = (self.connections != 0).then_some(self.connections);
        f
    }

    /// The secrets the form carries (empty ones left out: on update they keep the stored ones).
    fn secrets(&self) -> DestinationSecrets {
        let mut s = DestinationSecrets::default();
        match self.kind.as_str() {
            "s3" => s.s3_secret_key = secret(&self.secret_key),
            "rest" => s.rest_password = secret(&self.password),
            "webdav" => s.webdav_password = secret(&self.password),
            "ftp" => s.ftp_password = secret(&self.password),
            "sftp" if some(&self.key_file).is_some() => s.ssh_passphrase = secret(&self.password),
            "sftp" => s.ssh_password = secret(&self.password),
            "azure" if self.azure_auth == "sas" => s.azure_sas = secret(self.secret_key.trim()),
            "azure" => s.azure_key = secret(self.secret_key.trim()),
            _ => {}
        }
        s
    }

    fn new_destination(&self) -> Result<NewDestination, GuiError> {
        let url = self.fields().to_url()?;
        let mut new = NewDestination::new(self.name.trim(), &url);
        new.read_only = self.read_only;
        new.export_config = self.export_config;
        new.secrets = self.secrets();
        new.password = secret(&self.repository_password);
        Ok(new)
    }

    /// The endpoint a vendor preset or custom template gives, for the form to show.
    fn resolved_endpoint(&self) -> Option<String> {
        if self.kind != "s3" {
            return None;
        }
        let template = match vendor(&self.vendor) {
            Some(v) if !v.endpoint.is_empty() => v.endpoint.to_string(),
            _ => some(&self.endpoint)?,
        };
        let region = some(&self.region)
            .or_else(|| vendor(&self.vendor).and_then(|v| v.regions.first()).map(|r| r.to_string()))
            .unwrap_or_default();
        let (endpoint, virtual_hosted) = resolve_template(&template, &region, some(&self.account).as_deref()).ok()?;
        let bucket = some(&self.bucket).unwrap_or_else(|| "BUCKET".into());
        Some(match endpoint.split_once("://") {
            Some((scheme, host)) if virtual_hosted => format!("{scheme}://{bucket}.{host}"),
            _ => format!("{endpoint}/{bucket}"),
        })
    }

    /// Every field's problem, one per field: the name, then the destination's own fields.
    fn check(&self, catalog: Option<&Catalog>, updating: bool) -> FormCheck {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push(FieldError { field: "name".into(), message: "is required".into() });
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) || name.len() > 64 {
            errors.push(FieldError {
                field: "name".into(),
                message: "use 1 to 64 letters, digits, '-', '_' or '.'".into(),
            });
        } else if !updating
            && let Some(c) = catalog
            && c.get_destination(name).ok().flatten().is_some()
        {
            errors.push(FieldError { field: "name".into(), message: format!("a destination named {name} exists") });
        }
        let url = match self.fields().to_url() {
            Ok(url) => Some(url),
            Err(e) => {
                let e = GuiError::from(e);
                errors.push(FieldError { field: e.field.unwrap_or_else(|| "kind".into()), message: e.message });
                None
            }
        };
        if self.kind == "s3" && self.secret_key.is_empty() && !updating {
            errors.push(FieldError { field: "secretKey".into(), message: "is required".into() });
        }
        if self.kind == "s3" && self.access_key.trim().is_empty() {
            errors.push(FieldError { field: "accessKey".into(), message: "is required".into() });
        }
        if self.kind == "sftp" && self.key_file.trim().is_empty() && self.password.is_empty() && !updating {
            errors.push(FieldError { field: "password".into(), message: "give a key file or a password".into() });
        }
        // One message per field: the first found.
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert(e.field.clone()));
        FormCheck { ok: errors.is_empty(), errors, url, resolved_endpoint: self.resolved_endpoint() }
    }
}

impl FormCheck {
    /// The first problem as an error, if there is one.
    fn refuse(&self) -> Result<(), GuiError> {
        match self.errors.first() {
            Some(e) => Err(GuiError::field(&e.field, e.message.clone())),
            None => Ok(()),
        }
    }
}

fn test_view(r: &TestReport, kind: &str) -> TestView {
    let mut capabilities = Vec::new();
    if r.ok {
        let read_only = !r.steps.iter().any(|s| s.name == "write a probe");
        capabilities.push(if read_only { "read" } else { "read and write" }.to_string());
        if matches!(kind, "local" | "s3" | "sftp") {
            capabilities.push("ownership marker, archives and configuration exports".into());
        }
        capabilities.push(if matches!(kind, "local" | "sftp") {
            "atomic exclusive create (repository locks)".into()
        } else {
            "conditional writes where the server offers them (repository locks)".into()
        });
        if r.initialised {
            capabilities.push("a new repository was created".into());
        }
    }
    TestView {
        ok: r.ok,
        steps: r.steps.iter().map(step_view).collect(),
        error: r.error.clone(),
        initialised: r.initialised,
        capabilities,
        unknown_host_key: r.unknown_host_key.clone(),
    }
}

fn step_view(s: &cairn_std::health::TestStep) -> StepView {
    StepView { name: s.name.clone(), ok: s.ok, millis: s.millis, detail: s.detail.clone() }
}

/// Sends each Test step as it ends, as operation `op`'s [`GuiEvent::TestStep`].
fn step_events(events: EventSink, op: String) -> impl FnMut(&cairn_std::health::TestStep) {
    move |s| events(GuiEvent::TestStep { op: op.clone(), step: step_view(s) })
}

fn save_view(catalog: &Catalog, saved: &Saved, kind: &str) -> Result<SaveView, GuiError> {
    let destination = saved.record.as_ref().map(|r| view(catalog, r)).transpose()?;
    Ok(SaveView { test: test_view(&saved.report, kind), destination })
}

/// The form's fields of a saved destination (no secret): its saved fields as the form shows
/// them (the inverse of [`DestinationForm::fields`]).
fn form_of(catalog: &Catalog, d: &DestinationRecord) -> DestinationForm {
    let mut f = DestinationForm {
        name: d.name.clone(),
        kind: d.kind.clone(),
        verify_tls: true,
        read_only: d.read_only,
        export_config: d.export_config,
        ..Default::default()
    };
    let Ok(url) = catalog.destination_url(&d.name) else { return f };
    let fields = DestinationFields::of(&d.url, &url);
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    f.backup_dir = fields.backup_dir.clone();
    f.remote = text(&fields.remote);
    f.vendor = text(&fields.vendor);
    f.endpoint = text(&fields.endpoint);
    f.region = text(&fields.region);
    f.bucket = text(&fields.bucket);
    f.account = text(&fields.account);
    f.container = text(&fields.container);
    f.access_tier = text(&fields.access_tier);
    f.access_key = text(&fields.access_key);
    f.storage_class = text(&fields.storage_class);
    f.host = text(&fields.host);
    f.port = fields.port.unwrap_or(0);
    f.user = text(&fields.user);
    f.key_file = fields.key_file.as_ref().map(|k| k.display().to_string()).unwrap_or_default();
    f.host_key = text(&fields.host_key);
    f.scheme = fields.scheme.clone().unwrap_or_else(|| match d.kind.as_str() {
        "ftp" => "ftp".into(),
        "rest" | "webdav" => "https".into(),
        _ => String::new(),
    });
    f.verify_tls = fields.verify_tls != Some(false);
    f.retries = fields.retries.unwrap_or(0);
    f.connections = fields.connections.unwrap_or(0);
    if d.kind == "azure" {
        let sas = catalog.destination_secrets(d).is_ok_and(|s| s.azure_sas.is_some() && s.azure_key.is_none());
        f.azure_auth = if sas { "sas" } else { "key" }.to_string();
    }
    f
}

fn view(catalog: &Catalog, d: &DestinationRecord) -> Result<DestinationView, GuiError> {
    let snapshots = catalog.cached_snapshot_count(d)?;
    let vendor = (d.kind == "s3")
        .then(|| d.url.strip_prefix("s3:").and_then(|r| r.split('/').next()).filter(|v| vendor(v).is_some()))
        .flatten()
        .map(str::to_string);
    Ok(DestinationView {
        name: d.name.clone(),
        kind: d.kind.clone(),
        vendor,
        location: d.url.clone(),
        owner: d.owner.clone(),
        enabled: d.enabled,
        read_only: d.read_only,
        recovered: d.recovered,
        export_config: d.export_config,
        health: d.last_test.as_ref().map(|(time, ok, summary)| HealthView {
            time: *time,
            ok: *ok,
            summary: summary.clone(),
        }),
        disk: d.disk.map(|disk| DiskView {
            time: disk.time,
            stored_bytes: disk.repository_bytes,
            free_bytes: disk.free_bytes,
        }),
        snapshots: u32::try_from(snapshots).unwrap_or(u32::MAX),
        jobs: catalog.jobs_targeting(&d.name)?,
        form: form_of(catalog, d),
    })
}

impl Gui {
    /// Every destination, by name.
    pub async fn destinations(&self) -> Result<Vec<DestinationView>, GuiError> {
        self.on_thread(|catalog| async move { destination_views(&catalog) }).await
    }

    /// One destination.
    pub async fn destination(&self, name: String) -> Result<DestinationView, GuiError> {
        self.on_thread(move |catalog| async move { view(&catalog, &catalog.require_destination(&name)?) }).await
    }

    /// The S3 vendor presets, then `custom` (an endpoint template).
    pub fn vendors(&self) -> Vec<VendorView> {
        let mut out: Vec<VendorView> = VENDORS
            .iter()
            .map(|v| VendorView {
                id: v.id.into(),
                name: v.name.into(),
                endpoint: v.endpoint.into(),
                regions: v.regions.iter().map(|r| r.to_string()).collect(),
                path_style: v.path_style,
                needs_account: v.endpoint.contains("{account}"),
                help: v.help.into(),
            })
            .collect();
        out.push(VendorView {
            id: "custom".into(),
            name: "Other S3-compatible service".into(),
            endpoint: String::new(),
            regions: Vec::new(),
            path_style: true,
            needs_account: false,
            help: "an endpoint template like https://s3.{region}.example.com (with {bucket} for virtual-hosted \
                   addressing)"
                .into(),
        });
        out
    }

    /// The remotes of the user's rclone configuration (`rclone listremotes`), for the rclone
    /// form's list. Fails with what to do when rclone is not installed.
    pub async fn rclone_remotes(&self) -> Result<Vec<String>, GuiError> {
        // No catalog needed: only rclone is asked.
        crate::off_thread(|| {
            cairn_std::rclone_remotes(&cairn_std::rclone_program(), None)
                .map_err(|e| GuiError::from(cairn_std::Error::new(cairn_std::ErrorKind::Other, e.to_string())))
        })
        .await
    }

    /// Checks the form, every field: what to show next to each field, and whether Save may be
    /// pressed. `updating`: the form edits destination `form.name` (secrets may stay empty).
    pub async fn check_destination_form(&self, form: DestinationForm, updating: bool) -> Result<FormCheck, GuiError> {
        self.on_thread(move |catalog| async move { Ok(form.check(Some(&catalog), updating)) }).await
    }

    /// Runs the Test on the form's settings without saving them, reporting each step as
    /// [`GuiEvent::TestStep`] under operation `op`. A missing repository is reported, not
    /// created: Save creates it with the password it stores.
    pub async fn test_destination_form(&self, op: String, form: DestinationForm) -> Result<TestView, GuiError> {
        let events = self.emit();
        self.on_thread(move |catalog| async move {
            let new = form.new_destination()?;
            // A destination being edited is tested as itself (its stored secrets fill the gaps).
            let candidate = match catalog.get_destination(&new.name)? {
                Some(_) => {
                    let mut update = DestinationUpdate::default();
                    update.url = Some(new.url.clone());
                    update.secrets = new.secrets.clone();
                    catalog.check_update(&new.name, &update)?
                }
                None => catalog.check_new(&new)?,
            };
            let owner = Owner::new(&catalog.catalog_id()?, &candidate.name);
            let report = test_unsaved(&candidate, &owner, &mut step_events(events, op)).await;
            Ok(test_view(&report, &candidate.kind))
        })
        .await
    }

    /// Runs the Test on the form's settings and saves a new destination if it passed.
    pub async fn create_destination(&self, op: String, form: DestinationForm) -> Result<SaveView, GuiError> {
        let events = self.emit();
        self.on_thread(move |catalog| async move {
            form.check(Some(&catalog), false).refuse()?;
            let new = form.new_destination()?;
            let saved = create_tested(&catalog, &new, now(), &mut step_events(events, op)).await?;
            save_view(&catalog, &saved, &form.kind)
        })
        .await
    }

    /// Runs the Test with changed settings of destination `form.name` and saves them if it
    /// passed. Empty secrets keep the stored ones; read-only cannot change.
    pub async fn update_destination(&self, op: String, form: DestinationForm) -> Result<SaveView, GuiError> {
        let events = self.emit();
        self.on_thread(move |catalog| async move {
            form.check(Some(&catalog), true).refuse()?;
            let name = form.name.trim().to_string();
            // Options the form does not show (a stall timeout, a known_hosts file, path-style
            // addressing) stay as saved.
            let mut fields = form.fields();
            let saved = catalog.require_destination(&name)?;
            let before = DestinationFields::of(&saved.url, &catalog.destination_url(&name)?);
            if before.kind == fields.kind {
                fields.stall_timeout = before.stall_timeout;
                fields.known_hosts = before.known_hosts;
                fields.path_style = before.path_style;
            }
            let mut update = DestinationUpdate::default();
            update.url = Some(fields.to_url()?);
            update.secrets = form.secrets();
            update.export_config = Some(form.export_config);
            let saved = update_tested(&catalog, &name, &update, now(), &mut step_events(events, op)).await?;
            save_view(&catalog, &saved, &form.kind)
        })
        .await
    }

    /// Runs the Test on a saved destination and records its outcome.
    pub async fn test_destination(&self, op: String, name: String) -> Result<TestView, GuiError> {
        let events = self.emit();
        self.on_thread(move |catalog| async move {
            let kind = catalog.require_destination(&name)?.kind;
            let report = test_saved(&catalog, &name, now(), &mut step_events(events, op)).await?;
            Ok(test_view(&report, &kind))
        })
        .await
    }

    /// Enables or disables a destination.
    pub async fn set_destination_enabled(&self, name: String, enabled: bool) -> Result<DestinationView, GuiError> {
        self.on_thread(move |catalog| async move {
            catalog.set_enabled(&name, enabled)?;
            view(&catalog, &catalog.require_destination(&name)?)
        })
        .await
    }

    /// Removes a destination from the catalog (its repository stays where it is); refused,
    /// with the jobs named, while jobs write to it.
    pub async fn delete_destination(&self, name: String) -> Result<(), GuiError> {
        self.browsers.close(&name);
        self.on_thread(move |catalog| async move { Ok(catalog.delete_destination(&name)?) }).await
    }

    /// Every object under a destination's backup directory, with its size.
    pub async fn browse_destination(&self, name: String) -> Result<Vec<ObjectView>, GuiError> {
        self.on_thread(move |catalog| async move {
            let dest = catalog.destination_url(&name)?.open()?;
            Ok(browse(&dest).await?.into_iter().map(|o| ObjectView { path: o.path, size: o.size }).collect())
        })
        .await
    }
}

/// Every destination, by name.
pub(crate) fn destination_views(catalog: &Catalog) -> Result<Vec<DestinationView>, GuiError> {
    catalog.list_destinations()?.iter().map(|d| view(catalog, d)).collect()
}
