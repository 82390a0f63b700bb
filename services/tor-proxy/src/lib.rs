//! tor-proxy: a SOCKS5 proxy (RFC 1928 CONNECT, optional RFC 1929 user/password) with a
//! destination allowlist, relaying to an upstream Tor SOCKS endpoint when one is configured.
//!
//! Tor itself (circuits, onion services, the directory protocol) cannot live in a static
//! distroless image and is not reimplemented here: this service is the Rust side of that boundary.
//! Point `TOR_UPSTREAM_SOCKS` at a Tor daemon's `SocksPort` and every allowed CONNECT is relayed
//! through it, with names passed on unresolved (no local DNS lookups, so no DNS leaks).
//!
//! **Fail closed.** Without an upstream, tor-proxy refuses to start (exit 2, the message says what
//! to set): it connects directly — un-anonymised, and `.onion` names cannot be reached — only when
//! `TOR_PROXY_ALLOW_DIRECT=true` says so explicitly, which the generated compose files never do.
//!
//! # What an operator must set
//! The compose files give tor-proxy two secrets (files in `${LUCID_SECRETS_DIR:-./secrets}/`,
//! mounted at `/run/secrets/<name>` and read through `<VAR>_FILE`):
//! - `tor-upstream-socks` → `TOR_UPSTREAM_SOCKS`: one line `host:port` of a Tor daemon's
//!   `SocksPort` reachable from the `lucid_core_net` network (e.g. a Tor container or the
//!   host's `172.28.0.1:9050` with `SocksPort 172.28.0.1:9050` in its torrc);
//! - `tor-upstream-credentials` → `TOR_UPSTREAM_CREDENTIALS`: one line `user:password` for that
//!   endpoint (RFC 1929; Tor accepts any pair and uses it for stream isolation, or set
//!   `Socks5ProxyUsername`-style auth on a SOCKS front).
//!
//! Optionally `TOR_PROXY_CREDENTIALS` (accepted client logins) and the allowlist variables below.
//!
//! # SOCKS5 (port `TOR_PROXY_SOCKS_PORT`, 9050)
//! - methods: 0x00 (no authentication) when no credentials are configured, otherwise only 0x02
//!   (RFC 1929); anything else is answered with 0xFF;
//! - commands: CONNECT with IPv4, IPv6 or domain addresses; BIND and UDP ASSOCIATE get 0x07,
//!   unknown address types 0x08;
//! - a destination outside the allowlist gets 0x02; failed connections get 0x05 (refused),
//!   0x04 (host unreachable, name not resolved, timeout), 0x03 (network unreachable) or 0x01; a
//!   refusal by the upstream is passed on with the upstream's own code;
//! - one thread per connection, at most `TOR_PROXY_MAX_CONNECTIONS` (more are closed at once),
//!   every negotiation read bounded by `TOR_PROXY_HANDSHAKE_TIMEOUT_SECS`, relays closed after
//!   `TOR_PROXY_IDLE_TIMEOUT_SECS` without traffic.
//!
//! # HTTP API (port `LUCID_HTTP_PORT`, 9052)
//! - `GET /status` → `{"socks": "0.0.0.0:9050", "upstream": "tor:9050"|null, "auth": bool,
//!   "policy": {"onion_only", "hosts", "ports"}, "max_connections", "connections": {"active",
//!   "total", "rejected", "failed", "bytes_up", "bytes_down"}}`
//! - `POST /check` `{"target": "host:port"}` → `{"allowed": bool, "reason": string|null}`: what the
//!   allowlist says about a destination (400 on a malformed target).
//! - `GET /ready` also requires the upstream SOCKS endpoint to accept TCP connections.
//!
//! # Configuration
//! `TOR_PROXY_SOCKS_PORT`, `LUCID_BIND` (shared with the HTTP server), `TOR_UPSTREAM_SOCKS`
//! (secret `host:port`), `TOR_UPSTREAM_CREDENTIALS` (secret `user:password` for the upstream),
//! `TOR_PROXY_ALLOW_DIRECT` (`false`: without an upstream, refuse to start),
//! `TOR_PROXY_CREDENTIALS` (secret: accepted `user:password` logins, one per line),
//! `TOR_PROXY_ONION_ONLY`, `TOR_PROXY_ALLOW_HOSTS` (`*`, `*.domain`, names or addresses),
//! `TOR_PROXY_ALLOW_PORTS` (`80,443,8000-8100`; empty: all), the limits above and
//! `TOR_PROXY_CONNECT_TIMEOUT_SECS`.
//!
//! # Out of scope
//! Tor itself; SOCKS4/4a; BIND and UDP ASSOCIATE; GSSAPI authentication; CIDR patterns in the
//! allowlist.
//!
//! The [`socks`] client and the [`tcp`] accept loop and relay are also used by tunnel-tools.

pub mod policy;
pub mod server;
pub mod socks;
pub mod tcp;

use lucid_runtime::{App, Context, Env, Request, Response, Routes};
use policy::Policy;
use serde::Deserialize;
use serde_json::json;
use server::{Socks, Upstream};
use socks::{Credentials, Target};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tcp::{Limits, Stats};

/// The configuration read from the environment.
pub struct Config {
    bind: IpAddr,
    socks_port: u16,
    socks: Socks,
    max_connections: usize,
}

pub struct Service {
    socks_addr: SocketAddr,
    socks: Arc<Socks>,
    stats: Arc<Stats>,
    max_connections: usize,
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        let bind = env.parse(
            "LUCID_BIND",
            IpAddr::from([0, 0, 0, 0]),
            "address the HTTP server and the SOCKS listener bind to",
        );
        let socks_port = env.parse(
            "TOR_PROXY_SOCKS_PORT",
            9050u16,
            "port of the SOCKS5 listener",
        );
        let upstream_addr = socks::target_secret(
            env,
            "TOR_UPSTREAM_SOCKS",
            "secret: host:port of the upstream Tor SOCKS endpoint (a Tor daemon's SocksPort)",
        );
        let upstream_credentials = socks::credentials_var(
            env,
            "TOR_UPSTREAM_CREDENTIALS",
            "user:password for the upstream SOCKS endpoint",
        );
        let allow_direct = env.flag(
            "TOR_PROXY_ALLOW_DIRECT",
            false,
            "without an upstream, connect to destinations directly (NOT anonymised); never set by the compose files",
        );
        // Fail closed: traffic meant for Tor must never leave un-anonymised by default.
        env.check(
            upstream_addr.is_some() || allow_direct,
            "TOR_UPSTREAM_SOCKS: not set (compose: the secret tor-upstream-socks, read from \
             TOR_UPSTREAM_SOCKS_FILE). tor-proxy relays only through an upstream Tor SOCKS \
             endpoint; to connect directly instead (not anonymised) set TOR_PROXY_ALLOW_DIRECT=true",
        );
        let users = env
            .secret(
                "TOR_PROXY_CREDENTIALS",
                "accepted SOCKS logins, user:password one per line (none: no authentication)",
            )
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .enumerate()
                    .filter_map(|(i, line)| {
                        Credentials::parse(line)
                            .map_err(|e| {
                                env.check(
                                    false,
                                    format!("TOR_PROXY_CREDENTIALS line {}: {e}", i + 1),
                                )
                            })
                            .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let onion_only = env.flag(
            "TOR_PROXY_ONION_ONLY",
            false,
            "refuse every destination but *.onion names",
        );
        let hosts = env.string(
            "TOR_PROXY_ALLOW_HOSTS",
            "*",
            "allowed destination hosts: *, *.domain, names or addresses, comma-separated",
        );
        let ports = env.string(
            "TOR_PROXY_ALLOW_PORTS",
            "",
            "allowed destination ports and ranges, e.g. 80,443,8000-8100 (empty: all)",
        );
        let policy = Policy::parse(onion_only, &hosts, &ports)
            .map_err(|e| env.check(false, format!("TOR_PROXY_ALLOW_*: {e}")))
            .unwrap_or_default();
        let max_connections = env.parse_within(
            "TOR_PROXY_MAX_CONNECTIONS",
            256usize,
            1..=4096,
            "simultaneous SOCKS connections; more are closed at once",
        );
        let handshake_timeout = env.duration(
            "TOR_PROXY_HANDSHAKE_TIMEOUT_SECS",
            10,
            1..,
            "longest wait for each read of a client's negotiation",
        );
        let connect_timeout = env.duration(
            "TOR_PROXY_CONNECT_TIMEOUT_SECS",
            60,
            1..,
            "longest wait for the destination (or the upstream's reply: Tor builds circuits)",
        );
        let idle_timeout = env.duration(
            "TOR_PROXY_IDLE_TIMEOUT_SECS",
            300,
            1..,
            "relays without traffic for this long are closed",
        );
        Config {
            bind,
            socks_port,
            max_connections,
            socks: Socks {
                policy,
                users,
                upstream: upstream_addr.map(|addr| Upstream {
                    addr,
                    credentials: upstream_credentials,
                }),
                handshake_timeout,
                connect_timeout,
                idle_timeout,
            },
        }
    }

    fn start(config: Config, ctx: &Context) -> Result<Self, String> {
        let addr = SocketAddr::new(config.bind, config.socks_port);
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} (SOCKS): {e}"))?;
        let socks_addr = listener.local_addr().map_err(|e| e.to_string())?;
        let socks = Arc::new(config.socks);
        let stats = Arc::new(Stats::default());
        let limits = Limits {
            max_connections: config.max_connections,
            idle_timeout: socks.idle_timeout,
        };
        let (s, st, stop) = (socks.clone(), stats.clone(), ctx.shutdown_flag());
        tcp::serve(
            listener,
            limits,
            stats.clone(),
            ctx.shutdown_flag(),
            move |conn| s.handle(conn, &st, &stop),
        )
        .map_err(|e| format!("SOCKS listener: {e}"))?;
        lucid_runtime::log::info(
            "socks listening",
            json!({ "addr": socks_addr.to_string(), "upstream": socks.upstream.as_ref().map(|u| u.addr.to_string()) }),
        );
        Ok(Service {
            socks_addr,
            socks,
            stats,
            max_connections: config.max_connections,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/status", |s, _| s.status())
            .post("/check", |s, req| s.check(req));
    }

    fn ready(&self) -> Result<(), String> {
        match &self.socks.upstream {
            Some(u) => u
                .addr
                .connect(Duration::from_secs(1))
                .map(drop)
                .map_err(|e| format!("upstream SOCKS {}: {e}", u.addr)),
            None => Ok(()),
        }
    }
}

impl Service {
    fn status(&self) -> Response {
        Response::json(
            200,
            &json!({
                "socks": self.socks_addr.to_string(),
                "upstream": self.socks.upstream.as_ref().map(|u| u.addr.to_string()),
                "auth": !self.socks.users.is_empty(),
                "policy": self.socks.policy,
                "max_connections": self.max_connections,
                "connections": self.stats.view(),
            }),
        )
    }

    /// What the allowlist says about a destination.
    fn check(&self, req: &Request) -> Result<Response, Response> {
        #[derive(Deserialize)]
        struct Check {
            target: String,
        }
        let check: Check = req.json()?;
        let target = Target::parse(&check.target).map_err(|e| Response::error(400, e))?;
        let verdict = self.socks.policy.check(&target);
        Ok(Response::json(
            200,
            &json!({ "allowed": verdict.is_ok(), "reason": verdict.err() }),
        ))
    }
}
