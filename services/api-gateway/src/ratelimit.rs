//! Per-client token buckets: each client may send `burst` requests at once and `rate` per second
//! after that.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped, so that many clients cannot grow the map
/// without bound.
const MAX_TRACKED: usize = 10_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate,
            burst: burst as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`; `Err` holds how long until one is available.
    pub fn take(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_the_rate() {
        let rl = RateLimiter::new(2.0, 3);
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.take(ip, t0).is_ok());
        }
        let wait = rl.take(ip, t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(rl.take(ip, t0 + Duration::from_millis(500)).is_ok());
        assert!(rl.take(ip, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn clients_have_separate_buckets() {
        let rl = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        assert!(rl.take(Some(IpAddr::from([10, 0, 0, 1])), t0).is_ok());
        assert!(rl.take(Some(IpAddr::from([10, 0, 0, 1])), t0).is_err());
        assert!(rl.take(Some(IpAddr::from([10, 0, 0, 2])), t0).is_ok());
    }
}
