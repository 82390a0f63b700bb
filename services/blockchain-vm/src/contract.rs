//! The anchor contract as a deterministic state machine.
//!
//! - `registerSession {session_id, merkle_root, chunk_count}`: a new session with its Merkle root
//!   and chunk count (1 ≤ count ≤ 1 000 000); registering an id twice is rejected.
//! - `anchorChunk {session_id, index, leaf}`: records chunk `index`'s ciphertext hash; the session
//!   must be registered, the index below its count and not anchored yet. When the last chunk is
//!   anchored, the Merkle root of all leaves must equal the registered root, or the call is rejected.
//!
//! A block of transactions applies all or nothing. The state root is SHA-256 of the state's
//! canonical JSON (ordered maps, fixed field order), so the same blocks give the same root on any
//! machine.

use lucid_runtime::ids::to_hex;
use merkle_builder::tree;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const MAX_CHUNKS: u64 = 1_000_000;

/// Chunk hashes one anchor may carry: its block (`registerSession` plus an `anchorChunk` per
/// hash) must fit the 1 MiB request bodies of blockchain-vm and blockchain-ledger. blockchain-api
/// checks each block's bytes exactly; on-system-chain-client refuses larger anchors up front.
pub const MAX_ANCHOR_CHUNKS: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "camelCase", deny_unknown_fields)]
pub enum Tx {
    #[serde(rename_all = "snake_case")]
    RegisterSession {
        session_id: String,
        merkle_root: String,
        chunk_count: u64,
    },
    #[serde(rename_all = "snake_case")]
    AnchorChunk {
        session_id: String,
        index: u64,
        leaf: String,
    },
}

/// What blockchain-api writes into each ledger block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockData {
    pub txs: Vec<Tx>,
    /// The state root after executing `txs`.
    pub state_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub merkle_root: String,
    pub chunk_count: u64,
    /// Height of the block that registered the session.
    pub registered_at: u64,
    /// Chunk index → leaf (ciphertext hash).
    pub leaves: BTreeMap<u64, String>,
    /// True once every chunk is anchored and the leaves reproduce the root.
    pub complete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Number of blocks applied; the next block must have this height.
    pub height: u64,
    pub sessions: BTreeMap<String, SessionState>,
}

/// A rejected block: which transaction, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub tx_index: usize,
    pub reason: String,
}

fn normalised_hash(what: &str, text: &str) -> Result<String, String> {
    tree::parse_hash(what, text).map(|h| tree::hex(&h))
}

impl State {
    pub fn root(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("state serialises");
        to_hex(&Sha256::digest(canonical))
    }

    fn apply(&mut self, tx: &Tx, height: u64) -> Result<(), String> {
        match tx {
            Tx::RegisterSession {
                session_id,
                merkle_root,
                chunk_count,
            } => {
                lucid_runtime::ident::check("session_id", session_id)?;
                let root = normalised_hash("merkle_root", merkle_root)?;
                if !(1..=MAX_CHUNKS).contains(chunk_count) {
                    return Err(format!(
                        "chunk_count {chunk_count} is not between 1 and {MAX_CHUNKS}"
                    ));
                }
                if self.sessions.contains_key(session_id) {
                    return Err(format!("session {session_id:?} is already registered"));
                }
                self.sessions.insert(
                    session_id.clone(),
                    SessionState {
                        merkle_root: root,
                        chunk_count: *chunk_count,
                        registered_at: height,
                        leaves: BTreeMap::new(),
                        complete: false,
                    },
                );
                Ok(())
            }
            Tx::AnchorChunk {
                session_id,
                index,
                leaf,
            } => {
                let leaf = normalised_hash("leaf", leaf)?;
                let session = self
                    .sessions
                    .get_mut(session_id)
                    .ok_or_else(|| format!("session {session_id:?} is not registered"))?;
                if *index >= session.chunk_count {
                    return Err(format!(
                        "chunk {index} is out of range: the session has {} chunks",
                        session.chunk_count
                    ));
                }
                if session.leaves.contains_key(index) {
                    return Err(format!(
                        "chunk {index} of {session_id:?} is already anchored"
                    ));
                }
                session.leaves.insert(*index, leaf);
                if session.leaves.len() as u64 == session.chunk_count {
                    let leaves: Vec<tree::Hash> = session
                        .leaves
                        .values()
                        .map(|l| tree::parse_hash("leaf", l))
                        .collect::<Result<_, _>>()?;
                    let root = tree::hex(&tree::root(&leaves)?);
                    if root != session.merkle_root {
                        return Err(format!("the anchored chunks of {session_id:?} give root {root}, not the registered {}", session.merkle_root));
                    }
                    session.complete = true;
                }
                Ok(())
            }
        }
    }

    /// Executes a block on a copy: the new state, or the first rejected transaction.
    pub fn execute(&self, height: u64, txs: &[Tx]) -> Result<State, Rejection> {
        if height != self.height {
            return Err(Rejection {
                tx_index: 0,
                reason: format!("block height {height}, expected {}", self.height),
            });
        }
        if txs.is_empty() {
            return Err(Rejection {
                tx_index: 0,
                reason: "a block needs at least one transaction".into(),
            });
        }
        let mut next = self.clone();
        for (tx_index, tx) in txs.iter().enumerate() {
            next.apply(tx, height)
                .map_err(|reason| Rejection { tx_index, reason })?;
        }
        next.height += 1;
        Ok(next)
    }
}

/// The transactions that anchor a session: register it, then anchor each chunk's leaf.
pub fn anchor_txs(
    session_id: &str,
    merkle_root: &str,
    leaves: &[String],
    chunk_count: u64,
) -> Vec<Tx> {
    let register = Tx::RegisterSession {
        session_id: session_id.into(),
        merkle_root: merkle_root.into(),
        chunk_count,
    };
    std::iter::once(register)
        .chain(leaves.iter().enumerate().map(|(i, leaf)| Tx::AnchorChunk {
            session_id: session_id.into(),
            index: i as u64,
            leaf: leaf.clone(),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<String> {
        (0..n).map(|i| format!("{i:02x}").repeat(32)).collect()
    }

    fn root_of(l: &[String]) -> String {
        let hashes: Vec<_> = l
            .iter()
            .map(|x| tree::parse_hash("l", x).unwrap())
            .collect();
        tree::hex(&tree::root(&hashes).unwrap())
    }

    #[test]
    fn same_blocks_give_the_same_state_root() {
        let l = leaves(3);
        let txs = anchor_txs("s1", &root_of(&l), &l, 3);
        let a = State::default().execute(0, &txs).unwrap();
        let b = State::default().execute(0, &txs).unwrap();
        assert_eq!(a.root(), b.root());
        assert!(a.sessions["s1"].complete);
        let other = State::default()
            .execute(0, &anchor_txs("s2", &root_of(&l), &l, 3))
            .unwrap();
        assert_ne!(a.root(), other.root());
    }

    #[test]
    fn chunks_may_be_anchored_in_later_blocks() {
        let l = leaves(2);
        let txs = anchor_txs("s1", &root_of(&l), &l, 2);
        let s = State::default().execute(0, &txs[..2]).unwrap();
        assert!(!s.sessions["s1"].complete);
        let s = s.execute(1, &txs[2..]).unwrap();
        assert!(s.sessions["s1"].complete);
        assert_eq!(s.sessions["s1"].registered_at, 0);
    }

    #[test]
    fn invalid_transitions_are_rejected_and_change_nothing() {
        let l = leaves(2);
        let s = State::default()
            .execute(0, &anchor_txs("s1", &root_of(&l), &l[..0], 2))
            .unwrap();
        let before = s.root();
        let anchor = |sid: &str, index: u64, leaf: &str| Tx::AnchorChunk {
            session_id: sid.into(),
            index,
            leaf: leaf.into(),
        };
        let cases: Vec<(Vec<Tx>, &str)> = vec![
            (anchor_txs("s1", &root_of(&l), &[], 2), "already registered"),
            (vec![anchor("nope", 0, &l[0])], "not registered"),
            (vec![anchor("s1", 2, &l[0])], "out of range"),
            (
                vec![anchor("s1", 0, &l[0]), anchor("s1", 0, &l[0])],
                "already anchored",
            ),
            (
                vec![anchor("s1", 0, &l[1]), anchor("s1", 1, &l[0])],
                "not the registered",
            ),
            (vec![anchor("s1", 0, "xyz")], "leaf"),
            (anchor_txs("s2", &root_of(&l), &[], 0), "chunk_count 0"),
            (anchor_txs("../x", &root_of(&l), &[], 1), "session_id"),
            (vec![], "at least one"),
        ];
        for (txs, expected) in cases {
            let err = s.execute(1, &txs).unwrap_err();
            assert!(err.reason.contains(expected), "{expected}: {}", err.reason);
        }
        assert_eq!(s.root(), before);
        assert!(s
            .execute(5, &[anchor("s1", 0, &l[0])])
            .unwrap_err()
            .reason
            .contains("height 5"));
    }

    #[test]
    fn transactions_have_a_stable_wire_form() {
        let tx = Tx::RegisterSession {
            session_id: "s".into(),
            merkle_root: "r".into(),
            chunk_count: 1,
        };
        assert_eq!(
            serde_json::to_string(&tx).unwrap(),
            r#"{"method":"registerSession","session_id":"s","merkle_root":"r","chunk_count":1}"#
        );
        let parsed: Tx = serde_json::from_str(
            r#"{"method":"anchorChunk","session_id":"s","index":2,"leaf":"l"}"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            Tx::AnchorChunk {
                session_id: "s".into(),
                index: 2,
                leaf: "l".into()
            }
        );
    }
}
