//! The chunking core: fixed-size plaintext pieces, each hashed (SHA-256) and Zstd-compressed.
//!
//! Compression is Zstandard level 3: ruzstd's frame and entropy encoder driven by zstd's level-3
//! match finder ([`crate::dfast`]). Every chunk is one standard Zstandard frame that any zstd
//! decoder reads.

use crate::dfast::Level3Matcher;
use lucid_runtime::ids::to_hex;
use ruzstd::encoding::{CompressionLevel, FrameCompressor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;

const MIB: u64 = 1 << 20;
/// Bounds of the configurable chunk size.
pub const MIN_CHUNK_SIZE: u64 = 8 * MIB;
pub const MAX_CHUNK_SIZE: u64 = 16 * MIB;
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * MIB;

/// One chunk of a recording, as described in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfo {
    pub index: u64,
    /// Position of the chunk's first byte in the recording.
    pub offset: u64,
    /// Plaintext length.
    pub size: u64,
    pub compressed_size: u64,
    /// SHA-256 of the plaintext chunk, lowercase hex.
    pub sha256: String,
}

/// Everything needed to put a recording back together from its chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub session_id: String,
    pub total_size: u64,
    pub chunk_size: u64,
    /// `"zstd"`: every chunk is one Zstandard frame.
    pub compression: String,
    pub hash: String,
    pub chunks: Vec<ChunkInfo>,
}

impl Manifest {
    pub fn new(session_id: &str, total_size: u64, chunk_size: u64, chunks: Vec<ChunkInfo>) -> Self {
        Manifest {
            session_id: session_id.into(),
            total_size,
            chunk_size,
            compression: "zstd".into(),
            hash: "sha256".into(),
            chunks,
        }
    }
}

/// The `(offset, length)` of every chunk of a `total`-byte recording; an empty recording has none.
pub fn plan(total: u64, chunk_size: u64) -> Vec<(u64, u64)> {
    assert!(chunk_size > 0, "chunk size must be positive");
    (0..total.div_ceil(chunk_size))
        .map(|i| {
            let offset = i * chunk_size;
            (offset, chunk_size.min(total - offset))
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

/// One Zstandard frame of `plain` at level 3. Chunks are at most [`MAX_CHUNK_SIZE`] bytes, well
/// inside the matcher's 32-bit positions.
pub fn compress(plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plain.len() / 2 + 64);
    // ruzstd's block encoder (`Fastest`) takes whatever sequences the matcher finds.
    let mut frame =
        FrameCompressor::new_with_matcher(Level3Matcher::default(), CompressionLevel::Fastest);
    frame.set_source(plain);
    frame.set_drain(&mut out);
    frame.compress();
    drop(frame);
    out
}

/// Decompresses one chunk, refusing output larger than `max_size` (a hostile frame could
/// otherwise expand without bound).
pub fn decompress(compressed: &[u8], max_size: u64) -> Result<Vec<u8>, String> {
    let mut source = compressed;
    let decoder = ruzstd::decoding::StreamingDecoder::new(&mut source)
        .map_err(|e| format!("not a zstd frame: {e}"))?;
    let mut out = Vec::new();
    decoder
        .take(max_size + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt zstd frame: {e}"))?;
    if out.len() as u64 > max_size {
        return Err(format!("chunk decompresses to more than {max_size} bytes"));
    }
    Ok(out)
}

/// Hashes and compresses one chunk: its manifest entry and its stored bytes.
pub fn pack(index: u64, offset: u64, plain: &[u8]) -> (ChunkInfo, Vec<u8>) {
    let compressed = compress(plain);
    let info = ChunkInfo {
        index,
        offset,
        size: plain.len() as u64,
        compressed_size: compressed.len() as u64,
        sha256: sha256_hex(plain),
    };
    (info, compressed)
}

/// Reverses [`pack`]: decompresses and checks length and hash against the manifest entry.
pub fn unpack(info: &ChunkInfo, compressed: &[u8]) -> Result<Vec<u8>, String> {
    let plain = decompress(compressed, info.size)?;
    if plain.len() as u64 != info.size {
        return Err(format!(
            "chunk {}: {} bytes, manifest says {}",
            info.index,
            plain.len(),
            info.size
        ));
    }
    if sha256_hex(&plain) != info.sha256 {
        return Err(format!(
            "chunk {}: SHA-256 differs from the manifest",
            info.index
        ));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressible but not trivial: what a screen recording's raw frames look like to zstd.
    fn sample(len: usize) -> Vec<u8> {
        lucid_runtime::testing::recording(len, 0x2545_f491)
    }

    #[test]
    fn plan_covers_every_byte_once_with_a_short_last_chunk() {
        assert_eq!(plan(0, 8), vec![]);
        assert_eq!(plan(8, 8), vec![(0, 8)]);
        assert_eq!(plan(20, 8), vec![(0, 8), (8, 8), (16, 4)]);
        let total = 40 * MIB + 123;
        let chunks = plan(total, DEFAULT_CHUNK_SIZE);
        assert_eq!(chunks.len(), 6);
        assert_eq!(chunks.iter().map(|c| c.1).sum::<u64>(), total);
    }

    #[test]
    fn pack_then_unpack_restores_the_bytes_and_compresses() {
        let data = sample(1 << 20);
        let (info, compressed) = pack(3, 42, &data);
        assert_eq!((info.index, info.offset, info.size), (3, 42, 1 << 20));
        assert!(compressed.len() < data.len() / 2, "{}", compressed.len());
        assert_eq!(unpack(&info, &compressed).unwrap(), data);
    }

    #[test]
    fn empty_chunk_round_trips() {
        let (info, compressed) = pack(0, 0, &[]);
        assert_eq!(unpack(&info, &compressed).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn unpack_detects_a_hash_mismatch() {
        let data = sample(10_000);
        let (mut info, compressed) = pack(0, 0, &data);
        info.sha256 = sha256_hex(b"something else");
        assert!(unpack(&info, &compressed).unwrap_err().contains("SHA-256"));
    }

    #[test]
    fn decompress_refuses_garbage_and_oversized_output() {
        assert!(decompress(b"definitely not zstd", 100).is_err());
        let compressed = compress(&vec![0u8; 100_000]);
        let err = decompress(&compressed, 1000).unwrap_err();
        assert!(err.contains("more than 1000"), "{err}");
    }

    #[test]
    fn sha256_matches_the_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
