//! session-host-manager: registry of session hosts and their capacity; assigns sessions to hosts.
//!
//! Session hosts register with their RDP address and capacity and send heartbeats. A session is
//! assigned to the least-loaded live host with free capacity (lowest sessions/capacity, then most
//! free slots, then host id); assigning an already assigned session returns its assignment.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/hosts` | `{host_id, address: "host:port", capacity}` | 201 new / 200 updated host `{host_id, address, capacity, sessions, registered_at, last_heartbeat}`; 409 capacity below its sessions |
//! | GET | `/hosts` | – | `{hosts: [{…host, alive, free}]}` |
//! | GET | `/hosts/{id}` | – | the host with `alive`, `free`; 404 |
//! | POST | `/hosts/{id}/heartbeat` | – | the host; 404 |
//! | DELETE | `/hosts/{id}` | – | the removed host; 409 while it holds sessions; 404 |
//! | POST | `/assignments` | `{session_id}` | 201 new / 200 existing `{session_id, host_id, address}`; 503 no live host with free capacity |
//! | GET | `/assignments/{session_id}` | – | the assignment; 404 |
//! | DELETE | `/assignments/{session_id}` | – | the released assignment; 404 |
//!
//! # Configuration
//! - `HOSTS_DATA_DIR` (required, the `hosts` volume): `hosts.json`.
//! - `HOSTS_HEARTBEAT_TIMEOUT_SECS` (30): a host whose last heartbeat is older gets no new sessions.
//!
//! # Out of scope
//! Starting the desktop session on the host (rdp-server-manager keeps each host's slots; xrdp runs
//! there) and moving sessions off a host that died: its assignments stay until released.

pub mod registry;

use lucid_runtime::http::Refusal;
use lucid_runtime::ids::now_unix;
use lucid_runtime::storage::{write_failed, JsonFile};
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use registry::{Host, Registry};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;

pub struct Config {
    data_dir: PathBuf,
    heartbeat_timeout: u64,
}

pub struct Service {
    heartbeat_timeout: u64,
    store: JsonFile<Registry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHost {
    host_id: String,
    address: String,
    capacity: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAssignment {
    session_id: String,
}

impl App for Service {
    type Config = Config;

    const MAX_BODY_BYTES: u64 = 4 << 10;

    fn config(env: &mut Env) -> Config {
        let data_dir =
            PathBuf::from(env.required("HOSTS_DATA_DIR", "directory of the hosts volume"));
        let heartbeat_timeout = env.parse_within(
            "HOSTS_HEARTBEAT_TIMEOUT_SECS",
            30u64,
            1..,
            "seconds without heartbeat after which a host gets no new sessions",
        );
        Config {
            data_dir,
            heartbeat_timeout,
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            heartbeat_timeout: config.heartbeat_timeout,
            store: JsonFile::open(config.data_dir.join("hosts.json"))?,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/hosts", Self::register)
            .get("/hosts", |s, _| s.hosts())
            .get("/hosts/{id}", Self::host)
            .delete("/hosts/{id}", Self::deregister)
            .post("/hosts/{id}/heartbeat", Self::heartbeat)
            .post("/assignments", Self::assign)
            .get("/assignments/{session}", Self::assignment)
            .delete("/assignments/{session}", Self::release);
    }
}

impl Service {
    fn register(&self, req: &Request) -> Result<Response, Response> {
        let now = now_unix();
        let body: NewHost = req.json()?;
        let (host, new) = self
            .store
            .try_update(|r| r.register(&body.host_id, &body.address, body.capacity, now))
            .map_err(write_failed)?
            .map_err(Response::refused)?;
        log::info(
            "host registered",
            json!({ "host_id": host.host_id, "capacity": host.capacity, "new": new }),
        );
        Ok(Response::json(
            if new { 201 } else { 200 },
            &self.view(&host, now),
        ))
    }

    fn hosts(&self) -> Response {
        let now = now_unix();
        let hosts: Vec<Value> = self
            .store
            .read(|r| r.hosts.values().map(|h| self.view(h, now)).collect());
        Response::json(200, &json!({ "hosts": hosts }))
    }

    fn host(&self, req: &Request) -> Result<Response, Response> {
        let id = req.param("id");
        match self.store.read(|r| r.hosts.get(id).cloned()) {
            Some(host) => Ok(Response::json(200, &self.view(&host, now_unix()))),
            None => Err(Response::error(404, format!("unknown host {id:?}"))),
        }
    }

    fn heartbeat(&self, req: &Request) -> Result<Response, Response> {
        let now = now_unix();
        let host = self
            .store
            .try_update(|r| r.heartbeat(req.param("id"), now))
            .map_err(write_failed)?
            .map_err(Response::refused)?;
        Ok(Response::json(200, &self.view(&host, now)))
    }

    fn deregister(&self, req: &Request) -> Result<Response, Response> {
        let host = self
            .store
            .try_update(|r| r.deregister(req.param("id")))
            .map_err(write_failed)?
            .map_err(Response::refused)?;
        log::info("host deregistered", json!({ "host_id": host.host_id }));
        Ok(Response::json(200, &self.view(&host, now_unix())))
    }

    fn assign(&self, req: &Request) -> Result<Response, Response> {
        let body: NewAssignment = req.json()?;
        let (assignment, new) = self
            .store
            .try_update(|r| r.assign(&body.session_id, now_unix(), self.heartbeat_timeout))
            .map_err(write_failed)?
            .map_err(|e| {
                log::warn(
                    "session not assigned",
                    json!({ "session_id": body.session_id, "reason": e.message() }),
                );
                Response::refused(e)
            })?;
        if new {
            log::info(
                "session assigned",
                json!({ "session_id": assignment.session_id, "host_id": assignment.host_id }),
            );
        }
        Ok(Response::json(if new { 201 } else { 200 }, &assignment))
    }

    fn assignment(&self, req: &Request) -> Result<Response, Response> {
        let session = req.param("session");
        match self.store.read(|r| r.find(session)) {
            Some(a) => Ok(Response::json(200, &a)),
            None => Err(Response::error(
                404,
                format!("session {session:?} is not assigned"),
            )),
        }
    }

    fn release(&self, req: &Request) -> Result<Response, Response> {
        let a = self
            .store
            .try_update(|r| r.release(req.param("session")))
            .map_err(write_failed)?
            .map_err(Response::refused)?;
        log::info(
            "session released",
            json!({ "session_id": a.session_id, "host_id": a.host_id }),
        );
        Ok(Response::json(200, &a))
    }

    fn view(&self, host: &Host, now: u64) -> Value {
        let mut v = serde_json::to_value(host).unwrap_or(Value::Null);
        v["alive"] = json!(host.alive(now, self.heartbeat_timeout));
        v["free"] = json!(host.free());
        v
    }
}
