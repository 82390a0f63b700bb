//! server-tools: diagnostics of the stack. It probes every service of the deployment
//! (`LUCID_CATALOG`): a TCP connect, then `GET /health`, each within
//! `SERVER_TOOLS_PROBE_TIMEOUT_MS`, all in parallel, and serves the result as a JSON table. This
//! replaces the shell toolbox (curl, nc, netstat) that a distroless image cannot hold.
//!
//! # API
//! - `GET /status` → `{"checked_at": unix seconds, "summary": {"total", "up", "unhealthy",
//!   "down"}, "services": [{"service", "url", "state": "up"|"unhealthy"|"down", "tcp": bool,
//!   "http_status": int|null, "latency_ms": int|null (null when /health did not answer),
//!   "error"?, "version"?, "instance"?, "image_digest"?, "started_at"?}]}` (the last four as the
//!   service's own `/health` reports them), in catalog order; always 200 (the table is the
//!   answer, whatever it says).
//! - `GET /status/<service>` → that service's row, 404 if it is not in the catalog.
//!
//! # Out of scope
//! Probing `/ready` (dependencies) and history or alerting: each request probes afresh.
//! The probing itself is the runtime's `probe` module, shared with admin-ui.

use lucid_runtime::probe::{self, Probe};
use lucid_runtime::{ids, App, Context, Env, Response, Routes};
use serde_json::json;
use std::time::Duration;

pub struct Config {
    catalog: Vec<(String, String)>,
    timeout: Duration,
}

pub struct Service {
    catalog: Vec<(String, String)>,
    timeout: Duration,
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        Config {
            catalog: env.catalog("the services to probe"),
            timeout: probe::timeout_var(env, "SERVER_TOOLS_PROBE_TIMEOUT_MS"),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            catalog: config.catalog,
            timeout: config.timeout,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/status", |s, _| {
                let probes = probe::probe_all(&s.catalog, s.timeout);
                Response::json(200, &table(&probes))
            })
            .get("/status/{service}", |s, req| {
                let wanted = req.param("service");
                match s.catalog.iter().find(|(name, _)| name == wanted) {
                    Some((name, url)) => Response::json(200, &probe::probe(name, url, s.timeout)),
                    None => Response::error(404, format!("{wanted} is not in the catalog")),
                }
            });
    }
}

/// The JSON status table.
pub fn table(probes: &[Probe]) -> serde_json::Value {
    json!({
        "checked_at": ids::now_unix(),
        "summary": probe::summarize(probes),
        "services": probes,
    })
}
