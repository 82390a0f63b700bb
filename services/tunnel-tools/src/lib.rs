//! tunnel-tools: a TCP port forwarder. Every connection to `TUNNEL_LISTEN_PORT` (7000) is
//! relayed to `TUNNEL_TARGET`, directly or — when `TUNNEL_SOCKS_PROXY` is set (compose sets
//! `tor-proxy:9050`) — through tor-proxy's SOCKS5 port, so that the target may be an onion service.
//!
//! # HTTP API (port `LUCID_HTTP_PORT`, 7001)
//! - `GET /status` → `{"listen": "0.0.0.0:7000"|null, "target": "host:port"|null,
//!   "socks_proxy": "host:port"|null, "connections": {"active", "total", "rejected", "failed",
//!   "bytes_up", "bytes_down"}}` (`failed`: the target or the proxy could not be reached).
//! - `GET /ready` also requires a target to be configured and tor-proxy's HTTP port
//!   (`LUCID_URL_TOR_PROXY`) to accept connections.
//!
//! # Configuration
//! `TUNNEL_LISTEN_PORT`, `LUCID_BIND`, `TUNNEL_TARGET` (`host:port`; without it the forwarder
//! port stays closed), `TUNNEL_SOCKS_PROXY` (`host:port`), `TUNNEL_SOCKS_CREDENTIALS` (secret
//! `user:password` for the proxy), `TUNNEL_MAX_CONNECTIONS`, `TUNNEL_CONNECT_TIMEOUT_SECS`,
//! `TUNNEL_IDLE_TIMEOUT_SECS`.
//!
//! # Out of scope
//! UDP, several forwards per instance, TLS termination; the SOCKS client, the accept loop and the
//! relay are tor-proxy's (`tor_proxy::socks`, `tor_proxy::tcp`).

use lucid_runtime::{App, Context, Env, Response, Routes, Sends};
use serde_json::json;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tor_proxy::socks::{self, Credentials, Target};
use tor_proxy::tcp::{self, Limits, Stats};

/// Where connections go, and how.
#[derive(Debug, Clone)]
pub struct Route {
    pub target: Target,
    pub proxy: Option<Target>,
    pub credentials: Option<Credentials>,
    pub connect_timeout: Duration,
}

impl Route {
    /// Opens a stream to the target, through the SOCKS proxy when there is one.
    pub fn open(&self) -> Result<TcpStream, String> {
        let Some(proxy) = &self.proxy else {
            return self
                .target
                .connect(self.connect_timeout)
                .map_err(|e| format!("target: {e}"));
        };
        let mut stream = proxy
            .connect(self.connect_timeout)
            .map_err(|e| format!("SOCKS proxy {proxy}: {e}"))?;
        let _ = stream.set_read_timeout(Some(self.connect_timeout));
        socks::connect(&mut stream, &self.target, self.credentials.as_ref())
            .map_err(|e| format!("SOCKS proxy {proxy}: {e}"))?;
        let _ = stream.set_read_timeout(None);
        Ok(stream)
    }
}

pub struct Config {
    bind: IpAddr,
    port: u16,
    route: Option<Route>,
    limits: Limits,
    tor_proxy: Option<String>,
}

pub struct Service {
    listen: Option<SocketAddr>,
    route: Option<Route>,
    stats: Arc<Stats>,
}

impl App for Service {
    type Config = Config;
    /// Only `/ready` probes tor-proxy's HTTP port; the tunnel's traffic goes to its SOCKS port.
    const SENDS: &'static [(&'static str, Sends)] = &[("tor-proxy", Sends::NoBody)];

    fn config(env: &mut Env) -> Config {
        let bind = env.parse(
            "LUCID_BIND",
            IpAddr::from([0, 0, 0, 0]),
            "address the HTTP server and the forwarder bind to",
        );
        let port = env.parse("TUNNEL_LISTEN_PORT", 7000u16, "port of the TCP forwarder");
        let target = socks::target_var(
            env,
            "TUNNEL_TARGET",
            "host:port every forwarded connection goes to (unset: forwarder closed)",
        );
        let proxy = socks::target_var(
            env,
            "TUNNEL_SOCKS_PROXY",
            "host:port of a SOCKS5 proxy to go through (tor-proxy:9050)",
        );
        let credentials = socks::credentials_var(
            env,
            "TUNNEL_SOCKS_CREDENTIALS",
            "user:password for the SOCKS5 proxy",
        );
        let tor_proxy = env.upstream("tor-proxy", "tor-proxy's HTTP API, probed by /ready");
        let max_connections = env.parse_within(
            "TUNNEL_MAX_CONNECTIONS",
            64usize,
            1..=4096,
            "simultaneous forwarded connections; more are closed at once",
        );
        let connect_timeout = env.duration(
            "TUNNEL_CONNECT_TIMEOUT_SECS",
            60,
            1..,
            "longest wait for the target (through Tor: circuit building)",
        );
        let idle_timeout = env.duration(
            "TUNNEL_IDLE_TIMEOUT_SECS",
            300,
            1..,
            "forwarded connections without traffic for this long are closed",
        );
        Config {
            bind,
            port,
            route: target.map(|target| Route {
                target,
                proxy,
                credentials,
                connect_timeout,
            }),
            limits: Limits {
                max_connections,
                idle_timeout,
            },
            tor_proxy,
        }
    }

    fn start(config: Config, ctx: &Context) -> Result<Self, String> {
        let stats = Arc::new(Stats::default());
        let mut listen = None;
        if let Some(route) = &config.route {
            let addr = SocketAddr::new(config.bind, config.port);
            let listener =
                TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            listen = Some(listener.local_addr().map_err(|e| e.to_string())?);
            let (route, st, stop) = (route.clone(), stats.clone(), ctx.shutdown_flag());
            let idle = config.limits.idle_timeout;
            tcp::serve(
                listener,
                config.limits,
                stats.clone(),
                ctx.shutdown_flag(),
                move |conn| forward(conn, &route, idle, &st, &stop),
            )
            .map_err(|e| format!("forwarder: {e}"))?;
        }
        lucid_runtime::log::info(
            "forwarder",
            json!({
                "listen": listen.map(|a| a.to_string()),
                "target": config.route.as_ref().map(|r| r.target.to_string()),
                "socks_proxy": config.route.as_ref().and_then(|r| r.proxy.as_ref()).map(|p| p.to_string()),
                "tor_proxy": config.tor_proxy,
            }),
        );
        Ok(Service {
            listen,
            route: config.route,
            stats,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes.get("/status", |s, _| {
            Response::json(
                200,
                &json!({
                    "listen": s.listen.map(|a| a.to_string()),
                    "target": s.route.as_ref().map(|r| r.target.to_string()),
                    "socks_proxy": s.route.as_ref().and_then(|r| r.proxy.as_ref()).map(|p| p.to_string()),
                    "connections": s.stats.view(),
                }),
            )
        });
    }

    fn ready(&self) -> Result<(), String> {
        match self.route {
            Some(_) => Ok(()),
            None => Err("TUNNEL_TARGET is not set: nothing to forward to".into()),
        }
    }
}

/// One forwarded connection.
fn forward(
    client: TcpStream,
    route: &Route,
    idle: Duration,
    stats: &Arc<Stats>,
    stop: &Arc<AtomicBool>,
) {
    match route.open() {
        Ok(upstream) => tcp::relay(client, upstream, idle, stats, stop),
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            lucid_runtime::log::warn("cannot reach the target", json!({ "error": e }));
        }
    }
}
