//! Throughput of Cairn's hot kernels, one core each, on 1 MiB pieces of the sample (see the
//! crate docs). Compare with the machine's own tools in bench/run.sh (b2sum, gzip -1,
//! openssl speed).

use cairn_core::{
    BlobId, BlobType, Chunker, ChunkerParams, Compression, Framer, Id, Index, IndexBlob, Keys, MasterKey, NONCE_LEN,
    PackId, unframe,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const PIECE: usize = 1 << 20;

fn pieces(sample: &[u8]) -> impl Iterator<Item = &[u8]> {
    sample.chunks(PIECE).filter(|p| p.len() == PIECE)
}

fn kernels(c: &mut Criterion) {
    let (sample, what) = cairn_kernels::sample();
    eprintln!("sample: {what}, {} bytes", sample.len());
    let total = pieces(&sample).count() * PIECE;
    let keys = Keys::new(&MasterKey::from_bytes(&[7; 64]));

    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(sample.len() as u64));
    g.bench_function("chunker", |b| {
        let mut chunker = Chunker::new(&ChunkerParams::with_seed([3; 32]));
        b.iter(|| {
            chunker.reset();
            let mut rest = &sample[..];
            let mut cuts = 0usize;
            while let Some(cut) = chunker.next_boundary(rest) {
                rest = &rest[cut..];
                cuts += 1;
            }
            black_box(cuts)
        })
    });

    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("hash/blake2b-256-keyed", |b| {
        b.iter(|| pieces(&sample).map(|p| keys.blob_id(p).0.0[0]).fold(0u8, |a, x| a ^ x))
    });
    // The `blake2` crate on its own, the reference for the line above.
    g.bench_function("hash/blake2-crate", |b| {
        use blake2::digest::{KeyInit, Mac, consts::U32};
        b.iter(|| {
            pieces(&sample)
                .map(|p| {
                    let mut mac = blake2::Blake2bMac::<U32>::new_from_slice(&[9; 32]).expect("32-byte key");
                    mac.update(p);
                    mac.finalize().into_bytes()[0]
                })
                .fold(0u8, |a, x| a ^ x)
        })
    });
    g.bench_function("hash/blake2b_simd-crate", |b| {
        let params = blake2b_simd::Params::new().hash_length(32).key(&[9; 32]).clone();
        b.iter(|| pieces(&sample).map(|p| params.hash(p).as_bytes()[0]).fold(0u8, |a, x| a ^ x))
    });
    g.bench_function("encrypt/xchacha20poly1305", |b| {
        let mut buf = Vec::with_capacity(NONCE_LEN + PIECE + 64);
        b.iter(|| {
            for p in pieces(&sample) {
                buf.clear();
                buf.resize(NONCE_LEN, 0);
                buf.extend_from_slice(p);
                keys.seal_in_place(&[1; NONCE_LEN], b"bench", &mut buf);
                black_box(&buf);
            }
        })
    });
    // The `chacha20poly1305` crate on its own, in place on a buffer that holds the piece.
    g.bench_function("encrypt/chacha20poly1305-crate", |b| {
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&[5; 32].into());
        let mut buf = vec![0u8; PIECE];
        b.iter(|| {
            for p in pieces(&sample) {
                buf.copy_from_slice(p);
                let tag = cipher.encrypt_inout_detached(&[1; NONCE_LEN].into(), b"bench", buf.as_mut_slice().into());
                black_box(tag.expect("a 1 MiB piece is within the cipher's limit"));
            }
        })
    });
    for compression in [Compression::ZSTD, Compression { level: 1, ..Compression::ZSTD }, Compression::DEFAULT] {
        let name = format!("compress/{}-{}", compression.codec.name(), compression.level);
        let mut framer = Framer::new(compression);
        let framed: Vec<Vec<u8>> = pieces(&sample).map(|p| framer.frame(p)).collect();
        let stored: usize = framed.iter().map(|f| f.len() - NONCE_LEN).sum();
        eprintln!("{name}: ratio {:.3}", total as f64 / stored as f64);
        g.bench_function(&name, |b| b.iter(|| pieces(&sample).map(|p| framer.frame(p).len()).sum::<usize>()));
        let name = format!("decompress/{}-{}", compression.codec.name(), compression.level);
        g.bench_function(&name, |b| {
            b.iter(|| {
                framed.iter().map(|f| unframe(&f[NONCE_LEN..], PIECE).map(|v| v.len()).unwrap_or(0)).sum::<usize>()
            })
        });
    }
    g.finish();

    // Index lookups: one million blobs, a hit and a miss per iteration.
    let mut g = c.benchmark_group("index");
    let n = 1_000_000u32;
    let id_of = |i: u32| {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
        b[4..8].copy_from_slice(&i.to_le_bytes());
        BlobId(Id(b))
    };
    let mut index = Index::new();
    let blobs: Vec<IndexBlob> =
        (0..n).map(|i| IndexBlob { id: id_of(i), offset: i, length: 1000, raw_len: 2000 }).collect();
    for (p, chunk) in blobs.chunks(1000).enumerate() {
        let mut pid = [0u8; 32];
        pid[..8].copy_from_slice(&(p as u64).to_le_bytes());
        index.add_pack(PackId(Id(pid)), BlobType::Data, 1 << 24, chunk).unwrap();
    }
    index.compact();
    g.throughput(Throughput::Elements(2));
    let mut i = 0u32;
    g.bench_function("lookup-1M", |b| {
        b.iter_batched(
            || {
                i = i.wrapping_add(7919) % n;
                (id_of(i), id_of(i + n))
            },
            |(hit, miss)| (index.contains(BlobType::Data, &hit), index.contains(BlobType::Data, &miss)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
