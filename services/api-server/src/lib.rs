//! api-server: the REST API over session records, persisted in an embedded store on its volume.
//!
//! # API
//! - `POST /sessions` `{"owner": str, "id"?: str, "metadata"?: {str: str}}` → 201 the session
//!   (status `created`; the id is generated when absent, otherwise 1–64 of `[A-Za-z0-9_-]`);
//!   409 if the id exists, 507 when the store holds `API_SERVER_MAX_SESSIONS`.
//! - `GET /sessions?status=&owner=&limit=` → `{"sessions": [...], "total": n}`, oldest first,
//!   `limit` 1–1000 (default 100); `total` counts every match.
//! - `GET /sessions/<id>` → the session, 404 if unknown.
//! - `PUT /sessions/<id>/status` `{"status": str, "reason"?: str}` → the updated session; the life
//!   cycle is `created → recording → processing → anchored`, with `failed` reachable from every
//!   non-final status and `cancelled` from `created` and `recording`; any other move is 409.
//! - `GET /statuses` → each status and the statuses it may move to.
//!
//! A session is `{"id", "owner", "status", "created_at", "updated_at" (Unix seconds),
//! "metadata", "history": [{"from", "to", "at", "reason"?}]}`. Errors are `{"error": "..."}`:
//! 400 malformed JSON, unknown fields or invalid values, 404, 405, 409, 413 (body over 64 KiB).
//!
//! # Storage
//! `$API_SERVER_DATA_DIR/sessions.json` (required: the volume), rewritten through a temporary
//! file, fsync and rename on every change (the runtime's `JsonFile`): a crash leaves the old or the
//! new version, never a torn one; a change that cannot be written is not applied.
//!
//! # MongoDB
//! The catalog lists MongoDB as an optional backend. What is done: `MONGODB_URL`
//! (`mongodb://host:port[/db]`, no credentials in it) and the `MONGODB_PASSWORD` secret
//! (`MONGODB_PASSWORD_FILE`) are read and validated, and `GET /ready` reports whether MongoDB
//! accepts TCP connections. What is not: speaking the MongoDB wire protocol — the embedded store
//! above is the only store of record.
//!
//! # Out of scope
//! The MongoDB wire protocol (above); checking access tokens (the authentication service issues
//! them, nothing here verifies them yet); rate limits (api-gateway in front of it); the recordings
//! themselves (session-recorder).

pub mod mongo;
pub mod sessions;

use lucid_runtime::storage::JsonFile;
use lucid_runtime::{ids, App, Context, Env, Request, Response, Routes};
use serde_json::json;
use sessions::{NewSession, Refused, Sessions, Status, StatusChange};
use std::path::PathBuf;

pub struct Config {
    data_dir: PathBuf,
    max_sessions: usize,
    mongo: Option<mongo::Mongo>,
}

pub struct Service {
    store: JsonFile<Sessions>,
    max_sessions: usize,
    mongo: Option<mongo::Mongo>,
}

impl App for Service {
    type Config = Config;
    const MAX_BODY_BYTES: u64 = 64 << 10;

    fn config(env: &mut Env) -> Config {
        let data_dir = PathBuf::from(env.required(
            "API_SERVER_DATA_DIR",
            "directory of the session store (the api-data volume)",
        ));
        let max_sessions = env.parse_within(
            "API_SERVER_MAX_SESSIONS",
            10_000usize,
            1..,
            "most session records kept; creating more answers 507",
        );
        let mongo = mongo::Mongo::config(env);
        Config {
            data_dir,
            max_sessions,
            mongo,
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        let store = JsonFile::open(config.data_dir.join("sessions.json"))?;
        let count = store.read(|s: &Sessions| s.sessions.len());
        lucid_runtime::log::info("session store opened", json!({ "sessions": count }));
        Ok(Service {
            store,
            max_sessions: config.max_sessions,
            mongo: config.mongo,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sessions", Self::create)
            .get("/sessions", Self::list)
            .get("/sessions/{id}", |s, req| {
                let id = req.param("id");
                match s.store.read(|st| st.sessions.get(id).cloned()) {
                    Some(session) => Response::json(200, &session),
                    None => Response::error(404, format!("no session {id}")),
                }
            })
            .put("/sessions/{id}/status", |s, req| {
                let change = match req.json::<StatusChange>() {
                    Ok(c) => c,
                    Err(resp) => return resp,
                };
                let now = ids::now_unix();
                s.apply(|st| st.change_status(req.param("id"), change, now), 200)
            })
            .get("/statuses", |_, _| {
                let table: serde_json::Map<String, serde_json::Value> = Status::ALL
                    .iter()
                    .map(|s| (s.to_string(), json!(s.next())))
                    .collect();
                Response::json(200, &table)
            });
    }

    fn ready(&self) -> Result<(), String> {
        match &self.mongo {
            Some(m) => m.reachable(),
            None => Ok(()),
        }
    }
}

impl Service {
    /// Runs `op` on the store; a refused request writes nothing, a failed write changes nothing.
    fn apply(
        &self,
        op: impl FnOnce(&mut Sessions) -> Result<sessions::Session, Refused>,
        ok: u16,
    ) -> Response {
        let mut refused = None;
        let result = self.store.update(|s| {
            op(s).map_err(|r| {
                refused = Some(r);
                String::new()
            })
        });
        match (result, refused) {
            (Ok(session), _) => Response::json(ok, &session),
            (Err(_), Some(Refused::Invalid(m))) => Response::error(400, m),
            (Err(_), Some(Refused::NotFound(m))) => Response::error(404, m),
            (Err(_), Some(Refused::Conflict(m))) => Response::error(409, m),
            (Err(_), Some(Refused::Full(max))) => {
                Response::error(507, format!("session store is full ({max} sessions)"))
            }
            (Err(e), None) => {
                lucid_runtime::log::error("session store write failed", json!({ "error": e }));
                Response::error(500, "session store write failed")
            }
        }
    }

    fn create(&self, req: &Request) -> Response {
        let mut new = match req.json::<NewSession>() {
            Ok(n) => n,
            Err(resp) => return resp,
        };
        let id = new.id.take().unwrap_or_else(ids::random_id);
        let (now, max) = (ids::now_unix(), self.max_sessions);
        self.apply(|s| s.create(new, id, now, max), 201)
    }

    fn list(&self, req: &Request) -> Response {
        let status = match req.query_param("status").map(|s| Status::parse(&s)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => return Response::error(400, e),
        };
        let limit = match req.query_param("limit").map(|l| l.parse::<usize>()) {
            None => 100,
            Some(Ok(n)) if (1..=1000).contains(&n) => n,
            _ => return Response::error(400, "limit must be a number from 1 to 1000"),
        };
        let owner = req.query_param("owner");
        let (sessions, total) = self.store.read(|s| s.list(status, owner.as_deref(), limit));
        Response::json(200, &json!({ "sessions": sessions, "total": total }))
    }
}
