//! Support crate (not a service): the session pipeline end to end.
//!
//! - `lucid-multicall` (src/bin): one binary that runs any pipeline service, chosen by the
//!   `LUCID_MULTICALL_SERVICE` variable (not an argument: the runtime reads its first argument as
//!   a subcommand such as `healthcheck`). `tests/pipeline.rs` starts it once per service as real
//!   processes on 127.0.0.1 and drives a recorded session through the whole pipeline.
//! - `pipeline-bench` (src/bin): chunk + encrypt + Merkle throughput in one process, see
//!   [`bench`] and README.md.

pub mod bench;

/// Deterministic test data that compresses roughly like raw screen frames: long runs of
/// slowly changing bytes with a quarter of noise.
pub fn recording(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 64 < 48 {
                (i / 4096) as u8 ^ (seed as u8)
            } else {
                x as u8
            }
        })
        .collect()
}
