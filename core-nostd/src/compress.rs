//! Compression and the framed plaintext.
//!
//! Every sealed message (blob or object) has a **framed plaintext**: one codec byte followed by
//! the payload. Codec `0` is stored as is, codec `1` is a raw DEFLATE stream (RFC 1951, no zlib
//! header). Writers compress and keep the result only when it is smaller than the input, so
//! incompressible data costs one byte. Readers always bound decompression by the length the
//! index or header promised, so a hostile stream cannot inflate without limit.

use alloc::vec::Vec;

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
}

impl Codec {
    /// The codec for a frame's first byte.
    pub fn from_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(Self::None),
            1 => Ok(Self::Deflate),
            other => Err(DecodeError::UnknownCodec(other)),
        }
    }
}

/// How new blobs and objects are compressed (part of the repository config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// The codec tried first; the data is stored raw when it does not shrink.
    pub codec: Codec,
    /// The codec's level (DEFLATE: 1 fastest to 9 smallest).
    pub level: u8,
}

impl Compression {
    /// DEFLATE level 1: the best throughput per byte saved on typical data.
    pub const DEFAULT: Self = Self { codec: Codec::Deflate, level: 1 };
    /// No compression.
    pub const OFF: Self = Self { codec: Codec::None, level: 0 };

    /// Checks the level is valid for the codec.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self.codec {
            Codec::None => Ok(()),
            Codec::Deflate if (1..=9).contains(&self.level) => Ok(()),
            Codec::Deflate => Err("DEFLATE levels are 1 to 9"),
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
    if compression.codec == Codec::Deflate && !data.is_empty() {
        let mut compressor = miniz_oxide::deflate::core::CompressorOxide::new(
            miniz_oxide::deflate::core::create_comp_flags_from_zip_params(i32::from(compression.level), -15, 0),
        );
        if let Some(out) = deflate_into(&mut compressor, data, alloc::vec![0u8; NONCE_LEN + 1]) {
            return out;
        }
    }
    let mut out = Vec::with_capacity(NONCE_LEN + 1 + data.len() + crate::crypto::TAG_LEN);
    out.resize(NONCE_LEN, 0);
    out.push(Codec::None as u8);
    out.extend_from_slice(data);
    out
}

/// Compresses `data` after the `NONCE_LEN + 1` bytes already in `out`; gives up (None) as soon as
/// the output would not be smaller than the input.
fn deflate_into(
    compressor: &mut miniz_oxide::deflate::core::CompressorOxide,
    data: &[u8],
    mut out: Vec<u8>,
) -> Option<Vec<u8>> {
    use miniz_oxide::deflate::core::{TDEFLFlush, TDEFLStatus, compress};
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
        let (status, consumed, written) = compress(
            compressor,
            data.get(in_pos..)?,
            out.get_mut(out_pos..)?,
            TDEFLFlush::Finish,
        );
        in_pos += consumed;
        out_pos += written;
        match status {
            TDEFLStatus::Done => {
                if out_pos >= limit {
                    return None;
                }
                out.truncate(out_pos);
                out.reserve_exact(crate::crypto::TAG_LEN);
                return Some(out);
            }
            TDEFLStatus::Okay => {
                if out_pos >= limit {
                    return None;
                }
                let grow = (out.len() - header).max(64 * 1024);
                out.resize((out.len() + grow).min(limit + 1), 0);
            }
            _ => return None,
        }
    }
}

/// Reads a framed plaintext: the codec byte, then the payload, decompressed to at most `max_len`
/// bytes.
pub fn unframe(framed: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    let (&codec, payload) = framed.split_first().ok_or(DecodeError::UnexpectedEnd)?;
    match Codec::from_byte(codec)? {
        Codec::None => {
            if payload.len() > max_len {
                return Err(DecodeError::TooLarge { what: "payload", len: payload.len() as u64, max: max_len as u64 });
            }
            Ok(payload.to_vec())
        }
        Codec::Deflate => miniz_oxide::inflate::decompress_to_vec_with_limit(payload, max_len).map_err(|e| {
            if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
                DecodeError::TooLarge { what: "decompressed payload", len: max_len as u64 + 1, max: max_len as u64 }
            } else {
                DecodeError::Malformed("invalid DEFLATE stream")
            }
        }),
    }
}

/// Like [`unframe`] but for a frame that owns its bytes: a stored (codec 0) payload is returned
/// without a copy.
pub fn unframe_owned(mut framed: Vec<u8>, max_len: usize) -> Result<Vec<u8>, DecodeError> {
    match framed.first() {
        Some(0) => {
            if framed.len() - 1 > max_len {
                return Err(DecodeError::TooLarge { what: "payload", len: framed.len() as u64 - 1, max: max_len as u64 });
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
        let mut x = 0x1234_5678_9abc_def0u64;
        let data: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let framed = frame_for_sealing(&data, Compression::DEFAULT);
        assert_eq!(framed[NONCE_LEN], Codec::None as u8);
        assert_eq!(framed.len(), NONCE_LEN + 1 + data.len());
        assert_eq!(unframe_owned(strip(&framed).to_vec(), data.len()).unwrap(), data);
        assert!(unframe(strip(&framed), 10).is_err());
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
