//! `/health` under slow and hostile clients: the scenarios of `health-bench`.
//!
//! Each scenario starts a fresh api-gateway process (the service published on the host, with an
//! upstream to hang), puts one load on it, and then measures `GET /health` on fresh connections
//! and the `healthcheck` subcommand, plus the process's resident memory and thread count. The
//! loads come from `lucid_runtime::testing::attack`, the same clients the runtime's tests use.

use lucid_runtime::testing::attack::{self, HungUpstream, SlowLoris};
use lucid_runtime::testing::free_port;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the benchmark is run with.
pub struct Options {
    /// The api-gateway binary to measure (any build: main's runtime or this one).
    pub binary: PathBuf,
    /// `/health` samples per scenario.
    pub samples: usize,
    /// A sample without an answer within this time counts as failed, at this latency.
    pub timeout: Duration,
    /// Extra environment for the service (e.g. `LUCID_MAX_CONNECTIONS=2000`).
    pub env: Vec<(String, String)>,
}

/// The loads, each applied alone to a fresh process.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    Quiet,
    StalledUploads(usize),
    SlowLoris(usize),
    HungUpstream(usize),
    IdleConnections(usize),
}

impl Load {
    pub const ALL: [Load; 5] = [
        Load::Quiet,
        Load::StalledUploads(50),
        Load::SlowLoris(50),
        Load::HungUpstream(50),
        Load::IdleConnections(1000),
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Load::Quiet => "quiet",
            Load::StalledUploads(_) => "stalled_uploads",
            Load::SlowLoris(_) => "slow_loris",
            Load::HungUpstream(_) => "hung_upstream",
            Load::IdleConnections(_) => "idle_connections",
        }
    }

    fn clients(&self) -> usize {
        match *self {
            Load::Quiet => 0,
            Load::StalledUploads(n)
            | Load::SlowLoris(n)
            | Load::HungUpstream(n)
            | Load::IdleConnections(n) => n,
        }
    }
}

/// The clients of a load, held open while the samples are taken.
enum Held {
    Sockets(Vec<TcpStream>),
    Loris(SlowLoris),
}

impl Held {
    fn opened(&self) -> usize {
        match self {
            Held::Sockets(s) => s.len(),
            Held::Loris(l) => l.opened(),
        }
    }
}

/// A service process started for one scenario; killed on drop.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    fn start(opts: &Options, upstream: &str) -> Result<Service, String> {
        let port = free_port();
        let mut cmd = Command::new(&opts.binary);
        cmd.env_clear()
            .env("LUCID_HTTP_PORT", port.to_string())
            .env("LUCID_BIND", "127.0.0.1")
            .env("LUCID_URL_API_SERVER", upstream)
            // The loads come from one address: the gateway's per-client limit must not refuse them.
            .env("API_GATEWAY_RATE_PER_SEC", "1000000")
            .env("API_GATEWAY_BURST", "1000000")
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", opts.binary.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let service = Service { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        while attack::timed_get(addr, "/health", Duration::from_secs(1)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer /health within 10 s",
                    opts.binary.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(service)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn apply(load: Load, addr: SocketAddr) -> Held {
    match load {
        Load::Quiet => Held::Sockets(Vec::new()),
        // 60,000 bytes: under api-gateway's body limit, so the body is waited for.
        Load::StalledUploads(n) => {
            Held::Sockets(attack::stalled_uploads(addr, n, "/sessions", 60_000))
        }
        Load::SlowLoris(n) => Held::Loris(SlowLoris::start(addr, n, Duration::from_secs(1))),
        Load::HungUpstream(n) => {
            Held::Sockets(attack::pending_requests(addr, n, "GET", "/sessions"))
        }
        Load::IdleConnections(n) => Held::Sockets(attack::idle_connections(addr, n)),
    }
}

/// Median, 99th percentile and maximum of `xs` (milliseconds).
pub fn percentiles(mut xs: Vec<f64>) -> Value {
    if xs.is_empty() {
        return Value::Null;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q).round() as usize];
    let round = |x: f64| (x * 100.0).round() / 100.0;
    json!({
        "median": round(at(0.5)),
        "p99": round(at(0.99)),
        "max": round(at(1.0)),
    })
}

/// One scenario: a fresh process, the load, the measurements.
pub fn scenario(opts: &Options, load: Load) -> Result<Value, String> {
    let hung = HungUpstream::start();
    let service = Service::start(opts, &hung.url())?;
    let held = apply(load, service.addr);
    // Let the server take every connection in before measuring.
    std::thread::sleep(Duration::from_millis(500));

    let timeout_ms = opts.timeout.as_secs_f64() * 1e3;
    let (mut latencies, mut failures, mut statuses) = (Vec::new(), 0usize, Vec::new());
    for _ in 0..opts.samples {
        match attack::timed_get(service.addr, "/health", opts.timeout) {
            Ok((status, took)) => {
                latencies.push(took.as_secs_f64() * 1e3);
                if status != 200 {
                    failures += 1;
                    statuses.push(status);
                }
            }
            Err(_) => {
                latencies.push(timeout_ms);
                failures += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut check_ms, mut check_ok) = (Vec::new(), 0usize);
    for _ in 0..3 {
        let started = Instant::now();
        let ok = healthcheck(&opts.binary, service.addr.port(), &opts.env);
        check_ms.push(started.elapsed().as_secs_f64() * 1e3);
        check_ok += usize::from(ok);
    }
    let report = json!({
        "scenario": load.name(),
        "clients": load.clients(),
        "clients_connected": held.opened(),
        "health_ms": percentiles(latencies),
        "health_failures": failures,
        "health_failure_statuses": statuses,
        "healthcheck_ok": format!("{check_ok}/3"),
        "healthcheck_ms": percentiles(check_ms),
        "rss_kib": attack::rss_kib(service.pid()),
        "threads": attack::threads(service.pid()),
        "upstream_connections": hung.accepted(),
    });
    drop(held);
    Ok(report)
}

/// Runs the `healthcheck` subcommand against `port`: true when it exits 0.
fn healthcheck(binary: &Path, port: u16, env: &[(String, String)]) -> bool {
    Command::new(binary)
        .arg("healthcheck")
        .env_clear()
        .env("LUCID_HTTP_PORT", port.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Every scenario in turn.
pub fn run(opts: &Options) -> Result<Value, String> {
    let mut scenarios = Vec::new();
    for load in Load::ALL {
        eprintln!(
            "health-bench: {} ({} clients)…",
            load.name(),
            load.clients()
        );
        scenarios.push(scenario(opts, load)?);
    }
    let size = std::fs::metadata(&opts.binary).map(|m| m.len()).ok();
    Ok(json!({
        "benchmark": "GET /health latency under slow and hostile clients (api-gateway)",
        "binary": opts.binary.display().to_string(),
        "binary_bytes": size,
        "samples": opts.samples,
        "timeout_ms": opts.timeout.as_millis() as u64,
        "env": opts.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "scenarios": scenarios,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!(p["median"], 51.0);
        assert_eq!(p["p99"], 99.0);
        assert_eq!(p["max"], 100.0);
        assert_eq!(percentiles(Vec::new()), Value::Null);
    }
}
