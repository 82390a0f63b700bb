//! The Docker engine, spoken to directly: its HTTP API over the unix socket, `docker exec`,
//! and its timestamps.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

const SOCKET: &str = "/var/run/docker.sock";
pub const DOCKER: &str = "/usr/bin/docker";

/// GET on the engine's API over its unix socket (HTTP/1.0: the body ends with the connection).
pub fn get(path: &str) -> Result<Value> {
    let mut stream = UnixStream::connect(SOCKET).context(SOCKET)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").context(SOCKET)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).context(SOCKET)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("GET {path}: malformed response"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        bail!(
            "GET {path}: HTTP {status}: {}",
            String::from_utf8_lossy(body).trim()
        );
    }
    serde_json::from_slice(body).with_context(|| format!("GET {path}"))
}

/// `docker exec <id> /bin/sh -c true` must fail because there is no shell to run.
pub fn try_shell(id: &str) -> (String, bool) {
    match Command::new(DOCKER)
        .args(["exec", id, "/bin/sh", "-c", "true"])
        .output()
    {
        Err(e) => (format!("docker exec: {e}"), false),
        Ok(out) => {
            // The 20.10 client prints the runtime's refusal on stdout.
            let both = [out.stdout, out.stderr].concat();
            let text = String::from_utf8_lossy(&both)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            let missing = text.contains("no such file")
                || text.contains("not found")
                || text.contains("executable file not found");
            if out.status.success() {
                ("exit 0: a shell ran".into(), false)
            } else {
                (text, missing)
            }
        }
    }
}

/// Memory a container uses as `docker stats` counts it: cgroup usage less the inactive page
/// cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
pub fn memory_used(id: &str) -> Result<u64> {
    let stats = get(&format!(
        "/containers/{id}/stats?stream=false&one-shot=true"
    ))?;
    let m = &stats["memory_stats"];
    let usage = m["usage"]
        .as_u64()
        .with_context(|| format!("container {id}: no memory usage in its stats"))?;
    let inactive = m["stats"]["total_inactive_file"]
        .as_u64()
        .or_else(|| m["stats"]["inactive_file"].as_u64())
        .unwrap_or(0);
    Ok(usage.saturating_sub(inactive))
}

/// `2025-01-27T22:45:56.123456789Z` -> seconds since the epoch (UTC only, as Docker writes it).
pub fn parse_time(t: &str) -> Option<f64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (h.next()?.ok()?, h.next()?.ok()?, h.next()?.ok()?);
    let frac: f64 = format!("0.{frac}").parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + hh * 3600 + mm * 60 + ss) as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_timestamps() {
        let a = parse_time("1970-01-02T00:00:01.5Z").unwrap();
        assert!((a - 86401.5).abs() < 1e-6);
        let b = parse_time("2024-03-01T00:00:00.000000001Z").unwrap();
        let c = parse_time("2024-02-29T23:59:59Z").unwrap();
        assert!((b - c - 1.0).abs() < 1e-6);
    }
}
