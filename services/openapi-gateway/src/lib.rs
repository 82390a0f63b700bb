//! openapi-gateway: the public edge. Routes `/api/<service>/…` to the services of the deployment
//! by prefix, with CORS.
//!
//! # API
//! - `ANY /api/<service>/<rest>` → forwarded to `<service's URL>/<rest>` (prefix stripped; query,
//!   body, method and end-to-end headers kept); the reply comes back as it is. `<service>` is any
//!   service of `LUCID_CATALOG` except the gateway itself. Unknown service: 404 `{"error"}`;
//!   upstream unreachable: 502 `{"error"}`; no reply within `OPENAPI_GATEWAY_TIMEOUT_MS`: 504.
//! - `GET /api` → `{"services": [names]}`: the routable prefixes.
//! - `GET /openapi.json`, `GET /docs` → forwarded to openapi-server (`LUCID_URL_OPENAPI_SERVER`).
//! - CORS: `OPTIONS` preflights from an origin in `OPENAPI_GATEWAY_ALLOWED_ORIGINS`
//!   (comma-separated `scheme://host[:port]`, or `*`) get 204 with `Access-Control-Allow-Origin`,
//!   `-Methods`, `-Headers` and `-Max-Age`; from other origins 403. Replies to allowed origins
//!   carry `Access-Control-Allow-Origin` and `-Expose-Headers`. Empty list (the default): no
//!   cross-origin access.
//! - Anything else, and any path with an empty segment (`/api//x`): 404 `{"error"}`; a wrong
//!   method on `/api`, `/openapi.json` or `/docs`: 405 with `Allow`.
//!
//! # Out of scope
//! TLS, authentication and rate limiting (api-gateway limits the session API), WebSockets and
//! streaming bodies (bodies are buffered, up to 1 MiB in, 16 MiB out).

pub mod cors;

use cors::Cors;
use lucid_runtime::forward::Forwarder;
use lucid_runtime::{ident, App, Context, Env, Request, Response, Routes};
use serde_json::json;
use std::time::Duration;

/// Requests for the gateway itself are not routed back into it.
const SELF: &str = "openapi-gateway";

pub struct Config {
    routes: Vec<(String, String)>,
    openapi_server: Option<String>,
    cors: Cors,
    timeout: Duration,
}

pub struct Service {
    routes: Vec<(String, String)>,
    openapi_server: Option<String>,
    cors: Cors,
    forwarder: Forwarder,
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        let catalog = env.catalog("the services routed by /api/<service>/");
        for (name, _) in &catalog {
            if let Err(e) = ident::check("service name", name) {
                env.check(false, format!("LUCID_CATALOG: {e}"));
            }
        }
        let openapi_server = env.upstream(
            "openapi-server",
            "openapi-server, for /openapi.json and /docs",
        );
        let origins = env.string(
            "OPENAPI_GATEWAY_ALLOWED_ORIGINS",
            "",
            "browser origins allowed by CORS: scheme://host[:port], comma-separated, or *",
        );
        let cors = Cors::parse(&origins)
            .map_err(|e| env.check(false, format!("OPENAPI_GATEWAY_ALLOWED_ORIGINS: {e}")))
            .unwrap_or_default();
        let timeout_ms = env.parse_within(
            "OPENAPI_GATEWAY_TIMEOUT_MS",
            10_000u64,
            1..,
            "longest wait for a service's reply (then 504)",
        );
        Config {
            routes: catalog.into_iter().filter(|(n, _)| n != SELF).collect(),
            openapi_server,
            cors,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            routes: config.routes,
            openapi_server: config.openapi_server,
            cors: config.cors,
            forwarder: Forwarder::new(config.timeout, 16 << 20),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .any("/api/{service}/{*rest}", |s, req| {
                s.edge(req, || s.forward(req))
            })
            .get("/api", |s, req| s.edge(req, || s.index()))
            .get("/openapi.json", |s, req| s.edge(req, || s.docs(req)))
            .get("/docs", |s, req| s.edge(req, || s.docs(req)));
        for path in ["/api", "/openapi.json", "/docs"] {
            routes.method("OPTIONS", path, |s, req| s.cors.preflight(req));
        }
    }
}

impl Service {
    /// CORS around every answer of the gateway: preflights answered, replies decorated.
    fn edge(&self, req: &Request, answer: impl FnOnce() -> Response) -> Response {
        if Cors::is_preflight(req) {
            return self.cors.preflight(req);
        }
        self.cors.decorate(req, answer())
    }

    /// `/api/<service>/<rest>` to the service, prefix stripped.
    fn forward(&self, req: &Request) -> Response {
        let service = req.param("service");
        let path = format!("/{}", req.param("rest"));
        match self.routes.iter().find(|(name, _)| name == service) {
            Some((_, url)) => self.forwarder.forward(req, url, &path, &[]),
            None => Response::error(404, format!("no service named {service:?} behind /api/")),
        }
    }

    fn docs(&self, req: &Request) -> Response {
        match &self.openapi_server {
            Some(url) => self.forwarder.forward(req, url, &req.path, &[]),
            None => Response::error(404, "openapi-server is not configured"),
        }
    }

    fn index(&self) -> Response {
        let names: Vec<&str> = self.routes.iter().map(|(n, _)| n.as_str()).collect();
        Response::json(200, &json!({ "services": names }))
    }
}
