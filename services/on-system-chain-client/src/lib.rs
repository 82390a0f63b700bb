//! on-system-chain-client: submits session anchors (session id, Merkle root, chunk count, and
//! optionally the chunk hashes) to blockchain-api and keeps their receipts on its volume.
//!
//! Submitting is idempotent: the same anchor again returns the stored receipt; if blockchain-api
//! already holds the session (e.g. the client crashed between submitting and storing), the
//! receipt is recovered from the chain when the root matches.
//!
//! API (JSON; errors are `{"error": …}`):
//! - `POST /anchors` `{"session_id", "merkle_root", "chunk_count", "chunk_hashes"?: [hash…]}` →
//!   201 receipt (200 if it was already anchored with the same root); 409 if anchored with another
//!   root; 413 for more than 5,000 chunk hashes or a body over 1 MiB (what blockchain-api takes),
//!   refused before anything is sent; blockchain-api's own refusals (4xx) are passed on as that
//!   4xx; 502 if blockchain-api cannot be reached or fails (retry).
//!   A receipt is `{"session_id", "merkle_root", "chunk_count", "block_height", "block_hash",
//!   "status": "confirmed", "submitted_at", "checked_at"}`.
//! - `GET /anchors` → `{"anchors": [receipt…]}`; `GET /anchors/{session_id}` → receipt.
//! - `POST /anchors/{session_id}/check` → re-reads the block from blockchain-api: `status` becomes
//!   `confirmed` if the block at `block_height` still has `block_hash`, `missing` otherwise.
//!
//! Config: `CHAIN_CLIENT_DATA_DIR` (the `chain-client` volume, required),
//! `LUCID_URL_BLOCKCHAIN_API` (required).
//!
//! Out of scope: signing transactions, fee payment, chains other than the on-system chain
//! (TRON is tron-node-client's).

use blockchain_vm::contract::MAX_ANCHOR_CHUNKS;
use lucid_runtime::client::{fits, upstream_refusal, Client};
use lucid_runtime::ids::now_unix;
use lucid_runtime::storage::JsonFile;
use lucid_runtime::{App, Context, Env, Request, Response, Routes, Sends};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub session_id: String,
    pub merkle_root: String,
    pub chunk_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunk_hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub session_id: String,
    pub merkle_root: String,
    pub chunk_count: u64,
    pub block_height: u64,
    pub block_hash: String,
    /// `confirmed` or `missing` (the block is no longer in the chain).
    pub status: String,
    pub submitted_at: u64,
    pub checked_at: u64,
}

pub struct Config {
    data_dir: PathBuf,
    api: String,
}

pub struct Service {
    receipts: JsonFile<BTreeMap<String, Receipt>>,
    api: String,
    client: Client,
}

/// blockchain-api's body limit (lucid-e2e's `limits` test holds it to blockchain-api's).
pub const ANCHOR_BODY_LIMIT: u64 = 1 << 20;

fn unreachable(e: String) -> Response {
    Response::error(502, format!("blockchain-api: {e}"))
}

impl Service {
    fn store(&self, receipt: Receipt) -> Result<Receipt, Response> {
        let stored = receipt.clone();
        self.receipts
            .update(|m| Ok(m.insert(stored.session_id.clone(), stored)))
            .map_err(|e| Response::error(500, e))?;
        Ok(receipt)
    }

    fn receipt_from(&self, anchor: &Anchor, v: &Value) -> Result<Receipt, Response> {
        let (Some(height), Some(hash)) = (v["block_height"].as_u64(), v["block_hash"].as_str())
        else {
            return Err(Response::error(
                502,
                "blockchain-api: reply has no block_height/block_hash",
            ));
        };
        let now = now_unix();
        Ok(Receipt {
            session_id: anchor.session_id.clone(),
            merkle_root: anchor.merkle_root.to_ascii_lowercase(),
            chunk_count: anchor.chunk_count,
            block_height: height,
            block_hash: hash.to_string(),
            status: "confirmed".into(),
            submitted_at: now,
            checked_at: now,
        })
    }

    fn submit(&self, req: &Request) -> Result<Response, Response> {
        let anchor: Anchor = req.json()?;
        lucid_runtime::ident::check("session_id", &anchor.session_id)
            .map_err(|e| Response::error(400, e))?;
        // What blockchain-api would refuse for its size is refused here, before anything is sent.
        if anchor.chunk_hashes.len() > MAX_ANCHOR_CHUNKS {
            return Err(Response::error(
                413,
                format!(
                    "an anchor carries at most {MAX_ANCHOR_CHUNKS} chunk hashes (blockchain-api's block limit), not {}",
                    anchor.chunk_hashes.len()
                ),
            ));
        }
        let body = serde_json::to_vec(&anchor).map_err(|e| Response::error(500, e.to_string()))?;
        fits(
            "blockchain-api",
            "the anchor",
            body.len(),
            ANCHOR_BODY_LIMIT,
        )?;
        let root = anchor.merkle_root.to_ascii_lowercase();
        if let Some(existing) = self.receipts.read(|m| m.get(&anchor.session_id).cloned()) {
            return if existing.merkle_root == root {
                Ok(Response::json(200, &existing))
            } else {
                Err(Response::error(
                    409,
                    format!(
                        "session {:?} is anchored with another root",
                        anchor.session_id
                    ),
                ))
            };
        }
        let reply = self
            .client
            .post_bytes(&format!("{}/anchors", self.api), "application/json", &body)
            .map_err(unreachable)?;
        match reply.status {
            201 => {
                let v: Value = reply.json().map_err(unreachable)?;
                let receipt = self.store(self.receipt_from(&anchor, &v)?)?;
                lucid_runtime::log::info(
                    "anchored",
                    json!({ "session_id": receipt.session_id, "block_height": receipt.block_height }),
                );
                Ok(Response::json(201, &receipt))
            }
            // Already on the chain (a submission whose reply was lost): recover its receipt.
            422 => match self
                .client
                .get(&format!("{}/anchors/{}", self.api, anchor.session_id))
                .map_err(unreachable)?
            {
                r if r.status == 200 => {
                    let v: Value = r.json().map_err(unreachable)?;
                    if v["merkle_root"] != root.as_str() {
                        return Err(Response::error(
                            409,
                            format!(
                                "session {:?} is anchored with another root",
                                anchor.session_id
                            ),
                        ));
                    }
                    Ok(Response::json(
                        200,
                        &self.store(self.receipt_from(&anchor, &v)?)?,
                    ))
                }
                _ => Err(Response::new(422, "application/json", reply.body)),
            },
            400 => Err(Response::new(400, "application/json", reply.body)),
            // A refusal stays a refusal: callers retry 5xx, and retrying this cannot succeed.
            _ => Err(upstream_refusal("blockchain-api", &reply)),
        }
    }

    fn check(&self, id: &str) -> Result<Response, Response> {
        let mut receipt = self
            .receipts
            .read(|m| m.get(id).cloned())
            .ok_or_else(|| Response::error(404, format!("no receipt for {id:?}")))?;
        let reply = self
            .client
            .get(&format!("{}/blocks/{}", self.api, receipt.block_height))
            .map_err(unreachable)?;
        let present = reply.status == 200
            && serde_json::from_slice::<Value>(&reply.body)
                .map(|b| b["hash"] == receipt.block_hash.as_str())
                .unwrap_or(false);
        if reply.status != 200 && reply.status != 404 {
            return Err(upstream_refusal("blockchain-api", &reply));
        }
        receipt.status = if present { "confirmed" } else { "missing" }.into();
        receipt.checked_at = now_unix();
        Ok(Response::json(200, &self.store(receipt)?))
    }
}

impl App for Service {
    type Config = Config;
    /// Anchors are passed on to blockchain-api, which takes no more.
    const MAX_BODY_BYTES: u64 = ANCHOR_BODY_LIMIT;
    const SENDS: &'static [(&'static str, Sends)] =
        &[("blockchain-api", Sends::AtMost(ANCHOR_BODY_LIMIT))];

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required(
            "CHAIN_CLIENT_DATA_DIR",
            "directory of the chain-client volume",
        );
        let api = env.upstream("blockchain-api", "blockchain-api base URL");
        env.check(
            api.is_some(),
            "LUCID_URL_BLOCKCHAIN_API: required but not set",
        );
        Config {
            data_dir: data_dir.into(),
            api: api.unwrap_or_default(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            receipts: JsonFile::open(config.data_dir.join("receipts.json"))?,
            api: config.api,
            client: Client::new(std::time::Duration::from_secs(30)),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/anchors", Self::submit)
            .get("/anchors", |s, _| {
                s.receipts.read(|m| {
                    Response::json(200, &json!({ "anchors": m.values().collect::<Vec<_>>() }))
                })
            })
            .get("/anchors/{id}", |s, req| {
                let id = req.param("id");
                s.receipts
                    .read(|m| m.get(id).map(|r| Response::json(200, r)))
                    .ok_or_else(|| Response::error(404, format!("no receipt for {id:?}")))
            })
            .post("/anchors/{id}/check", |s, req| s.check(req.param("id")));
    }
}
