//! blockchain-vm: deterministic execution of the anchor contract (`registerSession`,
//! `anchorChunk`) as a state machine whose state lives on its volume (rules in [`contract`]).
//! Same blocks in the same order → same state root.
//!
//! API (JSON; errors are `{"error": …}`):
//! - `POST /execute` `{"height", "txs": [tx…], "dry_run"?: bool}` → 200 `{"height", "state_root"}`
//!   (the state after the block; a dry run persists nothing). 409 `{"error", "expected_height"}`
//!   when `height` is not the next block; 422 `{"error", "tx_index"}` when a transaction is
//!   invalid (the whole block is rejected).
//!   A tx is `{"method": "registerSession", "session_id", "merkle_root", "chunk_count"}` or
//!   `{"method": "anchorChunk", "session_id", "index", "leaf"}`.
//! - `GET /state` → `{"height", "state_root", "sessions"}`.
//! - `GET /sessions/{id}` → `{"session_id", "merkle_root", "chunk_count", "registered_at", "leaves", "complete"}`.
//!
//! Config: `VM_DATA_DIR` (the `vm-state` volume, required).
//!
//! Out of scope: a general-purpose VM (EVM/TVM bytecode), gas, signatures; blockchain-api orders
//! the blocks and the ledger stores them.

pub mod contract;

use contract::{State, Tx};
use lucid_runtime::storage::JsonFile;
use lucid_runtime::{App, Context, Env, Request, Response, Routes};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

pub struct Config {
    data_dir: PathBuf,
}

pub struct Service {
    state: JsonFile<State>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecuteRequest {
    height: u64,
    txs: Vec<Tx>,
    #[serde(default)]
    dry_run: bool,
}

impl Service {
    fn execute(&self, req: &Request) -> Result<Response, Response> {
        let body: ExecuteRequest = req.json()?;
        let run = |state: &State| -> Result<State, Response> {
            if body.height != state.height {
                return Err(Response::json(
                    409,
                    &json!({ "error": format!("block height {}, expected {}", body.height, state.height), "expected_height": state.height }),
                ));
            }
            state.execute(body.height, &body.txs).map_err(|r| {
                Response::json(422, &json!({ "error": r.reason, "tx_index": r.tx_index }))
            })
        };
        let next = if body.dry_run {
            self.state.read(run)?
        } else {
            // JsonFile::update only takes String errors; the response travels beside it.
            let mut refusal = None;
            let result = self.state.update(|state| match run(state) {
                Ok(next) => {
                    *state = next.clone();
                    Ok(next)
                }
                Err(resp) => {
                    refusal = Some(resp);
                    Err("refused".to_string())
                }
            });
            match (result, refusal) {
                (Ok(next), _) => next,
                (Err(_), Some(resp)) => return Err(resp),
                (Err(e), None) => return Err(Response::error(500, e)),
            }
        };
        Ok(Response::json(
            200,
            &json!({ "height": next.height, "state_root": next.root() }),
        ))
    }
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required("VM_DATA_DIR", "directory of the vm-state volume");
        Config {
            data_dir: data_dir.into(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        let state = JsonFile::open(config.data_dir.join("state.json"))?;
        Ok(Service { state })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/execute", Self::execute)
            .get("/state", |s, _| {
                s.state.read(|st| {
                    Response::json(200, &json!({ "height": st.height, "state_root": st.root(), "sessions": st.sessions.len() }))
                })
            })
            .get("/sessions/{id}", |s, req| {
                let id = req.param("id");
                s.state.read(|st| match st.sessions.get(id) {
                    Some(session) => {
                        let mut body = serde_json::to_value(session).unwrap_or_default();
                        body["session_id"] = id.into();
                        Ok(Response::json(200, &body))
                    }
                    None => Err(Response::error(404, format!("session {id:?} is not registered"))),
                })
            });
    }
}
