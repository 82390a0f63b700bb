//! blockchain-sessions-data: an index from session id to its anchors and anchored chunks, built
//! by reading the chain from blockchain-ledger's HTTP API. The index lives in memory and is
//! caught up (new blocks only) before every answer; after a restart it is rebuilt from block 0.
//! Each block read must link to the previous one and hash correctly (see [`index`]).
//!
//! API (JSON; errors are `{"error": …}`):
//! - `GET /sessions` → `{"indexed_height", "sessions": [{"session_id", "anchors", "chunks"}…]}`
//!   (`anchors` and `chunks` are counts).
//! - `GET /sessions/{id}` → `{"session_id", "anchors": [{"merkle_root", "chunk_count", "block_height",
//!   "block_hash"}…], "chunks": [{"index", "leaf", "block_height"}…]}`; 404 if the chain has no
//!   transaction for it.
//! - `POST /sync` → `{"indexed_height"}`.
//! - 502 when the ledger cannot be read; 500 when the ledger's blocks stop linking to what was read.
//!
//! Config: `LUCID_URL_BLOCKCHAIN_LEDGER` (required). No volume: the ledger is the source of truth.
//!
//! Out of scope: search beyond session id, history of removed chains (the ledger never forks).

pub mod index;

use blockchain_ledger::chain::Block;
use index::Index;
use lucid_runtime::client::{upstream_refusal, Client};
use lucid_runtime::{App, Context, Env, Response, Routes, Sends};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Mutex, MutexGuard};

const PAGE: u64 = 500;

pub struct Config {
    ledger: String,
}

pub struct Service {
    ledger: String,
    client: Client,
    index: Mutex<Index>,
}

#[derive(Deserialize)]
struct Page {
    blocks: Vec<Block>,
}

impl Service {
    /// Reads the blocks added since the last call and returns the caught-up index.
    fn sync(&self) -> Result<MutexGuard<'_, Index>, Response> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let url = format!(
                "{}/blocks?from={}&limit={PAGE}",
                self.ledger, index.next_height
            );
            let reply = self
                .client
                .get(&url)
                .map_err(|e| Response::error(502, format!("blockchain-ledger: {e}")))?;
            if !reply.ok() {
                return Err(upstream_refusal("blockchain-ledger", &reply));
            }
            let page: Page = reply
                .json()
                .map_err(|e| Response::error(502, format!("blockchain-ledger: {e}")))?;
            if page.blocks.is_empty() {
                return Ok(index);
            }
            for block in &page.blocks {
                index.apply(block).map_err(|e| Response::error(500, e))?;
            }
        }
    }
}

impl App for Service {
    type Config = Config;
    const SENDS: &'static [(&'static str, Sends)] = &[("blockchain-ledger", Sends::NoBody)];

    fn config(env: &mut Env) -> Config {
        let ledger = env.upstream("blockchain-ledger", "blockchain-ledger base URL");
        env.check(
            ledger.is_some(),
            "LUCID_URL_BLOCKCHAIN_LEDGER: required but not set",
        );
        Config {
            ledger: ledger.unwrap_or_default(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            ledger: config.ledger,
            client: Client::default(),
            index: Mutex::new(Index::default()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sync", |s, _| {
                s.sync()
                    .map(|i| Response::json(200, &json!({ "indexed_height": i.next_height })))
            })
            .get("/sessions", |s, _| {
                s.sync().map(|i| {
                    let sessions: Vec<_> = i
                        .sessions
                        .iter()
                        .map(|(id, e)| json!({ "session_id": id, "anchors": e.anchors.len(), "chunks": e.chunks.len() }))
                        .collect();
                    Response::json(200, &json!({ "indexed_height": i.next_height, "sessions": sessions }))
                })
            })
            .get("/sessions/{id}", |s, req| {
                let id = req.param("id");
                s.sync().and_then(|i| match i.sessions.get(id) {
                    Some(e) => Ok(Response::json(200, &json!({ "session_id": id, "anchors": e.anchors, "chunks": e.chunks }))),
                    None => Err(Response::error(404, format!("no anchor for session {id:?}"))),
                })
            });
    }
}
