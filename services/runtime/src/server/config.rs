//! The variables every service reads before its own: where to listen, how many request workers,
//! and the limits that keep slow or hostile clients from starving the server.

use crate::config::Env;
use std::net::IpAddr;
use std::time::Duration;

/// Variables every service reads, before its own.
#[derive(Debug, Clone)]
pub struct BaseConfig {
    pub port: u16,
    pub bind: IpAddr,
    /// Threads that run the service's handlers.
    pub workers: usize,
    pub max_body: u64,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// From a connection's start (or the end of the previous answer) to the end of a request's
    /// header; also how long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// From the end of a request's header to the end of its body.
    pub body_timeout: Duration,
    /// Digest of the image this process runs from, when the deployment says (`/health` reports it).
    pub image_digest: Option<String>,
}

impl BaseConfig {
    pub fn read(env: &mut Env, default_max_body: u64) -> Self {
        let port = env.parse(
            "LUCID_HTTP_PORT",
            8080u16,
            "port of the HTTP API, /health and /ready",
        );
        let bind = env.parse(
            "LUCID_BIND",
            IpAddr::from([0, 0, 0, 0]),
            "address the HTTP server binds to",
        );
        let workers = env.parse_within(
            "LUCID_WORKERS",
            4usize,
            1..=64,
            "threads running the service's request handlers (1-64); /health and /ready never wait for them",
        );
        let max_body = env.parse(
            "LUCID_MAX_BODY_BYTES",
            default_max_body,
            "largest accepted request body in bytes",
        );
        let max_connections = env.parse_within(
            "LUCID_MAX_CONNECTIONS",
            1024usize,
            1..=65_536,
            "connections served at once (more get 503 and are closed); 8 more are kept for 127.0.0.1 (the healthcheck)",
        );
        let header_timeout = env.duration(
            "LUCID_HEADER_TIMEOUT_MS",
            10_000,
            1..=3_600_000,
            "longest wait for a request's whole header, and for the next request on an idle connection (then it is closed)",
        );
        let body_timeout = env.duration(
            "LUCID_BODY_TIMEOUT_MS",
            30_000,
            1..=3_600_000,
            "longest wait for a request's whole body after its header (then 408 and the connection is closed)",
        );
        let image_digest = env.optional(
            "LUCID_IMAGE_DIGEST",
            "digest of the image this container runs (sha256:…), reported by /health",
        );
        BaseConfig {
            port,
            bind,
            workers,
            max_body,
            max_connections,
            header_timeout,
            body_timeout,
            image_digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_have_bounds_named_in_the_errors() {
        let mut env = Env::from_vars([
            ("LUCID_MAX_CONNECTIONS", "0"),
            ("LUCID_HEADER_TIMEOUT_MS", "0"),
            ("LUCID_BODY_TIMEOUT_MS", "soon"),
        ]);
        BaseConfig::read(&mut env, 1024);
        let errors = env.errors().join("\n");
        for var in [
            "LUCID_MAX_CONNECTIONS",
            "LUCID_HEADER_TIMEOUT_MS",
            "LUCID_BODY_TIMEOUT_MS",
        ] {
            assert!(errors.contains(var), "{var} not named in {errors}");
        }
    }
}
