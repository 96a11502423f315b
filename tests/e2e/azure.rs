//! The Azure Blob destination end to end: the real `cairn` binary against Azurite (which checks
//! SharedKey and SAS signatures), started on 127.0.0.1 for each test.

use std::fs;

use cairn_e2e::make_tree;
use cairn_e2e::servers::{AZURE_ACCOUNT, AZURE_ACCOUNT_KEY, AzuriteServer};

use crate::{cairn, cairn_home, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_in_an_azure_container() {
    let Some(server) = AzuriteServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let repo = server.repo_url("backups/laptop");
    let c = cairn(t.path()).env("AZURE_ACCOUNT_KEY", AZURE_ACCOUNT_KEY);
    let init = c.run([&["--json".to_string()][..], &init_args(&repo, 1)[..]].concat()).ok().json();
    assert_eq!(
        init["repository"],
        format!("azure:{AZURE_ACCOUNT}/{}/backups/laptop?endpoint={}", server.container, server.endpoint)
    );
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored"));

    // With a SAS token instead of the key.
    let sas = server.account_sas("rwdlac", "2099-01-01T00:00:00Z");
    let with_sas = cairn(t.path()).env("AZURE_ACCOUNT_SAS", &sas);
    with_sas.run(["check", "--repo", &repo]).ok();
    with_sas.run(["backup", "--repo", &repo, s(&src)]).ok();

    // A wrong key says what to fix, and is never printed.
    let wrong = "d3Jvbmcga2V5LCB3cm9uZyBrZXksIHdyb25nIGtleQ==";
    let refused = cairn(t.path()).env("AZURE_ACCOUNT_KEY", wrong).run(["snapshots", "--repo", &repo]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("storage account key"), "{}", refused.stderr);
    assert!(!refused.stderr.contains(wrong) && !refused.stdout.contains(wrong));
    // A read-only SAS token: reading works, a backup fails naming the missing permission.
    let read_only = cairn(t.path()).env("AZURE_ACCOUNT_SAS", &server.account_sas("rl", "2099-01-01T00:00:00Z"));
    read_only.run(["snapshots", "--repo", &repo]).ok();
    let no_write = read_only.run(["backup", "--repo", &repo, s(&src)]);
    assert_ne!(no_write.code, 0);
    assert!(no_write.stderr.contains("write (w)"), "{}", no_write.stderr);
    // No credentials at all.
    let none = cairn(t.path()).run(["snapshots", "--repo", &repo]);
    assert!(none.stderr.contains("AZURE_ACCOUNT_KEY"), "{}", none.stderr);
}

#[test]
fn an_azure_destination_made_field_by_field_creates_its_container_and_keeps_the_key_sealed() {
    let Some(server) = AzuriteServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 200_000);
    let c = cairn_home(t.path());
    let created = c
        .clone()
        .env("AZURE_ACCOUNT_KEY", AZURE_ACCOUNT_KEY)
        .run([
            "--json",
            "destination",
            "create",
            "--name",
            "azure",
            "--type",
            "azure",
            "--account",
            AZURE_ACCOUNT,
            "--container",
            "made-by-the-test",
            "--backup-dir",
            "laptop",
            "--endpoint",
            &server.endpoint,
            "--access-tier",
            "Cool",
        ])
        .ok()
        .json();
    let report = created["test"].to_string();
    assert!(report.contains("created the container made-by-the-test"), "{report}");
    // Later runs need no key in the environment: the catalog has it.
    c.run(["backup", "--destination", "azure", s(&src)]).ok();
    c.run(["check", "--destination", "azure", "--read-data"]).ok();
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--destination", "azure", "--target", s(&out)]).ok();
    assert!(cairn_e2e::diff_trees(&src, &out).is_empty());
    let catalog = t.path().join("home/.local/share/cairn/catalog.sqlite");
    let mut bytes = fs::read(&catalog).unwrap();
    bytes.extend(fs::read(catalog.with_extension("sqlite-wal")).unwrap_or_default());
    let key = AZURE_ACCOUNT_KEY.as_bytes();
    assert!(!bytes.windows(key.len()).any(|w| w == key), "the account key is stored in clear");

    // Field errors name their field.
    let bad =
        c.run(["destination", "create", "--name", "x", "--type", "azure", "--account", "Bad", "--container", "c"]);
    assert!(bad.stderr.contains("account:"), "{}", bad.stderr);
}
