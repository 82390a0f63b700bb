//! Counters of the server's connections, reported by `/health`: how many are open, and how many
//! clients were refused or cut off for being too slow.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Stats {
    open: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    header_timeouts: AtomicU64,
    body_timeouts: AtomicU64,
    send_timeouts: AtomicU64,
}

/// A snapshot, as `/health` shows it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct View {
    pub open: u64,
    pub accepted: u64,
    /// Over `LUCID_MAX_CONNECTIONS`: answered 503 and closed.
    pub refused: u64,
    /// Closed for not sending a whole header in time (slow-loris), or idle too long.
    pub header_timeouts: u64,
    /// Answered 408 and closed for not sending the announced body in time.
    pub body_timeouts: u64,
    /// Closed for not reading the answer in time.
    pub send_timeouts: u64,
}

/// Which counter an event bumps.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Refused,
    HeaderTimeout,
    BodyTimeout,
    SendTimeout,
}

impl Stats {
    pub fn count(&self, event: Event) {
        let counter = match event {
            Event::Refused => &self.refused,
            Event::HeaderTimeout => &self.header_timeouts,
            Event::BodyTimeout => &self.body_timeouts,
            Event::SendTimeout => &self.send_timeouts,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection as open until the guard is dropped.
    pub fn open(self: &Arc<Self>) -> OpenGuard {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(self.clone())
    }

    pub fn view(&self) -> View {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        View {
            open: get(&self.open),
            accepted: get(&self.accepted),
            refused: get(&self.refused),
            header_timeouts: get(&self.header_timeouts),
            body_timeouts: get(&self.body_timeouts),
            send_timeouts: get(&self.send_timeouts),
        }
    }
}

pub struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}
