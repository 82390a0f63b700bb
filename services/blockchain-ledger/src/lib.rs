//! blockchain-ledger: the on-system chain's append-only, hash-chained block log on its volume.
//! Every block is fsync'd before it is acknowledged, and the whole chain is verified at start: a
//! corrupted or truncated file stops the service with an error naming the file and line — it
//! never serves a broken chain (see [`chain`] for the format and the checks).
//!
//! Blocks carry opaque JSON `data`; blockchain-api decides what goes in them.
//!
//! API (JSON; errors are `{"error": …}`):
//! - `POST /blocks` `{"data": any, "prev_hash"?: hex}` → 201 block. With `prev_hash`, the append
//!   happens only if that is the head's hash (409 with the current head otherwise).
//! - `GET /blocks?from=H&limit=N` (N ≤ 1000, default 100) → `{"blocks": [block…], "count"}`.
//! - `GET /blocks/{height}` → block `{"height", "prev_hash", "timestamp", "data", "hash"}`; 404 past the head.
//! - `GET /head` → `{"count", "height", "hash"}` (`height`/`hash` null while empty).
//! - `GET /verify` → re-reads and re-verifies the file on disk: 200 `{"valid": true, "count"}`,
//!   or 500 `{"valid": false, "error"}`.
//!
//! Config: `LEDGER_DATA_DIR` (the `ledger` volume, required).
//!
//! Out of scope: consensus, multiple nodes, signatures on blocks, pruning.

pub mod chain;

use chain::{AppendError, Ledger};
use lucid_runtime::{App, Context, Env, Request, Response, Routes};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Mutex;

pub const MAX_PAGE: u64 = 1000;

pub struct Config {
    data_dir: PathBuf,
}

pub struct Service {
    data_dir: PathBuf,
    ledger: Mutex<Ledger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendRequest {
    data: serde_json::Value,
    prev_hash: Option<String>,
}

impl Service {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(&self, req: &Request) -> Result<Response, Response> {
        let body: AppendRequest = req.json()?;
        match self.ledger().append(&body.data, body.prev_hash.as_deref()) {
            Ok(block) => Ok(Response::json(201, &block)),
            Err(AppendError::PrevMismatch { expected, head }) => Err(Response::json(
                409,
                &json!({ "error": format!("prev_hash {expected} is not the head"), "head": head }),
            )),
            Err(AppendError::Io(e)) => Err(Response::error(500, e)),
        }
    }

    fn page(&self, req: &Request) -> Result<Response, Response> {
        let number = |name: &str, default: u64| -> Result<u64, Response> {
            req.query_param(name).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| Response::error(400, format!("{name}={v:?} is not a number")))
            })
        };
        let from = number("from", 0)?;
        let limit = number("limit", 100)?.min(MAX_PAGE);
        let ledger = self.ledger();
        let blocks = ledger.blocks();
        let start = (from as usize).min(blocks.len());
        let end = start.saturating_add(limit as usize).min(blocks.len());
        Ok(Response::json(
            200,
            &json!({ "blocks": &blocks[start..end], "count": blocks.len() }),
        ))
    }

    fn block(&self, height: &str) -> Result<Response, Response> {
        let height: usize = height
            .parse()
            .map_err(|_| Response::error(400, format!("height {height:?} is not a number")))?;
        let ledger = self.ledger();
        let block = ledger
            .blocks()
            .get(height)
            .ok_or_else(|| Response::error(404, format!("no block {height}")))?;
        Ok(Response::json(200, block))
    }

    fn head(&self) -> Response {
        let ledger = self.ledger();
        let head = ledger.head();
        Response::json(
            200,
            &json!({
                "count": ledger.blocks().len(),
                "height": head.map(|b| b.height),
                "hash": head.map(|b| b.hash.clone()),
            }),
        )
    }

    fn verify(&self) -> Response {
        // Holding the lock: no append can land half-way through the read.
        let _ledger = self.ledger();
        match chain::verify_file(&self.data_dir.join("chain.jsonl")) {
            Ok(blocks) => Response::json(200, &json!({ "valid": true, "count": blocks.len() })),
            Err(e) => Response::json(500, &json!({ "valid": false, "error": e })),
        }
    }
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required("LEDGER_DATA_DIR", "directory of the ledger volume");
        Config {
            data_dir: data_dir.into(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        let ledger = Ledger::open(&config.data_dir)
            .map_err(|e| format!("refusing to serve a broken chain: {e}"))?;
        lucid_runtime::log::info("chain verified", json!({ "blocks": ledger.blocks().len() }));
        Ok(Service {
            data_dir: config.data_dir,
            ledger: Mutex::new(ledger),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/blocks", Self::append)
            .get("/blocks", Self::page)
            .get("/blocks/{height}", |s, req| s.block(req.param("height")))
            .get("/head", |s, _| s.head())
            .get("/verify", |s, _| s.verify());
    }
}
