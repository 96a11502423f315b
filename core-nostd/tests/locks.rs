//! Repository locks on in-memory storage.

mod support;

use cairn_core::*;
use support::*;

fn at(secs: i64) -> Timestamp {
    Timestamp::new(secs, 0)
}

#[test]
fn shared_and_exclusive_exclude_each_other_and_stale_ones_do_not_count() {
    block_on(async {
        let store = MemoryBackend::new();
        let mut rng = TestRng(9);
        let repo = Repository::init(&store, b"pw", &small_repo_options(), &mut rng).await.unwrap();
        let alive = |_: &LockInfo| false;
        let shared = |op: &str| LockInfo::new(false, op, "h", "u", 1, at(0));
        let exclusive = LockInfo::new(true, "prune", "h", "u", 2, at(0));

        let b1 = repo.lock(shared("backup"), at(1000), &alive, &mut rng).await.unwrap();
        let b2 = repo.lock(shared("backup"), at(1000), &alive, &mut rng).await.unwrap();
        assert_ne!(b1.id, b2.id);
        match repo.lock(exclusive.clone(), at(1000), &alive, &mut rng).await {
            Err(Error::Locked { holder: Some(h), .. }) => assert_eq!(h.operation, "backup"),
            other => panic!("{other:?}"),
        }
        assert_eq!(repo.list_locks().await.unwrap().len(), 2, "the refused lock was removed");

        repo.remove_lock(b1.id).await.unwrap();
        repo.remove_lock(b2.id).await.unwrap();
        let p = repo.lock(exclusive.clone(), at(1000), &alive, &mut rng).await.unwrap();
        assert_eq!(p.id, EXCLUSIVE_LOCK_ID);
        assert!(matches!(repo.lock(shared("backup"), at(1001), &alive, &mut rng).await, Err(Error::Locked { .. })));
        assert!(matches!(repo.lock(exclusive.clone(), at(1001), &alive, &mut rng).await, Err(Error::Locked { .. })));

        // Not refreshed for more than 30 minutes: stale, taken over; the old holder notices.
        let later = at(1000 + STALE_AFTER_SECS + 1);
        let p2 = repo.lock(exclusive.clone(), later, &alive, &mut rng).await.unwrap();
        assert!(matches!(repo.verify_lock(&p).await, Err(Error::LockLost)));
        let mut p2 = p2;
        repo.refresh_lock(&mut p2, at(5000), &mut rng).await.unwrap();
        assert_eq!(repo.read_lock(EXCLUSIVE_LOCK_ID).await.unwrap().refreshed, at(5000));

        // A dead holder's lock does not block either.
        let dead = |i: &LockInfo| i.pid == 2;
        let b3 = repo.lock(shared("backup"), at(5001), &dead, &mut rng).await.unwrap();
        repo.remove_lock(b3.id).await.unwrap();

        // A removed lock is lost for its holder.
        repo.remove_lock(p2.id).await.unwrap();
        assert!(matches!(repo.refresh_lock(&mut p2, at(5002), &mut rng).await, Err(Error::LockLost)));
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
        let alive = |_: &LockInfo| false;
        let shared = repo.lock(LockInfo::new(false, "backup", "h", "u", 1, at(0)), at(10), &alive, &mut rng).await;
        let shared = shared.unwrap();
        let exclusive = LockInfo::new(true, "prune", "h", "u", 2, at(0));
        // Someone else's lock still refuses, lost answers or not.
        assert!(matches!(repo.lock(exclusive.clone(), at(10), &alive, &mut rng).await, Err(Error::Locked { .. })));
        repo.remove_lock(shared.id).await.unwrap();
        let held = repo.lock(exclusive.clone(), at(10), &alive, &mut rng).await.unwrap();
        repo.verify_lock(&held).await.unwrap();
        assert!(matches!(repo.lock(exclusive.clone(), at(11), &alive, &mut rng).await, Err(Error::Locked { .. })));
        // Taking over a stale exclusive lock works too.
        let later = at(10 + STALE_AFTER_SECS + 1);
        let taken = repo.lock(exclusive, later, &alive, &mut rng).await.unwrap();
        repo.verify_lock(&taken).await.unwrap();
        assert!(matches!(repo.verify_lock(&held).await, Err(Error::LockLost)));
    });
}
