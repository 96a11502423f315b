//! Leases on in-memory storage: taking, refreshing, revoking, and what a leased store does
//! with a lease it may have lost. The schedules of several processes are in `lease_model.rs`.

mod support;

use std::cell::Cell;

use bytes::Bytes;
use cairn_core::lease::{self, acquire, refresh, revoke, tidy, verify};
use cairn_core::*;
use support::*;

/// A clock the test moves; sleeping moves it.
#[derive(Default)]
struct TestClock(Cell<u64>);

impl LeaseClock for TestClock {
    fn elapsed_ms(&self) -> u64 {
        self.0.get()
    }
    fn now(&self) -> Timestamp {
        Timestamp::new(1_700_000_000 + (self.0.get() / 1000) as i64, 0)
    }
    async fn sleep_ms(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
        yield_now().await;
    }
}

/// Judges by a rule the test sets.
struct Judge(fn(&Holder) -> Verdict);

impl StaleJudge for Judge {
    fn judge(&mut self, holder: &Holder, _: &LockSettings) -> Verdict {
        (self.0)(holder)
    }
}

fn alive() -> Judge {
    Judge(|_| Verdict::Live)
}

fn all_stale() -> Judge {
    Judge(|_| Verdict::Stale)
}

fn info(exclusive: bool, op: &str) -> LockInfo {
    LockInfo::new(exclusive, op, "h", "u", 1, Timestamp::EPOCH)
}

fn store<'a>(repo: &'a Repository<&'a MemoryBackend>) -> LockStore<'a, &'a MemoryBackend> {
    LockStore { storage: repo.storage(), keys: repo.keys(), compression: repo.config().compression }
}

fn settings() -> LockSettings {
    LockSettings { stale_after_secs: 30, refresh_every_secs: 5, settle_millis: 100 }
}

#[test]
fn shared_leases_coexist_and_an_exclusive_one_excludes_every_other() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(9);
        let repo = Repository::init(&mem, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let (clock, s) = (TestClock::default(), settings());
        let b1 = acquire(store(&repo), &s, info(false, "backup"), &mut alive(), &clock, &mut rng).await.unwrap();
        let b2 = acquire(store(&repo), &s, info(false, "backup"), &mut alive(), &clock, &mut rng).await.unwrap();
        assert_ne!(b1.current, b2.current);
        assert_ne!(b1.token, b2.token);
        match acquire(store(&repo), &s, info(true, "prune"), &mut alive(), &clock, &mut rng).await {
            Err(Error::Locked { holder: Some(h), .. }) => assert_eq!(h.operation, "backup"),
            other => panic!("{other:?}"),
        }
        assert_eq!(store(&repo).entries().await.unwrap().len(), 2, "the refused lease's object was removed");

        lease::release(store(&repo), b1).await;
        lease::release(store(&repo), b2).await;
        let before = clock.elapsed_ms();
        let p = acquire(store(&repo), &s, info(true, "prune"), &mut alive(), &clock, &mut rng).await.unwrap();
        assert!(clock.elapsed_ms() >= before + 100, "an exclusive taker settles and lists again");
        assert!(matches!(
            acquire(store(&repo), &s, info(false, "backup"), &mut alive(), &clock, &mut rng).await,
            Err(Error::Locked { .. })
        ));
        assert!(matches!(
            acquire(store(&repo), &s, info(true, "prune"), &mut alive(), &clock, &mut rng).await,
            Err(Error::Locked { .. })
        ));
        assert_eq!(store(&repo).entries().await.unwrap().len(), 1);
        verify(store(&repo), &p).await.unwrap();
    });
}

#[test]
fn a_stale_lease_is_revoked_and_its_holder_finds_out() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(10);
        let repo = Repository::init(&mem, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let (clock, s) = (TestClock::default(), settings());
        let mut backup =
            acquire(store(&repo), &s, info(false, "backup"), &mut alive(), &clock, &mut rng).await.unwrap();
        // A judge that finds it stale (it saw the object unchanged long enough) revokes it.
        let prune = acquire(store(&repo), &s, info(true, "prune"), &mut all_stale(), &clock, &mut rng).await.unwrap();
        let listing = store(&repo).listing().await.unwrap();
        assert_eq!(listing.holders.len(), 1, "only the prune holds a live lease");
        assert_eq!(listing.tombstones.len(), 1);
        let (_, tombstone) = &listing.tombstones[0];
        assert_eq!(tombstone.token, backup.token);
        let r = tombstone.lease.revoked.as_ref().unwrap();
        assert!(r.by.starts_with("prune on h"), "{}", r.by);
        assert_eq!(r.seen.as_deref(), Some(&[][..]), "completed: no snapshot carries its token");
        // The paused holder finds out at its next check and at its next refresh.
        assert!(matches!(verify(store(&repo), &backup).await, Err(Error::LockLost)));
        let objects = mem.handles().len();
        assert!(matches!(refresh(store(&repo), &mut backup, &clock, &mut rng).await, Err(Error::LockLost)));
        assert_eq!(mem.handles().len(), objects, "the failed refresh took its new object back");
        verify(store(&repo), &prune).await.unwrap();
    });
}

#[test]
fn a_refresh_writes_the_next_object_and_removes_the_last() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(11);
        let repo = Repository::init(&mem, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let (clock, s) = (TestClock::default(), settings());
        let mut lease = acquire(store(&repo), &s, info(false, "backup"), &mut alive(), &clock, &mut rng).await.unwrap();
        assert!(!lease.is_due(clock.elapsed_ms(), &s));
        clock.sleep_ms(5000).await;
        assert!(lease.is_due(clock.elapsed_ms(), &s) && !lease.is_overdue(clock.elapsed_ms(), &s));
        let first = lease.current;
        refresh(store(&repo), &mut lease, &clock, &mut rng).await.unwrap();
        assert_ne!(lease.current, first);
        assert_eq!(lease.info.lease.sequence, 1);
        assert_eq!(lease.issued_ms, 5000);
        // The earlier object stays one settle pause, so that no lister sees neither of them.
        let entries = store(&repo).entries().await.unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().any(|e| e.id == first) && entries.iter().any(|e| e.id == lease.current));
        tidy(store(&repo), &mut lease, clock.elapsed_ms()).await;
        assert_eq!(store(&repo).entries().await.unwrap().len(), 2, "not before its settle pause");
        clock.sleep_ms(u64::from(s.settle_millis)).await;
        assert!(lease.has_leftovers_due(clock.elapsed_ms()));
        tidy(store(&repo), &mut lease, clock.elapsed_ms()).await;
        let entries = store(&repo).entries().await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, lease.current);
        // Someone removes the current object (cairn unlock --remove-all): the next refresh fails
        // and never brings the lease back.
        store(&repo).remove(lease.current).await.unwrap();
        assert!(matches!(refresh(store(&repo), &mut lease, &clock, &mut rng).await, Err(Error::LockLost)));
        assert!(store(&repo).entries().await.unwrap().is_empty());
    });
}

#[test]
fn unreadable_lock_objects_block_only_exclusive_takers() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(13);
        let repo = Repository::init(&mem, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let (clock, s) = (TestClock::default(), settings());
        mem.put_raw(Handle::new(FileKind::Lock, Id([3; 32])), Bytes::from_static(b"not a lock"));
        let b = acquire(store(&repo), &s, info(false, "backup"), &mut alive(), &clock, &mut rng).await.unwrap();
        lease::release(store(&repo), b).await;
        match acquire(store(&repo), &s, info(true, "prune"), &mut alive(), &clock, &mut rng).await {
            Err(Error::Locked { id, holder: None }) => assert_eq!(id, Id([3; 32])),
            other => panic!("{other:?}"),
        }
        // Once judged stale (seen unchanged long enough) it is removed.
        acquire(store(&repo), &s, info(true, "prune"), &mut all_stale(), &clock, &mut rng).await.unwrap();
        assert!(mem.get(&Handle::new(FileKind::Lock, Id([3; 32]))).is_none());
    });
}

/// The leased store: a snapshot written after the lease was revoked is taken back, and the
/// backup fails; one written before stays and is listed.
#[test]
fn a_backup_whose_lease_was_revoked_writes_no_snapshot() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(14);
        let mut options = small_repo_options();
        options.locks = settings();
        Repository::init(&mem, b"pw", &options, &mut rng).await.unwrap();
        let leased = Leased::new(&mem, TestClock::default(), TestRng(15));
        let repo = Repository::open(&leased, b"pw").await.unwrap();
        leased.acquire(repo.keys(), repo.config(), info(false, "backup"), &mut alive()).await.unwrap();
        let token = leased.lease_token().unwrap();
        let fs = small_tree();
        let mut index = repo.load_index().await.unwrap();
        let done = backup(&repo, &mut index, &mut fs.clone(), &InlineWorker, &mut rng, &mut NoProgress, &opts())
            .await
            .unwrap();
        assert_eq!(done.snapshot.lease, Some(token), "the snapshot records its lease");

        // Another process revokes the lease while the backup is paused.
        let plain = Repository::open(&mem, b"pw").await.unwrap();
        acquire(store(&plain), &settings(), info(true, "prune"), &mut all_stale(), &TestClock::default(), &mut rng)
            .await
            .unwrap();
        let mut index = repo.load_index().await.unwrap();
        let second =
            backup(&repo, &mut index, &mut fs.clone(), &InlineWorker, &mut rng, &mut NoProgress, &opts()).await;
        let e = second.expect_err("a backup under a revoked lease fails");
        assert!(e.is_lock_lost(), "{e}");
        let snapshots = plain.snapshots().await.unwrap();
        assert_eq!(snapshots.valid.len(), 1, "only the snapshot written before the revocation");
        assert_eq!(snapshots.valid[0].0, done.snapshot_id);
        assert!(snapshots.withdrawn.is_empty());
        // Every later storage call fails too.
        assert!(leased.list(FileKind::Pack).await.is_err());
    });
}

/// A holder suspended past its refresh checks its lease before its next storage call.
#[test]
fn a_holder_that_slept_checks_its_lease_before_anything_else() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(16);
        let mut options = small_repo_options();
        options.locks = settings();
        Repository::init(&mem, b"pw", &options, &mut rng).await.unwrap();
        let leased = Leased::new(&mem, TestClock::default(), TestRng(17));
        let repo = Repository::open(&leased, b"pw").await.unwrap();
        leased.acquire(repo.keys(), repo.config(), info(false, "backup"), &mut alive()).await.unwrap();
        let first = leased.lease().unwrap().current;
        // Asleep for a minute, nobody revoked it: the next call refreshes it and goes on.
        leased.clock().sleep_ms(60_000).await;
        repo.list_snapshots().await.unwrap();
        assert_ne!(leased.lease().unwrap().current, first, "refreshed before the call");
        // Asleep again, and revoked meanwhile: the next call fails, whatever it is.
        leased.clock().sleep_ms(60_000).await;
        let plain = Repository::open(&mem, b"pw").await.unwrap();
        let holder = store(&plain).listing().await.unwrap().holders.remove(0);
        revoke(store(&plain), &holder, "prune", &TestClock::default(), &mut rng).await.unwrap();
        let e = repo.load_index().await.unwrap_err();
        assert!(e.is_lock_lost(), "{e}");
        assert!(!leased.is_leased());
    });
}

/// `keep_alive` refreshes a lease whose operation makes no storage call at all.
#[test]
fn keep_alive_refreshes_without_storage_calls() {
    block_on(async {
        let mem = MemoryBackend::new();
        let mut rng = TestRng(18);
        let mut options = small_repo_options();
        options.locks = settings();
        Repository::init(&mem, b"pw", &options, &mut rng).await.unwrap();
        let leased = Leased::new(&mem, TestClock::default(), TestRng(19));
        let repo = Repository::open(&leased, b"pw").await.unwrap();
        leased.acquire(repo.keys(), repo.config(), info(false, "backup"), &mut alive()).await.unwrap();
        // The test clock's sleep returns at once, so keep_alive loops: run it until 20
        // refreshes happened, then take the lease away from under it.
        let keeper = leased.keep_alive();
        let watcher = async {
            loop {
                if leased.lease().is_some_and(|l| l.info.lease.sequence >= 20) {
                    let plain = Repository::open(&mem, b"pw").await.unwrap();
                    let holder = store(&plain).listing().await.unwrap().holders.remove(0);
                    revoke(store(&plain), &holder, "x", &TestClock::default(), &mut TestRng(5)).await.unwrap();
                    return;
                }
                yield_now().await;
            }
        };
        futures_util::future::join(keeper, watcher).await;
        assert!(!leased.is_leased(), "keep_alive returns once the lease is lost");
        assert!(leased.clock().elapsed_ms() >= 20 * 5000);
    });
}

#[test]
fn a_create_only_write_whose_answer_was_lost_is_recognised_as_ours() {
    block_on(async {
        let store = MemoryBackend::new();
        let flaky = Flaky::new(&store, None);
        // Every create-only write lands, and is then answered "already exists", as when a
        // backend retries a write whose answer the network lost.
        flaky.lost_answers.set(true);
        let mut rng = TestRng(21);
        let repo = Repository::init(&flaky, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        assert!(store.get(&Handle::CONFIG).is_some(), "the key and config are kept, not withdrawn");
        let repo2 = Repository::open(&flaky, b"pw").await.unwrap();
        assert_eq!(repo2.config(), repo.config());
        // A second init still finds the repository.
        assert!(matches!(
            Repository::init(&flaky, b"pw", &small_repo_options(), &mut rng).await,
            Err(Error::AlreadyInitialized)
        ));
    });
}

fn small_tree() -> MemFs {
    let mut fs = MemFs::new();
    fs.add(b"/d", MemEntry::Dir);
    fs.add(b"/d/a", MemEntry::File(pseudo_random(1, 30_000)));
    fs
}

fn opts() -> BackupOptions {
    let mut o = BackupOptions::default();
    o.paths = vec![b"/d".to_vec()];
    o
}

async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
