//! The catalog on a real SQLite file: destinations, sealed secrets, validation, the key file.

use std::os::unix::fs::PermissionsExt;

use cairn_std::catalog::{Catalog, DestinationSecrets, NewDestination};
use cairn_std::{DestinationUrl, ErrorKind, Secret};

fn open(dir: &std::path::Path) -> Catalog {
    Catalog::open(&dir.join("catalog.sqlite"), &dir.join("catalog.key")).unwrap()
}

#[test]
fn destinations_are_created_listed_and_removed_with_their_secrets_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    assert_eq!(catalog.schema_version().unwrap(), 6);
    let key_mode = std::fs::metadata(dir.path().join("catalog.key")).unwrap().permissions().mode();
    assert_eq!(key_mode & 0o777, 0o600);

    let local = catalog.create_destination(&NewDestination::new("usb-disk", "/media/usb/backups")).unwrap();
    assert_eq!((local.kind.as_str(), local.enabled, local.read_only), ("local", true, false));
    let mut s3 = NewDestination::new("wasabi", "s3:wasabi/my-backups/laptop?region=eu-central-2");
    s3.s3_access_key = Some("AKIAEXAMPLE".into());
    s3.secrets = DestinationSecrets::default();
    s3.secrets.s3_secret_key = Some(Secret::new(b"very-secret-s3-key-123".to_vec()));
    let created = catalog.create_destination(&s3).unwrap();
    assert_eq!(created.kind, "s3");
    assert!(created.url.contains("access-key=AKIAEXAMPLE") && !created.url.contains("very-secret"));

    // The repository password is generated: 256 bits, different per destination.
    let p1 = catalog.destination_password("usb-disk").unwrap();
    let p2 = catalog.destination_password("wasabi").unwrap();
    assert_eq!(p1.expose().len(), 64);
    assert_ne!(p1.expose(), p2.expose());
    // The URL comes back with its secret, ready to open.
    let DestinationUrl::S3(c) = catalog.destination_url("wasabi").unwrap() else { panic!() };
    assert_eq!(c.secret_key.expose(), b"very-secret-s3-key-123");
    assert_eq!(c.endpoint, "https://s3.eu-central-2.wasabisys.com");

    // Secrets are sealed at rest: neither appears in the database file.
    drop(catalog);
    let mut bytes = std::fs::read(dir.path().join("catalog.sqlite")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("catalog.sqlite-wal")) {
        bytes.extend(wal);
    }
    for secret in [&b"very-secret-s3-key-123"[..], p1.expose(), p2.expose()] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret), "a secret is stored in clear");
    }

    // Reopened with its key, everything is there.
    let catalog = open(dir.path());
    let names: Vec<String> = catalog.list_destinations().unwrap().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["usb-disk", "wasabi"]);
    assert_eq!(catalog.destination_password("usb-disk").unwrap().expose(), p1.expose());
    catalog.set_enabled("wasabi", false).unwrap();
    assert!(!catalog.get_destination("wasabi").unwrap().unwrap().enabled);
    catalog.record_test("usb-disk", true, "connect 1 ms, write 2 ms").unwrap();
    let (_, ok, report) = catalog.get_destination("usb-disk").unwrap().unwrap().last_test.unwrap();
    assert!(ok && report.contains("write"));
    catalog.delete_destination("wasabi").unwrap();
    assert!(catalog.get_destination("wasabi").unwrap().is_none());
    assert_eq!(catalog.destination_password("wasabi").unwrap_err().kind(), ErrorKind::NotFound);
    assert!(catalog.recovery_kit().expose().starts_with(b"cairn-catalog-key:"));
}

#[test]
fn bad_input_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    catalog.create_destination(&NewDestination::new("one", "/srv/one")).unwrap();
    let refuse = |d: NewDestination| {
        let e = catalog.create_destination(&d).unwrap_err();
        format!("{} {}", e, e.hint().unwrap_or(""))
    };
    assert!(refuse(NewDestination::new("one", "/srv/two")).contains("exists already"));
    assert!(refuse(NewDestination::new("bad name!", "/srv/x")).starts_with("name:"));
    assert!(refuse(NewDestination::new("s3", "s3:https://h.example/bucket/my dir")).starts_with("url:"));
    assert!(refuse(NewDestination::new("s3b", "s3:https://h.example/bucket")).contains("AWS_ACCESS_KEY_ID"));
    assert!(
        refuse(NewDestination::new("rest", "rest:https://me:pw@h.example/r")).contains("cannot be stored in the URL")
    );
    assert!(refuse(NewDestination::new("gopher", "gopher://x/y")).starts_with("url:"));
    assert_eq!(catalog.list_destinations().unwrap().len(), 1, "nothing half-saved");
}

#[test]
fn only_the_owner_changes_a_destination() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    let mut theirs = NewDestination::new("theirs", "/srv/theirs");
    theirs.owner = Some("someone-else".into());
    catalog.create_destination(&theirs).unwrap();
    for e in [catalog.set_enabled("theirs", false).unwrap_err(), catalog.delete_destination("theirs").unwrap_err()] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("belongs to someone-else"), "{e}");
    }
    let update = cairn_std::catalog::DestinationUpdate::default();
    assert_eq!(catalog.check_update("theirs", &update).unwrap_err().kind(), ErrorKind::PermissionDenied);
    // Its own user's destinations are theirs to change.
    catalog.create_destination(&NewDestination::new("mine", "/srv/mine")).unwrap();
    catalog.set_enabled("mine", false).unwrap();
    catalog.delete_destination("mine").unwrap();
}

#[test]
fn a_catalog_key_that_others_can_read_or_that_does_not_belong_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    catalog.create_destination(&NewDestination::new("one", "/srv/one")).unwrap();
    drop(catalog);
    let key = dir.path().join("catalog.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Catalog::open(&dir.path().join("catalog.sqlite"), &key).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(e.hint().unwrap().contains("chmod 600"));
    // Another key: the catalog opens, but its secrets do not, and the error says what to do.
    let other = dir.path().join("other.key");
    let catalog = Catalog::open(&dir.path().join("catalog.sqlite"), &other).unwrap();
    let e = catalog.destination_password("one").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.hint().unwrap().contains("recovery kit"));
}

/// Regression (found by the desktop app, whose commands open the catalog on threads of their
/// own): several first opens at the same moment raced on the migrations ("table meta already
/// exists"), on the key file and on the catalog's identity.
#[test]
fn a_new_catalog_opened_by_many_at_once_is_created_once() {
    // (Switching a new catalog to WAL once answered "busy" at once to all but one of them.)
    for _ in 0..25 {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let opened: Vec<_> = (0..8)
            .map(|_| {
                let (dir, barrier) = (dir.path().to_path_buf(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let c = Catalog::open(&dir.join("catalog.sqlite"), &dir.join("catalog.key"))?;
                    Ok::<_, cairn_std::Error>((c.catalog_id()?, c.recovery_kit().expose().to_vec()))
                })
            })
            .collect();
        let results: Vec<_> = opened.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        assert!(results.iter().all(|r| r == &results[0]), "one identity and one key for all");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("catalog.key."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(open(dir.path()).schema_version().unwrap(), 6);
    }
}

#[test]
fn a_create_interrupted_after_the_repository_was_made_works_when_run_again() {
    use cairn_std::health::{Owner, create_tested, test_destination};
    let t = tempfile::tempdir().unwrap();
    let catalog = open(t.path());
    let worker = cairn_std::ThreadWorker::new();
    let rt = cairn_std::runtime(&worker).unwrap();
    let new = NewDestination::new("disk", t.path().join("repo").to_str().unwrap());
    rt.block_on(async {
        // What a create does up to its Test, which initialises the repository; then the
        // process dies before the destination is saved.
        let candidate = catalog.check_new(&new).unwrap();
        catalog.keep_pending_password(&candidate).unwrap();
        let owner = Owner::new(&catalog.catalog_id().unwrap(), "disk");
        let report = test_destination(&candidate, &owner, &mut |_| {}).await;
        assert!(report.ok && report.initialised, "{report:?}");
        assert!(catalog.list_destinations().unwrap().is_empty());
        // Run again: the repository just made opens with the password kept for it.
        let saved = create_tested(&catalog, &new, 0, &mut |_| {}).await.unwrap();
        assert!(saved.report.ok, "{:?}", saved.report);
        assert!(!saved.report.initialised, "it found the repository the first run made");
        assert_eq!(catalog.destination_password("disk").unwrap().expose(), candidate.password.expose());
        // Saving dropped the kept password: a new destination elsewhere gets a new one.
        let other = NewDestination::new("other", t.path().join("repo").to_str().unwrap());
        catalog.delete_destination("disk").unwrap();
        assert_ne!(catalog.check_new(&other).unwrap().password.expose(), candidate.password.expose());
    });
}

/// Hostile catalog rows (issue 9): a row changed behind Cairn's back (by hand, a tool, or a
/// damaged page) gives an error naming what is wrong, never a panic.
#[test]
fn damaged_catalog_rows_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    let repo = dir.path().join("repo");
    catalog.create_destination(&NewDestination::new("good", repo.to_str().unwrap())).unwrap();
    drop(catalog);
    let db = rusqlite::Connection::open(dir.path().join("catalog.sqlite")).unwrap();
    db.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let rows = [
        "INSERT INTO destinations (name, kind, url, owner, password_secret, created) VALUES ('kind', 'zzz', '/x', 'me', 1, 0)",
        "INSERT INTO destinations (name, kind, url, owner, password_secret, created) VALUES ('url', 's3', 's3:nothing', 'me', 1, 0)",
        "INSERT INTO destinations (name, kind, url, owner, password_secret, created) VALUES ('secret', 'local', '/x', 'me', 999, 0)",
        "INSERT INTO secrets (id, nonce, sealed) VALUES (500, x'00', x'01')",
        "INSERT INTO destinations (name, kind, url, owner, password_secret, created) VALUES ('nonce', 'local', '/x', 'me', 500, 0)",
        "INSERT INTO secrets (id, nonce, sealed) VALUES (501, zeroblob(24), zeroblob(40))",
        "INSERT INTO destinations (name, kind, url, owner, password_secret, created, enabled) VALUES ('sealed', 'local', '/x', 'me', 501, 0, 'yes')",
        "INSERT INTO destinations (name, kind, url, owner, password_secret, created, last_test_report) VALUES ('report', 'local', '/y', 'me', 1, -9223372036854775808, x'ff00')",
    ];
    for sql in rows {
        db.execute_batch(sql).unwrap();
    }
    drop(db);
    let catalog = open(dir.path());
    let _ = catalog.list_destinations();
    for name in ["kind", "url", "secret", "nonce", "sealed", "report"] {
        let _ = catalog.get_destination(name);
        let _ = catalog.candidate(name);
        if let Err(e) = catalog.destination_password(name) {
            assert!(!e.to_string().is_empty());
        }
    }
    // The good one is unharmed.
    catalog.candidate("good").unwrap();
    assert_eq!(catalog.destination_password("good").unwrap().expose().len(), 64);
}
