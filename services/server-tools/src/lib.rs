//! server-tools: diagnostics of the stack. It probes every service of the deployment
//! (`LUCID_CATALOG`): a TCP connect, then `GET /health`, each within
//! `SERVER_TOOLS_PROBE_TIMEOUT_MS`, all in parallel, and serves the result as a JSON table. This
//! replaces the shell toolbox (curl, nc, netstat) that a distroless image cannot hold.
//!
//! # API
//! - `GET /status` → `{"checked_at": unix seconds, "summary": {"total", "up", "unhealthy",
//!   "down"}, "services": [{"service", "url", "state": "up"|"unhealthy"|"down", "tcp": bool,
//!   "http_status": int|null, "latency_ms", "error"?}]}`, in catalog order; always 200 (the
//!   table is the answer, whatever it says).
//! - `GET /status/<service>` → that service's row, 404 if it is not in the catalog.
//!
//! # Out of scope
//! Probing `/ready` (dependencies) and history or alerting: each request probes afresh.
//! The probing itself is the runtime's `probe` module, shared with admin-ui.

use lucid_runtime::probe::{self, Probe};
use lucid_runtime::{ids, App, Context, Env, Request, Response};
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

    fn handle(&self, req: &Request) -> Response {
        match req.route() {
            ("GET", p) if p == ["status"] => {
                let probes = probe::probe_all(&self.catalog, self.timeout);
                Response::json(200, &table(&probes))
            }
            ("GET", p) if p.len() == 2 && p[0] == "status" => {
                match self.catalog.iter().find(|(name, _)| name == p[1]) {
                    Some((name, url)) => {
                        Response::json(200, &probe::probe(name, url, self.timeout))
                    }
                    None => Response::error(404, format!("{} is not in the catalog", p[1])),
                }
            }
            (_, p) if p.first() == Some(&"status") => Response::method_not_allowed(),
            _ => Response::not_found(),
        }
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
