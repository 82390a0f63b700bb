//! blockchain-api: the HTTP API of the on-system chain. It fronts blockchain-ledger (storage of
//! blocks) and blockchain-vm (execution of the anchor contract).
//!
//! Submitting a block, one at a time (a lock orders them):
//! 1. catch the VM up: blocks the ledger has and the VM has not applied are replayed, and the
//!    VM's state root must equal the one recorded in each block (a determinism check);
//! 2. dry-run the transactions on the VM (invalid → 422, nothing written);
//! 3. append `{"txs", "state_root"}` to the ledger, conditional on the current head;
//! 4. commit them on the VM. If this step fails, step 1 of the next submission repairs it.
//!
//! API (JSON; errors are `{"error": …}`):
//! - `POST /anchors` `{"session_id", "merkle_root", "chunk_count", "chunk_hashes"?: [hash…]}` →
//!   201 receipt `{"session_id", "merkle_root", "chunk_count", "block_height", "block_hash",
//!   "state_root", "tx_count"}`: one block with `registerSession` and an `anchorChunk` per hash
//!   (`chunk_hashes`, if given, must hold `chunk_count` hashes, in chunk order).
//! - `POST /transactions` `{"txs": [tx…]}` → 201 `{"block_height", "block_hash", "state_root", "tx_count"}`.
//! - `GET /anchors/{session_id}` → `{"session_id", "merkle_root", "chunk_count", "anchored_chunks",
//!   "complete", "block_height", "block_hash"}` (the registering block).
//! - `GET /blocks?from&limit`, `GET /blocks/{height}`, `GET /head` → as blockchain-ledger.
//! - 413 when a block would exceed 1 MiB (the body limit of the VM and the ledger), or an anchor
//!   carries more than 5,000 chunk hashes: refused here, never passed on to be refused there.
//! - A refusal (4xx) of the ledger or the VM is passed on as that 4xx, naming it; 502 when they
//!   cannot be reached or answer unexpectedly.
//!
//! Config: `LUCID_URL_BLOCKCHAIN_LEDGER`, `LUCID_URL_BLOCKCHAIN_VM` (both required). No volume:
//! the ledger and the VM hold the state.
//!
//! Out of scope: signatures and accounts, fees, a mempool (each submission is its own block).

use blockchain_vm::contract::{anchor_txs, BlockData, Tx, MAX_ANCHOR_CHUNKS};
use lucid_runtime::client::{fits, upstream_refusal, Client, Reply};
use lucid_runtime::{App, Context, Env, Request, Response, Routes, Sends};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;

/// Largest body sent to blockchain-vm (`/execute`) or blockchain-ledger (`/blocks`): their body
/// limit (lucid-e2e's `limits` test checks it against both). A block over it is refused here with
/// 413, never passed on to be refused there.
pub const BLOCK_BODY_LIMIT: u64 = 1 << 20;

/// The `prev_hash` of the first block (the ledger's convention).
const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub struct Config {
    ledger: String,
    vm: String,
}

pub struct Service {
    ledger: String,
    vm: String,
    client: Client,
    submit: Mutex<()>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorRequest {
    pub session_id: String,
    pub merkle_root: String,
    pub chunk_count: u64,
    #[serde(default)]
    pub chunk_hashes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransactionsRequest {
    txs: Vec<Tx>,
}

/// A reply of a service the API fronts: its refusal (4xx) is passed on as such, anything else
/// unexpected is a 502 naming it.
fn expect(service: &str, result: Result<Reply, String>, ok: u16) -> Result<Value, Response> {
    let reply = result.map_err(|e| Response::error(502, format!("{service}: {e}")))?;
    if reply.status != ok {
        return Err(upstream_refusal(service, &reply));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|e| Response::error(502, format!("{service}: invalid JSON: {e}")))
}

/// `value` as a request body for `upstream`, or 413 when it would exceed [`BLOCK_BODY_LIMIT`].
fn body(upstream: &str, what: &str, value: &Value) -> Result<Vec<u8>, Response> {
    let bytes = serde_json::to_vec(value).map_err(|e| Response::error(500, e.to_string()))?;
    fits(upstream, what, bytes.len(), BLOCK_BODY_LIMIT)?;
    Ok(bytes)
}

fn field_u64(service: &str, v: &Value, name: &str) -> Result<u64, Response> {
    v[name]
        .as_u64()
        .ok_or_else(|| Response::error(502, format!("{service}: reply has no number {name:?}")))
}

impl Service {
    /// Replays ledger blocks the VM has not applied yet.
    fn catch_up(&self) -> Result<(), Response> {
        let vm_state = expect(
            "blockchain-vm",
            self.client.get(&format!("{}/state", self.vm)),
            200,
        )?;
        let mut vm_height = field_u64("blockchain-vm", &vm_state, "height")?;
        let head = expect(
            "blockchain-ledger",
            self.client.get(&format!("{}/head", self.ledger)),
            200,
        )?;
        let count = field_u64("blockchain-ledger", &head, "count")?;
        if vm_height > count {
            return Err(Response::error(
                500,
                format!("blockchain-vm has applied {vm_height} blocks, the ledger holds {count}"),
            ));
        }
        while vm_height < count {
            let block = expect(
                "blockchain-ledger",
                self.client
                    .get(&format!("{}/blocks/{vm_height}", self.ledger)),
                200,
            )?;
            let data: BlockData = serde_json::from_value(block["data"].clone()).map_err(|e| {
                Response::error(
                    500,
                    format!("ledger block {vm_height} is not a contract block: {e}"),
                )
            })?;
            let url = format!("{}/execute", self.vm);
            let applied = expect(
                "blockchain-vm",
                self.client
                    .post_json(&url, &json!({ "height": vm_height, "txs": data.txs })),
                200,
            )?;
            if applied["state_root"] != data.state_root.as_str() {
                return Err(Response::error(500, format!("replaying block {vm_height} gives another state root than the ledger records")));
            }
            lucid_runtime::log::warn(
                "replayed ledger block on the VM",
                json!({ "height": vm_height }),
            );
            vm_height += 1;
        }
        Ok(())
    }

    fn submit(&self, txs: Vec<Tx>) -> Result<Value, Response> {
        let _order = self.submit.lock().unwrap_or_else(|p| p.into_inner());
        self.catch_up()?;
        let head = expect(
            "blockchain-ledger",
            self.client.get(&format!("{}/head", self.ledger)),
            200,
        )?;
        let height = field_u64("blockchain-ledger", &head, "count")?;
        let prev = head["hash"].as_str().unwrap_or(GENESIS_PREV).to_string();

        let url = format!("{}/execute", self.vm);
        let dry = body(
            "blockchain-vm",
            "the block's dry run",
            &json!({ "height": height, "txs": txs, "dry_run": true }),
        )?;
        let dry = self
            .client
            .post_bytes(&url, "application/json", &dry)
            .map_err(|e| Response::error(502, format!("blockchain-vm: {e}")))?;
        if dry.status == 422 {
            return Err(Response::new(422, "application/json", dry.body));
        }
        let dry = expect("blockchain-vm", Ok(dry), 200)?;
        let state_root = dry["state_root"].as_str().unwrap_or_default().to_string();

        let data = BlockData {
            txs: txs.clone(),
            state_root: state_root.clone(),
        };
        let block = body(
            "blockchain-ledger",
            "the block",
            &json!({ "data": data, "prev_hash": prev }),
        )?;
        let block = expect(
            "blockchain-ledger",
            self.client.post_bytes(
                &format!("{}/blocks", self.ledger),
                "application/json",
                &block,
            ),
            201,
        )?;
        if let Err(e) = expect(
            "blockchain-vm",
            self.client
                .post_json(&url, &json!({ "height": height, "txs": txs })),
            200,
        ) {
            // The block is durable; the next submission's catch-up applies it to the VM.
            lucid_runtime::log::warn(
                "VM commit failed after the ledger append",
                json!({ "height": height, "error": String::from_utf8_lossy(&e.body) }),
            );
        }
        Ok(json!({
            "block_height": block["height"],
            "block_hash": block["hash"],
            "state_root": state_root,
            "tx_count": txs.len(),
        }))
    }

    fn anchor(&self, req: &Request) -> Result<Response, Response> {
        let body: AnchorRequest = req.json()?;
        if body.chunk_hashes.len() > MAX_ANCHOR_CHUNKS {
            return Err(Response::error(
                413,
                format!(
                    "an anchor carries at most {MAX_ANCHOR_CHUNKS} chunk hashes (one block within {BLOCK_BODY_LIMIT} bytes), not {}",
                    body.chunk_hashes.len()
                ),
            ));
        }
        if !body.chunk_hashes.is_empty() && body.chunk_hashes.len() as u64 != body.chunk_count {
            return Err(Response::error(
                400,
                format!(
                    "chunk_hashes holds {} hashes but chunk_count is {}",
                    body.chunk_hashes.len(),
                    body.chunk_count
                ),
            ));
        }
        let txs = anchor_txs(
            &body.session_id,
            &body.merkle_root,
            &body.chunk_hashes,
            body.chunk_count,
        );
        let mut receipt = self.submit(txs)?;
        receipt["session_id"] = body.session_id.into();
        receipt["merkle_root"] = body.merkle_root.to_ascii_lowercase().into();
        receipt["chunk_count"] = body.chunk_count.into();
        Ok(Response::json(201, &receipt))
    }

    fn get_anchor(&self, id: &str) -> Result<Response, Response> {
        lucid_runtime::ident::check("session id", id).map_err(|e| Response::error(400, e))?;
        let reply = self
            .client
            .get(&format!("{}/sessions/{id}", self.vm))
            .map_err(|e| Response::error(502, format!("blockchain-vm: {e}")))?;
        if reply.status == 404 {
            return Err(Response::error(
                404,
                format!("session {id:?} is not anchored"),
            ));
        }
        let session = expect("blockchain-vm", Ok(reply), 200)?;
        let height = field_u64("blockchain-vm", &session, "registered_at")?;
        let block = expect(
            "blockchain-ledger",
            self.client.get(&format!("{}/blocks/{height}", self.ledger)),
            200,
        )?;
        Ok(Response::json(
            200,
            &json!({
                "session_id": id,
                "merkle_root": session["merkle_root"],
                "chunk_count": session["chunk_count"],
                "anchored_chunks": session["leaves"].as_object().map_or(0, |m| m.len()),
                "complete": session["complete"],
                "block_height": height,
                "block_hash": block["hash"],
            }),
        ))
    }

    /// Forwards a read to the ledger, keeping its status and body.
    fn forward(&self, path: &str, query: &str) -> Result<Response, Response> {
        let url = if query.is_empty() {
            format!("{}{path}", self.ledger)
        } else {
            format!("{}{path}?{query}", self.ledger)
        };
        let reply = self
            .client
            .get(&url)
            .map_err(|e| Response::error(502, format!("blockchain-ledger: {e}")))?;
        Ok(Response::new(reply.status, "application/json", reply.body))
    }
}

impl App for Service {
    type Config = Config;
    /// A request larger than a block body cannot make a block that fits one.
    const MAX_BODY_BYTES: u64 = BLOCK_BODY_LIMIT;
    const SENDS: &'static [(&'static str, Sends)] = &[
        ("blockchain-ledger", Sends::AtMost(BLOCK_BODY_LIMIT)),
        ("blockchain-vm", Sends::AtMost(BLOCK_BODY_LIMIT)),
    ];

    fn config(env: &mut Env) -> Config {
        let ledger = env.upstream("blockchain-ledger", "blockchain-ledger base URL");
        env.check(
            ledger.is_some(),
            "LUCID_URL_BLOCKCHAIN_LEDGER: required but not set",
        );
        let vm = env.upstream("blockchain-vm", "blockchain-vm base URL");
        env.check(
            vm.is_some(),
            "LUCID_URL_BLOCKCHAIN_VM: required but not set",
        );
        Config {
            ledger: ledger.unwrap_or_default(),
            vm: vm.unwrap_or_default(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            ledger: config.ledger,
            vm: config.vm,
            client: Client::default(),
            submit: Mutex::new(()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/anchors", Self::anchor)
            .post("/transactions", |s, req| {
                req.json::<TransactionsRequest>()
                    .and_then(|body| s.submit(body.txs))
                    .map(|receipt| Response::json(201, &receipt))
            })
            .get("/anchors/{id}", |s, req| s.get_anchor(req.param("id")))
            .get("/blocks", |s, req| s.forward(&req.path, &req.query))
            .get("/head", |s, req| s.forward(&req.path, &req.query))
            .get("/blocks/{height}", |s, req| s.forward(&req.path, ""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_anchor_makes_bodies_within_the_block_limit() {
        // Longest ids and hashes, the most chunks: the early refusal of on-system-chain-client
        // (MAX_ANCHOR_CHUNKS) is never looser than the byte check here.
        let id = "s".repeat(64);
        let leaves = vec!["f".repeat(64); MAX_ANCHOR_CHUNKS];
        let txs = anchor_txs(&id, &"e".repeat(64), &leaves, MAX_ANCHOR_CHUNKS as u64);
        let height = u64::MAX;
        body(
            "blockchain-vm",
            "dry run",
            &json!({ "height": height, "txs": txs, "dry_run": true }),
        )
        .unwrap();
        let data = BlockData {
            txs,
            state_root: "a".repeat(64),
        };
        body(
            "blockchain-ledger",
            "block",
            &json!({ "data": data, "prev_hash": "b".repeat(64) }),
        )
        .unwrap();
        let mut more = leaves.clone();
        more.extend(vec!["f".repeat(64); MAX_ANCHOR_CHUNKS]);
        let txs = anchor_txs(&id, &"e".repeat(64), &more, more.len() as u64);
        let refused = body(
            "blockchain-vm",
            "the block's dry run",
            &json!({ "height": 0, "txs": txs }),
        )
        .unwrap_err();
        assert_eq!(refused.status, 413);
    }
}
