//! session-recorder: receives a session's raw recording stream over HTTP and stores it, with its
//! metadata, on its volume; serves it back to session-chunker.
//!
//! API (JSON unless noted; errors are `{"error": …}` with a 4xx/5xx status):
//! - `POST /sessions` `{"session_id"?: id, "metadata"?: any}` → 201 session (a random id when none
//!   is given; 409 if it exists). Ids are 1–64 of `[A-Za-z0-9_-]`.
//! - `POST /sessions/{id}/data[?offset=N]`, body = raw bytes (≤ 16 MiB per request) → 200
//!   `{"session_id", "size"}` once the bytes are fsync'd. With `offset`, the append happens only
//!   if the recording is exactly N bytes long (409 otherwise), so a retried piece lands once.
//! - `POST /sessions/{id}/finish` → 200 session with `size` and `sha256` of the whole recording;
//!   no appends after that (409).
//! - `GET /sessions` → `{"sessions": [session…]}`; `GET /sessions/{id}` → session
//!   `{"session_id", "status": "recording"|"finished", "created_at", "finished_at", "metadata", "size", "sha256"}`.
//! - `GET /sessions/{id}/data[?offset=N&length=M]` → the bytes (application/octet-stream); at most
//!   32 MiB per request (larger recordings are read in ranges).
//!
//! Config: `RECORDER_DATA_DIR` (the `recordings` volume, required).
//!
//! Out of scope: screen capture itself (it needs a display server, not a static image), codecs,
//! deleting recordings, authentication (the gateway's job).

pub mod store;

use lucid_runtime::{App, Context, Env, Request, Response, Routes};
use serde::Deserialize;
use std::path::PathBuf;
use store::{Store, StoreError};

/// Largest range served by one `GET …/data`.
pub const MAX_READ_BYTES: u64 = 32 << 20;

pub struct Config {
    data_dir: PathBuf,
}

pub struct Service {
    store: Store,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    session_id: Option<String>,
    #[serde(default)]
    metadata: serde_json::Value,
}

fn error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(m) => Response::error(404, m),
        StoreError::Conflict(m) => Response::error(409, m),
        StoreError::BadRequest(m) => Response::error(400, m),
        StoreError::Io(m) => Response::error(500, m),
    }
}

fn number(req: &Request, name: &str) -> Result<Option<u64>, Response> {
    match req.query_param(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Response::error(400, format!("query parameter {name}={v:?} is not a number"))
        }),
    }
}

impl Service {
    fn create(&self, req: &Request) -> Result<Response, Response> {
        let body: CreateRequest = if req.body.is_empty() {
            CreateRequest {
                session_id: None,
                metadata: serde_json::Value::Null,
            }
        } else {
            req.json()?
        };
        let id = body
            .session_id
            .unwrap_or_else(lucid_runtime::ids::random_id);
        let meta = self.store.create(&id, body.metadata).map_err(error)?;
        Ok(Response::json(201, &meta))
    }

    fn append(&self, id: &str, req: &Request) -> Result<Response, Response> {
        let offset = number(req, "offset")?;
        let size = self.store.append(id, offset, &req.body).map_err(error)?;
        Ok(Response::json(
            200,
            &serde_json::json!({ "session_id": id, "size": size }),
        ))
    }

    fn read(&self, id: &str, req: &Request) -> Result<Response, Response> {
        let offset = number(req, "offset")?.unwrap_or(0);
        let length = match number(req, "length")? {
            Some(n) => n,
            None => self
                .store
                .get(id)
                .map_err(error)?
                .size
                .saturating_sub(offset),
        };
        if length > MAX_READ_BYTES {
            return Err(Response::error(
                413,
                format!("range of {length} bytes is larger than {MAX_READ_BYTES}; read with offset and length"),
            ));
        }
        let bytes = self.store.read(id, offset, length).map_err(error)?;
        Ok(Response::bytes(200, bytes))
    }
}

impl App for Service {
    type Config = Config;
    const MAX_BODY_BYTES: u64 = 16 << 20;

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required("RECORDER_DATA_DIR", "directory of the recordings volume");
        Config {
            data_dir: data_dir.into(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            store: Store::open(&config.data_dir)?,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sessions", Self::create)
            .get("/sessions", |s, _| {
                s.store
                    .list()
                    .map(|l| Response::json(200, &serde_json::json!({ "sessions": l })))
                    .map_err(error)
            })
            .get("/sessions/{id}", |s, req| {
                s.store
                    .get(req.param("id"))
                    .map(|m| Response::json(200, &m))
                    .map_err(error)
            })
            .post("/sessions/{id}/data", |s, req| {
                s.append(req.param("id"), req)
            })
            .get("/sessions/{id}/data", |s, req| s.read(req.param("id"), req))
            .post("/sessions/{id}/finish", |s, req| {
                s.store
                    .finish(req.param("id"))
                    .map(|m| Response::json(200, &m))
                    .map_err(error)
            });
    }
}
