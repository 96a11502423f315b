//! Diff, partial data checks, index rebuilding and snapshot repair on in-memory storage.

mod support;

use std::collections::BTreeSet;

use cairn_core::*;
use support::*;

fn options(time: i64, parent: Option<SnapshotId>) -> BackupOptions {
    let mut o = BackupOptions::default();
    o.paths = vec![b"/d".to_vec()];
    o.hostname = "h".into();
    o.time = Timestamp::new(time, 0);
    o.parent = parent;
    o
}

fn tree_fs() -> MemFs {
    let mut fs = MemFs::new();
    fs.add(b"/d/keep", MemEntry::File(pseudo_random(1, 50_000)));
    fs.add(b"/d/gone", MemEntry::File(pseudo_random(2, 30_000)));
    fs.add(b"/d/edit", MemEntry::File(pseudo_random(3, 20_000)));
    fs.add(b"/d/chmod", MemEntry::File(pseudo_random(4, 1_000)));
    fs.add(b"/d/becomes-dir", MemEntry::File(pseudo_random(5, 1_000)));
    fs.add(b"/d/link", MemEntry::Symlink(b"keep".to_vec()));
    for i in 0..20 {
        fs.add(format!("/d/same/sub{i}/f").as_bytes(), MemEntry::File(pseudo_random(100 + i, 2_000)));
    }
    fs
}

#[test]
fn diff_lists_every_kind_of_change_and_skips_identical_subtrees() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(1);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        let mut fs = tree_fs();
        let a = backup(&repo, &mut index, &mut fs, &InlineWorker, &mut rng, &mut NoProgress, &options(1, None))
            .await
            .unwrap();
        fs.entries.remove(&b"/d/gone"[..]);
        fs.touch(b"/d/edit", pseudo_random(30, 25_000));
        fs.entries.get_mut(&b"/d/chmod"[..]).unwrap().1.mode = 0o600;
        fs.entries.remove(&b"/d/becomes-dir"[..]);
        fs.add(b"/d/becomes-dir/inner", MemEntry::File(pseudo_random(6, 10)));
        fs.entries.insert(b"/d/link".to_vec(), (MemEntry::Symlink(b"edit".to_vec()), meta(0o777, 900)));
        fs.add(b"/d/new", MemEntry::File(pseudo_random(7, 4_000)));
        let b = backup(
            &repo,
            &mut index,
            &mut fs,
            &InlineWorker,
            &mut rng,
            &mut NoProgress,
            &options(2, Some(a.snapshot_id)),
        )
        .await
        .unwrap();
        let index = repo.load_index().await.unwrap();
        let (sa, sb) = (a.snapshot.tree, b.snapshot.tree);
        let mut seen = Vec::new();
        let stats = diff(&repo, &index, &DiffSide::Tree(sa), &DiffSide::Tree(sb), &mut |e| {
            seen.push((String::from_utf8(e.path.to_vec()).unwrap(), e.change.code()))
        })
        .await
        .unwrap();
        let expected: Vec<(String, char)> = [
            ("/d", 'U'),
            ("/d/becomes-dir", 'T'),
            ("/d/becomes-dir/inner", '+'),
            ("/d/chmod", 'U'),
            ("/d/edit", 'M'),
            ("/d/gone", '-'),
            ("/d/link", 'M'),
            ("/d/new", '+'),
        ]
        .iter()
        .map(|(p, c)| (p.to_string(), *c))
        .collect();
        // The directory /d itself changed metadata only if its mtime moved; MemFs keeps it, so
        // drop that line if absent.
        let seen: Vec<_> = seen.into_iter().filter(|(p, _)| p != "/d").collect();
        let expected: Vec<_> = expected.into_iter().filter(|(p, _)| p != "/d").collect();
        assert_eq!(seen, expected);
        assert_eq!(stats.added, 2);
        assert_eq!(stats.removed, 1);
        assert_eq!(stats.modified, 2);
        assert_eq!(stats.type_changed, 1);
        assert_eq!(stats.metadata, 1);
        assert_eq!(stats.bytes_added, 4_010);
        assert_eq!(stats.bytes_removed, 30_000);
        assert_eq!((stats.bytes_modified_old, stats.bytes_modified_new), (20_000, 25_000));
        // root, /d and the new /d/becomes-dir on the new side; root and /d on the old side; the
        // twenty unchanged directories below /d/same are never loaded.
        assert_eq!(stats.trees_loaded, 5, "{stats:?}");

        // A snapshot against itself: nothing, and only no tree read.
        let none = diff(&repo, &index, &DiffSide::Tree(sb), &DiffSide::Tree(sb), &mut |_| panic!()).await.unwrap();
        assert_eq!(none, DiffStats::default());
    })
}

async fn repo_with_packs(store: &MemoryBackend) -> Repository<&MemoryBackend> {
    let mut rng = TestRng(2);
    let repo = Repository::init(store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
    let mut index = repo.load_index().await.unwrap();
    let mut fs = MemFs::new();
    for i in 0..40 {
        fs.add(format!("/d/f{i:02}").as_bytes(), MemEntry::File(pseudo_random(200 + i, 40_000)));
    }
    backup(&repo, &mut index, &mut fs, &InlineWorker, &mut rng, &mut NoProgress, &options(1, None)).await.unwrap();
    repo
}

async fn packs_read(repo: &Repository<&MemoryBackend>, subset: DataSubset) -> CheckStats {
    let mut o = CheckOptions::default();
    o.read_data_subset = Some(subset);
    let r = check(repo, &InlineWorker, &mut NoProgress, &o).await.unwrap();
    assert_eq!(r.errors(), 0);
    r.stats
}

#[test]
fn partial_data_checks_cover_every_pack_over_successive_runs() {
    block_on(async {
        let store = MemoryBackend::new();
        let repo = repo_with_packs(&store).await;
        let index = repo.load_index().await.unwrap();
        let total = index.packs().len() as u64;
        assert!(total >= 10, "{total} packs");
        let total_bytes: u64 = index.packs().iter().map(|p| p.size).sum();

        // Parts 1..=5 read every pack exactly once between them.
        let mut sum = 0;
        let mut bytes = 0;
        for n in 1..=5 {
            let st = packs_read(&repo, DataSubset::Part { n, of: 5 }).await;
            assert!(st.packs_read < total, "part {n} read {} of {total}", st.packs_read);
            sum += st.packs_read;
            bytes += st.bytes_read;
        }
        assert_eq!((sum, bytes), (total, total_bytes));

        // 10% windows: ten runs, each continuing where the last stopped, read every pack.
        let mut after = None;
        let mut covered = BTreeSet::new();
        let mut sorted: Vec<PackId> = index.packs().iter().map(|p| p.id).collect();
        sorted.sort();
        for _ in 0..10 {
            let limit = WindowLimit::PartsPerMillion(100_000);
            let st = packs_read(&repo, DataSubset::Window { after, limit }).await;
            assert_eq!(st.packs_read, total.div_ceil(10));
            let last = st.subset_last.unwrap();
            let end = sorted.iter().position(|p| *p == last).unwrap();
            let start = after.map_or(0, |a| sorted.iter().position(|p| *p == a).unwrap() + 1) % sorted.len();
            for i in 0..st.packs_read as usize {
                covered.insert(sorted[(start + i) % sorted.len()]);
            }
            assert_eq!(sorted[(start + st.packs_read as usize - 1) % sorted.len()], sorted[end]);
            after = Some(last);
        }
        assert_eq!(covered.len() as u64, total);

        // A byte budget: packs until the budget is reached, at least one.
        let st = packs_read(&repo, DataSubset::Window { after: None, limit: WindowLimit::Bytes(1) }).await;
        assert_eq!(st.packs_read, 1);
        let st =
            packs_read(&repo, DataSubset::Window { after: None, limit: WindowLimit::Bytes(total_bytes / 2) }).await;
        assert!(st.bytes_read >= total_bytes / 2 && st.packs_read < total, "{st:?}");
    })
}

async fn assert_clean(repo: &Repository<&MemoryBackend>) {
    let mut o = CheckOptions::default();
    o.read_data = true;
    let r = check(repo, &InlineWorker, &mut NoProgress, &o).await.unwrap();
    assert_eq!(r.errors(), 0, "{:#?}", r.problems);
}

#[test]
fn rebuilding_the_index_after_losing_every_index_object_restores_full_function() {
    block_on(async {
        let store = MemoryBackend::new();
        let repo = repo_with_packs(&store).await;
        let before = repo.load_index().await.unwrap();
        for h in store.handles().into_iter().filter(|h| h.kind == FileKind::Index) {
            store.remove(&h).await.unwrap();
        }
        let r = check(&repo, &InlineWorker, &mut NoProgress, &CheckOptions::default()).await.unwrap();
        assert!(r.errors() > 0);
        let mut rng = TestRng(9);
        let results = rebuild_index(&repo, &mut rng, &mut NoProgress).await.unwrap();
        assert_eq!(results.packs_indexed, before.packs().len() as u64);
        assert_eq!(results.blobs_indexed, before.len() as u64);
        assert!(results.packs_unreadable.is_empty());
        let after = repo.load_index().await.unwrap();
        assert_eq!(after.len(), before.len());
        assert_clean(&repo).await;

        // A damaged pack header: that pack is reported and left out, the rest is indexed.
        let victim = store.handles().into_iter().find(|h| h.kind == FileKind::Pack).unwrap();
        let mut bytes = store.get(&victim).unwrap().to_vec();
        let n = bytes.len();
        bytes[n - 10] ^= 1;
        store.put_raw(victim, bytes.into());
        let results = rebuild_index(&repo, &mut rng, &mut NoProgress).await.unwrap();
        assert_eq!(results.packs_unreadable.len(), 1);
        assert_eq!(results.packs_indexed, before.packs().len() as u64 - 1);
        assert!(results.index_files_removed >= 1);
    })
}

#[test]
fn repairing_snapshots_drops_only_the_damaged_files_and_says_which() {
    block_on(async {
        let store = MemoryBackend::new();
        let repo = repo_with_packs(&store).await;
        let (sid, snap) = repo.find_snapshot("latest").await.unwrap();
        let index = repo.load_index().await.unwrap();

        // Lose one data pack, then rebuild the index so that it no longer lists it.
        let data_pack = index.packs().iter().find(|p| p.blob_type == BlobType::Data).unwrap().id;
        store.remove(&Handle::new(FileKind::Pack, data_pack)).await.unwrap();
        let mut rng = TestRng(5);
        rebuild_index(&repo, &mut rng, &mut NoProgress).await.unwrap();
        let index = repo.load_index().await.unwrap();

        // Which files needed that pack.
        let mut damaged_files = BTreeSet::new();
        let mut all_files = BTreeSet::new();
        walk(&repo, &index, snap.tree, b"/", &mut |p, n| {
            if let NodeKind::File { content } = &n.kind {
                all_files.insert(p.to_vec());
                if content.iter().any(|b| !index.contains(BlobType::Data, b)) {
                    damaged_files.insert(p.to_vec());
                }
            }
        })
        .await
        .unwrap();
        assert!(!damaged_files.is_empty() && damaged_files.len() < all_files.len());

        // A dry run reports and writes nothing.
        let objects = store.handles().len();
        let mut o = RepairOptions::default();
        o.dry_run = true;
        let plan = repair_snapshots(&repo, &index, &o, &mut rng).await.unwrap();
        assert_eq!(store.handles().len(), objects);
        assert_eq!(plan.repaired.len(), 1);

        let results = repair_snapshots(&repo, &index, &RepairOptions::default(), &mut rng).await.unwrap();
        assert_eq!(results.snapshots_checked, 1);
        let fixed = &results.repaired[0];
        assert_eq!(fixed.original, sid);
        assert!(fixed.original_removed);
        assert_eq!(plan.repaired[0].repaired, None);
        assert_eq!(plan.repaired[0].dropped, fixed.dropped, "the dry run reported the same");
        let dropped: BTreeSet<Vec<u8>> = fixed.dropped.iter().map(|d| d.path.clone()).collect();
        assert_eq!(dropped, damaged_files);
        assert!(fixed.dropped.iter().all(|d| matches!(d.reason, RepairReason::BlobMissing(_))));

        // The repository checks clean and the repaired snapshot holds exactly the other files.
        assert_clean(&repo).await;
        let snaps = repo.list_snapshots().await.unwrap();
        assert_eq!(snaps.len(), 1);
        let (new_id, new_snap) = &snaps[0];
        assert_eq!(Some(*new_id), fixed.repaired);
        assert!(new_snap.tags.contains(&"repaired".to_string()));
        let index = repo.load_index().await.unwrap();
        let mut target = MemTarget::default();
        restore(&repo, &index, new_snap, b"/", &mut target, &InlineWorker, &mut NoProgress).await.unwrap();
        let restored = target.entries.keys().filter(|k| k.starts_with(b"d/f")).count();
        assert_eq!(restored, all_files.len() - damaged_files.len());

        // Nothing left to repair.
        let again = repair_snapshots(&repo, &index, &RepairOptions::default(), &mut rng).await.unwrap();
        assert!(again.repaired.is_empty());
    })
}

#[test]
fn repairing_a_snapshot_with_a_lost_tree_empties_that_directory() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(6);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let mut index = repo.load_index().await.unwrap();
        let mut fs = tree_fs();
        let a = backup(&repo, &mut index, &mut fs, &InlineWorker, &mut rng, &mut NoProgress, &options(1, None))
            .await
            .unwrap();
        let index = repo.load_index().await.unwrap();
        let Resolved::Node { node, .. } = resolve(&repo, &index, a.snapshot.tree, b"/d/same/sub3").await.unwrap()
        else {
            panic!()
        };
        let lost = node.subtree().unwrap();
        let mut o = RepairOptions::default();
        o.damaged.insert((BlobType::Tree, lost));
        o.keep_original = true;
        let results = repair_snapshots(&repo, &index, &o, &mut rng).await.unwrap();
        let fixed = &results.repaired[0];
        assert!(!fixed.original_removed);
        assert_eq!(fixed.dropped.len(), 1);
        assert_eq!(fixed.dropped[0].path, b"/d/same/sub3");
        assert!(matches!(fixed.dropped[0].reason, RepairReason::TreeUnreadable(id, _) if id == lost));
        assert_eq!(repo.list_snapshots().await.unwrap().len(), 2);
        let index = repo.load_index().await.unwrap();
        let new = repo.load_snapshot(fixed.repaired.unwrap()).await.unwrap();
        let mut paths = Vec::new();
        walk(&repo, &index, new.tree, b"/d/same", &mut |p, _| paths.push(p.to_vec())).await.unwrap();
        assert!(paths.contains(&b"/d/same/sub3".to_vec()));
        assert!(!paths.contains(&b"/d/same/sub3/f".to_vec()));
        assert!(paths.contains(&b"/d/same/sub4/f".to_vec()));
    })
}
