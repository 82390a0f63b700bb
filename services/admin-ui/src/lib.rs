//! admin-ui: a server-rendered web page of the stack — each service's health and the session list.
//!
//! # API
//! - `GET /` → `text/html`: a banner (all up, or which services are not), then every service of
//!   the deployment (`LUCID_CATALOG`) grouped by catalog layer, with its state (`up`, `unhealthy`,
//!   `down`), version, instance (host name), image digest and start time as its own `/health`
//!   reports them, the `/health` status, latency (none for a service that did not answer) and
//!   error, probed afresh on each request (TCP connect plus `GET /health`, in parallel, each step
//!   within `ADMIN_UI_PROBE_TIMEOUT_MS`); then the first `ADMIN_UI_SESSIONS_LIMIT` sessions of
//!   api-server (`LUCID_URL_API_SERVER`, `GET /sessions`), oldest first, or why they are
//!   unavailable. Times are ISO 8601 (UTC) with how long ago; every value is HTML-escaped; no
//!   scripts, no external assets; the page refreshes itself every 30 s. The layers come from the
//!   service crates' catalog metadata at build time (build.rs).
//! - `GET /api/overview` → the same data as JSON: `{"summary", "services", "sessions"|"sessions_error"}`.
//!
//! # Out of scope
//! Changing anything (the page is read-only), login (publish it only on a trusted network),
//! scripts and external assets. The probing is the runtime's `probe` module, shared with
//! server-tools.

mod layers;
pub mod page;
mod time;

use lucid_runtime::client::Client;
use lucid_runtime::probe::{self, Probe};
use lucid_runtime::{App, Context, Env, Response, Routes, Sends};
use serde_json::{json, Value};
use std::time::Duration;

pub struct Config {
    catalog: Vec<(String, String)>,
    api_server: Option<String>,
    timeout: Duration,
    sessions_limit: u32,
}

pub struct Service {
    config: Config,
    client: Client,
}

impl App for Service {
    type Config = Config;
    const SENDS: &'static [(&'static str, Sends)] = &[("api-server", Sends::NoBody)];

    fn config(env: &mut Env) -> Config {
        let catalog = env.catalog("the services shown on the page");
        let api_server = env.upstream("api-server", "api-server, for the session list");
        let timeout = probe::timeout_var(env, "ADMIN_UI_PROBE_TIMEOUT_MS");
        let sessions_limit = env.parse_within(
            "ADMIN_UI_SESSIONS_LIMIT",
            100u32,
            1..=1000,
            "sessions listed on the page (1-1000)",
        );
        Config {
            catalog,
            api_server,
            timeout,
            sessions_limit,
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        let client = Client::new(config.timeout);
        Ok(Service { config, client })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/", |s, _| {
                let (probes, sessions) = s.gather();
                let now = lucid_runtime::ids::now_unix();
                Response::html(page::render(
                    &probes,
                    &probe::summarize(&probes),
                    &sessions,
                    now,
                ))
            })
            .get("/api/overview", |s, _| {
                let (probes, sessions) = s.gather();
                let mut body = json!({ "summary": probe::summarize(&probes), "services": probes });
                match sessions {
                    Ok(list) => body["sessions"] = list,
                    Err(e) => body["sessions_error"] = json!(e),
                }
                Response::json(200, &body)
            });
    }
}

impl Service {
    /// Probes and the session list, fetched at the same time.
    fn gather(&self) -> (Vec<Probe>, Result<Value, String>) {
        std::thread::scope(|scope| {
            let sessions = scope.spawn(|| self.sessions());
            let probes = probe::probe_all(&self.config.catalog, self.config.timeout);
            let sessions = sessions
                .join()
                .unwrap_or_else(|_| Err("session fetch panicked".into()));
            (probes, sessions)
        })
    }

    fn sessions(&self) -> Result<Value, String> {
        let base = self
            .config
            .api_server
            .as_ref()
            .ok_or("LUCID_URL_API_SERVER is not set")?;
        let url = format!("{base}/sessions?limit={}", self.config.sessions_limit);
        let list: Value = self.client.get(&url)?.json()?;
        if list["sessions"].is_array() {
            Ok(list)
        } else {
            Err(format!("{url}: reply has no session list"))
        }
    }
}
