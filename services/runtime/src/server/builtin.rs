//! The runtime's own endpoints, answered on the I/O thread without waiting for a worker:
//! `GET /health` (liveness: the process serves HTTP; who it is) and `GET /ready` (its upstreams
//! accept TCP connections and the service's own condition holds).

use super::stats::Stats;
use crate::client;
use crate::http::Response;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

/// Longest wait for one upstream's TCP connect, and for the service's own `ready` check: well
/// under the compose health check's 3 s, so `/ready` always answers in time.
const READY_STEP: Duration = Duration::from_secs(1);

/// The service's extra readiness condition ([`crate::app::App::ready`]).
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Who answers: what `/health` says besides "ok".
#[derive(Debug, Clone)]
pub struct Identity {
    pub service: String,
    pub version: String,
    /// The host name: in a container, its id (or the replica's name in a swarm or a pod).
    pub instance: String,
    pub image_digest: Option<String>,
    pub started_at: u64,
}

/// The host name of this machine or container, or `"unknown"`.
pub fn instance_name() -> String {
    let from_file = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| from_file("/etc/hostname"))
        .unwrap_or_else(|| "unknown".into())
}

pub fn health(id: &Identity, stats: &Stats) -> Response {
    Response::json(
        200,
        &json!({
            "status": "ok",
            "service": id.service,
            "version": id.version,
            "instance": id.instance,
            "image_digest": id.image_digest,
            "started_at": id.started_at,
            "connections": stats.view(),
        }),
    )
}

pub async fn ready(service: &str, upstreams: &[(String, String)], check: &ReadyCheck) -> Response {
    // Every probe at once: /ready takes one step's time however many upstreams are down.
    let probes: Vec<_> = upstreams
        .iter()
        .map(|(name, url)| {
            let (name, url) = (name.clone(), url.clone());
            tokio::spawn(async move { reachable(&url).await.err().map(|e| format!("{name}: {e}")) })
        })
        .collect();
    let own = {
        let check = check.clone();
        tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check()))
                .unwrap_or_else(|_| Err("ready check panicked".into()))
        })
    };
    let mut problems = Vec::new();
    for probe in probes {
        if let Ok(Some(problem)) = probe.await {
            problems.push(problem);
        }
    }
    match timeout(READY_STEP, own).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => problems.push(e),
        Ok(Err(_)) => problems.push("ready check failed".into()),
        Err(_) => problems.push(format!(
            "ready check did not finish within {} ms",
            READY_STEP.as_millis()
        )),
    }
    if problems.is_empty() {
        Response::json(200, &json!({ "status": "ready", "service": service }))
    } else {
        Response::json(
            503,
            &json!({ "status": "not ready", "service": service, "problems": problems }),
        )
    }
}

/// A TCP connect to the URL's host and port within [`READY_STEP`].
async fn reachable(url: &str) -> Result<(), String> {
    let (host, port) = client::host_port(url)?;
    let connect = async {
        let addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let mut last = format!("{host}: no address");
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{host}:{port}: {e}"),
            }
        }
        Err(last)
    };
    timeout(READY_STEP, connect).await.unwrap_or_else(|_| {
        Err(format!(
            "{host}:{port}: no connection within {} ms",
            READY_STEP.as_millis()
        ))
    })
}
