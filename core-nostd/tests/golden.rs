//! Golden vectors: fixed bytes in `tests/golden/*.hex` that must keep decoding to the same
//! values, and that the encoder must keep producing from the same inputs. They pin the format
//! described in FORMAT.md. To regenerate after a deliberate format change (which also needs a
//! new format version): `CAIRN_BLESS=1 cargo test -p cairn-core --test golden`.

use std::path::PathBuf;

use cairn_core::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in b.chunks(32).enumerate() {
        if i > 0 {
            s.push('\n');
        }
        for x in chunk {
            s.push_str(&format!("{x:02x}"));
        }
    }
    s.push('\n');
    s
}

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

/// Compares `bytes` with the committed vector `name`, or writes it when blessing.
fn golden(name: &str, bytes: &[u8]) -> Vec<u8> {
    let path = dir().join(format!("{name}.hex"));
    if std::env::var_os("CAIRN_BLESS").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, hex(bytes)).unwrap();
    }
    let stored = unhex(&std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {}", path.display())));
    assert_eq!(hex(&stored), hex(bytes), "the encoding of {name} changed: the format is a contract (see FORMAT.md)");
    stored
}

fn master() -> MasterKey {
    let mut b = [0u8; 64];
    for (i, x) in b.iter_mut().enumerate() {
        *x = i as u8;
    }
    MasterKey::from_bytes(&b)
}

#[test]
fn key_object() {
    let info = KeyInfo {
        created: Timestamp::new(1_700_000_000, 0),
        hostname: "golden-host".into(),
        username: "golden-user".into(),
    };
    let key = KeyObject::create(&master(), b"golden password", KdfParams::INSECURE_FOR_TESTS, [1; 32], [2; 24], info)
        .unwrap();
    let stored = golden("key", &key.encode());
    let id = KeyObject::id_of(&stored);
    let k = KeyObject::decode(id, &stored).unwrap();
    assert_eq!(k.version, 1);
    assert_eq!(k.kdf, Kdf::Argon2id(KdfParams { memory_kib: 8, iterations: 1, parallelism: 1 }));
    assert_eq!(k.salt, [1; 32]);
    assert_eq!((k.hostname.as_str(), k.username.as_str()), ("golden-host", "golden-user"));
    assert_eq!(k.created, Timestamp::new(1_700_000_000, 0));
    assert_eq!(k.sealed_master.len(), 24 + 64 + 16);
    let m = k.open(b"golden password").unwrap().expect("the golden password opens the golden key");
    let keys = Keys::new(&m);
    assert_eq!(keys.blob_id(b"x"), Keys::new(&master()).blob_id(b"x"));
    assert!(k.open(b"other").unwrap().is_none());
}

#[test]
fn config_object() {
    let keys = Keys::new(&master());
    let config = Config::new(Id([4; 32]), [5; 32]);
    let sealed = seal_object(&keys, label::CONFIG, &config.encode(), Compression::OFF, &[3; 24]);
    let stored = golden("config", &sealed);
    let plain = open_object(&keys, ObjectKind::Config, Id::ZERO, label::CONFIG, &stored, MAX_CONFIG_LEN).unwrap();
    let c = Config::decode(&plain).unwrap();
    assert_eq!(c.version, 1);
    assert!(c.mandatory_features.is_empty() && c.optional_features.is_empty());
    assert_eq!(c.id, Id([4; 32]));
    assert_eq!((c.chunker.min_size, c.chunker.avg_size, c.chunker.max_size), (512 << 10, 1 << 20, 8 << 20));
    assert_eq!(c.chunker.seed, [5; 32]);
    assert_eq!(c.pack_size, 16 << 20);
    assert_eq!(c.compression, Compression { codec: Codec::Deflate, level: 1 });
}

#[test]
fn gear_table_and_chunk_boundaries() {
    let g = format!("{:?}", ChunkerParams::with_seed([5; 32]));
    assert!(g.contains("redacted"));
    // Cut points of a fixed input under fixed parameters.
    let params = ChunkerParams { min_size: 256, avg_size: 1280, max_size: 8192, seed: [5; 32] };
    let mut x = 1u32;
    let data: Vec<u8> = (0..40_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let mut c = Chunker::new(&params);
    let mut cuts = Vec::new();
    let mut pos = 0;
    while let Some(n) = c.next_boundary(&data[pos..]) {
        pos += n;
        cuts.push(pos as u32);
    }
    let bytes: Vec<u8> = cuts.iter().flat_map(|c| c.to_le_bytes()).collect();
    golden("chunk-boundaries", &bytes);
}

#[test]
fn blobs_packs_and_index() {
    let keys = Keys::new(&master());
    let text = b"golden data blob, golden data blob, golden data blob\n".repeat(8);
    let random: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let id_text = keys.blob_id(&text);
    let id_random = keys.blob_id(&random);
    let mut b = PackBuilder::new(BlobType::Data);
    b.add(seal_blob(&keys, BlobType::Data, id_text, &text, Compression::DEFAULT, &[6; 24]));
    b.add(seal_blob(&keys, BlobType::Data, id_random, &random, Compression::DEFAULT, &[7; 24]));
    let pack = b.finish(&keys, &[8; 24]);
    let stored = golden("pack", &pack.bytes);
    let pack_id = PackId(object_hash(&stored));
    let h = decode_pack(&keys, pack_id, &stored).unwrap();
    assert_eq!(h.blob_type, BlobType::Data);
    assert_eq!(h.entries.len(), 2);
    assert_eq!((h.entries[0].id, h.entries[0].offset, h.entries[0].raw_len), (id_text, 0, text.len() as u32));
    assert_eq!((h.entries[1].id, h.entries[1].raw_len), (id_random, 300));
    // The text blob is deflated (codec 1), the random one stored (codec 0): 300 + 1 + 40 bytes.
    assert!(h.entries[0].length < text.len() as u32);
    assert_eq!(h.entries[1].length, 341);
    let e = h.entries[1];
    let blob = &stored[e.offset as usize..(e.offset + e.length) as usize];
    assert_eq!(open_blob(&keys, BlobType::Data, id_random, blob, 300).unwrap(), random);
    let e = h.entries[0];
    let blob = &stored[e.offset as usize..(e.offset + e.length) as usize];
    assert_eq!(open_blob(&keys, BlobType::Data, id_text, blob, e.raw_len).unwrap(), text);

    let index = IndexFile::of(vec![IndexPack {
        id: pack_id,
        blob_type: BlobType::Data,
        size: stored.len() as u64,
        blobs: h.entries.iter().map(|e| IndexBlob::from(*e)).collect(),
    }]);
    let sealed = seal_object(&keys, label::INDEX, &index.encode(), Compression::DEFAULT, &[9; 24]);
    let stored_index = golden("index", &sealed);
    let index_id = IndexId(object_hash(&stored_index));
    let plain = open_object(&keys, ObjectKind::Index, index_id.0, label::INDEX, &stored_index, MAX_INDEX_LEN).unwrap();
    assert_eq!(IndexFile::decode(index_id, &plain).unwrap(), index);

    // With the appended lists (FORMAT.md 4.7): the same pack, another condemned, a forgotten
    // snapshot. Without them the bytes above are unchanged.
    let mut appended = index.clone();
    appended.condemned = vec![PackId(Id([0x0c; 32]))];
    appended.forgotten = vec![SnapshotId(Id([0x0f; 32]))];
    let encoded = appended.encode();
    assert!(encoded.starts_with(&index.encode()));
    let stored_appended = golden("index-appended-plaintext", &encoded);
    assert_eq!(IndexFile::decode(index_id, &stored_appended).unwrap(), appended);
}

#[test]
fn config_with_lock_settings() {
    let mut config = Config::new(Id([4; 32]), [5; 32]);
    config.require_leases();
    config.locks = LockSettings { stale_after_secs: 60, refresh_every_secs: 10, settle_millis: 250 };
    let stored = golden("config-leases-plaintext", &config.encode());
    assert_eq!(Config::decode(&stored).unwrap(), config);
    assert_eq!(config.mandatory_features, vec![FEATURE_LEASES.to_string()]);
}

#[test]
fn lock_objects() {
    let keys = Keys::new(&master());
    let mut info = LockInfo::new(false, "backup", "golden-host", "alice", 4242, Timestamp::new(1_700_000_000, 0));
    info.token = [0x70; 16];
    info.refreshed = Timestamp::new(1_700_000_300, 0);
    info.lease.sequence = 1;
    info.lease.host = HostTag { boot_id: [0xb0; 16], pid_namespace: 4_026_531_836, process_start: 123_456 };
    let sealed = seal_object(&keys, label::LOCK, &info.encode(), Compression::OFF, &[13; 24]);
    let stored = golden("lock", &sealed);
    let plain = open_object(&keys, ObjectKind::Lock, Id([1; 32]), label::LOCK, &stored, MAX_LOCK_LEN).unwrap();
    assert_eq!(LockInfo::decode(Id([1; 32]), &plain).unwrap(), info);

    let mut tombstone = info.clone();
    tombstone.lease.revoked = Some(Revocation {
        by: "prune on other-host (process 7)".into(),
        at: Timestamp::new(1_700_003_000, 0),
        seen: Some(vec![SnapshotId(Id([0x5e; 32]))]),
    });
    let stored = golden("lock-tombstone-plaintext", &tombstone.encode());
    assert_eq!(LockInfo::decode(Id::ZERO, &stored).unwrap(), tombstone);

    // A lock object of lock format 1 (no appended group) reads with the defaults.
    let mut old = info.clone();
    old.lease = LeaseFields::default();
    let bytes = old.encode();
    assert!(info.encode().starts_with(&bytes));
    assert_eq!(LockInfo::decode(Id::ZERO, &bytes).unwrap(), old);
}

#[test]
fn tree_and_snapshot() {
    let keys = Keys::new(&master());
    let meta = Metadata {
        mode: 0o4755,
        uid: 1000,
        gid: 100,
        user: Some("alice".into()),
        group: None,
        mtime: Timestamp::new(1_600_000_000, 123),
        ctime: Timestamp::new(-5, 999_999_999),
        size: 7,
        inode: 42,
        device: 2049,
        links: 1,
    };
    let tree = Tree {
        nodes: vec![
            Node {
                name: b"caf\xe9".to_vec(),
                kind: NodeKind::File { content: vec![BlobId(Id([0xaa; 32]))] },
                meta: meta.clone(),
            },
            Node { name: b"dir".to_vec(), kind: NodeKind::Dir { subtree: BlobId(Id([0xbb; 32])) }, meta: meta.clone() },
            Node {
                name: b"link".to_vec(),
                kind: NodeKind::Symlink { target: b"../x".to_vec() },
                meta: Metadata::default(),
            },
        ],
    };
    let encoded = golden("tree-plaintext", &tree.encode());
    let t = Tree::decode(BlobId::default(), &encoded).unwrap();
    assert_eq!(t, tree);
    assert!(t.validate().is_empty());
    let sealed = seal_blob(&keys, BlobType::Tree, keys.blob_id(&encoded), &encoded, Compression::DEFAULT, &[10; 24]);
    golden("tree-blob", &sealed.bytes);

    let snap = Snapshot {
        time: Timestamp::new(1_700_000_000, 5),
        tree: keys.blob_id(&encoded),
        paths: vec![b"/home/alice".to_vec()],
        hostname: "golden-host".into(),
        username: "alice".into(),
        tags: vec!["daily".into()],
        parent: Some(SnapshotId(Id([0xcc; 32]))),
        program: "cairn 0.1.0".into(),
        excludes: vec!["*.tmp".into()],
        stats: BackupStats { files_new: 1, bytes_total: 7, bytes_read: 7, ..BackupStats::default() },
        lease: None,
    };
    let sealed = seal_object(&keys, label::SNAPSHOT, &snap.encode(), Compression::DEFAULT, &[11; 24]);
    let stored = golden("snapshot", &sealed);
    let id = SnapshotId(object_hash(&stored));
    let plain = open_object(&keys, ObjectKind::Snapshot, id.0, label::SNAPSHOT, &stored, MAX_SNAPSHOT_LEN).unwrap();
    assert_eq!(Snapshot::decode(id, &plain).unwrap(), snap);

    // With the appended lease token (FORMAT.md 4.3).
    let leased = Snapshot { lease: Some([0x1e; 16]), ..snap.clone() };
    let encoded = leased.encode();
    assert!(encoded.starts_with(&snap.encode()));
    let stored = golden("snapshot-lease-plaintext", &encoded);
    assert_eq!(Snapshot::decode(id, &stored).unwrap(), leased);
}

/// A zstd blob (codec 2) must keep decoding. Only decoding is pinned: libzstd may produce other
/// (equally valid) bytes in another version, so the writer is checked by a round trip instead.
#[test]
#[cfg(feature = "zstd")]
fn zstd_blob() {
    let keys = Keys::new(&master());
    let text = b"golden zstd blob, golden zstd blob, golden zstd blob\n".repeat(16);
    let id = keys.blob_id(&text);
    let fresh = seal_blob(&keys, BlobType::Data, id, &text, Compression::ZSTD, &[12; 24]);
    assert_eq!(open_blob(&keys, BlobType::Data, id, &fresh.bytes, text.len() as u32).unwrap(), text);
    let path = dir().join("zstd-blob.hex");
    if std::env::var_os("CAIRN_BLESS").is_some() {
        std::fs::write(&path, hex(&fresh.bytes)).unwrap();
    }
    let stored = unhex(&std::fs::read_to_string(&path).unwrap());
    let framed = keys.open(label::DATA, &stored).unwrap();
    assert_eq!(framed[0], Codec::Zstd as u8, "codec byte 2 is zstd");
    assert_eq!(&framed[1..5], &[0x28, 0xb5, 0x2f, 0xfd], "one zstd frame (RFC 8878 magic)");
    assert_eq!(open_blob(&keys, BlobType::Data, id, &stored, text.len() as u32).unwrap(), text);
    // Refused: a smaller limit than the frame's content size, and a frame without a size.
    assert!(unframe(&framed, text.len() - 1).is_err());
}

/// A config that uses zstd names the mandatory feature `zstd`, so that builds without it refuse
/// the repository up front.
#[test]
fn zstd_config_is_a_mandatory_feature() {
    let mut config = Config::new(Id([1; 32]), [2; 32]);
    config.set_compression(Compression::ZSTD);
    assert_eq!(config.mandatory_features, vec![FEATURE_ZSTD.to_string()]);
    match Config::decode(&config.encode()) {
        Ok(c) => assert!(cfg!(feature = "zstd") && c.compression == Compression::ZSTD),
        Err(Error::UnknownMandatoryFeature { name }) => assert!(!cfg!(feature = "zstd") && name == "zstd"),
        Err(e) => panic!("{e}"),
    }
}
