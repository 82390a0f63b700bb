//! The chunk → encrypt → Merkle path of the pipeline, in one process, timed per stage.
//! The services do the same work (session-chunker's `pack`, session-encryptor's `seal` and
//! `ciphertext_hash`, merkle-builder's `root`) plus HTTP and disk, which this leaves out.

use merkle_builder::tree;
use session_chunker::chunk;
use session_encryptor::crypto::{self, MasterKey};
use std::time::{Duration, Instant};

/// Time spent in each stage for one pass over the data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub chunk: Duration,
    pub encrypt: Duration,
    pub merkle: Duration,
}

impl Timing {
    pub fn total(&self) -> Duration {
        self.chunk + self.encrypt + self.merkle
    }
}

/// One pass: split `data` into `chunk_size` pieces, compress and hash each, seal each, hash the
/// sealed chunks, and build the Merkle root. Returns the timing and the root (so the work cannot
/// be optimised away).
pub fn pass(data: &[u8], chunk_size: u64, key: &MasterKey) -> (Timing, tree::Hash) {
    let mut t = Timing::default();
    let session_key = key.session_key("bench");
    let mut leaves = Vec::new();
    for (index, (offset, len)) in chunk::plan(data.len() as u64, chunk_size)
        .into_iter()
        .enumerate()
    {
        let start = Instant::now();
        let (_, compressed) = chunk::pack(
            index as u64,
            offset,
            &data[offset as usize..(offset + len) as usize],
        );
        t.chunk += start.elapsed();

        let start = Instant::now();
        let nonce = lucid_runtime::ids::random_bytes::<{ crypto::NONCE_LEN }>();
        let sealed = crypto::seal(&session_key, "bench", index as u64, compressed, nonce);
        let leaf = tree::parse_hash("leaf", &crypto::ciphertext_hash(&sealed)).expect("blake3 hex");
        t.encrypt += start.elapsed();
        leaves.push(leaf);
    }
    let start = Instant::now();
    let root = tree::root(&leaves).expect("at least one chunk");
    t.merkle += start.elapsed();
    (t, root)
}

pub fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    (bytes as f64 / (1 << 20) as f64) / d.as_secs_f64().max(1e-9)
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn every_pass_does_the_work_afresh() {
        let key = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        let data = crate::recording(3 << 20, 9);
        let (timing, root) = pass(&data, 1 << 20, &key);
        assert!(timing.total() > Duration::ZERO);
        // Random nonces make every pass's root different: the work really ran each time.
        assert_ne!(root, pass(&data, 1 << 20, &key).1);
    }
}
