//! Proposals, one-node-one-vote tallies, quorum and timelock. Every function takes `now`
//! (Unix seconds) so that voting periods and timelocks are tested without waiting.
//!
//! A proposal passes when, after its voting period, the number of votes cast (yes, no and abstain)
//! reaches the quorum and yes outnumbers no. A passed proposal is executable once the timelock
//! after the end of voting has elapsed, and is executed at most once.

use lucid_runtime::http::Refusal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rules a proposal is created with (copied into it, so later configuration changes do not
/// alter running votes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub voting_period_secs: u64,
    pub timelock_secs: u64,
    pub quorum: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Yes,
    No,
    Abstain,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    pub title: String,
    pub description: String,
    pub proposer: String,
    pub created_at: u64,
    pub rules: Rules,
    /// One entry per node: a node votes once.
    pub votes: BTreeMap<String, Choice>,
    pub executed_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub yes: u32,
    pub no: u32,
    pub abstain: u32,
}

impl Tally {
    pub fn total(&self) -> u32 {
        self.yes + self.no + self.abstain
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Voting is open.
    Active,
    /// Voting closed without quorum, or yes did not outnumber no.
    Rejected,
    /// Passed; waiting for the timelock to elapse.
    Queued,
    /// Passed and the timelock elapsed.
    Executable,
    Executed,
}

/// A refused vote or execution: 409 (conflicts with the proposal's state), 422 (bad values),
/// 404 (unknown proposal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Conflict(String),
    Invalid(String),
    NotFound(String),
}

impl Refusal for Refused {
    fn status(&self) -> u16 {
        match self {
            Refused::Conflict(_) => 409,
            Refused::Invalid(_) => 422,
            Refused::NotFound(_) => 404,
        }
    }

    fn message(&self) -> String {
        match self {
            Refused::Conflict(m) | Refused::Invalid(m) | Refused::NotFound(m) => m.clone(),
        }
    }
}

/// Node and proposer ids follow the runtime's one identifier rule (1–64 of `[A-Za-z0-9_-]`).
pub fn check_node_id(field: &str, id: &str) -> Result<(), Refused> {
    lucid_runtime::ident::check(field, id).map_err(Refused::Invalid)
}

impl Proposal {
    pub fn new(
        id: String,
        title: &str,
        description: &str,
        proposer: &str,
        rules: Rules,
        now: u64,
    ) -> Result<Self, Refused> {
        let title = title.trim();
        if title.is_empty() || title.len() > 200 {
            return Err(Refused::Invalid("title: expected 1-200 characters".into()));
        }
        if description.len() > 10_000 {
            return Err(Refused::Invalid(
                "description: longer than 10000 characters".into(),
            ));
        }
        check_node_id("proposer", proposer)?;
        Ok(Proposal {
            id,
            title: title.into(),
            description: description.into(),
            proposer: proposer.into(),
            created_at: now,
            rules,
            votes: BTreeMap::new(),
            executed_at: None,
        })
    }

    pub fn voting_ends_at(&self) -> u64 {
        self.created_at + self.rules.voting_period_secs
    }

    pub fn executable_at(&self) -> u64 {
        self.voting_ends_at() + self.rules.timelock_secs
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for choice in self.votes.values() {
            match choice {
                Choice::Yes => t.yes += 1,
                Choice::No => t.no += 1,
                Choice::Abstain => t.abstain += 1,
            }
        }
        t
    }

    pub fn state(&self, now: u64) -> State {
        if self.executed_at.is_some() {
            return State::Executed;
        }
        if now < self.voting_ends_at() {
            return State::Active;
        }
        let t = self.tally();
        if t.total() < self.rules.quorum || t.yes <= t.no {
            State::Rejected
        } else if now < self.executable_at() {
            State::Queued
        } else {
            State::Executable
        }
    }

    pub fn vote(&mut self, node_id: &str, choice: Choice, now: u64) -> Result<(), Refused> {
        check_node_id("node_id", node_id)?;
        if self.state(now) != State::Active {
            return Err(Refused::Conflict(format!(
                "voting on proposal {} has closed",
                self.id
            )));
        }
        if self.votes.contains_key(node_id) {
            return Err(Refused::Conflict(format!(
                "node {node_id:?} has already voted on proposal {}",
                self.id
            )));
        }
        self.votes.insert(node_id.into(), choice);
        Ok(())
    }

    pub fn execute(&mut self, now: u64) -> Result<(), Refused> {
        match self.state(now) {
            State::Executable => {
                self.executed_at = Some(now);
                Ok(())
            }
            State::Queued => Err(Refused::Conflict(format!(
                "proposal {} passed but its timelock runs until {}",
                self.id,
                self.executable_at()
            ))),
            other => Err(Refused::Conflict(format!(
                "proposal {} is {}; only a passed proposal whose timelock elapsed can be executed",
                self.id,
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        voting_period_secs: 100,
        timelock_secs: 50,
        quorum: 3,
    };

    fn proposal() -> Proposal {
        Proposal::new("p1".into(), "Raise chunk size", "", "node-a", RULES, 1000).unwrap()
    }

    #[test]
    fn passes_with_quorum_and_majority_then_waits_for_timelock() {
        let mut p = proposal();
        p.vote("node-a", Choice::Yes, 1001).unwrap();
        p.vote("node-b", Choice::Yes, 1002).unwrap();
        p.vote("node-c", Choice::No, 1003).unwrap();
        assert_eq!(p.state(1099), State::Active);
        assert_eq!(p.state(1100), State::Queued);
        assert_eq!(p.execute(1149).unwrap_err().status(), 409);
        assert_eq!(p.state(1150), State::Executable);
        p.execute(1150).unwrap();
        assert_eq!(p.state(1150), State::Executed);
        assert_eq!(p.execute(1200).unwrap_err().status(), 409, "executed once");
    }

    #[test]
    fn rejected_without_quorum() {
        let mut p = proposal();
        p.vote("node-a", Choice::Yes, 1001).unwrap();
        p.vote("node-b", Choice::Yes, 1001).unwrap();
        assert_eq!(p.state(1100), State::Rejected);
        assert_eq!(p.execute(2000).unwrap_err().status(), 409);
    }

    #[test]
    fn abstentions_count_for_quorum_but_a_tie_is_rejected() {
        let mut p = proposal();
        p.vote("node-a", Choice::Yes, 1001).unwrap();
        p.vote("node-b", Choice::Abstain, 1001).unwrap();
        p.vote("node-c", Choice::Abstain, 1001).unwrap();
        assert_eq!(
            p.state(1100),
            State::Queued,
            "quorum of 3 reached with abstentions, 1 yes > 0 no"
        );
        let mut tie = proposal();
        tie.vote("node-a", Choice::Yes, 1001).unwrap();
        tie.vote("node-b", Choice::No, 1001).unwrap();
        tie.vote("node-c", Choice::Abstain, 1001).unwrap();
        assert_eq!(tie.state(1100), State::Rejected);
    }

    #[test]
    fn a_node_votes_once() {
        let mut p = proposal();
        p.vote("node-a", Choice::Yes, 1001).unwrap();
        let err = p.vote("node-a", Choice::No, 1002).unwrap_err();
        assert!(err.message().contains("already voted"));
        assert_eq!(
            p.tally(),
            Tally {
                yes: 1,
                no: 0,
                abstain: 0
            }
        );
    }

    #[test]
    fn votes_after_the_voting_period_are_refused() {
        let mut p = proposal();
        assert_eq!(
            p.vote("node-a", Choice::Yes, 1100).unwrap_err().status(),
            409
        );
        assert!(p.votes.is_empty());
    }

    #[test]
    fn bad_ids_and_titles_are_invalid() {
        let mut p = proposal();
        assert_eq!(
            p.vote("node a", Choice::Yes, 1001).unwrap_err().status(),
            422
        );
        assert!(Proposal::new("p".into(), " ", "", "n", RULES, 0).is_err());
        assert!(Proposal::new("p".into(), "t", "", "", RULES, 0).is_err());
    }
}
