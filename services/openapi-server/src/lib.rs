//! openapi-server: the OpenAPI 3 document of the stack's HTTP APIs, and a docs page.
//!
//! # API
//! - `GET /openapi.json` → the OpenAPI 3.0.3 document: for every service of the deployment
//!   (`LUCID_CATALOG`) its common endpoints `GET /health` and `GET /ready` under its gateway
//!   prefix `/api/<service>` (as openapi-gateway routes them), plus the endpoints this crate
//!   describes: api-server's session API (also reached through api-gateway), tor-proxy,
//!   tunnel-tools, server-tools, admin-ui and openapi-server itself. `servers[0].url` is
//!   `OPENAPI_PUBLIC_URL` (default `/`).
//! - `GET /docs` → the same as a plain HTML page (no scripts, no external assets).
//!
//! # Out of scope
//! Scraping the services for their APIs (the endpoint table is kept in `spec.rs`, reviewed with
//! the services), a Swagger UI (it would need CDN assets or a large bundle), schemas for the APIs
//! of the services not listed above (they get `/health` and `/ready`).

pub mod docs;
pub mod spec;

use lucid_runtime::{ident, App, Context, Env, Response, Routes};
use serde_json::Value;

pub struct Config {
    services: Vec<String>,
    server_url: String,
}

pub struct Service {
    document: Value,
    page: String,
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        let catalog = env.catalog("the services the document describes");
        for (name, _) in &catalog {
            if let Err(e) = ident::check("service name", name) {
                env.check(false, format!("LUCID_CATALOG: {e}"));
            }
        }
        let server_url = env.string(
            "OPENAPI_PUBLIC_URL",
            "/",
            "servers[0].url of the document: where openapi-gateway is reached",
        );
        Config {
            services: catalog.into_iter().map(|(name, _)| name).collect(),
            server_url,
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        // The document depends on configuration only: built once.
        let document = spec::document(
            &config.services,
            &config.server_url,
            env!("CARGO_PKG_VERSION"),
        );
        let page = docs::render(&document);
        Ok(Service { document, page })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/openapi.json", |s, _| Response::json(200, &s.document))
            .get("/docs", |s, _| Response::html(s.page.clone()));
    }
}
