//! The engine end to end on in-memory storage, source and target.

mod support;

use bytes::Bytes;
use cairn_core::*;
use support::*;

fn sample_fs() -> MemFs {
    let mut fs = MemFs::new();
    fs.add(b"/data/docs/readme.txt", MemEntry::File(b"hello, world\n".repeat(1000)));
    fs.add(b"/data/docs/empty", MemEntry::File(Vec::new()));
    fs.add(b"/data/big.bin", MemEntry::File(pseudo_random(1, 700_000)));
    fs.add(b"/data/dup.bin", MemEntry::File(pseudo_random(1, 700_000)));
    fs.add(b"/data/n\xffame-not-utf8", MemEntry::File(b"bytes".to_vec()));
    fs.add(b"/data/link", MemEntry::Symlink(b"../etc/passwd".to_vec()));
    fs.add(b"/data/pipe", MemEntry::Fifo);
    fs.add(b"/data/deep/a/b/c/d", MemEntry::File(b"deep".to_vec()));
    fs.add(b"/other/x", MemEntry::File(b"x".to_vec()));
    fs
}

fn backup_opts(paths: &[&[u8]], parent: Option<SnapshotId>, secs: i64) -> BackupOptions {
    let mut o = BackupOptions::default();
    o.paths = paths.iter().map(|p| p.to_vec()).collect();
    o.parent = parent;
    o.time = Timestamp::new(secs, 0);
    o.hostname = "host".into();
    o.index_every_packs = 2;
    o
}

/// Backs up with the inline worker (the engine tests run on one thread).
async fn run_backup<S: Storage>(
    repo: &Repository<S>,
    index: &mut Index,
    fs: &mut MemFs,
    rng: &mut TestRng,
    progress: &mut impl Progress,
    options: &BackupOptions,
) -> Result<BackupResults, Error> {
    backup(repo, index, fs, &InlineWorker, rng, progress, options).await
}

fn restored_files(t: &MemTarget) -> Vec<(Vec<u8>, MemEntry)> {
    t.entries.iter().map(|(p, (e, _))| (p.clone(), e.clone())).collect()
}

/// Checks that every file of `fs` was restored into `target` (which restores the whole tree)
/// with its contents; returns how many files there were.
fn assert_files_restored(fs: &MemFs, target: &MemTarget) -> usize {
    let mut files = 0;
    for (path, (entry, _)) in &fs.entries {
        if let MemEntry::File(_) = entry {
            files += 1;
            let restored = target.entries.get(&path[1..]).map(|(e, _)| e);
            assert_eq!(restored, Some(entry), "{}", String::from_utf8_lossy(path));
        }
    }
    files
}

#[test]
fn restore_announces_files_ahead_in_order_and_queues_few() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(9);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        // More empty files than the restorer queues (they add nothing to its byte window),
        // between files with contents, one of them large enough to span several blobs.
        let mut fs = MemFs::new();
        fs.add(b"/d/a-first", MemEntry::File(pseudo_random(2, 600_000)));
        for i in 0..5000 {
            fs.add(format!("/d/b-empty-{i:05}").as_bytes(), MemEntry::File(Vec::new()));
        }
        for i in 0..300 {
            fs.add(format!("/d/c-small-{i:03}").as_bytes(), MemEntry::File(format!("file {i}").into_bytes()));
        }
        fs.add(b"/e/z", MemEntry::File(pseudo_random(3, 2_000_000)));
        let done = run_backup(&repo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/"], None, 1))
            .await
            .unwrap();
        let mut target = MemTarget::default();
        let stats =
            restore(&repo, &index, &done.snapshot, b"/", &mut target, &InlineWorker, &mut NoProgress).await.unwrap();
        assert_eq!((stats.files, stats.errors), (5302, 0));
        for (path, (entry, _)) in &fs.entries {
            if matches!(entry, MemEntry::File(_)) {
                assert_eq!(target.entries.get(&path[1..]).map(|e| &e.0), Some(entry), "{}", DisplayPath(path));
            }
        }
        // Every file was announced, created in that order, with a bounded number ahead.
        assert_eq!(target.unannounced, 0);
        assert!(target.announced.is_empty());
        assert!((2..=32).contains(&target.most_ahead), "{}", target.most_ahead);
    })
}

#[test]
fn backup_restore_round_trip_and_incremental_reads_nothing() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(7);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        let mut fs = sample_fs();
        let mut rec = Recorder::default();
        let first = run_backup(
            &repo,
            &mut index,
            &mut fs,
            &mut rng,
            &mut rec,
            &backup_opts(&[b"/data", b"/other/x"], None, 1000),
        )
        .await
        .unwrap();
        let s = first.snapshot.stats;
        assert_eq!(s.files_new, 7, "{s:?}");
        // Every non-empty file of a listed directory was announced before it was read (/other/x
        // is a backed-up path of its own, not listed).
        let mut hinted = fs.hinted.take();
        hinted.sort();
        let expected: Vec<Vec<u8>> = fs
            .entries
            .iter()
            .filter(|(p, (e, _))| p.starts_with(b"/data/") && matches!(e, MemEntry::File(d) if !d.is_empty()))
            .map(|(p, _)| p.clone())
            .collect();
        assert_eq!(hinted, expected);
        assert_eq!(s.skipped, 1);
        assert_eq!(s.symlinks, 1);
        assert_eq!(s.bytes_read, 13000 + 1_400_000 + 5 + 4 + 1);
        assert!(rec.warnings.iter().any(|w| w.contains("FIFO skipped")), "{:?}", rec.warnings);
        // The duplicate file is stored once: fewer new bytes than read.
        assert!(s.bytes_added_raw < 900_000, "{s:?}");
        assert!(s.index_files_written >= 2, "index objects written as we go: {s:?}");

        // Restore everything and compare.
        let mut target = MemTarget::default();
        let stats =
            restore(&repo, &index, &first.snapshot, b"/", &mut target, &InlineWorker, &mut NoProgress).await.unwrap();
        assert_eq!(stats.errors, 0);
        for (path, (entry, meta)) in &fs.entries {
            if path == b"/" || *entry == MemEntry::Fifo || path.starts_with(b"/other") && path != b"/other/x" {
                continue;
            }
            let rel = &path[1..];
            let (got, got_meta) = target.entries.get(rel).unwrap_or_else(|| panic!("{} missing", DisplayPath(rel)));
            assert_eq!(got, entry, "{}", DisplayPath(rel));
            if path.starts_with(b"/data") || path == b"/other/x" {
                let got_meta = got_meta.as_ref().unwrap();
                assert_eq!((got_meta.mode, got_meta.mtime, got_meta.uid), (meta.mode, meta.mtime, meta.uid));
            }
        }
        assert!(!target.entries.contains_key(&b"data/pipe"[..]));

        // Second backup with the first as parent: nothing read, only a snapshot written.
        let before = store.handles();
        let opened = fs.opened.get();
        let second = run_backup(
            &repo,
            &mut index,
            &mut fs,
            &mut rng,
            &mut NoProgress,
            &backup_opts(&[b"/data", b"/other/x"], Some(first.snapshot_id), 2000),
        )
        .await
        .unwrap();
        let s2 = second.snapshot.stats;
        assert_eq!(s2.bytes_read, 0, "{s2:?}");
        assert_eq!(fs.opened.get(), opened, "no file was opened");
        assert!(fs.hinted.borrow().is_empty(), "no file was announced for reading");
        assert_eq!(s2.files_unmodified, 7);
        assert_eq!((s2.packs_written, s2.index_files_written, s2.data_blobs_new, s2.tree_blobs_new), (0, 0, 0, 0));
        assert_eq!(second.snapshot.tree, first.snapshot.tree);
        let added: Vec<Handle> = store.handles().into_iter().filter(|h| !before.contains(h)).collect();
        assert_eq!(added, vec![Handle::new(FileKind::Snapshot, second.snapshot_id)]);

        // Change one file: only it is read again.
        fs.touch(b"/data/docs/readme.txt", b"changed".to_vec());
        let third = run_backup(
            &repo,
            &mut index,
            &mut fs,
            &mut rng,
            &mut NoProgress,
            &backup_opts(&[b"/data", b"/other/x"], Some(second.snapshot_id), 3000),
        )
        .await
        .unwrap();
        assert_eq!(third.snapshot.stats.files_changed, 1);
        assert_eq!(third.snapshot.stats.bytes_read, 7);
        assert_eq!(fs.hinted.take(), vec![b"/data/docs/readme.txt".to_vec()], "only the changed file is announced");

        // Sub-path restore: a directory's contents, and a single file.
        let mut t = MemTarget::default();
        restore(&repo, &index, &third.snapshot, b"/data/docs", &mut t, &InlineWorker, &mut NoProgress).await.unwrap();
        assert_eq!(
            restored_files(&t),
            vec![
                (b"empty".to_vec(), MemEntry::File(vec![])),
                (b"readme.txt".to_vec(), MemEntry::File(b"changed".to_vec()))
            ]
        );
        let mut t = MemTarget::default();
        restore(&repo, &index, &first.snapshot, b"/data/docs/readme.txt", &mut t, &InlineWorker, &mut NoProgress)
            .await
            .unwrap();
        assert_eq!(restored_files(&t), vec![(b"readme.txt".to_vec(), MemEntry::File(b"hello, world\n".repeat(1000)))]);
        assert!(matches!(
            restore(&repo, &index, &first.snapshot, b"/data/nope", &mut t, &InlineWorker, &mut NoProgress).await,
            Err(Error::PathNotFound { .. })
        ));

        // ls
        let mut seen = Vec::new();
        walk(&repo, &index, first.snapshot.tree, b"/data/docs", &mut |p, _| seen.push(p.to_vec())).await.unwrap();
        assert_eq!(seen, vec![b"/data/docs".to_vec(), b"/data/docs/empty".to_vec(), b"/data/docs/readme.txt".to_vec()]);

        // Snapshot lookup.
        assert_eq!(repo.find_snapshot("latest").await.unwrap().0, third.snapshot_id);
        let prefix = &first.snapshot_id.to_hex()[..10];
        assert_eq!(repo.find_snapshot(prefix).await.unwrap().0, first.snapshot_id);
        assert!(matches!(repo.find_snapshot("zz").await, Err(Error::SnapshotNotFound { .. })));

        // A fresh check passes, with data.
        let mut o = CheckOptions::default();
        o.read_data = true;
        let r = check(&repo, &InlineWorker, &mut NoProgress, &o).await.unwrap();
        assert_eq!(r.errors(), 0, "{:?}", r.problems);
        assert!(r.stats.packs_read > 2);
    });
}

#[test]
fn wrong_password_missing_repository_and_keys() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(1);
        assert!(matches!(Repository::open(&store, b"pw").await, Err(Error::NotInitialized)));
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        assert!(matches!(
            Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await,
            Err(Error::AlreadyInitialized)
        ));
        assert!(matches!(Repository::open(&store, b"nope").await, Err(Error::WrongPassword)));
        // A second password opens the same repository; the last key cannot be removed.
        let master = repo.master_key(b"pw").await.unwrap();
        let second = repo
            .add_key(&master, b"second", KdfParams::INSECURE_FOR_TESTS, KeyInfo::default(), &mut rng)
            .await
            .unwrap();
        let again = Repository::open(&store, b"second").await.unwrap();
        assert_eq!(again.config().id, repo.config().id);
        assert_eq!(repo.list_keys().await.unwrap().len(), 2);
        repo.remove_key(repo.key_id()).await.unwrap();
        assert!(matches!(Repository::open(&store, b"pw").await, Err(Error::WrongPassword)));
        assert!(matches!(again.remove_key(second).await, Err(Error::LastKey)));
    });
}

#[test]
fn flipped_byte_in_any_pack_is_found_and_named() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(3);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        let mut fs = sample_fs();
        run_backup(&repo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/data"], None, 1))
            .await
            .unwrap();
        let packs: Vec<PackInfo> = index.packs().to_vec();
        let mut o = CheckOptions::default();
        o.read_data = true;
        let mut flips = 0;
        for (n, pack) in packs.iter().enumerate() {
            let handle = Handle::new(FileKind::Pack, pack.id);
            let original = store.get(&handle).unwrap();
            // A few positions per pack: inside blobs, in the header, in the length trailer.
            let len = original.len();
            for pos in [0, len / 3, len / 2, len - 30, len - 2].into_iter().chain([(n * 7919) % len]) {
                let mut bad = original.to_vec();
                bad[pos] ^= 0x40;
                store.put_raw(handle, Bytes::from(bad));
                let r = check(&repo, &InlineWorker, &mut NoProgress, &o).await.unwrap();
                let text: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
                assert!(r.errors() > 0, "flip at {pos} of pack {} not found", pack.id);
                assert!(text.iter().any(|t| t.contains(&pack.id.to_hex())), "{text:?}");
                // A flip inside a blob names the blob and a path that uses it.
                let entry = index.iter().find(|(_, _, loc)| {
                    loc.pack == pack.id && (loc.offset as usize..(loc.offset + loc.length) as usize).contains(&pos)
                });
                if let Some((_, blob, _)) = entry {
                    let named = text
                        .iter()
                        .any(|t| t.contains(&blob.to_hex()) && t.contains("used by snapshot") && t.contains("/data"));
                    assert!(named, "blob {blob} and its file not named: {text:?}");
                }
                flips += 1;
            }
            store.put_raw(handle, original);
        }
        assert!(flips >= 6);
        // Restoring with a damaged data blob: the file is restored with a zeroed hole and named.
        let (_, snap) = repo.find_snapshot("latest").await.unwrap();
        let (_, blob, loc) = index.iter().find(|(t, _, _)| *t == BlobType::Data).unwrap();
        let handle = Handle::new(FileKind::Pack, loc.pack);
        let mut bad = store.get(&handle).unwrap().to_vec();
        bad[loc.offset as usize + 30] ^= 1;
        store.put_raw(handle, Bytes::from(bad));
        let mut target = MemTarget::default();
        let mut rec = Recorder::default();
        let stats = restore(&repo, &index, &snap, b"/", &mut target, &InlineWorker, &mut rec).await.unwrap();
        assert!(stats.errors >= 1);
        assert!(rec.warnings.iter().any(|w| w.contains(&blob.to_hex()) && w.contains("damaged")), "{:?}", rec.warnings);
        assert!(target.entries.contains_key(&b"data/docs/empty"[..]));
    });
}

#[test]
fn interrupted_backup_leaves_a_valid_repository_and_the_next_one_reuses_its_packs() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(5);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut fs = MemFs::new();
        for i in 0..40u64 {
            fs.add(format!("/d/f{i}").as_bytes(), MemEntry::File(pseudo_random(i + 10, 50_000)));
        }
        // Fail after a dozen writes: some packs and index objects are stored, no snapshot.
        let flaky = Flaky::new(&store, Some(11));
        let frepo = Repository::open(&flaky, b"pw").await.unwrap();
        let mut index = frepo.load_index().await.unwrap();
        let err = run_backup(&frepo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/d"], None, 1))
            .await
            .unwrap_err();
        assert_eq!(err.io_kind(), Some(IoErrorKind::Unavailable));
        assert!(repo.list_snapshots().await.unwrap().is_empty());
        let r = check(&repo, &InlineWorker, &mut NoProgress, &CheckOptions::default()).await.unwrap();
        assert_eq!(r.errors(), 0, "{:?}", r.problems);
        let indexed_before = repo.load_index().await.unwrap().len();
        assert!(indexed_before > 0, "index objects were written as the backup went");

        let mut index = repo.load_index().await.unwrap();
        let done = run_backup(&repo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/d"], None, 2))
            .await
            .unwrap();
        let s = done.snapshot.stats;
        assert!(s.packs_adopted >= 1, "packs stored after the last index object are adopted: {s:?}");
        assert!(s.data_blobs_new < 40 * 50_000 / 4096, "{s:?}");
        assert!(s.bytes_added_raw < 2_000_000 - (indexed_before as u64 - 5) * 4096, "reused what was uploaded: {s:?}");
        let mut o = CheckOptions::default();
        o.read_data = true;
        let r = check(&repo, &InlineWorker, &mut NoProgress, &o).await.unwrap();
        assert_eq!(r.errors(), 0, "{:?}", r.problems);
    });
}

#[test]
fn hostile_trees_never_escape_the_target() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(9);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        let mut fs = MemFs::new();
        fs.add(b"/x/ok", MemEntry::File(b"fine".to_vec()));
        let first = run_backup(&repo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/x"], None, 1))
            .await
            .unwrap();
        // Craft a tree with escaping and duplicate names that reuses the good file's content.
        let root = repo.load_tree(&index, first.snapshot.tree).await.unwrap();
        let x = repo.load_tree(&index, root.nodes[0].subtree().unwrap()).await.unwrap();
        let ok = x.nodes[0].clone();
        let mut evil = Vec::new();
        for name in [&b"../escape"[..], b"/abs", b"..", b"a/b", b"", b"dup", b"dup", b"ok"] {
            let mut n = ok.clone();
            n.name = name.to_vec();
            evil.push(n);
        }
        let tree = Tree { nodes: evil };
        let bytes = tree.encode();
        let id = repo.keys().blob_id(&bytes);
        let sealed = seal_blob(repo.keys(), BlobType::Tree, id, &bytes, Compression::DEFAULT, &[3; 24]);
        let mut builder = PackBuilder::new(BlobType::Tree);
        builder.add(sealed);
        let pack = builder.finish(repo.keys(), &[4; 24]);
        store.put_raw(Handle::new(FileKind::Pack, pack.id), Bytes::from(pack.bytes.clone()));
        let blobs: Vec<IndexBlob> = pack.entries.iter().map(|e| IndexBlob::from(*e)).collect();
        index.add_pack(pack.id, BlobType::Tree, pack.bytes.len() as u64, &blobs).unwrap();
        let mut snap = first.snapshot.clone();
        snap.tree = id;
        let mut target = MemTarget::default();
        let mut rec = Recorder::default();
        let stats = restore(&repo, &index, &snap, b"/", &mut target, &InlineWorker, &mut rec).await.unwrap();
        // Only "dup" (once) and "ok" are restored; every other entry is refused with a warning.
        assert_eq!(
            restored_files(&target).into_iter().map(|(p, _)| p).collect::<Vec<_>>(),
            vec![b"dup".to_vec(), b"ok".to_vec()]
        );
        assert_eq!(stats.errors, 6, "{:?}", rec.warnings);
    });
}

#[test]
fn unknown_mandatory_feature_refuses_to_open() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(11);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut config = repo.config().clone();
        config.optional_features.push("shiny-optional".into());
        let sealed = seal_object(repo.keys(), label::CONFIG, &config.encode(), Compression::OFF, &[1; 24]);
        store.put_raw(Handle::CONFIG, Bytes::from(sealed));
        Repository::open(&store, b"pw").await.expect("unknown optional features are ignored");
        config.mandatory_features.push("needs-v9".into());
        let sealed = seal_object(repo.keys(), label::CONFIG, &config.encode(), Compression::OFF, &[1; 24]);
        store.put_raw(Handle::CONFIG, Bytes::from(sealed));
        match Repository::open(&store, b"pw").await {
            Err(Error::UnknownMandatoryFeature { name }) => assert_eq!(name, "needs-v9"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn index_costs_48_bytes_per_blob() {
    let files: Vec<IndexFile> = (0..50u32)
        .map(|p| {
            IndexFile::of(vec![IndexPack {
                id: PackId(Id([p as u8; 32])),
                blob_type: BlobType::Data,
                size: u64::from(u32::MAX),
                blobs: (0..2000u32)
                    .map(|i| {
                        let mut id = [0u8; 32];
                        id[..4].copy_from_slice(&(p * 2000 + i).to_le_bytes());
                        id[4..8].copy_from_slice(&i.wrapping_mul(2654435761).to_le_bytes());
                        IndexBlob { id: BlobId(Id(id)), offset: i * 100, length: 90, raw_len: 100 }
                    })
                    .collect(),
            }])
        })
        .collect::<Vec<_>>();
    let index = Index::from_files(files.iter()).unwrap();
    let m = index.memory();
    assert_eq!(m.blobs, 100_000);
    assert_eq!(m.blob_bytes, 48 * 100_000);
    println!(
        "index: {} blobs, {} bytes of entries ({} per blob), {} bytes of pack table",
        m.blobs,
        m.blob_bytes,
        m.blob_bytes / m.blobs,
        m.pack_bytes
    );
}

#[test]
fn restore_reads_each_pack_once() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(11);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        // Many files of several chunks, some repeated, over many 64 KiB packs.
        let mut fs = MemFs::new();
        for i in 0..60u64 {
            let name = format!("/d/{}/f{i:03}", i % 7);
            fs.add(name.as_bytes(), MemEntry::File(pseudo_random(i % 45, 20_000 + (i as usize) * 1_500)));
        }
        let snap = run_backup(&repo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/d"], None, 5))
            .await
            .unwrap();
        // 15 of the 60 files repeat another's bytes: stored once.
        let s = snap.snapshot.stats;
        assert_eq!(s.files_new, 60);
        assert!(s.bytes_added_raw < s.bytes_read, "{s:?}");

        let flaky = Flaky::new(&store, None);
        let repo = Repository::open(&flaky, b"pw").await.unwrap();
        let index = repo.load_index().await.unwrap();
        let data_packs = index.packs().iter().filter(|p| p.blob_type == BlobType::Data).count();
        assert!(data_packs > 10, "{data_packs}");
        flaky.reads.borrow_mut().clear();
        let mut target = MemTarget::default();
        let stats =
            restore(&repo, &index, &snap.snapshot, b"/", &mut target, &InlineWorker, &mut NoProgress).await.unwrap();
        assert_eq!((stats.files, stats.errors), (60, 0));
        let reads = flaky.reads.borrow();
        let is_data = |h: &&Handle| {
            h.kind == FileKind::Pack && index.pack(&PackId(h.id)).is_some_and(|p| p.blob_type == BlobType::Data)
        };
        let pack_reads: Vec<_> = reads.iter().filter(is_data).collect();
        let mut distinct = pack_reads.clone();
        distinct.sort_by_key(|h| h.id);
        distinct.dedup();
        assert_eq!(pack_reads.len(), distinct.len(), "every pack read once");
        assert_eq!(distinct.len(), data_packs);
        assert_eq!(assert_files_restored(&fs, &target), 60);
    })
}

#[test]
fn a_key_left_by_an_interrupted_init_does_not_stop_the_repository_from_opening() {
    block_on(async {
        // An init interrupted after writing its key, before its config, then run again at the
        // same place with the same password (as a destination create run again does): two keys
        // open with the password, and only one of them opens the config.
        let store = MemoryBackend::new();
        let orphan = MemoryBackend::new();
        Repository::init(&orphan, b"pw", &small_repo_options(), &mut TestRng(1)).await.unwrap();
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut TestRng(2)).await.unwrap();
        let config_id = repo.config().id;
        for key in orphan.list(FileKind::Key).await.unwrap() {
            let h = Handle::new(FileKind::Key, key.id);
            let bytes = orphan.read(&h, ReadRange::All { max_len: 1 << 20 }).await.unwrap();
            store.write(&h, bytes, WriteMode::CreateNew).await.unwrap();
        }
        assert_eq!(store.list(FileKind::Key).await.unwrap().len(), 2);
        let opened = Repository::open(&store, b"pw").await.unwrap();
        assert_eq!(opened.config().id, config_id);
        // A config that no key opens is still reported as damaged.
        let other = MemoryBackend::new();
        Repository::init(&other, b"pw", &small_repo_options(), &mut TestRng(3)).await.unwrap();
        let foreign = other.read(&Handle::CONFIG, ReadRange::All { max_len: 1 << 20 }).await.unwrap();
        store.write(&Handle::CONFIG, foreign, WriteMode::Replace).await.unwrap();
        for key in other.list(FileKind::Key).await.unwrap() {
            store.remove(&Handle::new(FileKind::Key, key.id)).await.ok();
        }
        let err = Repository::open(&store, b"pw").await.err().unwrap();
        assert!(err.to_string().contains("config"), "{err}");
    });
}

#[test]
fn restore_reuses_its_buffers_and_opens_a_repeated_blob_once_per_read() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(17);
        let mut options = small_repo_options();
        // Chunks and packs large enough for the restorer to keep and reuse its buffers.
        options.chunk_sizes = (64 * 1024, 128 * 1024, 512 * 1024);
        options.pack_size = 1024 * 1024;
        let repo = Repository::init(&store, b"pw", &options, &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        let mut fs = MemFs::new();
        // Files of every size, half of them compressible, several repeating others: the same
        // blob is fetched twice from one span.
        for i in 0..40u64 {
            let mut data = pseudo_random(i % 29, 1_000 + (i as usize * 37_000) % 900_000);
            if i % 2 == 0 {
                data.iter_mut().for_each(|b| *b %= 8);
            }
            fs.add(format!("/d/f{i:02}").as_bytes(), MemEntry::File(data));
        }
        let small = pseudo_random(999, 10_000);
        fs.add(b"/d/twin-a", MemEntry::File(small.clone()));
        fs.add(b"/d/twin-b", MemEntry::File(small.clone()));
        let snap = run_backup(&repo, &mut index, &mut fs, &mut rng, &mut NoProgress, &backup_opts(&[b"/d"], None, 5))
            .await
            .unwrap()
            .snapshot;
        for _ in 0..2 {
            let mut target = MemTarget::default();
            let stats = restore(&repo, &index, &snap, b"/", &mut target, &InlineWorker, &mut NoProgress).await.unwrap();
            assert_eq!((stats.files, stats.errors), (42, 0));
            assert_files_restored(&fs, &target);
        }

        // A damaged repeated blob is reported for each file that uses it; the rest restores.
        let id = repo.keys().blob_id(&small);
        let loc = index.get(BlobType::Data, &id).unwrap();
        let handle = Handle::new(FileKind::Pack, loc.pack);
        let original = store.get(&handle).unwrap();
        let mut bad = original.to_vec();
        bad[loc.offset as usize + 100] ^= 4;
        store.put_raw(handle, Bytes::from(bad));
        let mut target = MemTarget::default();
        let mut rec = Recorder::default();
        let stats = restore(&repo, &index, &snap, b"/", &mut target, &InlineWorker, &mut rec).await.unwrap();
        let about = |name: &str| rec.warnings.iter().filter(|w| w.contains(name) && w.contains(&id.to_hex())).count();
        assert_eq!((about("twin-a"), about("twin-b")), (1, 1), "{:?}", rec.warnings);
        assert_eq!(stats.errors, 2, "{:?}", rec.warnings);
        for twin in [&b"d/twin-a"[..], b"d/twin-b"] {
            assert_eq!(target.entries.get(twin).map(|(e, _)| e), Some(&MemEntry::File(vec![0; small.len()])));
        }
        store.put_raw(handle, original);
    })
}
