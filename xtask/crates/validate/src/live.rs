//! `--live`: runs the stack and measures it.
//!
//! 1. Loads every built image into the Docker engine (`skopeo copy oci:<layout>:<tag>
//!    docker-daemon:<ref>`), under the reference the compose file names. A digest-pinned
//!    reference cannot be loaded as such (the engine only records repo digests on pull), so
//!    those services get an override naming the loaded tag; the report says so.
//! 2. MongoDB cannot be pulled here: an override replaces it by a stand-in (the compose
//!    stage's `mongodb_standin_override`, handed in by the CLI).
//! 3. `docker-compose up -d` with data and secrets in a scratch directory, then polls the
//!    engine (`/var/run/docker.sock`) until every container is healthy. Time to healthy is
//!    read from Docker's own timestamps: the first passing probe minus the container start.
//! 4. In every container, `docker exec … /bin/sh` must fail, and `/containers/<id>/top`
//!    gives the process count (the images have no `ps`).
//! 5. `docker-compose down -v` and the scratch directory is removed, whatever happened.

use crate::compose::{self, interpolate_defaults, scalar};
use crate::image::BuiltImage;
use crate::report::{Check, Finding, LiveReport, LiveService};
use anyhow::{bail, Context, Result};
use lucid_catalog::url::query_value;
use lucid_catalog::ImageRef;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PROJECT: &str = "lucidvalidate";
const SOCKET: &str = "/var/run/docker.sock";
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(300);
/// The seed report's bound: a distroless container runs its service (and `init`), not a system.
const MAX_PROCESSES: usize = 10;
const DOCKER: &str = "/usr/bin/docker";
const COMPOSE: &str = "/usr/bin/docker-compose";

/// A compose override replacing MongoDB, and the image reference it runs (loaded from the
/// layout's server-tools image).
#[derive(Debug, Clone)]
pub struct Standin {
    pub image: String,
    pub compose_override: String,
}

/// What the live run needs.
pub struct LiveInput<'a> {
    pub root: &'a Path,
    pub layout: &'a Path,
    pub built: &'a [BuiltImage],
    /// Compose files to start, in `-f` order.
    pub files: &'a [PathBuf],
    /// What replaces MongoDB; `None`: the validator's own minimal stand-in.
    pub mongodb_standin: Option<Standin>,
    /// Scratch directory (data, secrets, overrides); removed at the end.
    pub scratch: PathBuf,
    /// The `org.opencontainers.image.source` label of this project's images.
    pub source: &'a str,
}

pub fn run(input: &LiveInput) -> LiveReport {
    let mut report = LiveReport {
        compose_files: input
            .files
            .iter()
            .map(|f| crate::display(input.root, f))
            .collect(),
        mongodb: String::new(),
        stack_healthy_secs: None,
        services: Vec::new(),
        findings: Vec::new(),
    };
    let mut args: Vec<String> = vec!["-p".into(), PROJECT.into()];
    for f in input.files {
        args.push("-f".into());
        args.push(f.display().to_string());
    }
    let mut expected = Vec::new();
    let result = prepare(input, &mut report, &mut args, &mut expected).and_then(|env| {
        let outcome = measure(&args, &env, &mut report);
        for service in &expected {
            if !report.services.iter().any(|s| &s.service == service) {
                report.findings.push(
                    Finding::error(
                        Check::Live,
                        "no container was started (a dependency never turned healthy?)",
                    )
                    .service(service.clone()),
                );
            }
        }
        // Always tear down, then report the first error.
        let down = compose_cmd(&args, &env, &["down", "-v", "--remove-orphans", "-t", "10"]);
        outcome.and(down)
    });
    if let Err(e) = result {
        report.findings.push(Finding::error(Check::Live, e));
    }
    let _ = std::fs::remove_dir_all(&input.scratch);
    report
}

fn prepare(
    input: &LiveInput,
    report: &mut LiveReport,
    args: &mut Vec<String>,
    expected: &mut Vec<String>,
) -> Result<Vec<(String, String)>> {
    let _ = std::fs::remove_dir_all(&input.scratch);
    let data = input.scratch.join("data");
    let secrets = input.scratch.join("secrets");
    for d in [&data, &secrets] {
        std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
    }
    let env = vec![
        ("LUCID_DATA_ROOT".to_string(), data.display().to_string()),
        (
            "LUCID_SECRETS_DIR".to_string(),
            secrets.display().to_string(),
        ),
    ];
    let images = compose::Images {
        built: input.built.to_vec(),
        repository: input
            .built
            .first()
            .map(|b| b.repository.clone())
            .unwrap_or_default(),
        external: Vec::new(),
    };
    let mut override_services = String::new();
    let mut has_mongodb = false;
    for file in input.files {
        let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
        let value: serde_norway::Value =
            serde_norway::from_str(&text).with_context(|| file.display().to_string())?;
        prepare_mounts(&value, &env, &secrets)?;
        let doc = compose::parse(&file.display().to_string(), &text, &images);
        for s in &doc.services {
            expected.push(s.name.clone());
            if s.name == lucid_catalog::MONGODB {
                has_mongodb = true;
                continue;
            }
            let Some(written) = &s.image else { continue };
            let Ok(r) = ImageRef::parse(&interpolate_defaults(written)) else {
                continue;
            };
            let Some(b) = input.built.iter().find(|b| {
                b.repository == r.repository
                    && (r.digest.as_deref() == Some(b.index_digest.as_str())
                        || r.tag.as_deref().is_some_and(|t| b.answers_to(t)))
            }) else {
                bail!(
                    "{}: services.{}.image {written} is no built image; nothing to load",
                    file.display(),
                    s.name
                );
            };
            let target = if r.digest.is_some() {
                let tagged = format!("{}:{}", r.name(), b.tag);
                override_services.push_str(&format!("  {}:\n    image: \"{tagged}\"\n", s.name));
                tagged
            } else {
                r.to_string()
            };
            load(input.layout, &b.tag, &target)?;
        }
    }
    if !override_services.is_empty() {
        let path = input.scratch.join("loaded-tags.override.yaml");
        std::fs::write(&path, format!("services:\n{override_services}"))
            .with_context(|| path.display().to_string())?;
        args.extend(["-f".into(), path.display().to_string()]);
        report.findings.push(Finding::warning(
            Check::Live,
            "digest-pinned images were run by the tag they were loaded under (the engine records repo digests only on pull)",
        ));
    }
    if has_mongodb {
        let standin = input
            .built
            .iter()
            .find(|b| b.service == "server-tools")
            .context("MongoDB needs a stand-in, and no server-tools image was built")?;
        let (standin_ref, text) = match &input.mongodb_standin {
            Some(s) => {
                report.mongodb = format!(
                    "replaced by lucid_compose::mongodb_standin_override running {} (mongo:7 cannot be pulled here)",
                    s.image
                );
                (s.image.clone(), s.compose_override.clone())
            }
            None => {
                let image = format!("docker.io/{}:{}", standin.repository, standin.tag);
                report.mongodb =
                    format!("replaced by the validator's own minimal stand-in running {image}");
                let text = own_standin(&image);
                (image, text)
            }
        };
        load(input.layout, &standin.tag, &standin_ref)?;
        let path = input.scratch.join("mongodb-standin.override.yaml");
        std::fs::write(&path, text).with_context(|| path.display().to_string())?;
        args.extend(["-f".into(), path.display().to_string()]);
    } else {
        report.mongodb = "not in the deployment".into();
    }
    prune_replaced(input.source)?;
    Ok(env)
}

/// Removes the images that loading left dangling (an earlier build loaded under the same tag),
/// and only those with this project's source label: repeated runs must not fill the disk
/// (the vfs storage driver keeps a full copy of every layer).
pub fn prune_replaced(source: &str) -> Result<()> {
    let filter = format!("label=org.opencontainers.image.source={source}");
    let out = Command::new(DOCKER)
        .args(["image", "prune", "--force", "--filter", &filter])
        .output()
        .context(DOCKER)?;
    if !out.status.success() {
        bail!(
            "docker image prune --filter {filter}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A stand-in that only answers health checks, for when the compose stage offers none.
fn own_standin(image: &str) -> String {
    format!(
        "services:\n  mongodb:\n    image: \"{image}\"\n    entrypoint: [\"/usr/local/bin/server-tools\"]\n    command: []\n    user: \"65532:65532\"\n    environment:\n      LUCID_HTTP_PORT: \"27017\"\n    healthcheck:\n      test: [\"CMD\", \"/usr/local/bin/server-tools\", \"healthcheck\"]\n"
    )
}

/// Creates the bind-mount sources (owned by the service's user) and secret files.
fn prepare_mounts(
    value: &serde_norway::Value,
    env: &[(String, String)],
    secrets_dir: &Path,
) -> Result<()> {
    let expand = |s: &str| {
        let mut s = s.to_string();
        for (k, v) in env {
            for form in [format!("${{{k}:-"), format!("${{{k}-")] {
                if let Some(i) = s.find(&form) {
                    if let Some(end) = s[i..].find('}') {
                        s.replace_range(i..i + end + 1, v);
                    }
                }
            }
            s = s.replace(&format!("${{{k}}}"), v);
        }
        interpolate_defaults(&s)
    };
    if let Some(services) = value.get("services").and_then(|s| s.as_mapping()) {
        for svc in services.values() {
            let (uid, gid) = svc
                .get("user")
                .and_then(scalar)
                .map(|u| {
                    let mut p = u.split(':').map(|x| x.parse::<u32>().ok());
                    let uid = p.next().flatten();
                    (uid, p.next().flatten().or(uid))
                })
                .unwrap_or((None, None));
            for v in svc
                .get("volumes")
                .and_then(|v| v.as_sequence())
                .into_iter()
                .flatten()
            {
                let source = if let Some(text) = scalar(v) {
                    text.split(':').next().map(str::to_string)
                } else if v.get("type").and_then(scalar).as_deref() == Some("bind") {
                    v.get("source").and_then(scalar)
                } else {
                    None
                };
                let Some(source) = source.map(|s| expand(&s)) else {
                    continue;
                };
                if !source.starts_with('/') {
                    continue;
                }
                std::fs::create_dir_all(&source).with_context(|| source.clone())?;
                std::os::unix::fs::chown(&source, uid, gid)
                    .with_context(|| format!("chown {source}"))?;
            }
        }
    }
    if let Some(secrets) = value.get("secrets").and_then(|s| s.as_mapping()) {
        for (name, _) in secrets {
            let name = scalar(name).unwrap_or_default();
            let path = secrets_dir.join(&name);
            // A throw-away value that every secret format of the stack accepts (64 hex digits:
            // the session master key; at least 32 bytes: an HS256 JWT key).
            let content = random_hex(32)?;
            std::fs::write(&path, content).with_context(|| path.display().to_string())?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))
                .with_context(|| path.display().to_string())?;
        }
    }
    Ok(())
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("/dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn load(layout: &Path, tag: &str, reference: &str) -> Result<()> {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker-daemon:{reference}"))
        .output()
        .context("skopeo")?;
    if !out.status.success() {
        bail!(
            "skopeo copy oci:{}:{tag} docker-daemon:{reference}: {}",
            layout.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn compose_cmd(args: &[String], env: &[(String, String)], extra: &[&str]) -> Result<()> {
    let out = Command::new(COMPOSE)
        .args(args)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .context(COMPOSE)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        bail!(
            "docker-compose {}: {}",
            extra.join(" "),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
    }
    Ok(())
}

fn measure(args: &[String], env: &[(String, String)], report: &mut LiveReport) -> Result<()> {
    let start = Instant::now();
    // `up` itself may fail when a dependency never turns healthy; the containers are still measured.
    let up = compose_cmd(args, env, &["up", "-d", "--no-build"]);
    if let Err(e) = &up {
        report.findings.push(Finding::error(Check::Live, e));
    }
    let filter = format!(r#"{{"label":["com.docker.compose.project={PROJECT}"]}}"#);
    let path = format!("/containers/json?all=1&filters={}", query_value(&filter));
    let containers = docker_get(&path)?;
    let ids: Vec<(String, String)> = containers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let id = c.get("Id")?.as_str()?.to_string();
            let service = c
                .get("Labels")?
                .get("com.docker.compose.service")?
                .as_str()?
                .to_string();
            Some((service, id))
        })
        .collect();
    if ids.is_empty() {
        bail!("docker-compose started no container");
    }
    // Poll until every container is healthy (or unhealthy/exited, or the time is up).
    let states: Vec<Value> = loop {
        let states: Vec<Value> = ids
            .iter()
            .map(|(_, id)| docker_get(&format!("/containers/{id}/json")))
            .collect::<Result<_, _>>()?;
        let health = |s: &Value| {
            s.pointer("/State/Health/Status")
                .and_then(Value::as_str)
                .unwrap_or("none")
                .to_string()
        };
        if states.iter().all(|s| health(s) == "healthy") {
            report.stack_healthy_secs = Some(start.elapsed().as_secs_f64());
            break states;
        }
        let settled = states.iter().all(|s| {
            matches!(health(s).as_str(), "healthy" | "unhealthy")
                || s.pointer("/State/Running") == Some(&Value::Bool(false))
        });
        if (settled && up.is_err()) || start.elapsed() > HEALTHY_TIMEOUT {
            break states;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    for ((service, id), state) in ids.iter().zip(&states) {
        let health = state
            .pointer("/State/Health/Status")
            .and_then(Value::as_str)
            .unwrap_or("no health check")
            .to_string();
        let started = state
            .pointer("/State/StartedAt")
            .and_then(Value::as_str)
            .and_then(parse_time);
        let first_pass = state
            .pointer("/State/Health/Log")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|l| l.get("ExitCode").and_then(Value::as_i64) == Some(0))
            .filter_map(|l| l.get("End").and_then(Value::as_str).and_then(parse_time))
            .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.min(t))));
        let time_to_healthy = match (started, first_pass) {
            (Some(s), Some(h)) if health == "healthy" => Some(h - s),
            _ => None,
        };
        let name = state
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .trim_start_matches('/')
            .to_string();
        let (shell_exec, refused) = try_shell(id);
        let processes = docker_get(&format!("/containers/{id}/top"))
            .ok()
            .and_then(|t| t.get("Processes").and_then(Value::as_array).map(Vec::len));
        let f = |m: String| Finding::error(Check::Live, m).service(service.clone());
        if health != "healthy" {
            report.findings.push(f(format!("{name} is {health}")));
        }
        if !refused {
            report.findings.push(f(format!(
                "{name}: no proof that /bin/sh is absent: {shell_exec}"
            )));
        }
        if processes.is_some_and(|n| n >= MAX_PROCESSES) {
            report.findings.push(f(format!(
                "{name} runs {} processes (a distroless service runs fewer than {MAX_PROCESSES})",
                processes.unwrap_or(0)
            )));
        }
        report.services.push(LiveService {
            service: service.clone(),
            container: name,
            time_to_healthy_secs: time_to_healthy,
            health,
            shell_exec,
            shell_refused: refused,
            processes,
        });
    }
    report.services.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(())
}

/// `docker exec <id> /bin/sh -c true` must fail because there is no shell to run.
fn try_shell(id: &str) -> (String, bool) {
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

/// GET on the engine's API over its unix socket (HTTP/1.0: the body ends with the connection).
pub fn docker_get(path: &str) -> Result<Value> {
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

/// `2025-01-27T22:45:56.123456789Z` -> seconds since the epoch (UTC only, as Docker writes it).
fn parse_time(t: &str) -> Option<f64> {
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
