//! Prune on in-memory storage: what it frees, and that a prune killed at any step leaves a valid
//! repository that the next prune finishes.

mod support;

use bytes::Bytes;
use cairn_core::*;
use support::*;

/// Two snapshots: the first has files `a` and `shared`, the second `shared` and `c`.
async fn two_snapshots(store: &MemoryBackend) -> (SnapshotId, SnapshotId, MemFs) {
    let mut rng = TestRng(3);
    let repo = Repository::init(store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
    let mut index = repo.load_index().await.unwrap();
    let mut fs = MemFs::new();
    fs.add(b"/d/a", MemEntry::File(pseudo_random(11, 300_000)));
    fs.add(b"/d/shared", MemEntry::File(pseudo_random(22, 200_000)));
    let mut o = BackupOptions::default();
    o.paths = vec![b"/d".to_vec()];
    o.hostname = "h".into();
    o.time = Timestamp::new(1000, 0);
    let first = backup(&repo, &mut index, &mut fs, &InlineWorker, &mut rng, &mut NoProgress, &o).await.unwrap();
    fs.entries.remove(&b"/d/a"[..]);
    fs.add(b"/d/c", MemEntry::File(pseudo_random(33, 100_000)));
    o.time = Timestamp::new(2000, 0);
    o.parent = Some(first.snapshot_id);
    let second = backup(&repo, &mut index, &mut fs, &InlineWorker, &mut rng, &mut NoProgress, &o).await.unwrap();
    (first.snapshot_id, second.snapshot_id, fs)
}

fn stored_bytes(store: &MemoryBackend, kind: FileKind) -> usize {
    store.handles().iter().filter(|h| h.kind == kind).map(|h| store.get(h).unwrap().len()).sum()
}

/// The repository is valid and `snapshot` restores to exactly `fs`'s files under /d.
async fn assert_sound<S: Storage>(repo: &Repository<S>, snapshot: SnapshotId, fs: &MemFs) {
    let mut o = CheckOptions::default();
    o.read_data = true;
    let r = check(repo, &InlineWorker, &mut NoProgress, &o).await.unwrap();
    assert_eq!(r.errors(), 0, "{:?}", r.problems);
    let index = repo.load_index().await.unwrap();
    let snap = repo.load_snapshot(snapshot).await.unwrap();
    let mut target = MemTarget::default();
    restore(repo, &index, &snap, b"/d", &mut target, &InlineWorker, &mut NoProgress).await.unwrap();
    for (path, (entry, _)) in fs.entries.iter().filter(|(p, _)| p.starts_with(b"/d/")) {
        let rel = &path[3..];
        assert_eq!(target.entries.get(rel).map(|e| &e.0), Some(entry), "{}", DisplayPath(rel));
    }
}

#[test]
fn prune_after_forget_frees_the_forgotten_data_and_keeps_the_rest() {
    block_on(async {
        let store = MemoryBackend::new();
        let (first, second, fs) = two_snapshots(&store).await;
        let repo = Repository::open(&store, b"pw").await.unwrap();
        let mut rng = TestRng(4);

        // With both snapshots nothing is unused.
        let plan = plan_prune(&repo, &PruneOptions::default()).await.unwrap();
        assert!(plan.is_empty(), "{:?}", plan.stats);
        assert_eq!(plan.stats.blobs_unused, 0);

        repo.forget_snapshots(&[first], &mut TestRng(77)).await.unwrap();
        let before = stored_bytes(&store, FileKind::Pack);
        let reads_before = store.handles().len();
        // Threshold 0: repack every pack with any unused blob.
        let mut every = PruneOptions::default();
        every.repack_threshold_percent = 0;
        let plan = plan_prune(&repo, &every).await.unwrap();
        assert!(plan.stats.blobs_unused > 0 && plan.stats.bytes_unused >= 300_000, "{:?}", plan.stats);
        assert_eq!(store.handles().len(), reads_before, "planning changes nothing");
        let stats = prune(&repo, plan, &mut rng).await.unwrap();
        let after = stored_bytes(&store, FileKind::Pack);
        assert_eq!(before - after, stats.bytes_freed as usize);
        // File `a` (300 kB of random data) is gone; `shared` and `c` stay.
        assert!(stats.bytes_freed >= 290_000, "{stats:?}");
        assert!(after >= 300_000, "{after}");
        assert_sound(&repo, second, &fs).await;

        // A second prune finds nothing to do.
        let again = plan_prune(&repo, &every).await.unwrap();
        assert!(again.is_empty(), "{:?}", again);
        assert_eq!(again.stats.blobs_unused, 0, "repacking left no unused blob behind");
    });
}

#[test]
fn a_prune_killed_at_any_step_leaves_a_valid_repository_and_the_next_finishes() {
    block_on(async {
        let pristine = MemoryBackend::new();
        let (first, second, fs) = two_snapshots(&pristine).await;
        {
            let repo = Repository::open(&pristine, b"pw").await.unwrap();
            repo.forget_snapshots(&[first], &mut TestRng(77)).await.unwrap();
        }
        // An unindexed leftover pack too, as an interrupted backup leaves.
        let mut steps = 0;
        for budget in 0.. {
            let store = MemoryBackend::new();
            for h in pristine.handles() {
                store.put_raw(h, pristine.get(&h).unwrap());
            }
            store.put_raw(Handle::new(FileKind::Pack, Id([7; 32])), Bytes::from_static(b"leftover"));
            let flaky = Flaky::new(&store, Some(budget));
            let repo = Repository::open(&flaky, b"pw").await.unwrap();
            let mut rng = TestRng(5 + budget);
            let mut every = PruneOptions::default();
            every.repack_threshold_percent = 0;
            let plan = plan_prune(&repo, &every).await.unwrap();
            assert!(!plan.repack.is_empty() && !plan.delete.is_empty() && plan.unindexed.len() == 1, "{plan:?}");
            let finished = prune(&repo, plan, &mut rng).await.is_ok();

            // Whatever happened, the repository is sound...
            let repo = Repository::open(&store, b"pw").await.unwrap();
            assert_sound(&repo, second, &fs).await;
            // ...and one more prune leaves nothing unused.
            let plan = plan_prune(&repo, &every).await.unwrap();
            prune(&repo, plan, &mut rng).await.unwrap();
            let done = plan_prune(&repo, &every).await.unwrap();
            assert!(done.is_empty(), "budget {budget}: {:?}", done.stats);
            assert_sound(&repo, second, &fs).await;
            if finished {
                steps = budget;
                break;
            }
        }
        assert!(steps >= 4, "the prune took {steps} steps: the test covered every crash point");
    });
}

#[test]
fn prune_refuses_a_repository_whose_snapshots_need_missing_blobs() {
    block_on(async {
        let store = MemoryBackend::new();
        let (_, _, _) = two_snapshots(&store).await;
        // Lose every index object: the snapshots' trees can no longer be found.
        for h in store.handles().into_iter().filter(|h| h.kind == FileKind::Index) {
            store.remove(&h).await.unwrap();
        }
        let repo = Repository::open(&store, b"pw").await.unwrap();
        let packs = store.handles().into_iter().filter(|h| h.kind == FileKind::Pack).count();
        assert!(matches!(
            plan_prune(&repo, &PruneOptions::default()).await,
            Err(Error::BlobNotInIndex { kind: BlobType::Tree, .. })
        ));
        assert_eq!(store.handles().into_iter().filter(|h| h.kind == FileKind::Pack).count(), packs);
    });
}
