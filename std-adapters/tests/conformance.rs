//! The backend conformance suite: one set of checks every destination type must pass, run here
//! against the local destination and against a real S3-compatible server (s3s-fs, verifying
//! SigV4). See the contract in `cairn_core::Storage`.

use bytes::Bytes;
use cairn_core::{FileKind, Handle, Id, IoErrorKind, ReadRange, Storage, WriteMode};
use std::time::Duration;

use cairn_e2e::servers::{
    AZURE_ACCOUNT, AZURE_ACCOUNT_KEY, AzuriteServer, FTP_PASSWORD, Fault, FaultProxy, FtpServer, RestServer, S3Server,
    SshServer, WebDavServer,
};
use cairn_std::{
    AzureAuth, AzureBackend, AzureConfig, LocalBackend, RestBackend, RestConfig, S3Backend, S3Config, Secret, SftpAuth,
    SftpBackend, SftpConfig, WebDavBackend, WebDavConfig,
};
use cairn_std::{Destination, FtpBackend, FtpConfig, FtpTls, RcloneConfig};

fn id(n: u8) -> Id {
    let mut b = [0u8; 32];
    b[0] = n;
    b[31] = n.wrapping_mul(7);
    Id::from_hex(&b.iter().map(|x| format!("{x:02x}")).collect::<String>()).unwrap()
}

fn data(seed: u8, n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>())
}

/// The stall timeout of the clients behind a fault proxy: long enough for a slow answer on a
/// loaded machine, shorter than the stall the proxy injects.
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
const INJECTED_STALL: Duration = Duration::from_secs(4);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Every check of the contract, on an empty store.
async fn conformance<S: Storage>(s: &S) {
    // Empty.
    for kind in FileKind::ALL {
        assert!(s.list(kind).await.unwrap().is_empty(), "{kind} listing of an empty store");
    }
    let missing = s.read(&Handle::new(FileKind::Index, id(1)), ReadRange::All { max_len: 1 << 20 }).await;
    assert_eq!(missing.unwrap_err().kind(), IoErrorKind::NotFound);

    // Write and read back whole, by span and by tail.
    let pack = Handle::new(FileKind::Pack, id(0xab));
    let bytes = data(1, 300_000);
    s.write(&pack, bytes.clone(), WriteMode::Replace).await.unwrap();
    assert_eq!(s.read(&pack, ReadRange::All { max_len: 1 << 20 }).await.unwrap(), bytes);
    assert_eq!(s.read(&pack, ReadRange::Span { offset: 1000, len: 5000 }).await.unwrap(), bytes.slice(1000..6000));
    assert_eq!(s.read(&pack, ReadRange::Span { offset: 299_999, len: 1 }).await.unwrap(), bytes.slice(299_999..));
    assert_eq!(s.read(&pack, ReadRange::Tail { len: 100 }).await.unwrap(), bytes.slice(299_900..));
    assert_eq!(s.read(&pack, ReadRange::Tail { len: 1 << 20 }).await.unwrap(), bytes, "a tail longer than the object");
    // Reading past the end, or more than the caller accepts, is an error, never a short answer.
    let past = s.read(&pack, ReadRange::Span { offset: 299_000, len: 5000 }).await;
    assert_eq!(past.unwrap_err().kind(), IoErrorKind::InvalidData);
    let too_big = s.read(&pack, ReadRange::All { max_len: 1000 }).await;
    assert_eq!(too_big.unwrap_err().kind(), IoErrorKind::InvalidData);

    // Listing: ids and sizes by kind; packs live under data/XX/.
    let listed = s.list(FileKind::Pack).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].size), (id(0xab), 300_000));
    assert!(s.list(FileKind::Index).await.unwrap().is_empty());

    // Replace overwrites; CreateNew refuses an existing object and leaves it as it was.
    let lock = Handle::new(FileKind::Lock, id(2));
    s.write(&lock, Bytes::from_static(b"first"), WriteMode::CreateNew).await.unwrap();
    let again = s.write(&lock, Bytes::from_static(b"second"), WriteMode::CreateNew).await;
    assert_eq!(again.unwrap_err().kind(), IoErrorKind::AlreadyExists);
    assert_eq!(&s.read(&lock, ReadRange::All { max_len: 100 }).await.unwrap()[..], b"first");
    s.write(&lock, Bytes::from_static(b"third"), WriteMode::Replace).await.unwrap();
    assert_eq!(&s.read(&lock, ReadRange::All { max_len: 100 }).await.unwrap()[..], b"third");

    // The config is one object at the top.
    s.write(&Handle::CONFIG, Bytes::from_static(b"config bytes"), WriteMode::CreateNew).await.unwrap();
    let config = s.list(FileKind::Config).await.unwrap();
    assert_eq!(config.len(), 1);
    assert_eq!(config[0].size, 12);
    let again = s.write(&Handle::CONFIG, Bytes::from_static(b"other"), WriteMode::CreateNew).await;
    assert_eq!(again.unwrap_err().kind(), IoErrorKind::AlreadyExists);

    // Empty objects.
    let empty = Handle::new(FileKind::Snapshot, id(3));
    s.write(&empty, Bytes::new(), WriteMode::Replace).await.unwrap();
    assert!(s.read(&empty, ReadRange::All { max_len: 10 }).await.unwrap().is_empty());
    assert!(s.read(&empty, ReadRange::Tail { len: 10 }).await.unwrap().is_empty());

    // Concurrent writes: all land, all are listed.
    let writes = (0..24u8).map(|i| {
        let h = Handle::new(FileKind::Index, id(100 + i));
        async move { s.write(&h, data(i, 1000 + usize::from(i)), WriteMode::Replace).await }
    });
    for r in futures_join_all(writes).await {
        r.unwrap();
    }
    let mut index = s.list(FileKind::Index).await.unwrap();
    index.sort_by_key(|o| o.id);
    assert_eq!(index.len(), 24);
    for (i, o) in index.iter().enumerate() {
        assert_eq!((o.id, o.size), (id(100 + i as u8), 1000 + i as u64));
    }

    // Remove; removing what is not there is fine.
    s.remove(&pack).await.unwrap();
    s.remove(&pack).await.unwrap();
    assert!(s.list(FileKind::Pack).await.unwrap().is_empty());
    let gone = s.read(&pack, ReadRange::Tail { len: 10 }).await;
    assert_eq!(gone.unwrap_err().kind(), IoErrorKind::NotFound);

    races(s).await;
}

/// Judges every lease live.
struct NeverStale;

impl cairn_core::StaleJudge for NeverStale {
    fn judge(&mut self, _: &cairn_core::Holder, _: &cairn_core::LockSettings) -> cairn_core::Verdict {
        cairn_core::Verdict::Live
    }
}

/// Concurrent creators of one object, and concurrent takers of an exclusive lease: exactly
/// one of each wins, on every backend (those without a create-only write included).
async fn races<S: Storage>(s: &S) {
    // Six writers create one new object at the same moment.
    let contested = Handle::new(FileKind::Key, id(150));
    let writes = (0..6u8).map(|i| async move { s.write(&contested, data(i, 64), WriteMode::CreateNew).await });
    let outcomes = futures_join_all(writes).await;
    let winners: Vec<usize> = outcomes.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "create-only writers that succeeded: {winners:?} ({outcomes:?})");
    for r in &outcomes {
        if let Err(e) = r {
            assert_eq!(e.kind(), IoErrorKind::AlreadyExists, "{e}");
        }
    }
    let stored = s.read(&contested, ReadRange::All { max_len: 1024 }).await.unwrap();
    assert_eq!(stored, data(winners[0] as u8, 64), "the object holds the winner's bytes");

    // Five takers of the exclusive lease at the same moment, each retrying while locked: one
    // takes it and keeps it; the others give up once they see the same holder three times.
    for o in s.list(FileKind::Lock).await.unwrap() {
        s.remove(&Handle::new(FileKind::Lock, o.id)).await.unwrap();
    }
    let keys = cairn_core::Keys::new(&cairn_core::MasterKey::from_bytes(&[7; 64]));
    let store = cairn_core::LockStore { storage: s, keys: &keys, compression: cairn_core::Compression::OFF };
    let settings = cairn_core::LockSettings { stale_after_secs: 3600, refresh_every_secs: 600, settle_millis: 300 };
    let takers = (0..5u32).map(|i| async move {
        let started = std::time::Instant::now();
        let (mut holder, mut same) = (None, 0);
        let mut rng = cairn_std::os_rng();
        while started.elapsed() < Duration::from_secs(60) {
            let info = cairn_core::LockInfo::new(true, "prune", "racer", "u", i, cairn_core::Timestamp::EPOCH);
            match cairn_core::lease::acquire(store, &settings, info, &mut NeverStale, &cairn_std::SystemClock, &mut rng)
                .await
            {
                Ok(lease) => return Some(lease),
                Err(cairn_core::Error::Locked { holder: h, .. }) => {
                    let token = h.map(|h| h.token);
                    same = if token.is_some() && token == holder { same + 1 } else { 0 };
                    holder = token;
                    if same >= 3 {
                        return None;
                    }
                }
                Err(e) => panic!("taker {i}: {e}"),
            }
            let jitter = u64::from(cairn_core::random_bytes::<1, _>(&mut rng)[0]);
            tokio::time::sleep(Duration::from_millis(50 + jitter)).await;
        }
        panic!("taker {i}: no lease was taken by anyone in a minute");
    });
    let leases: Vec<_> = futures_join_all(takers).await.into_iter().flatten().collect();
    assert_eq!(leases.len(), 1, "exclusive leases taken at once: {}", leases.len());
    let listing = store.listing().await.unwrap();
    assert_eq!(listing.holders.len(), 1, "the losers took their lock objects back: {:?}", listing.holders);
    for lease in leases {
        cairn_core::lease::release(store, lease).await;
    }
    assert!(s.list(FileKind::Lock).await.unwrap().is_empty());
    s.remove(&contested).await.unwrap();
}

/// Runs futures concurrently on the current task.
/// The size of the large side file: more than the pieces, parts and blocks the tests below set
/// (so that it goes up in several), with a remainder.
const BIG_SIDE_FILE: usize = (9 << 20) + 7;

/// Every check of the side files (files beside the repository: archives, configuration
/// exports, the owner file), on a destination that has none yet.
async fn side_files(d: &Destination) {
    let archive = |n: &str| format!("cairn-archives/{n}");
    let read_whole = |name: String, size: u64| async move {
        let mut out = Vec::new();
        d.get_file_into(&name, size, &mut out).await.map(|()| out)
    };
    assert!(d.has_side_files());
    assert!(d.list_files("cairn-config").await.unwrap().is_empty());
    let missing = d.get_file("cairn-config/none.cairn-config", 1 << 20).await.unwrap_err();
    assert_eq!(missing.kind(), IoErrorKind::NotFound, "{missing}");

    // Written, listed by folder, read whole, replaced.
    d.put_file("cairn-config/a.cairn-config", Bytes::from_static(b"0123456789")).await.unwrap();
    assert_eq!(d.list_files("cairn-config").await.unwrap(), vec![("a.cairn-config".to_string(), 10)]);
    assert_eq!(&d.get_file("cairn-config/a.cairn-config", 1 << 20).await.unwrap()[..], b"0123456789");
    assert_eq!(read_whole("cairn-config/a.cairn-config".into(), 10).await.unwrap(), b"0123456789");
    let too_big = d.get_file("cairn-config/a.cairn-config", 5).await.unwrap_err();
    assert_eq!(too_big.kind(), IoErrorKind::InvalidData, "{too_big}");
    d.put_file("cairn-config/a.cairn-config", Bytes::from_static(b"abc")).await.unwrap();
    assert_eq!(&d.get_file("cairn-config/a.cairn-config", 1 << 20).await.unwrap()[..], b"abc");

    // Streamed from a local file, large and small, replacing or create-only.
    let big = data(5, BIG_SIDE_FILE);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &big).unwrap();
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), data(6, BIG_SIDE_FILE)).unwrap();
    let size = big.len() as u64;
    d.put_file_from(&archive("x.tar"), file.as_file(), size, WriteMode::Replace).await.unwrap();
    d.put_file_from(&archive("y.tar"), file.as_file(), size, WriteMode::CreateNew).await.unwrap();
    for name in ["x.tar", "y.tar"] {
        // Read back in pieces (8 MiB at a time: two here).
        assert!(read_whole(archive(name), size).await.unwrap() == big, "{name} read back differs");
    }
    // A create-only write where a file is: refused, and the file is the first writer's.
    let again = d.put_file_from(&archive("y.tar"), other.as_file(), size, WriteMode::CreateNew).await.unwrap_err();
    assert_eq!(again.kind(), IoErrorKind::AlreadyExists, "{again}");
    assert!(read_whole(archive("y.tar"), size).await.unwrap() == big, "a create-only write replaced a file");
    let small = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(small.path(), b"tiny").unwrap();
    let again = d.put_file_from(&archive("y.tar"), small.as_file(), 4, WriteMode::CreateNew).await.unwrap_err();
    assert_eq!(again.kind(), IoErrorKind::AlreadyExists, "{again}");
    d.put_file_from(&archive("z.tar"), small.as_file(), 4, WriteMode::CreateNew).await.unwrap();
    d.put_file_from(&archive("x.tar"), other.as_file(), size, WriteMode::Replace).await.unwrap();
    assert!(read_whole(archive("x.tar"), size).await.unwrap() == data(6, BIG_SIDE_FILE), "a replace kept the old file");
    assert_eq!(
        d.list_files("cairn-archives").await.unwrap(),
        vec![("x.tar".to_string(), size), ("y.tar".to_string(), size), ("z.tar".to_string(), 4)]
    );

    // Names that leave the destination's folder are refused.
    for bad in ["../escape", "/etc/passwd", "cairn-archives/../../x", ""] {
        assert!(d.put_file(bad, Bytes::from_static(b"x")).await.is_err(), "{bad:?} was written");
    }

    // Removed (absent is fine), and nothing temporary left behind.
    for name in ["cairn-config/a.cairn-config", &archive("x.tar"), &archive("y.tar"), &archive("z.tar")] {
        d.remove_file(name).await.unwrap();
    }
    d.remove_file(&archive("x.tar")).await.unwrap();
    assert!(d.list_files("cairn-archives").await.unwrap().is_empty());
    assert!(d.list_files("cairn-config").await.unwrap().is_empty());
    assert_eq!(d.remove_stale_temporaries(Duration::from_secs(0)).await.unwrap(), 0);
}

async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = fs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
fn local_destination_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Destination::Local(Box::new(LocalBackend::new(dir.path().join("repo"))));
    rt().block_on(async {
        conformance(&store).await;
        side_files(&store).await;
    });
}

fn s3_config(server: &S3Server, directory: &str) -> S3Config {
    let mut c = S3Config::new(
        &server.endpoint,
        &server.bucket,
        "us-east-1",
        &server.access_key,
        Secret::new(server.secret_key.as_bytes().to_vec()),
    );
    c.path_style = true;
    c.directory = directory.to_string();
    c.connection.retries = 1;
    c
}

#[test]
fn s3_destination_conforms() {
    let Some(server) = S3Server::start() else { return };
    let mut config = s3_config(&server, "/backups/laptop");
    // Small pages, so that listings go through several continuation tokens.
    config.list_page_size = Some(5);
    let store = S3Backend::new(config).unwrap();
    rt().block_on(async {
        conformance(&store).await;
        assert!(store.probe_conditional_create().await.unwrap(), "s3s-fs enforces If-None-Match");
    });
    // Side files, the large one in multipart uploads of 5 MiB parts.
    let mut config = s3_config(&server, "/backups/laptop");
    config.multipart_threshold = 6 << 20;
    config.part_size = 5 << 20;
    rt().block_on(side_files(&Destination::S3(Box::new(S3Backend::new(config).unwrap()))));
    // The objects are where the layout says, under the backup directory.
    assert!(server.data.join("cairn-test/backups/laptop/config").is_file());
}

#[test]
fn s3_multipart_uploads_large_objects() {
    let Some(server) = S3Server::start() else { return };
    let mut config = s3_config(&server, "/");
    config.multipart_threshold = 6 << 20;
    config.part_size = 5 << 20;
    let store = S3Backend::new(config).unwrap();
    rt().block_on(async {
        let big = data(9, 13 << 20);
        let h = Handle::new(FileKind::Pack, id(0x42));
        store.write(&h, big.clone(), WriteMode::Replace).await.unwrap();
        assert_eq!(store.read(&h, ReadRange::All { max_len: 64 << 20 }).await.unwrap(), big);
        assert_eq!(store.list(FileKind::Pack).await.unwrap()[0].size, 13 << 20);
    });
}

#[test]
fn s3_errors_say_what_to_fix() {
    let Some(server) = S3Server::start() else { return };
    let rt = rt();
    let message = |config: S3Config| {
        let store = S3Backend::new(config).unwrap();
        let e = rt.block_on(store.list(FileKind::Snapshot)).unwrap_err();
        (e.kind(), e.to_string())
    };
    let mut wrong_secret = s3_config(&server, "/");
    wrong_secret.secret_key = Secret::new(b"not the secret".to_vec());
    let (kind, text) = message(wrong_secret);
    assert_eq!(kind, IoErrorKind::PermissionDenied);
    assert!(text.contains("check the secret key"), "{text}");
    assert!(!text.contains("not the secret"), "the secret leaked: {text}");

    let mut wrong_access = s3_config(&server, "/");
    wrong_access.access_key = "AKIAWRONG".into();
    let (kind, text) = message(wrong_access);
    assert_eq!(kind, IoErrorKind::PermissionDenied);
    assert!(text.contains("check the access key") && text.contains("AKIAWRONG"), "{text}");

    let mut no_bucket = s3_config(&server, "/");
    no_bucket.bucket = "no-such-bucket".into();
    let (kind, text) = message(no_bucket);
    assert_eq!(kind, IoErrorKind::NotFound);
    assert!(text.contains("no-such-bucket") && text.contains("does not exist"), "{text}");

    // Nothing listening: retried, then a clear error.
    let mut closed = s3_config(&server, "/");
    closed.endpoint = format!("http://127.0.0.1:{}", cairn_e2e::servers::free_port());
    closed.connection.retries = 2;
    let (kind, text) = message(closed);
    assert_eq!(kind, IoErrorKind::Unavailable);
    assert!(text.contains("cannot connect") && text.contains("after 2 retries"), "{text}");

    // A bad backup directory is refused before any request, naming the character.
    let mut bad_dir = s3_config(&server, "/");
    bad_dir.directory = "/my backups".into();
    let e = S3Backend::new(bad_dir).unwrap_err();
    assert!(e.to_string().contains("' '"), "{e}");
}

#[test]
fn s3_survives_resets_throttling_stalls_and_cut_bodies_within_the_retry_budget() {
    let Some(server) = S3Server::start() else { return };
    let faults = vec![
        Fault::Reset,
        Fault::SlowDown,
        Fault::Stall(INJECTED_STALL),
        Fault::Truncate,
        Fault::InternalError,
        Fault::Answer(429, "<Error><Code>TooManyRequests</Code></Error>".into(), Vec::new()),
    ];
    // Every third request fails, so no request fails more than once in a row.
    let proxy = FaultProxy::start(server.port, 3, faults);
    let mut config = s3_config(&server, "/faulty");
    config.endpoint = format!("http://127.0.0.1:{}", proxy.port);
    config.connection.retries = 3;
    config.connection.stall_timeout = STALL_TIMEOUT;
    let store = S3Backend::new(config).unwrap();
    rt().block_on(conformance(&store));
    let (faults, requests) = (proxy.faults(), proxy.requests.load(std::sync::atomic::Ordering::SeqCst));
    println!("fault injection: {faults} faults in {requests} requests, all survived");
    assert!(faults >= 12, "{faults} faults in {requests} requests");
}

#[test]
fn s3_server_answers_become_messages_that_say_what_to_fix() {
    let Some(server) = S3Server::start() else { return };
    let rt = rt();
    let answer = |status: u16, xml: &str, headers: Vec<(String, String)>| {
        let proxy = FaultProxy::start(server.port, 1, vec![Fault::Answer(status, xml.to_string(), headers)]);
        let mut config = s3_config(&server, "/");
        config.endpoint = format!("http://127.0.0.1:{}", proxy.port);
        config.connection.retries = 0;
        let store = S3Backend::new(config).unwrap();
        let e = rt.block_on(store.list(FileKind::Snapshot)).unwrap_err();
        (e.kind(), e.to_string())
    };
    let (kind, text) = answer(
        403,
        "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current \
         time is too large.</Message><RequestTime>20261122T080000Z</RequestTime>\
         <ServerTime>2026-11-22T08:15:00Z</ServerTime></Error>",
        Vec::new(),
    );
    assert_eq!(kind, IoErrorKind::PermissionDenied);
    assert!(text.contains("clock") && text.contains("by 900 s"), "{text}");
    let (_, text) = answer(
        301,
        "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed \
         using the specified endpoint.</Message></Error>",
        vec![("x-amz-bucket-region".into(), "eu-west-3".into())],
    );
    assert!(text.contains("is in region eu-west-3") && text.contains("set the region to eu-west-3"), "{text}");
    let (kind, text) =
        answer(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", Vec::new());
    assert_eq!(kind, IoErrorKind::PermissionDenied);
    assert!(text.contains("s3:ListBucket"), "{text}");
    let (kind, text) = answer(503, "<Error><Code>SlowDown</Code></Error>", Vec::new());
    assert_eq!(kind, IoErrorKind::Unavailable);
    assert!(text.contains("busy") && text.contains("SlowDown"), "{text}");
    // A listing that is not XML is an error, not a panic.
    let (kind, _) = answer(200, "\u{0}garbage<<<", Vec::new());
    assert_eq!(kind, IoErrorKind::InvalidData);
}

#[test]
fn s3_bucket_versioning_is_reported_with_a_warning_when_old_versions_pile_up() {
    let Some(server) = S3Server::start() else { return };
    let rt = rt();
    // s3s-fs does not implement versioning: nothing to say.
    let store = S3Backend::new(s3_config(&server, "/")).unwrap();
    assert_eq!(rt.block_on(store.versioning()).unwrap(), None);
    let through = |answers: Vec<Fault>| {
        let proxy = FaultProxy::start(server.port, 1, answers);
        let mut config = s3_config(&server, "/");
        config.endpoint = format!("http://127.0.0.1:{}", proxy.port);
        rt.block_on(S3Backend::new(config).unwrap().versioning()).unwrap()
    };
    let enabled = Fault::Answer(
        200,
        "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".into(),
        Vec::new(),
    );
    let no_rule = Fault::Answer(404, "<Error><Code>NoSuchLifecycleConfiguration</Code></Error>".into(), Vec::new());
    let v = through(vec![enabled.clone(), no_rule]).unwrap();
    assert_eq!(v.status, "Enabled");
    assert!(v.warning().unwrap().contains("lifecycle rule"), "{v:?}");
    let rule = Fault::Answer(
        200,
        "<LifecycleConfiguration><Rule><Status>Enabled</Status><NoncurrentVersionExpiration>\
         <NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>"
            .into(),
        Vec::new(),
    );
    let v = through(vec![enabled, rule]).unwrap();
    assert_eq!((v.expires_old_versions, v.warning()), (Some(true), None));
    let never = Fault::Answer(200, "<VersioningConfiguration/>".into(), Vec::new());
    assert_eq!(through(vec![never]).unwrap().warning(), None);
}

#[test]
fn s3_storage_class_goes_on_packs_only() {
    let Some(server) = S3Server::start() else { return };
    let proxy = FaultProxy::start(server.port, 0, Vec::new());
    let mut config = s3_config(&server, "/classes");
    config.endpoint = format!("http://127.0.0.1:{}", proxy.port);
    // s3s-fs accepts the standard class only; what matters is which requests carry it.
    config.pack_storage_class = Some("STANDARD".into());
    let store = S3Backend::new(config).unwrap();
    rt().block_on(async {
        store.write(&Handle::new(FileKind::Pack, id(0xcd)), data(1, 100), WriteMode::Replace).await.unwrap();
        store.write(&Handle::new(FileKind::Index, id(0xcd)), data(2, 100), WriteMode::Replace).await.unwrap();
    });
    // Listing 12 objects 5 at a time takes three pages.
    let mut paged = s3_config(&server, "/classes");
    paged.endpoint = format!("http://127.0.0.1:{}", proxy.port);
    paged.list_page_size = Some(5);
    let paged = S3Backend::new(paged).unwrap();
    rt().block_on(async {
        for i in 0..11u8 {
            paged.write(&Handle::new(FileKind::Index, id(i)), data(i, 10), WriteMode::Replace).await.unwrap();
        }
        assert_eq!(paged.list(FileKind::Index).await.unwrap().len(), 12);
    });
    let log = proxy.log.lock().unwrap().clone();
    let pages = log.iter().filter(|h| h.starts_with("GET") && h.contains("list-type=2")).count();
    assert_eq!(pages, 3, "listing pages");
    let class_of = |what: &str| {
        let head = log.iter().find(|h| h.starts_with("PUT") && h.contains(what)).unwrap();
        head.lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-amz-storage-class:").map(|v| v.trim().to_string()))
    };
    assert_eq!(class_of("/data/cd/").as_deref(), Some("standard"));
    assert_eq!(class_of("/index/"), None, "metadata stays in the standard class");
}

#[test]
fn s3_tls_is_verified_and_an_untrusted_certificate_is_explained() {
    let openssl = cairn_e2e::servers::find_tool("openssl");
    if !cairn_e2e::prerequisite(openssl.is_some(), "openssl") {
        return;
    }
    let openssl = openssl.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new(&openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = cairn_e2e::servers::free_port();
    let mut server = std::process::Command::new(&openssl)
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string(), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    cairn_e2e::servers::wait_for_port(port, &mut server, "openssl s_server");
    let config = |verify: bool| {
        let mut c = S3Config::new(
            &format!("https://127.0.0.1:{port}"),
            "bucket",
            "us-east-1",
            "AK",
            Secret::new(b"SK".to_vec()),
        );
        c.path_style = true;
        c.connection.verify_tls = verify;
        c.connection.retries = 0;
        c
    };
    let rt = rt();
    let e = rt.block_on(S3Backend::new(config(true)).unwrap().list(FileKind::Index)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("not trusted") && e.to_string().contains("verify TLS"), "{e}");
    // With verification off the handshake succeeds (the server is not S3, so the answer is refused).
    let e = rt.block_on(S3Backend::new(config(false)).unwrap().list(FileKind::Index)).unwrap_err();
    assert!(e.to_string().contains("is it an S3 endpoint"), "{e}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn s3_temporary_credentials_sign_their_session_token() {
    let Some(server) = S3Server::start() else { return };
    let proxy = FaultProxy::start(server.port, 0, Vec::new());
    let mut config = s3_config(&server, "/");
    config.endpoint = format!("http://127.0.0.1:{}", proxy.port);
    config.session_token = Some(Secret::new(b"FwoGZXIvYXdzEBY/session+token==".to_vec()));
    let store = S3Backend::new(config).unwrap();
    // The server checks the signature, which covers the token header.
    rt().block_on(store.write(&Handle::new(FileKind::Key, id(5)), data(5, 10), WriteMode::Replace)).unwrap();
    let log = proxy.log.lock().unwrap().clone();
    let head = log.iter().find(|h| h.starts_with("PUT")).unwrap().to_ascii_lowercase();
    assert!(head.contains("x-amz-security-token: fwogzxivyxdzeby/session+token=="), "{head}");
    assert!(head.contains("x-amz-security-token;") || head.contains(";x-amz-security-token"), "signed: {head}");
}

fn rest_config(server: &RestServer, path: &str) -> RestConfig {
    let mut c = RestConfig::new(&format!("{}/{path}", server.url));
    c.user = Some(server.user.clone());
    c.password = Some(Secret::new(server.password.as_bytes().to_vec()));
    c.connection.retries = 1;
    c
}

#[test]
fn rest_destination_conforms() {
    let Some(server) = RestServer::start(false) else { return };
    let store = RestBackend::new(rest_config(&server, "repo")).unwrap();
    rt().block_on(async {
        conformance(&store).await;
        assert!(store.allows_deletes().await.unwrap());
    });
    // A REST server holds repository objects only: no side files, said so.
    let d = Destination::Rest(Box::new(RestBackend::new(rest_config(&server, "repo")).unwrap()));
    assert!(!d.has_side_files());
    let e = rt().block_on(d.put_file("cairn-config/a", Bytes::from_static(b"x"))).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::Unsupported, "{e}");
    let mut wrong = rest_config(&server, "repo");
    wrong.password = Some(Secret::new(b"nope".to_vec()));
    let e = rt().block_on(RestBackend::new(wrong).unwrap().list(FileKind::Index)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("user name or password"), "{e}");
}

#[test]
fn rest_append_only_keeps_data_and_says_why_it_cannot_delete() {
    let Some(server) = RestServer::start(true) else { return };
    let store = RestBackend::new(rest_config(&server, "repo")).unwrap();
    rt().block_on(async {
        assert!(!store.allows_deletes().await.unwrap());
        let pack = Handle::new(FileKind::Pack, id(7));
        store.write(&pack, data(7, 1000), WriteMode::Replace).await.unwrap();
        // Writing it again (same name, same bytes) is fine; deleting is refused, clearly.
        store.write(&pack, data(7, 1000), WriteMode::Replace).await.unwrap();
        let e = store.remove(&pack).await.unwrap_err();
        assert_eq!(e.kind(), IoErrorKind::ReadOnly);
        assert!(e.to_string().contains("append-only"), "{e}");
        // Locks can be refreshed (rewritten) and released.
        let lock = Handle::new(FileKind::Lock, id(8));
        store.write(&lock, data(1, 10), WriteMode::CreateNew).await.unwrap();
        store.write(&lock, data(2, 10), WriteMode::Replace).await.unwrap();
        assert_eq!(store.read(&lock, ReadRange::All { max_len: 100 }).await.unwrap(), data(2, 10));
        store.remove(&lock).await.unwrap();
    });
}

/// An rclone bridge to `remote:path`, with the test's rclone configuration.
fn rclone_backend(config_file: &std::path::Path, remote: &str, path: &str) -> RestBackend {
    let mut c = RcloneConfig::new(remote, path);
    c.config_file = Some(config_file.to_path_buf());
    c.program = cairn_e2e::servers::rclone().unwrap();
    c.connection.retries = 1;
    RestBackend::rclone(c)
}

#[test]
fn rclone_bridge_to_a_local_remote_conforms() {
    let Some(_) = cairn_e2e::servers::rclone() else { return };
    let t = tempfile::tempdir().unwrap();
    let config = cairn_e2e::servers::rclone_config(t.path(), None);
    let dir = t.path().join("remote");
    let store = rclone_backend(&config, "cairnlocal", &dir.display().to_string());
    rt().block_on(async {
        conformance(&store).await;
        assert!(store.allows_deletes().await.unwrap());
    });
    // rclone filed the objects as a REST server does (packs under data/XX/).
    assert!(dir.join("config").is_file() && dir.join("index").is_dir());
}

#[test]
fn rclone_bridge_to_an_s3_remote_conforms() {
    let Some(_) = cairn_e2e::servers::rclone() else { return };
    let Some(server) = S3Server::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let config = cairn_e2e::servers::rclone_config(t.path(), Some(&server));
    // The bucket's top: rclone first asks whether a path in a bucket is an object, and s3s-fs
    // answers that question with a 500 for a folder (which rclone retries for half a minute).
    let store = rclone_backend(&config, "s3fs", &server.bucket);
    rt().block_on(conformance(&store));
    assert!(server.data.join(&server.bucket).join("config").is_file());
}

#[test]
fn rclone_bridge_errors_say_what_to_fix() {
    let Some(bin) = cairn_e2e::servers::rclone() else { return };
    let t = tempfile::tempdir().unwrap();
    let config = cairn_e2e::servers::rclone_config(t.path(), None);
    // No such remote: rclone's own words are in the error.
    let store = rclone_backend(&config, "nosuchremote", "x");
    let e = rt().block_on(store.list(FileKind::Snapshot)).unwrap_err();
    assert!(e.to_string().contains("rclone said") && e.to_string().contains("nosuchremote"), "{e}");
    // No rclone at all: install it.
    let mut c = RcloneConfig::new("cairnlocal", "x");
    c.program = t.path().join("no-rclone-here");
    let e = rt().block_on(RestBackend::rclone(c).list(FileKind::Snapshot)).unwrap_err();
    assert!(e.to_string().contains("install rclone"), "{e}");
    // A child that dies is started again on the next request: here every rclone is killed
    // after a second.
    let mortal = t.path().join("mortal-rclone");
    std::fs::write(&mortal, format!("#!/bin/sh\nexec timeout -s KILL 1 '{}' \"$@\"\n", bin.display())).unwrap();
    std::fs::set_permissions(&mortal, <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755))
        .unwrap();
    let mut c = RcloneConfig::new("cairnlocal", &t.path().join("mortal").display().to_string());
    c.program = mortal;
    c.config_file = Some(config.clone());
    let store = RestBackend::rclone(c);
    rt().block_on(async {
        let h = Handle::new(FileKind::Snapshot, id(9));
        store.write(&h, data(9, 100), WriteMode::Replace).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(store.read(&h, ReadRange::All { max_len: 1000 }).await.unwrap(), data(9, 100));
    });
    // The configured remotes are listed, sorted.
    assert_eq!(cairn_std::rclone_remotes(&bin, Some(&config)).unwrap(), vec!["cairnlocal".to_string()]);
    let e = cairn_std::rclone_remotes(&t.path().join("no-rclone-here"), None).unwrap_err();
    assert!(e.to_string().contains("install rclone"), "{e}");
}

fn sftp_config(server: &SshServer, dir: &str) -> SftpConfig {
    let auth = SftpAuth::Key { path: server.client_key.clone(), passphrase: None };
    let mut c = SftpConfig::new("127.0.0.1", &server.user, auth, &server.root.join(dir).display().to_string());
    c.port = server.port;
    c.known_hosts = Some(server.known_hosts.clone());
    c.connection.retries = 2;
    c
}

#[test]
fn sftp_destination_conforms() {
    let Some(server) = SshServer::start() else { return };
    let store = Destination::Sftp(Box::new(SftpBackend::new(sftp_config(&server, "repo")).unwrap()));
    rt().block_on(async {
        conformance(&store).await;
        side_files(&store).await;
    });
    assert!(server.root.join("repo/config").is_file());
    assert!(server.root.join("repo/data").is_dir());
}

#[test]
fn sftp_host_keys_are_verified_never_ignored() {
    let Some(server) = SshServer::start() else { return };
    let rt = rt();
    let try_list = |c: SftpConfig| rt.block_on(SftpBackend::new(c).unwrap().list(FileKind::Snapshot)).map(|_| ());

    // Unknown host: refused, with the fingerprint and how to accept it.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let mut unknown = sftp_config(&server, "r");
    unknown.known_hosts = Some(empty.path().to_path_buf());
    let e = try_list(unknown.clone()).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    let text = e.to_string();
    assert!(text.contains(&server.fingerprint) && text.contains("--accept-host-key"), "{text}");
    // Accepting that fingerprint works.
    unknown.accepted_host_key = Some(server.fingerprint.clone());
    try_list(unknown).unwrap();
    // A changed key is refused loudly, even with another fingerprint accepted.
    let mut changed = sftp_config(&server, "r");
    changed.known_hosts = Some(server.changed_known_hosts());
    changed.accepted_host_key = Some("SHA256:somethingelse".into());
    let text = try_list(changed).unwrap_err().to_string();
    assert!(text.contains("HAS CHANGED") && text.contains(&server.fingerprint), "{text}");
}

#[test]
fn sftp_keys_of_every_kind_and_refusals_that_name_the_methods() {
    let Some(server) = SshServer::start() else { return };
    let rt = rt();
    let with_key = |path: std::path::PathBuf, passphrase: Option<&str>| {
        let mut c = sftp_config(&server, "k");
        c.auth = SftpAuth::Key { path, passphrase: passphrase.map(|p| Secret::new(p.as_bytes().to_vec())) };
        rt.block_on(SftpBackend::new(c).unwrap().list(FileKind::Snapshot)).map(|_| ())
    };
    for kind in ["ecdsa", "rsa"] {
        with_key(server.add_client_key(kind, ""), None).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    let protected = server.add_client_key("ed25519", "open sesame");
    with_key(protected.clone(), Some("open sesame")).unwrap();
    let e = with_key(protected, None).unwrap_err();
    assert!(e.to_string().contains("passphrase"), "{e}");
    // A key the server does not know: refused, naming what the server offers.
    let stranger = tempfile::tempdir().unwrap();
    let path = stranger.path().join("stranger");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    let e = with_key(path, None).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("offers: publickey"), "{e}");
}

#[test]
fn sftp_reconnects_after_the_server_restarts() {
    let Some(mut server) = SshServer::start() else { return };
    let store = SftpBackend::new(sftp_config(&server, "again")).unwrap();
    let rt = rt();
    rt.block_on(store.write(&Handle::new(FileKind::Index, id(1)), data(1, 100_000), WriteMode::Replace)).unwrap();
    server.restart();
    // The old connection is gone: the next operation reconnects by itself.
    rt.block_on(store.write(&Handle::new(FileKind::Index, id(2)), data(2, 100_000), WriteMode::Replace)).unwrap();
    assert_eq!(rt.block_on(store.list(FileKind::Index)).unwrap().len(), 2);
    server.stop();
    let e = rt.block_on(store.list(FileKind::Index)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::Unavailable);
    assert!(e.to_string().contains("after 2 retries"), "{e}");
}

#[test]
fn sftp_password_login_and_a_wrong_password() {
    let Some(server) = SshServer::start_with_passwords() else { return };
    let rt = rt();
    let with_password = |p: &str| {
        let mut c = sftp_config(&server, "pw");
        c.auth = SftpAuth::Password(Secret::new(p.as_bytes().to_vec()));
        SftpBackend::new(c).unwrap()
    };
    let store = with_password(cairn_e2e::servers::PASSWORD);
    rt.block_on(conformance(&store));
    let e = rt.block_on(with_password("wrong").list(FileKind::Index)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("refused the password") && e.to_string().contains("password"), "{e}");
    assert!(!e.to_string().contains("wrong"), "{e}");
    // A backup directory the account may not write to: permission denied, naming the path.
    let mut forbidden = sftp_config(&server, "pw");
    forbidden.auth = SftpAuth::Password(Secret::new(cairn_e2e::servers::PASSWORD.as_bytes().to_vec()));
    forbidden.directory = "/root/cairn-forbidden".into();
    let store = SftpBackend::new(forbidden).unwrap();
    let e = rt.block_on(store.write(&Handle::CONFIG, data(1, 10), WriteMode::CreateNew)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("/root/cairn-forbidden") && e.to_string().contains("ermission denied"), "{e}");
}

#[test]
fn rest_survives_a_faulty_network_within_the_retry_budget() {
    let Some(server) = RestServer::start(false) else { return };
    let faults = vec![Fault::Reset, Fault::InternalError, Fault::Truncate, Fault::Stall(INJECTED_STALL)];
    let proxy = FaultProxy::start(server.port, 3, faults);
    let mut config = rest_config(&server, "faulty");
    config.url = format!("http://127.0.0.1:{}/faulty", proxy.port);
    config.connection.retries = 3;
    config.connection.stall_timeout = STALL_TIMEOUT;
    let store = RestBackend::new(config).unwrap();
    rt().block_on(conformance(&store));
    println!("REST fault injection: {} faults survived", proxy.faults());
    assert!(proxy.faults() >= 10, "{}", proxy.faults());
}

fn azure_config(server: &AzuriteServer, directory: &str, auth: AzureAuth) -> AzureConfig {
    let mut c = AzureConfig::new(AZURE_ACCOUNT, &server.container, auth);
    c.endpoint = server.endpoint.clone();
    c.directory = directory.to_string();
    c.connection.retries = 1;
    c
}

fn azure_key() -> AzureAuth {
    AzureAuth::SharedKey(Secret::new(AZURE_ACCOUNT_KEY.as_bytes().to_vec()))
}

#[test]
fn azure_destination_conforms() {
    let Some(server) = AzuriteServer::start() else { return };
    let store = AzureBackend::new(azure_config(&server, "/backups/laptop", azure_key())).unwrap();
    rt().block_on(conformance(&store));
    // Side files, the large one in blocks of 1 MiB.
    let mut config = azure_config(&server, "/backups/laptop", azure_key());
    config.block_threshold = 3 << 20;
    config.block_size = 1 << 20;
    rt().block_on(side_files(&Destination::Azure(Box::new(AzureBackend::new(config).unwrap()))));
}

#[test]
fn azure_destination_conforms_with_a_sas_token() {
    let Some(server) = AzuriteServer::start() else { return };
    let sas = server.account_sas("rwdlac", "2099-01-01T00:00:00Z");
    let store = AzureBackend::new(azure_config(&server, "/", AzureAuth::Sas(Secret::new(sas.into_bytes())))).unwrap();
    rt().block_on(conformance(&store));
}

#[test]
fn azure_uploads_large_blobs_block_by_block() {
    let Some(server) = AzuriteServer::start() else { return };
    let mut config = azure_config(&server, "/", azure_key());
    config.block_threshold = 3 << 20;
    config.block_size = 1 << 20;
    let store = AzureBackend::new(config).unwrap();
    rt().block_on(async {
        let big = data(9, (5 << 20) + 12345);
        let h = Handle::new(FileKind::Pack, id(0x42));
        store.write(&h, big.clone(), WriteMode::Replace).await.unwrap();
        assert_eq!(store.read(&h, ReadRange::All { max_len: 64 << 20 }).await.unwrap(), big);
        assert_eq!(store.list(FileKind::Pack).await.unwrap()[0].size, big.len() as u64);
    });
}

#[test]
fn azure_errors_say_what_to_fix() {
    let Some(server) = AzuriteServer::start() else { return };
    let rt = rt();
    let message = |config: AzureConfig| {
        let store = AzureBackend::new(config).unwrap();
        let e = rt.block_on(store.list(FileKind::Snapshot)).unwrap_err();
        (e.kind(), e.to_string())
    };
    use base64::Engine;
    let wrong = base64::engine::general_purpose::STANDARD.encode(b"not the key at all, not at all");
    let (kind, text) =
        message(azure_config(&server, "/", AzureAuth::SharedKey(Secret::new(wrong.clone().into_bytes()))));
    assert_eq!(kind, IoErrorKind::PermissionDenied);
    assert!(text.contains("storage account key") && text.contains("check it"), "{text}");
    assert!(!text.contains(&wrong), "the key leaked: {text}");

    let mut no_container = azure_config(&server, "/", azure_key());
    no_container.container = "no-such-container".into();
    let (kind, text) = message(no_container);
    assert_eq!(kind, IoErrorKind::NotFound);
    assert!(text.contains("no-such-container") && text.contains("does not exist"), "{text}");

    // A SAS token that may read and list, but not write: the error names the permission.
    let read_only = server.account_sas("rl", "2099-01-01T00:00:00Z");
    let store =
        AzureBackend::new(azure_config(&server, "/", AzureAuth::Sas(Secret::new(read_only.clone().into_bytes()))))
            .unwrap();
    assert!(rt.block_on(store.list(FileKind::Snapshot)).unwrap().is_empty());
    let e = rt.block_on(store.write(&Handle::new(FileKind::Lock, id(1)), Bytes::from_static(b"x"), WriteMode::Replace));
    let text = e.unwrap_err().to_string();
    assert!(text.contains("SAS token") && text.contains("write (w)"), "{text}");
    assert!(!text.contains("sig="), "the token leaked: {text}");

    // An expired SAS token.
    let expired = server.account_sas("rwdlac", "2001-01-01T00:00:00Z");
    let (kind, text) = message(azure_config(&server, "/", AzureAuth::Sas(Secret::new(expired.into_bytes()))));
    assert_eq!(kind, IoErrorKind::PermissionDenied);
    assert!(text.contains("SAS token"), "{text}");

    // A key that is not base64, a token with no signature: refused before any request.
    let e =
        AzureBackend::new(azure_config(&server, "/", AzureAuth::SharedKey(Secret::new(b"!!".to_vec())))).unwrap_err();
    assert!(e.to_string().contains("not base64"), "{e}");
    let e = AzureBackend::new(azure_config(&server, "/", AzureAuth::Sas(Secret::new(b"sv=1".to_vec())))).unwrap_err();
    assert!(e.to_string().contains("no signature"), "{e}");

    // Nothing listening: retried, then a clear error.
    let mut closed = azure_config(&server, "/", azure_key());
    closed.endpoint = format!("http://127.0.0.1:{}/{AZURE_ACCOUNT}", cairn_e2e::servers::free_port());
    closed.connection.retries = 2;
    let (kind, text) = message(closed);
    assert_eq!(kind, IoErrorKind::Unavailable);
    assert!(text.contains("cannot connect") && text.contains("after 2 retries"), "{text}");
}

fn webdav_config(server: &WebDavServer, path: &str) -> WebDavConfig {
    let mut c = WebDavConfig::new(&format!("{}/{path}", server.url));
    c.user = Some(server.user.clone());
    c.password = Some(Secret::new(server.password.as_bytes().to_vec()));
    c.connection.retries = 1;
    c
}

#[test]
fn webdav_destination_conforms() {
    let Some(server) = WebDavServer::start() else { return };
    let store = Destination::WebDav(Box::new(WebDavBackend::new(webdav_config(&server, "backups/my laptop")).unwrap()));
    rt().block_on(async {
        conformance(&store).await;
        side_files(&store).await;
    });
    // The objects are where the layout says, in the folder with a space in its name.
    assert!(server.data.join("backups/my laptop/config").is_file());
    let leftovers: Vec<_> = walk(&server.data).into_iter().filter(|p| p.contains(".cairn-tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn webdav_errors_say_what_to_fix() {
    let Some(server) = WebDavServer::start() else { return };
    let rt = rt();
    let mut wrong = webdav_config(&server, "x");
    wrong.password = Some(Secret::new(b"not the password".to_vec()));
    let e = rt.block_on(WebDavBackend::new(wrong).unwrap().list(FileKind::Snapshot)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("user name or password") && !e.to_string().contains("not the password"), "{e}");
    let mut closed = webdav_config(&server, "x");
    closed.url = format!("http://127.0.0.1:{}/x", cairn_e2e::servers::free_port());
    closed.connection.retries = 2;
    let e = rt.block_on(WebDavBackend::new(closed).unwrap().list(FileKind::Snapshot)).unwrap_err();
    assert!(e.to_string().contains("cannot connect") && e.to_string().contains("after 2 retries"), "{e}");
}

/// Uploads at once into folders nobody has made yet: the server locks a folder while one
/// request makes it and answers the others 423 Locked; every upload must still land.
#[test]
fn webdav_concurrent_uploads_into_new_folders_all_land() {
    let Some(server) = WebDavServer::start() else { return };
    for round in 0..5u8 {
        let mut config = webdav_config(&server, &format!("round{round}"));
        config.connection.connections = 16;
        uploads_into_new_folders_all_land(&WebDavBackend::new(config).unwrap(), round);
    }
}

/// 48 packs written at once into `data/XX/` folders nobody has made yet: every one lands and
/// is listed (`round` names the attempt in a failure).
fn uploads_into_new_folders_all_land<S: Storage>(store: &S, round: u8) {
    let handles: Vec<Handle> = (0..48u8).map(|n| Handle::new(FileKind::Pack, id(n.wrapping_mul(37)))).collect();
    rt().block_on(async {
        let writes = handles.iter().map(|h| store.write(h, data(h.id.0[0], 1000), WriteMode::Replace));
        for (h, r) in handles.iter().zip(futures_join_all(writes).await) {
            r.unwrap_or_else(|e| panic!("round {round}, {}: {e}", h.path()));
        }
        assert_eq!(store.list(FileKind::Pack).await.unwrap().len(), handles.len());
    });
}

fn ftp_config(server: &FtpServer, dir: &str) -> FtpConfig {
    let mut c = FtpConfig::new("localhost", dir);
    c.port = server.port;
    c.user = server.user.clone();
    c.password = Some(Secret::new(FTP_PASSWORD.as_bytes().to_vec()));
    // The test server's certificate is self-signed.
    c.connection.verify_tls = false;
    c.connection.retries = 1;
    c
}

#[test]
fn ftp_destination_conforms_over_tls() {
    let Some(server) = FtpServer::start(true) else { return };
    let store = FtpBackend::new(ftp_config(&server, "backups/my laptop")).unwrap();
    // One runtime throughout: the pool's connections belong to it.
    let rt = rt();
    rt.block_on(async {
        conformance(&store).await;
        assert_eq!(store.secured(), Some(true), "the server offers TLS: it must be used");
    });
    let d = Destination::Ftp(Box::new(store));
    rt.block_on(async {
        // Reads that stop in the middle of a large file (8 MiB pieces) stop its transfer, and
        // the next request works.
        let big = data(5, BIG_SIDE_FILE);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &big).unwrap();
        d.put_file_from("cairn-archives/x.tar", file.as_file(), big.len() as u64, WriteMode::Replace).await.unwrap();
        for _ in 0..2 {
            let mut out = Vec::new();
            d.get_file_into("cairn-archives/x.tar", big.len() as u64, &mut out).await.unwrap();
            assert!(out == big, "read back differs");
        }
        d.remove_file("cairn-archives/x.tar").await.unwrap();
    });
    rt.block_on(side_files(&d));
    // The objects are where the layout says, in the folder with a space in its name.
    assert!(server.home.join("backups/my laptop/config").is_file());
    let leftovers: Vec<_> = walk(&server.home).into_iter().filter(|p| p.contains("cairn-tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn ftp_without_tls_works_in_clear_only_when_allowed() {
    let Some(server) = FtpServer::start(false) else { return };
    let rt = rt();
    // ftp:// uses TLS if offered: this server offers none, so it works in clear, and says so.
    let store = FtpBackend::new(ftp_config(&server, "clear")).unwrap();
    rt.block_on(async {
        store.write(&Handle::CONFIG, Bytes::from_static(b"c"), WriteMode::CreateNew).await.unwrap();
        assert_eq!(store.secured(), Some(false));
    });
    // ftps:// requires it: refused with what to do, before any password is sent.
    let mut required = ftp_config(&server, "clear");
    required.tls = FtpTls::Required;
    let e = rt.block_on(FtpBackend::new(required).unwrap().list(FileKind::Snapshot)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("offers no TLS") && e.to_string().contains("ftp://"), "{e}");
    // Stale temporary files of interrupted uploads are found (by MLSD's times) and removed.
    std::fs::write(server.home.join("clear/cairn-tmp-0123456789abcdef"), b"half").unwrap();
    let old = filetime::FileTime::from_unix_time(1_700_000_000, 0);
    filetime::set_file_mtime(server.home.join("clear/cairn-tmp-0123456789abcdef"), old).unwrap();
    let store = Destination::Ftp(Box::new(FtpBackend::new(ftp_config(&server, "clear")).unwrap()));
    assert_eq!(rt.block_on(store.remove_stale_temporaries(Duration::from_secs(3600))).unwrap(), 1);
    assert!(!server.home.join("clear/cairn-tmp-0123456789abcdef").exists());
}

#[test]
fn ftp_errors_say_what_to_fix() {
    let Some(server) = FtpServer::start(true) else { return };
    let rt = rt();
    let mut wrong = ftp_config(&server, "x");
    wrong.password = Some(Secret::new(b"not the password".to_vec()));
    let e = rt.block_on(FtpBackend::new(wrong).unwrap().list(FileKind::Snapshot)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("user name and password") && !e.to_string().contains("not the password"), "{e}");
    // A self-signed certificate is refused unless verify TLS is off.
    let mut verified = ftp_config(&server, "x");
    verified.connection.verify_tls = true;
    let e = rt.block_on(FtpBackend::new(verified).unwrap().list(FileKind::Snapshot)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::PermissionDenied);
    assert!(e.to_string().contains("not trusted") && e.to_string().contains("verify TLS"), "{e}");
    // Nothing listening: retried, then a clear error.
    let mut closed = ftp_config(&server, "x");
    closed.port = cairn_e2e::servers::free_port();
    closed.connection.retries = 2;
    let e = rt.block_on(FtpBackend::new(closed).unwrap().list(FileKind::Snapshot)).unwrap_err();
    assert_eq!(e.kind(), IoErrorKind::Unavailable);
    assert!(e.to_string().contains("connecting") && e.to_string().contains("after 2 retries"), "{e}");
}

/// Uploads at once into folders nobody has made yet, over a pool of connections.
#[test]
fn ftp_concurrent_uploads_into_new_folders_all_land() {
    let Some(server) = FtpServer::start(true) else { return };
    for round in 0..3u8 {
        let mut config = ftp_config(&server, &format!("round{round}"));
        config.connection.connections = 8;
        uploads_into_new_folders_all_land(&FtpBackend::new(config).unwrap(), round);
    }
}
