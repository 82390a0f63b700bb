//! xrdp-integration: renders, validates and serves the xrdp configuration of a session host.
//!
//! A session host's xrdp is described by a few settings (listening port, security layer, TLS
//! certificate and key paths, maximum sessions, the Unix group allowed to log in, time limits).
//! This service validates them (ports, absolute paths, names — no value can carry a newline, a key
//! or a `[section]` into the file) and renders `xrdp.ini` and `sesman.ini`, which the host fetches.
//!
//! # API
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/render` | `{host, settings}` | `{xrdp_ini, sesman_ini}`; 422 invalid settings |
//! | PUT | `/hosts/{host}/config` | settings | `{host, settings, xrdp_ini, sesman_ini}`; 422 invalid |
//! | GET | `/hosts` | – | `{hosts: [host…]}` |
//! | GET | `/hosts/{host}/config` | – | `{host, settings, xrdp_ini, sesman_ini}`; 404 |
//! | GET | `/hosts/{host}/xrdp.ini`, `/hosts/{host}/sesman.ini` | – | the file as `text/plain`; 404 |
//!
//! Settings (JSON, unknown fields refused): `port` (3389), `security_layer` (`tls`|`negotiate`|`rdp`,
//! default `tls`), `crypt_level` (`none`|`low`|`medium`|`high`|`fips`, default `high`),
//! `certificate` and `key_file` (absolute paths; required unless `rdp`), `max_sessions` (5, 1-100),
//! `allowed_group` (`tsusers`), `allow_root_login` (false), `idle_time_limit_secs` and
//! `disconnected_time_limit_secs` (0 = never).
//!
//! # Configuration
//! Only the runtime's variables (`LUCID_HTTP_PORT`, …). `XRDP_MAX_HOSTS` (256) bounds the hosts
//! kept in memory.
//!
//! # Out of scope
//! xrdp itself (C, PAM and an X server: outside a static distroless image) runs on the session
//! host, which fetches its files from here. Host configurations are kept in memory: the service
//! has no volume, so after a restart hosts are configured again (PUT is idempotent); the TLS
//! certificate files themselves are provisioned on the host.

pub mod render;

use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use render::{check_host, Settings};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::RwLock;

pub struct Service {
    max_hosts: usize,
    hosts: RwLock<BTreeMap<String, Settings>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderBody {
    host: String,
    settings: Settings,
}

fn rendered_view(host: &str, settings: &Settings) -> Result<Response, Response> {
    let r = render::render(host, settings).map_err(|e| Response::error(422, e))?;
    Ok(Response::json(
        200,
        &json!({ "host": host, "settings": settings, "xrdp_ini": r.xrdp_ini, "sesman_ini": r.sesman_ini }),
    ))
}

impl App for Service {
    type Config = usize;

    const MAX_BODY_BYTES: u64 = 16 << 10;

    fn config(env: &mut Env) -> usize {
        env.parse_within(
            "XRDP_MAX_HOSTS",
            256usize,
            1..,
            "session hosts whose configuration is kept",
        )
    }

    fn start(max_hosts: usize, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            max_hosts,
            hosts: RwLock::new(BTreeMap::new()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/render", |_, req| {
                let body: RenderBody = req.json()?;
                let r = render::render(&body.host, &body.settings)
                    .map_err(|e| Response::error(422, e))?;
                Ok(Response::json(200, &r))
            })
            .get("/hosts", |s, _| s.hosts())
            .put("/hosts/{host}/config", Self::set_config)
            .get("/hosts/{host}/config", |s, req| {
                s.file(req.param("host"), "config")
            })
            .get("/hosts/{host}/xrdp.ini", |s, req| {
                s.file(req.param("host"), "xrdp.ini")
            })
            .get("/hosts/{host}/sesman.ini", |s, req| {
                s.file(req.param("host"), "sesman.ini")
            });
    }
}

impl Service {
    fn hosts(&self) -> Response {
        let hosts: Vec<String> = self
            .hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        Response::json(200, &json!({ "hosts": hosts }))
    }

    fn set_config(&self, req: &Request) -> Result<Response, Response> {
        let host = req.param("host");
        let settings: Settings = req.json()?;
        let view = rendered_view(host, &settings)?;
        let mut hosts = self.hosts.write().unwrap_or_else(|p| p.into_inner());
        if !hosts.contains_key(host) && hosts.len() >= self.max_hosts {
            return Err(Response::error(
                507,
                format!("already {} hosts configured", self.max_hosts),
            ));
        }
        hosts.insert(host.to_string(), settings);
        log::info("xrdp configuration set", json!({ "host": host }));
        Ok(view)
    }

    /// A host's stored configuration (`config`) or one of its rendered files.
    fn file(&self, host: &str, file: &str) -> Result<Response, Response> {
        check_host(host).map_err(|e| Response::error(400, e))?;
        let settings = self.settings(host)?;
        if file == "config" {
            return rendered_view(host, &settings);
        }
        let r = render::render(host, &settings).map_err(|e| Response::error(500, e))?;
        let text = if file == "xrdp.ini" {
            r.xrdp_ini
        } else {
            r.sesman_ini
        };
        Ok(Response::new(200, "text/plain; charset=utf-8", text))
    }

    fn settings(&self, host: &str) -> Result<Settings, Response> {
        self.hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .cloned()
            .ok_or_else(|| Response::error(404, format!("no configuration for host {host:?}")))
    }
}
