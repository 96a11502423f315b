//! Compression and the framed plaintext.
//!
//! Every sealed message (blob or object) has a **framed plaintext**: one codec byte followed by
//! the payload. Codec `0` is stored as is, codec `1` is a raw DEFLATE stream (RFC 1951, no zlib
//! header), codec `2` is one Zstandard frame (RFC 8878). Writers compress and keep the result only
//! when it is smaller than the input, so incompressible data costs one byte. Readers always bound
//! decompression by the length the index or header promised, so a hostile stream cannot inflate
//! without limit.
//!
//! DEFLATE (pure Rust, miniz_oxide) is always built: it is the baseline every build reads and
//! writes. Zstandard needs the `zstd` cargo feature (libzstd compiled from C by the `zstd-safe`
//! crate, usable without std); a build without it refuses a repository whose config names zstd
//! with a clear message, and reports a zstd frame as an unavailable codec.

use alloc::boxed::Box;
use alloc::vec::Vec;

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};
use serde::{Deserialize, Serialize};

use crate::crypto::NONCE_LEN;
use crate::error::DecodeError;

/// A compression codec, recorded in the first byte of every framed plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Codec {
    /// Stored as is.
    None = 0,
    /// Raw DEFLATE (RFC 1951) via miniz_oxide.
    Deflate = 1,
    /// One Zstandard frame (RFC 8878) via libzstd; needs the `zstd` feature.
    Zstd = 2,
}

impl Codec {
    /// The codec for a frame's first byte.
    pub fn from_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(Self::None),
            1 => Ok(Self::Deflate),
            2 => Ok(Self::Zstd),
            other => Err(DecodeError::UnknownCodec(other)),
        }
    }

    /// True if this build can compress and decompress with the codec.
    pub const fn available(self) -> bool {
        match self {
            Self::None | Self::Deflate => true,
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// The codec's name in messages and feature flags.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Deflate => "deflate",
            Self::Zstd => "zstd",
        }
    }
}

/// How new blobs and objects are compressed (part of the repository config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// The codec tried first; the data is stored raw when it does not shrink.
    pub codec: Codec,
    /// The codec's level (DEFLATE: 1 fastest to 9 smallest; zstd: 1 to 19).
    pub level: u8,
}

impl Compression {
    /// DEFLATE level 1: the best throughput per byte saved on typical data, and readable by
    /// every build. The default of the core, which must build without a C compiler.
    pub const DEFAULT: Self = Self { codec: Codec::Deflate, level: 1 };
    /// Zstandard level 2: about 10% smaller than DEFLATE level 1 and three times as fast; the
    /// default where the `zstd` feature is built (the std side). Measured on the benchmark corpus
    /// against level 3: 4.5% less time for a first backup, 1.5% more stored.
    pub const ZSTD: Self = Self { codec: Codec::Zstd, level: 2 };
    /// No compression.
    pub const OFF: Self = Self { codec: Codec::None, level: 0 };

    /// The best default this build can write: [`Self::ZSTD`] with the `zstd` feature, else
    /// [`Self::DEFAULT`].
    pub const fn best_available() -> Self {
        if Codec::Zstd.available() { Self::ZSTD } else { Self::DEFAULT }
    }

    /// Checks the level is valid for the codec.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self.codec {
            Codec::None => Ok(()),
            Codec::Deflate if (1..=9).contains(&self.level) => Ok(()),
            Codec::Deflate => Err("DEFLATE levels are 1 to 9"),
            Codec::Zstd if !Codec::Zstd.available() => Err("this build lacks zstd (cairn-core's `zstd` feature)"),
            Codec::Zstd if (1..=19).contains(&self.level) => Ok(()),
            Codec::Zstd => Err("zstd levels are 1 to 19"),
        }
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Frames `data` for sealing: returns `[0; NONCE_LEN] || codec || payload`, the layout that
/// [`crate::Keys::seal_in_place`] expects, so that the frame is built once and sealed in place.
pub fn frame_for_sealing(data: &[u8], compression: Compression) -> Vec<u8> {
    Framer::new(compression).frame(data)
}

/// Frames plaintexts with a reusable compressor (its tables are large: reusing them across
/// blobs saves an allocation and a page-faulting clear per blob).
pub struct Framer {
    compression: Compression,
    deflate: Option<Box<CompressorOxide>>,
    #[cfg(feature = "zstd")]
    zstd: Option<zstd_safe::CCtx<'static>>,
}

impl core::fmt::Debug for Framer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Framer").field("compression", &self.compression).finish()
    }
}

/// Segment size for the randomness test of [`looks_random`].
const SEGMENT: usize = 64 * 1024;

/// True if every 64 KiB segment of `data` has byte frequencies as flat as random data, so that
/// DEFLATE would only spend time to store it raw (photos, archives, encrypted files). The test
/// is the collision statistic `256 * sum(count^2) / n^2`, which is 1 for perfectly uniform bytes,
/// about `1 + 256/n` for random ones, and far higher for text, code or binaries; segments within
/// 2% of uniform count as random. Small inputs are never judged random.
fn looks_random(data: &[u8]) -> bool {
    if data.len() < SEGMENT {
        return false;
    }
    data.chunks(SEGMENT).filter(|s| s.len() >= SEGMENT / 4).all(|segment| {
        let mut counts = [0u32; 256];
        for &b in segment {
            if let Some(c) = counts.get_mut(usize::from(b)) {
                *c += 1;
            }
        }
        let n = segment.len() as u64;
        let sum_sq: u64 = counts.iter().map(|&c| u64::from(c) * u64::from(c)).sum();
        // 256 * sum_sq / n^2 < 1.02 + 256 / n   <=>   256 * 100 * sum_sq < (102 * n + 25600) * n
        256 * 100 * sum_sq < (102 * n + 25_600) * n
    })
}

impl Framer {
    /// A framer for `compression`.
    pub fn new(compression: Compression) -> Self {
        Self {
            compression,
            deflate: None,
            #[cfg(feature = "zstd")]
            zstd: None,
        }
    }

    /// Frames `data` (see [`frame_for_sealing`]). A codec this build lacks stores `data` raw.
    pub fn frame(&mut self, data: &[u8]) -> Vec<u8> {
        #[cfg(feature = "zstd")]
        if self.compression.codec == Codec::Zstd && !data.is_empty() && !looks_random(data) {
            let cctx = self.zstd.get_or_insert_with(zstd_safe::CCtx::create);
            if let Some(out) = zstd_into(cctx, self.compression.level, data) {
                return out;
            }
        }
        if self.compression.codec == Codec::Deflate && !data.is_empty() && !looks_random(data) {
            let flags = create_comp_flags_from_zip_params(i32::from(self.compression.level), -15, 0);
            let compressor = match &mut self.deflate {
                Some(c) => {
                    c.reset();
                    c
                }
                None => self.deflate.insert(Box::new(CompressorOxide::new(flags))),
            };
            if let Some(out) = deflate_into(compressor, data, alloc::vec![0u8; NONCE_LEN + 1]) {
                return out;
            }
        }
        let mut out = Vec::with_capacity(NONCE_LEN + 1 + data.len() + crate::crypto::TAG_LEN);
        out.resize(NONCE_LEN, 0);
        out.push(Codec::None as u8);
        out.extend_from_slice(data);
        out
    }
}

/// Compresses `data` after the `NONCE_LEN + 1` bytes already in `out`; gives up (None) as soon
/// as the output would not be smaller than the input.
fn deflate_into(compressor: &mut CompressorOxide, data: &[u8], mut out: Vec<u8>) -> Option<Vec<u8>> {
    let header = out.len();
    if let Some(codec) = out.last_mut() {
        *codec = Codec::Deflate as u8;
    }
    // Worth keeping only if strictly smaller than storing raw.
    let limit = header + data.len();
    out.resize(header + data.len() / 2 + 64, 0);
    let mut in_pos = 0;
    let mut out_pos = header;
    loop {
        let available = out.len() - out_pos;
        let (status, consumed, written) =
            compress(compressor, data.get(in_pos..)?, out.get_mut(out_pos..)?, TDEFLFlush::Finish);
        in_pos += consumed;
        out_pos += written;
        if out_pos >= limit {
            return None;
        }
        match status {
            TDEFLStatus::Done => {
                out.truncate(out_pos);
                // Room for the tag, and no more: sealed blobs wait in a pack builder, and a
                // buffer sized for the input would hold twice their bytes.
                out.shrink_to(out_pos + crate::crypto::TAG_LEN);
                // shrink_to never grows: the output may have filled its buffer to the end.
                out.reserve_exact(crate::crypto::TAG_LEN);
                return Some(out);
            }
            TDEFLStatus::Okay => {
                if written == available {
                    let grow = (out.len() - header).max(64 * 1024);
                    out.resize((out.len() + grow).min(limit + 1), 0);
                }
            }
            _ => return None,
        }
    }
}

/// Compresses `data` into one zstd frame after a `NONCE_LEN + 1` header; `None` unless the
/// frame is strictly smaller than `data`.
#[cfg(feature = "zstd")]
fn zstd_into(cctx: &mut zstd_safe::CCtx<'static>, level: u8, data: &[u8]) -> Option<Vec<u8>> {
    let header = NONCE_LEN + 1;
    // Room for strictly less than the input: libzstd fails (and we store raw) if it needs more.
    let room = data.len() - 1;
    let mut out = alloc::vec![0u8; header + room + crate::crypto::TAG_LEN];
    if let Some(codec) = out.get_mut(NONCE_LEN) {
        *codec = Codec::Zstd as u8;
    }
    let written = cctx.compress(out.get_mut(header..header + room)?, data, i32::from(level)).ok()?;
    out.truncate(header + written);
    // Keep room for the tag only: the buffer was sized for the input, and sealed blobs wait in a
    // pack builder, where the unused room would be memory held for nothing (shrinking in place
    // is cheap for the allocator).
    out.shrink_to(header + written + crate::crypto::TAG_LEN);
    Some(out)
}

/// Makes `buf` `len` bytes long for the caller to overwrite whole: in place if it has the
/// room (the bytes it held stay, only new ones are zeroed, so a reused buffer is not written
/// twice), else as a new zeroed allocation (which the allocator hands out without writing it,
/// where growing would copy the old bytes and zero the new ones).
pub fn resize_for_overwrite(buf: &mut Vec<u8>, len: usize) {
    if buf.capacity() >= len {
        buf.resize(len, 0);
    } else {
        *buf = alloc::vec![0u8; len];
    }
}

/// Decompresses one zstd frame of at most `max_len` bytes into `out` (its bytes replaced).
#[cfg(feature = "zstd")]
fn unzstd_into(payload: &[u8], max_len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let too_large = |len: u64| DecodeError::TooLarge { what: "decompressed payload", len, max: max_len as u64 };
    // Our writer always records the content size; trust it only as far as the caller's limit.
    let len = match zstd_safe::get_frame_content_size(payload) {
        Ok(Some(n)) if n > max_len as u64 => return Err(too_large(n)),
        Ok(Some(n)) => n as usize,
        Ok(None) => return Err(DecodeError::Malformed("zstd frame without its content size")),
        Err(_) => return Err(DecodeError::Malformed("invalid zstd frame header")),
    };
    resize_for_overwrite(out, len);
    match zstd_safe::decompress(out.as_mut_slice(), payload) {
        Ok(n) if n == len => Ok(()),
        Ok(_) => Err(DecodeError::Malformed("zstd frame shorter than its header says")),
        Err(_) => Err(DecodeError::Malformed("invalid zstd frame, or longer than its header says")),
    }
}

/// Reads a framed plaintext: the codec byte, then the payload, decompressed to at most `max_len`
/// bytes.
pub fn unframe(framed: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    unframe_into(framed, max_len, &mut out)?;
    Ok(out)
}

/// [`unframe`] into `out` (its bytes replaced), so that a caller reading many frames reuses
/// one buffer. On failure `out` holds no meaningful bytes.
pub fn unframe_into(framed: &[u8], max_len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let (&codec, payload) = framed.split_first().ok_or(DecodeError::UnexpectedEnd)?;
    match Codec::from_byte(codec)? {
        Codec::None => {
            if payload.len() > max_len {
                return Err(DecodeError::TooLarge { what: "payload", len: payload.len() as u64, max: max_len as u64 });
            }
            out.clear();
            out.extend_from_slice(payload);
            Ok(())
        }
        Codec::Deflate => {
            *out = miniz_oxide::inflate::decompress_to_vec_with_limit(payload, max_len).map_err(|e| {
                if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
                    DecodeError::TooLarge { what: "decompressed payload", len: max_len as u64 + 1, max: max_len as u64 }
                } else {
                    DecodeError::Malformed("invalid DEFLATE stream")
                }
            })?;
            Ok(())
        }
        #[cfg(feature = "zstd")]
        Codec::Zstd => unzstd_into(payload, max_len, out),
        #[cfg(not(feature = "zstd"))]
        Codec::Zstd => Err(DecodeError::CodecNotBuilt(Codec::Zstd.name())),
    }
}

/// Like [`unframe`] but for a frame that owns its bytes: a stored (codec 0) payload is returned
/// without a copy.
pub fn unframe_owned(mut framed: Vec<u8>, max_len: usize) -> Result<Vec<u8>, DecodeError> {
    match framed.first() {
        Some(0) => {
            if framed.len() - 1 > max_len {
                return Err(DecodeError::TooLarge {
                    what: "payload",
                    len: framed.len() as u64 - 1,
                    max: max_len as u64,
                });
            }
            framed.remove(0);
            Ok(framed)
        }
        _ => unframe(&framed, max_len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(v: &[u8]) -> &[u8] {
        &v[NONCE_LEN..]
    }

    #[test]
    fn compressible_data_is_deflated_and_restored() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(100);
        let framed = frame_for_sealing(&data, Compression::DEFAULT);
        assert_eq!(framed[NONCE_LEN], Codec::Deflate as u8);
        assert!(framed.len() < data.len() / 10);
        assert_eq!(unframe(strip(&framed), data.len()).unwrap(), data);
        assert!(matches!(unframe(strip(&framed), data.len() - 1), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn incompressible_data_is_stored_raw() {
        let data = crate::testing::random_bytes(0x1234_5678_9abc_def0u64, 100_000);
        let framed = frame_for_sealing(&data, Compression::DEFAULT);
        assert_eq!(framed[NONCE_LEN], Codec::None as u8);
        assert_eq!(framed.len(), NONCE_LEN + 1 + data.len());
        assert_eq!(unframe_owned(strip(&framed).to_vec(), data.len()).unwrap(), data);
        assert!(unframe(strip(&framed), 10).is_err());
    }

    #[test]
    fn randomness_test() {
        let random = crate::testing::random_bytes(5u64, 300_000);
        assert!(looks_random(&random));
        assert!(!looks_random(&random[..1000]), "small inputs are always tried");
        let base64ish: Vec<u8> = random
            .iter()
            .map(|b| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[usize::from(b % 64)])
            .collect();
        assert!(!looks_random(&base64ish));
        let mut half = random.clone();
        half[100_000..200_000].fill(0);
        assert!(!looks_random(&half), "one compressible segment is enough to try");
    }

    #[test]
    fn large_inputs_are_probed_and_a_framer_is_reusable() {
        let random = crate::testing::random_bytes(99u64, 1_000_000);
        let text = b"the quick brown fox jumps over the lazy dog; ".repeat(25_000);
        // Random bytes followed by text: compressed (the text part shrinks).
        let mut mixed = random.clone();
        mixed.extend_from_slice(&text);
        let mut f = Framer::new(Compression::DEFAULT);
        for input in [&random[..], &text[..], &mixed[..], b"short", &text[..1000]] {
            let framed = f.frame(input);
            assert_eq!(unframe(strip(&framed), input.len()).unwrap(), input);
            assert_eq!(framed, frame_for_sealing(input, Compression::DEFAULT), "reuse changes nothing");
        }
        assert_eq!(f.frame(&random)[NONCE_LEN], Codec::None as u8);
        assert_eq!(f.frame(&mixed)[NONCE_LEN], Codec::Deflate as u8);
        let t = f.frame(&text);
        assert!(t[NONCE_LEN] == Codec::Deflate as u8 && t.len() < text.len() / 20);
    }

    #[test]
    #[cfg(feature = "zstd")]
    fn zstd_frames() {
        let text = b"the quick brown fox jumps over the lazy dog; ".repeat(25_000);
        let random = crate::testing::random_bytes(42u64, 200_000);
        let mut f = Framer::new(Compression::ZSTD);
        let t = f.frame(&text);
        assert_eq!(t[NONCE_LEN], Codec::Zstd as u8);
        assert!(t.len() < text.len() / 50);
        assert_eq!(unframe(strip(&t), text.len()).unwrap(), text);
        assert!(matches!(unframe(strip(&t), text.len() - 1), Err(DecodeError::TooLarge { .. })));
        assert_eq!(f.frame(&random)[NONCE_LEN], Codec::None as u8, "random data is not compressed");
        assert_eq!(f.frame(&text), t, "a reused context gives the same frame");
        // Small inputs that do not shrink are stored; tiny ones still round-trip.
        for input in [&b"x"[..], b"short", &text[..100]] {
            let framed = f.frame(input);
            assert_eq!(unframe(strip(&framed), input.len()).unwrap(), input);
        }
        // Damaged frames are errors, never panics.
        let mut bad = strip(&t).to_vec();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        let _ = unframe(&bad, text.len());
        assert!(unframe(&[2, 0x28, 0xb5, 0x2f, 0xfd], 100).is_err());
        assert!(unframe(&[2, 1, 2, 3], 100).is_err());
        assert!(Compression { codec: Codec::Zstd, level: 20 }.validate().is_err());
    }

    #[test]
    #[cfg(not(feature = "zstd"))]
    fn zstd_without_the_feature() {
        assert!(matches!(unframe(&[2, 0x28, 0xb5, 0x2f, 0xfd], 100), Err(DecodeError::CodecNotBuilt("zstd"))));
        assert!(Compression::ZSTD.validate().is_err());
        assert_eq!(Compression::best_available(), Compression::DEFAULT);
    }

    #[test]
    fn empty_and_bad_frames() {
        let framed = frame_for_sealing(b"", Compression::DEFAULT);
        assert_eq!(unframe(strip(&framed), 0).unwrap(), b"");
        assert!(matches!(unframe(&[], 10), Err(DecodeError::UnexpectedEnd)));
        assert!(matches!(unframe(&[9, 1, 2], 10), Err(DecodeError::UnknownCodec(9))));
        assert!(unframe(&[1, 0xff, 0xff, 0xff], 10).is_err());
    }
}
