//! Session hosts, their capacity and liveness, and the assignment of sessions to them.
//! Functions take `now` (Unix seconds) so that heartbeat expiry is tested without waiting.
//!
//! A session goes to the least-loaded live host with free capacity: lowest `sessions/capacity`,
//! then most free slots, then host id (so the choice is deterministic). A host is live while its
//! last heartbeat (or registration) is at most `timeout` seconds old.

use lucid_runtime::http::Refusal;
use lucid_runtime::ident;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub host_id: String,
    /// `host:port` where the host's RDP endpoint is reached.
    pub address: String,
    pub capacity: u32,
    pub sessions: BTreeSet<String>,
    pub registered_at: u64,
    pub last_heartbeat: u64,
}

impl Host {
    pub fn alive(&self, now: u64, timeout: u64) -> bool {
        now.saturating_sub(self.last_heartbeat) <= timeout
    }

    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.sessions.len() as u32)
    }

    /// Compares load ratios `sessions/capacity` without floating point.
    fn load_cmp(&self, other: &Host) -> Ordering {
        let mine = self.sessions.len() as u64 * other.capacity as u64;
        let theirs = other.sessions.len() as u64 * self.capacity as u64;
        mine.cmp(&theirs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub session_id: String,
    pub host_id: String,
    pub address: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Registry {
    pub hosts: BTreeMap<String, Host>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Invalid(String),
    NotFound(String),
    Conflict(String),
    NoCapacity,
}

impl Refusal for Refused {
    fn status(&self) -> u16 {
        match self {
            Refused::Invalid(_) => 422,
            Refused::NotFound(_) => 404,
            Refused::Conflict(_) => 409,
            Refused::NoCapacity => 503,
        }
    }

    fn message(&self) -> String {
        match self {
            Refused::Invalid(m) | Refused::NotFound(m) | Refused::Conflict(m) => m.clone(),
            Refused::NoCapacity => "no live session host has free capacity".into(),
        }
    }
}

/// `host:port` with a DNS-style host (or IPv4) and a port 1-65535.
pub fn check_address(address: &str) -> Result<(), Refused> {
    let ok = address.rsplit_once(':').is_some_and(|(host, port)| {
        (1..=253).contains(&host.len())
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if ok {
        Ok(())
    } else {
        Err(Refused::Invalid(format!(
            "address {address:?}: expected host:port"
        )))
    }
}

impl Registry {
    /// Registers a host, or updates the address and capacity of a registered one (its sessions
    /// stay). Returns the host and whether it is new.
    pub fn register(
        &mut self,
        host_id: &str,
        address: &str,
        capacity: u32,
        now: u64,
    ) -> Result<(Host, bool), Refused> {
        ident::check("host_id", host_id).map_err(Refused::Invalid)?;
        check_address(address)?;
        if !(1..=1000).contains(&capacity) {
            return Err(Refused::Invalid(format!(
                "capacity {capacity}: must be 1-1000"
            )));
        }
        match self.hosts.get_mut(host_id) {
            Some(host) => {
                if (capacity as usize) < host.sessions.len() {
                    return Err(Refused::Conflict(format!(
                        "host {host_id} holds {} sessions; capacity {capacity} is too small",
                        host.sessions.len()
                    )));
                }
                host.address = address.into();
                host.capacity = capacity;
                host.last_heartbeat = now;
                Ok((host.clone(), false))
            }
            None => {
                let host = Host {
                    host_id: host_id.into(),
                    address: address.into(),
                    capacity,
                    sessions: BTreeSet::new(),
                    registered_at: now,
                    last_heartbeat: now,
                };
                self.hosts.insert(host_id.into(), host.clone());
                Ok((host, true))
            }
        }
    }

    pub fn heartbeat(&mut self, host_id: &str, now: u64) -> Result<Host, Refused> {
        let host = self
            .hosts
            .get_mut(host_id)
            .ok_or_else(|| Refused::NotFound(format!("unknown host {host_id:?}")))?;
        host.last_heartbeat = now;
        Ok(host.clone())
    }

    /// Removes a host that holds no sessions.
    pub fn deregister(&mut self, host_id: &str) -> Result<Host, Refused> {
        let host = self
            .hosts
            .get(host_id)
            .ok_or_else(|| Refused::NotFound(format!("unknown host {host_id:?}")))?;
        if !host.sessions.is_empty() {
            return Err(Refused::Conflict(format!(
                "host {host_id} still holds {} sessions; release them first",
                host.sessions.len()
            )));
        }
        self.hosts
            .remove(host_id)
            .ok_or_else(|| Refused::NotFound(format!("unknown host {host_id:?}")))
    }

    pub fn find(&self, session_id: &str) -> Option<Assignment> {
        self.hosts
            .values()
            .find(|h| h.sessions.contains(session_id))
            .map(|h| Assignment {
                session_id: session_id.into(),
                host_id: h.host_id.clone(),
                address: h.address.clone(),
            })
    }

    /// Assigns the session (or returns its existing assignment) and whether it is new.
    pub fn assign(
        &mut self,
        session_id: &str,
        now: u64,
        timeout: u64,
    ) -> Result<(Assignment, bool), Refused> {
        ident::check("session_id", session_id).map_err(Refused::Invalid)?;
        if let Some(existing) = self.find(session_id) {
            return Ok((existing, false));
        }
        let best = self
            .hosts
            .values_mut()
            .filter(|h| h.alive(now, timeout) && h.free() > 0)
            .min_by(|a, b| {
                a.load_cmp(b)
                    .then_with(|| b.free().cmp(&a.free()))
                    .then_with(|| a.host_id.cmp(&b.host_id))
            })
            .ok_or(Refused::NoCapacity)?;
        best.sessions.insert(session_id.into());
        Ok((
            Assignment {
                session_id: session_id.into(),
                host_id: best.host_id.clone(),
                address: best.address.clone(),
            },
            true,
        ))
    }

    pub fn release(&mut self, session_id: &str) -> Result<Assignment, Refused> {
        let assignment = self
            .find(session_id)
            .ok_or_else(|| Refused::NotFound(format!("session {session_id:?} is not assigned")))?;
        if let Some(host) = self.hosts.get_mut(&assignment.host_id) {
            host.sessions.remove(session_id);
        }
        Ok(assignment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: u64 = 30;

    fn registry() -> Registry {
        let mut r = Registry::default();
        r.register("host-a", "10.0.0.1:3389", 2, 100).unwrap();
        r.register("host-b", "10.0.0.2:3389", 4, 100).unwrap();
        r
    }

    #[test]
    fn sessions_go_to_the_least_loaded_host() {
        let mut r = registry();
        // Both empty: host-b has more free slots.
        assert_eq!(r.assign("s1", 101, TIMEOUT).unwrap().0.host_id, "host-b");
        // a: 0/2, b: 1/4 -> a is less loaded.
        assert_eq!(r.assign("s2", 101, TIMEOUT).unwrap().0.host_id, "host-a");
        // a: 1/2, b: 1/4 -> b.
        assert_eq!(r.assign("s3", 101, TIMEOUT).unwrap().0.host_id, "host-b");
    }

    #[test]
    fn no_capacity_is_refused_with_503() {
        let mut r = Registry::default();
        r.register("only", "h:1", 1, 100).unwrap();
        r.assign("s1", 100, TIMEOUT).unwrap();
        let err = r.assign("s2", 100, TIMEOUT).unwrap_err();
        assert_eq!((err.clone(), err.status()), (Refused::NoCapacity, 503));
    }

    #[test]
    fn hosts_without_recent_heartbeat_get_no_sessions() {
        let mut r = registry();
        r.heartbeat("host-a", 120).unwrap();
        // host-b last seen at 100: at 131 it is stale, host-a (120) is live.
        assert_eq!(r.assign("s1", 131, TIMEOUT).unwrap().0.host_id, "host-a");
        assert_eq!(
            r.assign("s2", 151, TIMEOUT).unwrap_err(),
            Refused::NoCapacity
        );
    }

    #[test]
    fn assignment_is_idempotent_and_release_frees_capacity() {
        let mut r = Registry::default();
        r.register("only", "h:1", 1, 100).unwrap();
        let (first, new) = r.assign("s1", 100, TIMEOUT).unwrap();
        let (again, new_again) = r.assign("s1", 100, TIMEOUT).unwrap();
        assert_eq!((first.clone(), new, new_again), (again, true, false));
        r.release("s1").unwrap();
        assert!(r.assign("s2", 100, TIMEOUT).is_ok());
        assert_eq!(r.release("s1").unwrap_err().status(), 404);
    }

    #[test]
    fn deregistering_a_busy_host_is_refused() {
        let mut r = registry();
        let (a, _) = r.assign("s1", 100, TIMEOUT).unwrap();
        assert_eq!(r.deregister(&a.host_id).unwrap_err().status(), 409);
        r.release("s1").unwrap();
        assert!(r.deregister(&a.host_id).is_ok());
        assert_eq!(r.deregister(&a.host_id).unwrap_err().status(), 404);
    }

    #[test]
    fn re_registration_keeps_sessions_and_refuses_shrinking_below_them() {
        let mut r = Registry::default();
        r.register("h", "h:1", 2, 100).unwrap();
        r.assign("s1", 100, TIMEOUT).unwrap();
        r.assign("s2", 100, TIMEOUT).unwrap();
        assert_eq!(r.register("h", "h:2", 1, 101).unwrap_err().status(), 409);
        let (host, new) = r.register("h", "h:2", 3, 101).unwrap();
        assert_eq!(
            (host.sessions.len(), new, host.address.as_str()),
            (2, false, "h:2")
        );
    }

    #[test]
    fn bad_registrations_are_invalid() {
        let mut r = Registry::default();
        for (id, addr, cap) in [
            ("a b", "h:1", 1),
            ("a", "h", 1),
            ("a", "h:0", 1),
            ("a", "h:1", 0),
            ("a", "h\n:1", 1),
        ] {
            assert_eq!(
                r.register(id, addr, cap, 0).unwrap_err().status(),
                422,
                "{id} {addr} {cap}"
            );
        }
    }
}
