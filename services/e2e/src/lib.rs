//! Support crate (not a service): the session pipeline end to end.
//!
//! - `lucid-multicall` (src/bin): one binary that runs any pipeline service, chosen by the
//!   `LUCID_MULTICALL_SERVICE` variable (not an argument: the runtime reads its first argument as
//!   a subcommand such as `healthcheck`). `tests/pipeline.rs` starts it once per service as real
//!   processes on 127.0.0.1 and drives a recorded session through the whole pipeline.
//! - `pipeline-bench` (src/bin): chunk + encrypt + Merkle throughput in one process, see
//!   [`bench`] and README.md.
//! - `health-bench` (src/bin): `GET /health` latency, memory and threads of a service binary
//!   under slow and hostile clients, see [`health`] and README.md.

pub mod bench;
pub mod health;

/// Deterministic recordings (shared with the chunker's tests through the runtime's `testing`).
pub use lucid_runtime::testing::recording;
