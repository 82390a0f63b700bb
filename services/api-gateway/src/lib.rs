//! api-gateway: the HTTP reverse proxy in front of api-server, and the only API port published on
//! the host.
//!
//! # API
//! Every request except `GET /health` and `GET /ready` is forwarded to api-server
//! (`LUCID_URL_API_SERVER`) unchanged — method, path, query, body and end-to-end headers — and its
//! reply comes back with its status, content type and headers. So the API is api-server's:
//! `POST /sessions`, `GET /sessions`, `GET /sessions/<id>`, `PUT /sessions/<id>/status`, …
//!
//! On the way the gateway:
//! - keeps the client's `X-Request-Id` when it is 1–64 of `[A-Za-z0-9_-]`, otherwise mints one,
//!   sends it upstream and returns it in the reply; every request is logged with it;
//! - adds the client address to `X-Forwarded-For`;
//! - limits each client address with a token bucket (`API_GATEWAY_RATE_PER_SEC`,
//!   `API_GATEWAY_BURST`): over the limit, 429 `{"error"}` with `Retry-After` (seconds);
//! - answers 504 `{"error"}` when api-server does not reply within `API_GATEWAY_TIMEOUT_MS`, and
//!   502 `{"error"}` when it cannot be reached; bodies over 64 KiB (api-server's limit) get 413
//!   here, before anything is forwarded.
//!
//! `GET /ready` requires api-server to accept TCP connections.
//!
//! # Out of scope
//! TLS (terminated in front of the Pi), authentication (the authentication service issues tokens;
//! api-server does not check them yet), caching, streaming bodies.

pub mod ratelimit;

use lucid_runtime::forward::Forwarder;
use lucid_runtime::{ident, ids, log, App, Context, Env, Request, Response, Routes, Sends};
use ratelimit::RateLimiter;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub struct Config {
    upstream: String,
    rate: f64,
    burst: u32,
    timeout: Duration,
}

pub struct Service {
    upstream: String,
    forwarder: Forwarder,
    limiter: RateLimiter,
}

impl App for Service {
    type Config = Config;
    /// api-server's limit (lucid-e2e's `limits` test holds them equal): a body the gateway
    /// forwards is never one api-server refuses for its size.
    const MAX_BODY_BYTES: u64 = 64 << 10;
    const SENDS: &'static [(&'static str, Sends)] = &[("api-server", Sends::ClientBody)];

    fn config(env: &mut Env) -> Config {
        let upstream = env.upstream("api-server", "base URL of api-server");
        env.check(
            upstream.is_some(),
            "LUCID_URL_API_SERVER: required (http://api-server:8081)",
        );
        let rate = env.parse(
            "API_GATEWAY_RATE_PER_SEC",
            20.0f64,
            "requests per second each client address may sustain",
        );
        env.check(
            rate > 0.0 && rate.is_finite(),
            format!("API_GATEWAY_RATE_PER_SEC={rate}: must be a positive number"),
        );
        let burst = env.parse_within(
            "API_GATEWAY_BURST",
            40u32,
            1..,
            "requests a client address may send at once",
        );
        let timeout_ms = env.parse_within(
            "API_GATEWAY_TIMEOUT_MS",
            10_000u64,
            1..,
            "longest wait for api-server's reply (then 504)",
        );
        Config {
            upstream: upstream.unwrap_or_default(),
            rate,
            burst,
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            upstream: config.upstream,
            forwarder: Forwarder::new(config.timeout, 16 << 20),
            limiter: RateLimiter::new(config.rate, config.burst),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        // Everything but /health and /ready is api-server's; it answers 404 and 405 itself.
        routes.any("/{*path}", Self::forward);
    }
}

impl Service {
    fn forward(&self, req: &Request) -> Response {
        let started = Instant::now();
        let id = request_id(req);
        let client: Option<IpAddr> = req
            .remote
            .as_deref()
            .and_then(|r| r.parse::<SocketAddr>().ok())
            .map(|a| a.ip());
        let response = match self.limiter.take(client, started) {
            Err(wait) => Response::error(429, "too many requests from this address").with_header(
                "Retry-After",
                &wait.as_secs_f64().ceil().max(1.0).to_string(),
            ),
            Ok(()) => {
                let forwarded_for = match (req.header("x-forwarded-for"), client) {
                    (Some(prev), Some(ip)) => format!("{prev}, {ip}"),
                    (None, Some(ip)) => ip.to_string(),
                    (prev, None) => prev.unwrap_or("").to_string(),
                };
                self.forwarder.forward(
                    req,
                    &self.upstream,
                    &req.path,
                    &[("X-Request-Id", &id), ("X-Forwarded-For", &forwarded_for)],
                )
            }
        };
        log::info(
            "request",
            json!({
                "request_id": id,
                "method": req.method,
                "path": req.path,
                "status": response.status,
                "ms": started.elapsed().as_millis() as u64,
            }),
        );
        response.with_header("X-Request-Id", &id)
    }
}

/// The client's request id when it is a plain token, otherwise a new one.
fn request_id(req: &Request) -> String {
    match req.header("x-request-id") {
        Some(id) if ident::check("request id", id).is_ok() => id.to_string(),
        _ => ids::random_id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_plain_request_ids_and_replaces_others() {
        let keep = Request::new("GET", "/").with_header("X-Request-Id", "abc-123");
        assert_eq!(request_id(&keep), "abc-123");
        let bad = Request::new("GET", "/").with_header("X-Request-Id", "a\"b<script>");
        let minted = request_id(&bad);
        assert_eq!(minted.len(), 32);
        assert_ne!(request_id(&Request::new("GET", "/")), minted);
    }
}
