//! RDP session slots: at most `max` active at once, one active slot per user, each on its own
//! X display number (xrdp's sesman numbers displays from 10, `X11DisplayOffset`).

use lucid_runtime::http::Refusal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// First X display number handed out, as xrdp's sesman does.
pub const DISPLAY_OFFSET: u16 = 10;
/// Stopped slots kept for the listing; older ones are dropped so the file stays small.
pub const KEEP_STOPPED: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub id: String,
    pub user: String,
    pub display: u16,
    pub status: Status,
    pub created_at: u64,
    pub stopped_at: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Slots {
    pub slots: BTreeMap<String, Slot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Invalid(String),
    NotFound(String),
    Conflict(String),
    Full(usize),
}

impl Refusal for Refused {
    fn status(&self) -> u16 {
        match self {
            Refused::Invalid(_) => 422,
            Refused::NotFound(_) => 404,
            Refused::Conflict(_) => 409,
            Refused::Full(_) => 429,
        }
    }

    fn message(&self) -> String {
        match self {
            Refused::Invalid(m) | Refused::NotFound(m) | Refused::Conflict(m) => m.clone(),
            Refused::Full(max) => format!("all {max} RDP session slots are in use"),
        }
    }
}

/// Unix user names as xrdp passes them to PAM: 1–32 of `[a-z0-9_-]`, not starting with `-`.
pub fn check_user(user: &str) -> Result<(), Refused> {
    let ok = (1..=32).contains(&user.len())
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Refused::Invalid(format!(
            "user {user:?}: expected 1-32 characters of a-z 0-9 _ -"
        )))
    }
}

impl Slots {
    pub fn active(&self) -> impl Iterator<Item = &Slot> {
        self.slots.values().filter(|s| s.status == Status::Active)
    }

    pub fn create(
        &mut self,
        id: String,
        user: &str,
        max: usize,
        now: u64,
    ) -> Result<Slot, Refused> {
        check_user(user)?;
        if let Some(existing) = self.active().find(|s| s.user == user) {
            return Err(Refused::Conflict(format!(
                "user {user:?} already has active slot {}",
                existing.id
            )));
        }
        if self.active().count() >= max {
            return Err(Refused::Full(max));
        }
        let used: Vec<u16> = self.active().map(|s| s.display).collect();
        let display = (DISPLAY_OFFSET..)
            .find(|d| !used.contains(d))
            .unwrap_or(DISPLAY_OFFSET);
        let slot = Slot {
            id: id.clone(),
            user: user.into(),
            display,
            status: Status::Active,
            created_at: now,
            stopped_at: None,
        };
        self.slots.insert(id, slot.clone());
        Ok(slot)
    }

    pub fn stop(&mut self, id: &str, now: u64) -> Result<Slot, Refused> {
        let slot = self
            .slots
            .get_mut(id)
            .ok_or_else(|| Refused::NotFound(format!("unknown slot {id:?}")))?;
        if slot.status == Status::Stopped {
            return Err(Refused::Conflict(format!("slot {id} is already stopped")));
        }
        slot.status = Status::Stopped;
        slot.stopped_at = Some(now);
        let stopped = slot.clone();
        self.prune();
        Ok(stopped)
    }

    fn prune(&mut self) {
        let mut stopped: Vec<(u64, String)> = self
            .slots
            .values()
            .filter(|s| s.status == Status::Stopped)
            .map(|s| (s.stopped_at.unwrap_or(0), s.id.clone()))
            .collect();
        if stopped.len() > KEEP_STOPPED {
            stopped.sort();
            for (_, id) in &stopped[..stopped.len() - KEEP_STOPPED] {
                self.slots.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_slot_beyond_the_limit() {
        let mut s = Slots::default();
        for i in 0..5 {
            s.create(format!("s{i}"), &format!("user{i}"), 5, 100)
                .unwrap();
        }
        assert_eq!(
            s.create("s5".into(), "user5", 5, 100),
            Err(Refused::Full(5))
        );
        assert_eq!(Refused::Full(5).status(), 429);
    }

    #[test]
    fn stopping_frees_a_slot_and_its_display() {
        let mut s = Slots::default();
        let a = s.create("a".into(), "alice", 2, 1).unwrap();
        let b = s.create("b".into(), "bob", 2, 1).unwrap();
        assert_eq!((a.display, b.display), (10, 11));
        s.stop("a", 2).unwrap();
        let c = s.create("c".into(), "carol", 2, 3).unwrap();
        assert_eq!(c.display, 10, "the lowest free display is reused");
        assert_eq!(s.stop("a", 4).unwrap_err().status(), 409);
        assert_eq!(s.stop("zzz", 4).unwrap_err().status(), 404);
    }

    #[test]
    fn one_active_slot_per_user() {
        let mut s = Slots::default();
        s.create("a".into(), "alice", 5, 1).unwrap();
        assert_eq!(
            s.create("b".into(), "alice", 5, 1).unwrap_err().status(),
            409
        );
        s.stop("a", 2).unwrap();
        assert!(s.create("b".into(), "alice", 5, 3).is_ok());
    }

    #[test]
    fn user_names_are_checked() {
        let mut s = Slots::default();
        for bad in ["", "Alice", "al ice", "-x", "a;rm", &"a".repeat(33)] {
            assert_eq!(
                s.create("x".into(), bad, 5, 1).unwrap_err().status(),
                422,
                "{bad}"
            );
        }
    }

    #[test]
    fn stopped_history_is_bounded() {
        let mut s = Slots::default();
        for i in 0..(KEEP_STOPPED + 3) {
            s.create(format!("s{i}"), "alice", 1, i as u64).unwrap();
            s.stop(&format!("s{i}"), i as u64).unwrap();
        }
        assert_eq!(s.slots.len(), KEEP_STOPPED);
        assert!(!s.slots.contains_key("s0"));
    }
}
