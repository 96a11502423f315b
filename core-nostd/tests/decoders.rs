//! Every decoder of untrusted bytes, fed arbitrary and mutated input: it returns an error or a
//! value, never panics, and never allocates more than a fixed budget per input byte.
//!
//! One test function drives everything so that the global allocation counter is not shared
//! with other tests running in parallel.

mod support;

use std::alloc::System;

use cairn_core::*;
use cap::Cap;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, RngSeed, TestRunner};
use support::*;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Budget for one decode: 64 bytes per input byte plus 4 MiB (serde preallocates at most 1 MiB
/// per sequence, and sequences nest a few levels deep).
fn budget(input: usize) -> usize {
    input * 64 + 4 * 1024 * 1024
}

/// Runs `f` with the allocator capped at the current use plus `budget(input_len)`; an attempt
/// to go past it aborts the test process.
fn capped<T>(input_len: usize, f: impl FnOnce() -> T) -> T {
    let now = ALLOC.allocated();
    ALLOC.set_limit(now + budget(input_len)).unwrap();
    let out = f();
    ALLOC.set_limit(usize::MAX).unwrap();
    out
}

struct Samples {
    keys: Keys,
    valid: Vec<Vec<u8>>,
    pack: Vec<u8>,
    sealed_blob: (BlobId, u32, Vec<u8>),
}

fn samples() -> Samples {
    let master = MasterKey::from_bytes(&[9; 64]);
    let keys = Keys::new(&master);
    let config = Config::new(Id([1; 32]), [2; 32]);
    let key =
        KeyObject::create(&master, b"pw", KdfParams::INSECURE_FOR_TESTS, [3; 32], [4; 24], KeyInfo::default()).unwrap();
    let node = |name: &[u8], kind| Node { name: name.to_vec(), kind, meta: meta(0o644, 7) };
    let tree = Tree {
        nodes: vec![
            node(b"a", NodeKind::File { content: vec![BlobId(Id([5; 32])); 3] }),
            node(b"b", NodeKind::Dir { subtree: BlobId(Id([6; 32])) }),
            node(b"c", NodeKind::Symlink { target: b"/x".to_vec() }),
        ],
    };
    let mut index = IndexFile::of(vec![IndexPack {
        id: PackId(Id([7; 32])),
        blob_type: BlobType::Data,
        size: 1000,
        blobs: vec![IndexBlob { id: BlobId(Id([8; 32])), offset: 0, length: 100, raw_len: 50 }],
    }]);
    // The appended lists too, so that damage to them is decoded.
    index.condemned = vec![PackId(Id([3; 32]))];
    index.forgotten = vec![SnapshotId(Id([4; 32]))];
    let mut lock = LockInfo::new(true, "prune", "h", "u", 7, Timestamp::new(1, 2));
    lock.lease.sequence = 3;
    lock.lease.revoked =
        Some(Revocation { by: "backup".into(), at: Timestamp::new(5, 0), seen: Some(vec![SnapshotId(Id([6; 32]))]) });
    let snapshot = Snapshot {
        time: Timestamp::new(1, 2),
        tree: BlobId(Id([9; 32])),
        paths: vec![b"/home".to_vec()],
        hostname: "h".into(),
        username: "u".into(),
        tags: vec!["t".into()],
        parent: None,
        program: "cairn".into(),
        excludes: vec![],
        stats: BackupStats::default(),
        lease: Some([5; 16]),
    };
    let data = b"blob data blob data blob data".repeat(20);
    let id = keys.blob_id(&data);
    let sealed = seal_blob(&keys, BlobType::Data, id, &data, Compression::DEFAULT, &[1; 24]);
    let mut b = PackBuilder::new(BlobType::Data);
    b.add(sealed.clone());
    let pack = b.finish(&keys, &[2; 24]).bytes;
    #[allow(unused_mut)]
    let mut valid =
        vec![config.encode(), key.encode(), tree.encode(), index.encode(), snapshot.encode(), lock.encode()];
    // A zstd frame, so that damaged zstd input is decoded too.
    #[cfg(feature = "zstd")]
    valid.push(frame_for_sealing(&b"zstd frame data ".repeat(40), Compression::ZSTD)[NONCE_LEN..].to_vec());
    Samples { valid, keys, pack, sealed_blob: (id, data.len() as u32, sealed.bytes) }
}

/// Random bytes, or a valid encoding with random damage (flips, cuts, inserted bytes).
fn input(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (0..n, proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8)).prop_map(move |(i, edits)| {
            let mut v = valid[i].clone();
            for (pos, byte, op) in edits {
                let p = usize::from(pos) % (v.len() + 1);
                match op {
                    0 if p < v.len() => v[p] ^= byte | 1,
                    1 => v.truncate(p),
                    _ => v.insert(p, byte),
                }
            }
            v
        }),
    ]
}

#[test]
fn decoders_never_panic_or_allocate_without_bound() {
    let s = samples();
    // 20,000 inputs from a fixed seed in the suite; 200,000 from a new (printed) seed in the
    // full-size campaigns (`CAIRN_CAMPAIGN=full`; `CAIRN_CAMPAIGN_SEED=N` replays one).
    let full = std::env::var("CAIRN_CAMPAIGN").is_ok_and(|v| v == "full");
    let want: u32 = if full { 200_000 } else { 20_000 };
    let seed = match std::env::var("CAIRN_CAMPAIGN_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        Some(s) => s,
        None if full => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
        None => 0xdec0de,
    };
    let mut runner = TestRunner::new(PropConfig {
        cases: want,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..PropConfig::default()
    });
    let mut inputs = s.valid.clone();
    inputs.push(s.pack.clone());
    inputs.push(s.sealed_blob.2.clone());
    let cases = std::cell::Cell::new(0u32);
    let ok_decodes = std::cell::Cell::new(0u32);
    runner
        .run(&input(inputs), |bytes| {
            cases.set(cases.get() + 1);
            let len = bytes.len();
            capped(len, || {
                let _ = Config::decode(&bytes);
                let _ = KeyObject::decode(KeyId::default(), &bytes);
                if let Ok(t) = Tree::decode(BlobId::default(), &bytes) {
                    ok_decodes.set(ok_decodes.get() + 1);
                    let _ = t.validate();
                }
                let _ = IndexFile::decode(IndexId::default(), &bytes);
                let _ = Snapshot::decode(SnapshotId::default(), &bytes);
                let _ = LockInfo::decode(Id::ZERO, &bytes);
                let _ = unframe(&bytes, 1 << 20);
                let _ = decode_pack(&s.keys, PackId::default(), &bytes);
                let _ = header_len(PackId::default(), len as u64, bytes.get(..4).unwrap_or(&[]));
                let (id, raw, _) = &s.sealed_blob;
                let _ = open_blob(&s.keys, BlobType::Data, *id, &bytes, *raw);
                let _ = open_object(&s.keys, ObjectKind::Index, Id::ZERO, label::INDEX, &bytes, MAX_INDEX_LEN);
                let _ = Id::from_hex(&String::from_utf8_lossy(&bytes));
                let _ = split_absolute(&bytes);
            });
            Ok(())
        })
        .unwrap();
    println!("{} inputs, {} decoded as trees; seed {seed}", cases.get(), ok_decodes.get());
    assert!(cases.get() >= want);
    if let Some(path) = std::env::var_os("CAIRN_CAMPAIGN_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(f, "CAMPAIGN hostile-core inputs={} seed={seed}", cases.get()).unwrap();
    }
    // The valid samples still decode (the mutations above did not test dead code).
    assert!(Config::decode(&s.valid[0]).is_ok());
    assert!(decode_pack(&s.keys, PackId::default(), &s.pack).is_ok());
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // 32 MiB of zeros deflates to a few KiB; decoding with a 1 MiB limit must stop there.
    let zeros = vec![0u8; 32 << 20];
    let framed = frame_for_sealing(&zeros, Compression::DEFAULT);
    let payload = &framed[NONCE_LEN..];
    assert!(payload.len() < 256 * 1024, "{} bytes", payload.len());
    let r = capped(payload.len(), || unframe(payload, 1 << 20));
    assert!(matches!(r, Err(DecodeError::TooLarge { .. })));
}

#[test]
#[cfg(feature = "zstd")]
fn a_zstd_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 32 << 20];
    let framed = frame_for_sealing(&zeros, Compression::ZSTD);
    let payload = &framed[NONCE_LEN..];
    assert_eq!(payload[0], Codec::Zstd as u8);
    let r = capped(payload.len(), || unframe(payload, 1 << 20));
    assert!(matches!(r, Err(DecodeError::TooLarge { .. })), "{r:?}");
}
