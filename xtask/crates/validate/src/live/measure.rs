//! Measures a stack while docker-compose starts it.
//!
//! * Time to ready: as soon as a container runs, a thread polls `GET /ready` on its address on
//!   the project's bridge network (the host reaches it) every [`READY_POLL`]; the first `200`,
//!   by the host clock, minus the container's start (Docker's timestamp) is its time to ready.
//! * Time to healthy: Docker's own record, the first passing health probe minus the start. A
//!   probe runs only every health-check interval, so this figure is bounded below by it.
//! * Memory: after the stack has run healthy for [`SETTLE`], each container's cgroup usage less
//!   its inactive page cache (what `docker stats` shows), beside its limit.
//! * No shell: `docker exec … /bin/sh` must fail; processes: the engine's `/top`.

use super::engine;
use crate::report::{Check, Finding, LiveReport, LiveService};
use anyhow::{bail, Context, Result};
use lucid_catalog::url::query_value;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const READY_POLL: Duration = Duration::from_millis(100);
/// How long the stack runs healthy before its memory is read.
pub const SETTLE: Duration = Duration::from_secs(15);
/// The seed report's bound: a distroless container runs its service (and `init`), not a system.
const MAX_PROCESSES: usize = 10;

/// One container being watched.
struct Watched {
    service: String,
    id: String,
    started: Option<f64>,
    /// The `/ready` poller: the host time of the first `200`, or the last answer.
    ready: Option<JoinHandle<Result<f64, String>>>,
}

/// Runs `up -d` through `compose` and measures the containers it starts.
pub fn measure(
    project: &str,
    mut up: Child,
    report: &mut LiveReport,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut watched: Vec<Watched> = Vec::new();
    let mut up_status = None;
    loop {
        // `up` first: once it has finished, every container it starts is there to discover.
        if up_status.is_none() {
            up_status = up.try_wait().context("docker-compose up")?;
        }
        discover(project, &mut watched, &stop)?;
        let healths: Vec<String> = watched.iter().map(|w| health(&w.id)).collect();
        let all_healthy = !watched.is_empty() && healths.iter().all(|h| h == "healthy");
        if up_status.is_some() && all_healthy {
            report.stack_healthy_secs = Some(start.elapsed().as_secs_f64());
            break;
        }
        let failed = up_status.is_some_and(|s| !s.success());
        let settled = healths.iter().all(|h| h != "starting");
        if (failed && settled) || start.elapsed() > timeout {
            break;
        }
        std::thread::sleep(READY_POLL);
    }
    match up_status {
        Some(s) if s.success() => {}
        Some(s) => report.findings.push(Finding::error(
            Check::Live,
            format!("docker-compose up exited with {s} (a dependency never turned healthy?)"),
        )),
        None => {
            let _ = up.kill();
            let _ = up.wait();
            report.findings.push(Finding::error(
                Check::Live,
                format!(
                    "docker-compose up did not finish within {} s",
                    timeout.as_secs()
                ),
            ));
        }
    }
    if watched.is_empty() {
        bail!("docker-compose started no container");
    }
    if report.stack_healthy_secs.is_some() {
        std::thread::sleep(SETTLE);
        report.settle_secs = SETTLE.as_secs_f64();
    }
    stop.store(true, Ordering::Relaxed);
    for w in watched {
        let ready_at = match w.ready.map(|h| h.join()) {
            Some(Ok(Ok(t))) => Some(t),
            Some(Ok(Err(last))) => {
                report.findings.push(
                    Finding::warning(
                        Check::Live,
                        format!("GET /ready never answered 200 while the stack ran (last: {last})"),
                    )
                    .service(w.service.clone()),
                );
                None
            }
            _ => None,
        };
        let service = facts(&w.service, &w.id, w.started, ready_at, &mut report.findings)?;
        report.services.push(service);
    }
    report.services.sort_by(|a, b| a.service.cmp(&b.service));
    report.memory_used_bytes = report
        .services
        .iter()
        .map(|s| s.memory_used_bytes)
        .sum::<Option<u64>>();
    Ok(())
}

/// Service and exit code of every container of the project that is not running.
pub fn exit_codes(project: &str) -> Result<Vec<(String, i64)>> {
    let filter =
        format!(r#"{{"label":["com.docker.compose.project={project}"],"status":["exited"]}}"#);
    let list = engine::get(&format!(
        "/containers/json?all=1&filters={}",
        query_value(&filter)
    ))?;
    let mut out = Vec::new();
    for c in list.as_array().into_iter().flatten() {
        let (Some(id), Some(service)) = (
            c["Id"].as_str(),
            c["Labels"]["com.docker.compose.service"].as_str(),
        ) else {
            continue;
        };
        let state = engine::get(&format!("/containers/{id}/json"))?;
        out.push((
            service.to_string(),
            state["State"]["ExitCode"].as_i64().unwrap_or(-1),
        ));
    }
    Ok(out)
}

/// Starts watching the project's containers that run and are not watched yet.
fn discover(project: &str, watched: &mut Vec<Watched>, stop: &Arc<AtomicBool>) -> Result<()> {
    let filter = format!(r#"{{"label":["com.docker.compose.project={project}"]}}"#);
    let list = engine::get(&format!(
        "/containers/json?all=1&filters={}",
        query_value(&filter)
    ))?;
    for c in list.as_array().into_iter().flatten() {
        let (Some(id), Some(service)) = (
            c["Id"].as_str(),
            c["Labels"]["com.docker.compose.service"].as_str(),
        ) else {
            continue;
        };
        if watched.iter().any(|w| w.id == id) || c["State"].as_str() != Some("running") {
            continue;
        }
        let state = engine::get(&format!("/containers/{id}/json"))?;
        let started = state["State"]["StartedAt"]
            .as_str()
            .and_then(engine::parse_time);
        let ready = ready_address(&state).map(|addr| {
            let stop = stop.clone();
            std::thread::spawn(move || poll_ready(addr, &stop))
        });
        watched.push(Watched {
            service: service.to_string(),
            id: id.to_string(),
            started,
            ready,
        });
    }
    Ok(())
}

/// The container's address on its network and its HTTP port (`LUCID_HTTP_PORT`).
fn ready_address(state: &Value) -> Option<SocketAddr> {
    let port: u16 = state["Config"]["Env"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|kv| kv.strip_prefix("LUCID_HTTP_PORT="))?
        .parse()
        .ok()?;
    let ip = state["NetworkSettings"]["Networks"]
        .as_object()?
        .values()
        .filter_map(|n| n["IPAddress"].as_str())
        .find(|ip| !ip.is_empty())?;
    format!("{ip}:{port}").parse().ok()
}

/// Polls `GET /ready` every [`READY_POLL`] until it answers 200 (the host time then) or `stop`
/// (the last answer then).
fn poll_ready(addr: SocketAddr, stop: &AtomicBool) -> Result<f64, String> {
    let mut last = "no answer".to_string();
    while !stop.load(Ordering::Relaxed) {
        let attempt = Instant::now();
        match ready_status(addr) {
            Ok(200) => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH);
                return now.map(|d| d.as_secs_f64()).map_err(|e| e.to_string());
            }
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = e,
        }
        std::thread::sleep(READY_POLL.saturating_sub(attempt.elapsed()));
    }
    Err(last)
}

/// The status `GET /ready` answers.
fn ready_status(addr: SocketAddr) -> Result<u16, String> {
    let mut s = TcpStream::connect_timeout(&addr, READY_POLL).map_err(|e| e.to_string())?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    write!(s, "GET /ready HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|_| head.starts_with(b"HTTP/1."))
        .ok_or_else(|| format!("not HTTP: {:?}", String::from_utf8_lossy(&head)))
}

fn health(id: &str) -> String {
    engine::get(&format!("/containers/{id}/json"))
        .ok()
        .and_then(|s| s["State"]["Health"]["Status"].as_str().map(str::to_string))
        .unwrap_or_else(|| "no health check".into())
}

/// Everything recorded about one container, with its findings.
fn facts(
    service: &str,
    id: &str,
    started: Option<f64>,
    ready_at: Option<f64>,
    findings: &mut Vec<Finding>,
) -> Result<LiveService> {
    let state = engine::get(&format!("/containers/{id}/json"))?;
    let health = state["State"]["Health"]["Status"]
        .as_str()
        .unwrap_or("no health check")
        .to_string();
    let first_pass = state["State"]["Health"]["Log"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["ExitCode"].as_i64() == Some(0))
        .filter_map(|l| l["End"].as_str().and_then(engine::parse_time))
        .reduce(f64::min);
    let name = state["Name"]
        .as_str()
        .unwrap_or(id)
        .trim_start_matches('/')
        .to_string();
    let since_start = |t: Option<f64>| Some(t? - started?).filter(|d| *d >= 0.0);
    let (shell_exec, refused) = engine::try_shell(id);
    let processes = engine::get(&format!("/containers/{id}/top"))
        .ok()
        .and_then(|t| t["Processes"].as_array().map(Vec::len));
    let f = |m: String| Finding::error(Check::Live, m).service(service);
    if health != "healthy" {
        findings.push(f(format!("{name} is {health}")));
    }
    if !refused {
        findings.push(f(format!(
            "{name}: no proof that /bin/sh is absent: {shell_exec}"
        )));
    }
    if let Some(n) = processes.filter(|n| *n >= MAX_PROCESSES) {
        findings.push(f(format!(
            "{name} runs {n} processes (a distroless service runs fewer than {MAX_PROCESSES})"
        )));
    }
    Ok(LiveService {
        service: service.to_string(),
        container: name,
        time_to_ready_secs: since_start(ready_at),
        time_to_healthy_secs: since_start(first_pass).filter(|_| health == "healthy"),
        health,
        memory_used_bytes: engine::memory_used(id).ok(),
        memory_limit_bytes: state["HostConfig"]["Memory"].as_u64().filter(|m| *m > 0),
        shell_exec,
        shell_refused: refused,
        processes,
    })
}

/// `docker-compose <args> <extra>` started in the background, its output in `log`.
pub fn spawn(
    compose: &str,
    args: &[String],
    env: &[(String, String)],
    extra: &[&str],
    log: &std::path::Path,
) -> Result<Child> {
    let out = std::fs::File::create(log).with_context(|| log.display().to_string())?;
    Command::new(compose)
        .args(args)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .context(compose.to_string())
}
