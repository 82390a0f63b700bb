//! rdp-server-manager: RDP session slots — create, list, stop — with a concurrency limit.
//!
//! A slot is the right to run one RDP desktop session on this host: it names the Unix user and
//! the X display number the session gets. At most `RDP_MAX_SESSIONS` slots are active at once
//! (429 beyond that) and a user has at most one active slot (409); stopping a slot frees it.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/sessions` | `{user}` | 201 `{id, user, display, status: "active", created_at, stopped_at: null}`; 429 all slots in use; 409 user already has one; 422 bad user name |
//! | GET | `/sessions[?status=active\|stopped]` | – | `{max_sessions, active, sessions: […]}` |
//! | GET | `/sessions/{id}` | – | the slot, or 404 |
//! | DELETE | `/sessions/{id}` | – | the stopped slot; 404 unknown; 409 already stopped |
//!
//! # Configuration
//! - `RDP_DATA_DIR` (required, the `rdp` volume): `sessions.json`.
//! - `RDP_MAX_SESSIONS` (5): concurrent active slots, 1-100.
//!
//! # Out of scope
//! xrdp and the X server themselves (C programs with PAM, far outside a static distroless image):
//! they run on the session host, configured by xrdp-integration; this service keeps the slot book
//! that decides whether another session may start.

pub mod slots;

use lucid_runtime::ids::{now_unix, random_id};
use lucid_runtime::storage::{write_failed, JsonFile};
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use serde::Deserialize;
use serde_json::json;
use slots::{Slots, Status};
use std::path::PathBuf;

pub struct Config {
    data_dir: PathBuf,
    max_sessions: usize,
}

pub struct Service {
    max_sessions: usize,
    store: JsonFile<Slots>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    user: String,
}

impl App for Service {
    type Config = Config;

    const MAX_BODY_BYTES: u64 = 4 << 10;

    fn config(env: &mut Env) -> Config {
        let data_dir = PathBuf::from(env.required("RDP_DATA_DIR", "directory of the rdp volume"));
        let max_sessions = env.parse_within(
            "RDP_MAX_SESSIONS",
            5usize,
            1..=100,
            "concurrent RDP sessions allowed (1-100)",
        );
        Config {
            data_dir,
            max_sessions,
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            max_sessions: config.max_sessions,
            store: JsonFile::open(config.data_dir.join("sessions.json"))?,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sessions", Self::create)
            .get("/sessions", Self::list)
            .get("/sessions/{id}", Self::get)
            .delete("/sessions/{id}", Self::stop);
    }
}

impl Service {
    fn create(&self, req: &Request) -> Result<Response, Response> {
        let body: NewSession = req.json()?;
        let slot = self
            .store
            .try_update(|all| all.create(random_id(), &body.user, self.max_sessions, now_unix()))
            .map_err(write_failed)?
            .map_err(Response::refused)?;
        log::info(
            "rdp slot created",
            json!({ "id": slot.id, "user": slot.user, "display": slot.display }),
        );
        Ok(Response::json(201, &slot))
    }

    fn list(&self, req: &Request) -> Result<Response, Response> {
        let filter = match req.query_param("status").as_deref() {
            None => None,
            Some("active") => Some(Status::Active),
            Some("stopped") => Some(Status::Stopped),
            Some(other) => {
                return Err(Response::error(
                    400,
                    format!("status {other:?}: expected active or stopped"),
                ))
            }
        };
        let (active, mut sessions) = self.store.read(|all| {
            let list: Vec<_> = all
                .slots
                .values()
                .filter(|s| filter.is_none_or(|f| s.status == f))
                .cloned()
                .collect();
            (all.active().count(), list)
        });
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(Response::json(
            200,
            &json!({ "max_sessions": self.max_sessions, "active": active, "sessions": sessions }),
        ))
    }

    fn get(&self, req: &Request) -> Result<Response, Response> {
        let id = req.param("id");
        match self.store.read(|all| all.slots.get(id).cloned()) {
            Some(slot) => Ok(Response::json(200, &slot)),
            None => Err(Response::error(404, format!("unknown slot {id:?}"))),
        }
    }

    fn stop(&self, req: &Request) -> Result<Response, Response> {
        let slot = self
            .store
            .try_update(|all| all.stop(req.param("id"), now_unix()))
            .map_err(write_failed)?
            .map_err(Response::refused)?;
        log::info(
            "rdp slot stopped",
            json!({ "id": slot.id, "user": slot.user }),
        );
        Ok(Response::json(200, &slot))
    }
}
