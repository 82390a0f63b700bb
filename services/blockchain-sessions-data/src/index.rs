//! The index: blocks read in order, each checked to link to the previous one, and every anchor
//! transaction filed under its session.

use blockchain_ledger::chain::{Block, GENESIS_PREV};
use blockchain_vm::contract::{BlockData, Tx};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorEntry {
    pub merkle_root: String,
    pub chunk_count: u64,
    pub block_height: u64,
    pub block_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkEntry {
    pub index: u64,
    pub leaf: String,
    pub block_height: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionEntry {
    pub anchors: Vec<AnchorEntry>,
    pub chunks: Vec<ChunkEntry>,
}

#[derive(Debug, Default)]
pub struct Index {
    /// Height of the next block to read.
    pub next_height: u64,
    last_hash: Option<String>,
    pub sessions: BTreeMap<String, SessionEntry>,
}

impl Index {
    /// Adds the next block; a block that does not follow the last one read is refused.
    pub fn apply(&mut self, block: &Block) -> Result<(), String> {
        let prev = self.last_hash.as_deref().unwrap_or(GENESIS_PREV);
        if block.height != self.next_height || block.prev_hash != prev {
            return Err(format!(
                "block {} does not follow block {} read before: the ledger changed under the index",
                block.height,
                self.next_height as i64 - 1
            ));
        }
        if block.computed_hash() != block.hash {
            return Err(format!(
                "block {}: hash does not match its contents",
                block.height
            ));
        }
        // Blocks not written by blockchain-api (no contract data) are counted but hold no anchors.
        if let Ok(data) = serde_json::from_str::<BlockData>(block.data.get()) {
            for tx in data.txs {
                match tx {
                    Tx::RegisterSession {
                        session_id,
                        merkle_root,
                        chunk_count,
                    } => self
                        .sessions
                        .entry(session_id)
                        .or_default()
                        .anchors
                        .push(AnchorEntry {
                            merkle_root,
                            chunk_count,
                            block_height: block.height,
                            block_hash: block.hash.clone(),
                        }),
                    Tx::AnchorChunk {
                        session_id,
                        index,
                        leaf,
                    } => self
                        .sessions
                        .entry(session_id)
                        .or_default()
                        .chunks
                        .push(ChunkEntry {
                            index,
                            leaf,
                            block_height: block.height,
                        }),
                }
            }
        }
        self.next_height += 1;
        self.last_hash = Some(block.hash.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockchain_ledger::chain::block_hash;

    fn block(height: u64, prev: &str, data: serde_json::Value) -> Block {
        let text = data.to_string();
        Block {
            height,
            prev_hash: prev.into(),
            timestamp: 1,
            hash: block_hash(height, prev, 1, &text),
            data: serde_json::value::RawValue::from_string(text).unwrap(),
        }
    }

    fn anchor_block(height: u64, prev: &str) -> Block {
        let txs = blockchain_vm::contract::anchor_txs(
            "s1",
            &"ab".repeat(32),
            &["cd".repeat(32), "ef".repeat(32)],
            2,
        );
        block(
            height,
            prev,
            serde_json::json!({ "txs": txs, "state_root": "00" }),
        )
    }

    #[test]
    fn files_anchors_and_chunks_under_their_session() {
        let mut index = Index::default();
        let b0 = block(0, GENESIS_PREV, serde_json::json!("not a contract block"));
        let b1 = anchor_block(1, &b0.hash);
        index.apply(&b0).unwrap();
        index.apply(&b1).unwrap();
        let s = &index.sessions["s1"];
        assert_eq!(
            s.anchors,
            vec![AnchorEntry {
                merkle_root: "ab".repeat(32),
                chunk_count: 2,
                block_height: 1,
                block_hash: b1.hash.clone()
            }]
        );
        assert_eq!(
            s.chunks.iter().map(|c| c.index).collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(index.next_height, 2);
    }

    #[test]
    fn refuses_blocks_that_skip_relink_or_lie_about_their_hash() {
        let mut index = Index::default();
        assert!(
            index.apply(&anchor_block(1, GENESIS_PREV)).is_err(),
            "skipped block 0"
        );
        assert!(
            index.apply(&anchor_block(0, &"11".repeat(32))).is_err(),
            "wrong link"
        );
        let mut forged = anchor_block(0, GENESIS_PREV);
        forged.hash = "22".repeat(32);
        assert!(index.apply(&forged).unwrap_err().contains("hash"));
        assert!(index.sessions.is_empty());
    }
}
