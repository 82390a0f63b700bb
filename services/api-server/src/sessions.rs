//! Session records and their life cycle: the rules, independent of HTTP and of storage.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Recording,
    Processing,
    Anchored,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Created,
        Status::Recording,
        Status::Processing,
        Status::Anchored,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The statuses a session may move to from this one; terminal statuses have none.
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            Created => &[Recording, Failed, Cancelled],
            Recording => &[Processing, Failed, Cancelled],
            Processing => &[Anchored, Failed],
            Anchored | Failed | Cancelled => &[],
        }
    }

    pub fn parse(text: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|s| s.to_string() == text)
            .ok_or_else(|| {
                let names: Vec<String> = Status::ALL.iter().map(|s| s.to_string()).collect();
                format!(
                    "unknown status {text:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Created => "created",
            Status::Recording => "recording",
            Status::Processing => "processing",
            Status::Anchored => "anchored",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        };
        f.write_str(text)
    }
}

/// One status change, kept in the record's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
    pub at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A session record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub owner: String,
    pub status: Status,
    pub created_at: u64,
    pub updated_at: u64,
    /// Free-form string pairs (host, client version…), bounded in size.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub history: Vec<Transition>,
}

/// Every session, by id: the document persisted on the volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sessions {
    pub sessions: BTreeMap<String, Session>,
}

/// Why an operation was refused: maps to an HTTP status in the API layer.
#[derive(Debug, PartialEq)]
pub enum Refused {
    Invalid(String),
    NotFound(String),
    Conflict(String),
    Full(usize),
}

/// What `POST /sessions` carries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Chosen by the caller (the orchestrator uses its own ids) or generated.
    pub id: Option<String>,
    pub owner: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// What `PUT /sessions/<id>/status` carries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: String,
    pub reason: Option<String>,
}

const MAX_OWNER: usize = 128;
const MAX_METADATA_ENTRIES: usize = 32;
const MAX_METADATA_TEXT: usize = 512;
const MAX_REASON: usize = 512;

impl Sessions {
    /// Adds a session in status `created`.
    pub fn create(
        &mut self,
        new: NewSession,
        id: String,
        now: u64,
        max: usize,
    ) -> Result<Session, Refused> {
        lucid_runtime::ident::check("session id", &id).map_err(Refused::Invalid)?;
        if new.owner.trim().is_empty() || new.owner.len() > MAX_OWNER {
            return Err(Refused::Invalid(format!(
                "owner must be 1 to {MAX_OWNER} characters"
            )));
        }
        if new.metadata.len() > MAX_METADATA_ENTRIES
            || new.metadata.iter().any(|(k, v)| {
                k.is_empty() || k.len() > MAX_METADATA_TEXT || v.len() > MAX_METADATA_TEXT
            })
        {
            return Err(Refused::Invalid(format!(
                "metadata: at most {MAX_METADATA_ENTRIES} entries, non-empty keys, keys and values up to {MAX_METADATA_TEXT} bytes"
            )));
        }
        if self.sessions.contains_key(&id) {
            return Err(Refused::Conflict(format!("session {id} already exists")));
        }
        if self.sessions.len() >= max {
            return Err(Refused::Full(max));
        }
        let session = Session {
            id: id.clone(),
            owner: new.owner,
            status: Status::Created,
            created_at: now,
            updated_at: now,
            metadata: new.metadata,
            history: Vec::new(),
        };
        self.sessions.insert(id, session.clone());
        Ok(session)
    }

    /// Moves a session to another status if its life cycle allows it.
    pub fn change_status(
        &mut self,
        id: &str,
        change: StatusChange,
        now: u64,
    ) -> Result<Session, Refused> {
        let to = Status::parse(&change.status).map_err(Refused::Invalid)?;
        if change.reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
            return Err(Refused::Invalid(format!(
                "reason longer than {MAX_REASON} bytes"
            )));
        }
        let session = self
            .sessions
            .get_mut(id)
            .ok_or_else(|| Refused::NotFound(format!("no session {id}")))?;
        let from = session.status;
        if !from.next().contains(&to) {
            let allowed: Vec<String> = from.next().iter().map(|s| s.to_string()).collect();
            return Err(Refused::Conflict(format!(
                "session {id} cannot go from {from} to {to} (allowed: {})",
                if allowed.is_empty() {
                    "none, it is final".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        session.status = to;
        session.updated_at = now;
        session.history.push(Transition {
            from,
            to,
            at: now,
            reason: change.reason,
        });
        Ok(session.clone())
    }

    /// Sessions matching the filters, oldest first, at most `limit`; and how many matched in all.
    pub fn list(
        &self,
        status: Option<Status>,
        owner: Option<&str>,
        limit: usize,
    ) -> (Vec<Session>, usize) {
        let mut matching: Vec<&Session> = self
            .sessions
            .values()
            .filter(|s| status.is_none_or(|st| s.status == st))
            .filter(|s| owner.is_none_or(|o| s.owner == o))
            .collect();
        matching.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let total = matching.len();
        (matching.into_iter().take(limit).cloned().collect(), total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(owner: &str) -> NewSession {
        NewSession {
            id: None,
            owner: owner.into(),
            metadata: BTreeMap::new(),
        }
    }

    fn change(status: &str) -> StatusChange {
        StatusChange {
            status: status.into(),
            reason: None,
        }
    }

    #[test]
    fn follows_the_life_cycle_and_keeps_history() {
        let mut s = Sessions::default();
        s.create(new("alice"), "s1".into(), 10, 10).unwrap();
        for (i, st) in ["recording", "processing", "anchored"].iter().enumerate() {
            s.change_status("s1", change(st), 11 + i as u64).unwrap();
        }
        let rec = &s.sessions["s1"];
        assert_eq!(rec.status, Status::Anchored);
        assert_eq!(rec.history.len(), 3);
        assert_eq!(rec.updated_at, 13);
    }

    #[test]
    fn refuses_transitions_the_life_cycle_does_not_allow() {
        let mut s = Sessions::default();
        s.create(new("alice"), "s1".into(), 1, 10).unwrap();
        let err = s.change_status("s1", change("anchored"), 2).unwrap_err();
        assert!(
            matches!(err, Refused::Conflict(ref m) if m.contains("created to anchored")),
            "{err:?}"
        );
        s.change_status("s1", change("cancelled"), 2).unwrap();
        let err = s.change_status("s1", change("recording"), 3).unwrap_err();
        assert!(
            matches!(err, Refused::Conflict(ref m) if m.contains("final")),
            "{err:?}"
        );
        assert!(matches!(
            s.change_status("s1", change("paused"), 3),
            Err(Refused::Invalid(_))
        ));
        assert!(matches!(
            s.change_status("nope", change("failed"), 3),
            Err(Refused::NotFound(_))
        ));
    }

    #[test]
    fn rejects_duplicate_ids_bad_ids_and_a_full_store() {
        let mut s = Sessions::default();
        s.create(new("a"), "s1".into(), 1, 2).unwrap();
        assert!(matches!(
            s.create(new("a"), "s1".into(), 1, 2),
            Err(Refused::Conflict(_))
        ));
        assert!(matches!(
            s.create(new("a"), "../x".into(), 1, 2),
            Err(Refused::Invalid(_))
        ));
        assert!(matches!(
            s.create(new(" "), "s2".into(), 1, 2),
            Err(Refused::Invalid(_))
        ));
        s.create(new("a"), "s2".into(), 1, 2).unwrap();
        assert_eq!(s.create(new("a"), "s3".into(), 1, 2), Err(Refused::Full(2)));
    }

    #[test]
    fn list_filters_orders_and_limits() {
        let mut s = Sessions::default();
        s.create(new("bob"), "b".into(), 2, 10).unwrap();
        s.create(new("alice"), "a".into(), 3, 10).unwrap();
        s.create(new("alice"), "c".into(), 1, 10).unwrap();
        s.change_status("a", change("recording"), 4).unwrap();
        let (all, total) = s.list(None, None, 2);
        assert_eq!(
            (all.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), total),
            (vec!["c", "b"], 3)
        );
        let (alice, _) = s.list(None, Some("alice"), 10);
        assert_eq!(alice.len(), 2);
        let (rec, _) = s.list(Some(Status::Recording), None, 10);
        assert_eq!(rec[0].id, "a");
    }
}
