//! One session's way through the pipeline, and the retry policy of each step.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The last step completed. Each step's result is persisted before the next one starts, so a
/// restarted orchestrator resumes where it stopped (every step is idempotent on the service side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Queued,
    Chunked,
    Encrypted,
    TreeBuilt,
    Anchored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub session_id: String,
    pub stage: Stage,
    pub status: Status,
    /// Retries so far (all steps).
    pub retries: u32,
    pub last_error: Option<String>,
    pub chunk_count: Option<u64>,
    /// Ciphertext hashes (BLAKE3), in chunk order.
    pub leaves: Vec<String>,
    pub merkle_root: Option<String>,
    pub receipt: Option<serde_json::Value>,
    pub created_at: u64,
    pub updated_at: u64,
}

impl Run {
    pub fn new(session_id: &str, now: u64) -> Run {
        Run {
            session_id: session_id.into(),
            stage: Stage::Queued,
            status: Status::Running,
            retries: 0,
            last_error: None,
            chunk_count: None,
            leaves: Vec::new(),
            merkle_root: None,
            receipt: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// How a failed call is treated.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Worth retrying: the service was unreachable, overloaded or failed internally.
    Transient,
    /// Retrying cannot help: the request itself was refused.
    Permanent,
}

/// Transport errors (`None`), 5xx, 408 and 429 are transient; other 4xx are permanent.
pub fn classify(status: Option<u16>) -> Outcome {
    match status {
        None | Some(408) | Some(429) | Some(500..=599) => Outcome::Transient,
        Some(_) => Outcome::Permanent,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// Delay before attempt `attempt + 1` (attempt counts from 1): doubling from `base`, at most `cap`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreachable_and_server_side_failures_are_retried() {
        assert_eq!(classify(None), Outcome::Transient);
        assert_eq!(classify(Some(503)), Outcome::Transient);
        assert_eq!(classify(Some(502)), Outcome::Transient);
        assert_eq!(classify(Some(429)), Outcome::Transient);
        assert_eq!(classify(Some(400)), Outcome::Permanent);
        assert_eq!(classify(Some(404)), Outcome::Permanent);
        assert_eq!(classify(Some(409)), Outcome::Permanent);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        let delays: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn stages_are_ordered_and_serialised_in_snake_case() {
        assert!(Stage::Queued < Stage::Chunked && Stage::TreeBuilt < Stage::Anchored);
        assert_eq!(
            serde_json::to_string(&Stage::TreeBuilt).unwrap(),
            "\"tree_built\""
        );
    }
}
