//! `--live`: runs the stack and measures it.
//!
//! 1. Reads the compose files into the same model the checks use ([`crate::compose`]), with
//!    the run's data and secrets directories as `LUCID_DATA_ROOT` / `LUCID_SECRETS_DIR`.
//! 2. Loads every built image of the chosen platform into the Docker engine (`skopeo copy
//!    --override-arch`), under the reference the compose file names. linux/arm64 images run
//!    under qemu (binfmt), as on the Pi they run natively. A digest-pinned reference cannot be
//!    loaded as such (the engine records repo digests only on pull), so those services get an
//!    override naming the loaded tag; the report says so.
//! 3. MongoDB cannot be pulled here: an override replaces it by a stand-in (the compose
//!    stage's `mongodb_standin_override`, handed in by the CLI).
//! 4. `docker-compose up -d`, measured while it runs ([`measure`]).
//! 5. `docker-compose down -v` and the scratch directory is removed, whatever happened.

mod engine;
pub mod measure;

use crate::compose::{self, model::Model, ReadOptions};
use crate::image::InspectedImage;
use crate::report::{Check, Finding, LiveReport, Severity};
use anyhow::{bail, Context, Result};
use lucid_catalog::{ImageRef, Platform};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use engine::get as docker_get;

const PROJECT: &str = "lucidvalidate";
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
    pub built: &'a [InspectedImage],
    /// Compose files to start, in `-f` order.
    pub files: &'a [PathBuf],
    /// How they are read (env file, profiles), as for the checks.
    pub read: &'a ReadOptions,
    /// Whose images run.
    pub platform: Platform,
    /// What replaces MongoDB; `None`: the validator's own minimal stand-in.
    pub mongodb_standin: Option<Standin>,
    /// Scratch directory (data, secrets, overrides); removed at the end.
    pub scratch: PathBuf,
    /// The `org.opencontainers.image.source` label of this project's images.
    pub source: &'a str,
}

/// The platform the engine runs natively.
fn host_platform() -> Platform {
    if cfg!(target_arch = "aarch64") {
        Platform::LinuxArm64
    } else {
        Platform::LinuxAmd64
    }
}

pub fn run(input: &LiveInput) -> LiveReport {
    let emulated = input.platform != host_platform();
    let mut report = LiveReport {
        compose_files: input
            .files
            .iter()
            .map(|f| crate::display(input.root, f))
            .collect(),
        platform: input.platform.oci().to_string(),
        emulated,
        mongodb: String::new(),
        stack_healthy_secs: None,
        ready_poll_ms: measure::READY_POLL.as_millis() as u64,
        settle_secs: 0.0,
        memory_used_bytes: None,
        stop_secs: None,
        services: Vec::new(),
        findings: Vec::new(),
    };
    let mut args: Vec<String> = vec!["-p".into(), PROJECT.into()];
    if let Some(f) = &input.read.env_file {
        args.extend(["--env-file".into(), f.display().to_string()]);
    }
    for p in &input.read.profiles {
        args.extend(["--profile".into(), p.clone()]);
    }
    for f in input.files {
        args.extend(["-f".into(), f.display().to_string()]);
    }
    let result = prepare(input, &mut report, &mut args).and_then(|Prepared { env, expected }| {
        // Under qemu every service starts several times slower.
        let timeout = Duration::from_secs(if emulated { 900 } else { 300 });
        let log = input.scratch.join("up.log");
        let outcome = measure::spawn(COMPOSE, &args, &env, &["up", "-d", "--no-build"], &log)
            .and_then(|up| measure::measure(PROJECT, up, &mut report, timeout));
        let failed = report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Error);
        if outcome.is_err() || failed {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            if !tail.is_empty() {
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                report.findings.push(Finding::warning(
                    Check::Live,
                    format!("docker-compose up said: {}", tail.join(" / ")),
                ));
            }
        }
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
        if outcome.is_ok() && report.stack_healthy_secs.is_some() {
            stop(&args, &env, &mut report)?;
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

/// What the run is prepared with.
struct Prepared {
    /// The environment docker-compose gets (data and secrets directories).
    env: Vec<(String, String)>,
    /// The services expected to run.
    expected: Vec<String>,
}

/// Directories, secrets, images and overrides.
fn prepare(input: &LiveInput, report: &mut LiveReport, args: &mut Vec<String>) -> Result<Prepared> {
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
    let read = ReadOptions {
        vars: env.clone(),
        ..input.read.clone()
    };
    let project = compose::Project::read(input.files, input.root, &read)?;
    let unreadable = project
        .docs
        .iter()
        .flat_map(|d| &d.findings)
        .find(|f| f.check == Check::ComposeFile && f.severity == Severity::Error);
    if let Some(f) = unreadable {
        bail!("{f}");
    }
    let model = project.deployment(&(0..input.files.len()).collect::<Vec<_>>());
    prepare_mounts(&model, &input.scratch)?;
    let overrides = load_images(input, &model)?;
    if !overrides.is_empty() {
        let path = input.scratch.join("loaded-tags.override.yaml");
        std::fs::write(&path, format!("services:\n{overrides}"))
            .with_context(|| path.display().to_string())?;
        args.extend(["-f".into(), path.display().to_string()]);
        report.findings.push(Finding::warning(
            Check::Live,
            "digest-pinned images were run by the tag they were loaded under (the engine records repo digests only on pull)",
        ));
    }
    if model.service(lucid_catalog::MONGODB).is_some() {
        let path = mongodb_standin(input, report)?;
        args.extend(["-f".into(), path.display().to_string()]);
    } else {
        report.mongodb = "not in the deployment".into();
    }
    prune_replaced(input.source)?;
    let expected = model.services.iter().map(|s| s.name.clone()).collect();
    Ok(Prepared { env, expected })
}

/// Loads the built image of every service; returns the override lines for digest-pinned ones.
fn load_images(input: &LiveInput, model: &Model) -> Result<String> {
    let mut overrides = String::new();
    for s in &model.services {
        if s.name == lucid_catalog::MONGODB {
            continue;
        }
        let Some(written) = &s.image else { continue };
        let Ok(r) = ImageRef::parse(&written.value) else {
            continue;
        };
        let Some(b) = input.built.iter().find(|b| {
            b.repository == r.repository
                && (r.digest.as_deref() == Some(b.index_digest.as_str())
                    || r.tag.as_deref().is_some_and(|t| b.answers_to(t)))
        }) else {
            bail!(
                "{}: services.{}.image {} is no built image; nothing to load",
                written.origin.at,
                s.name,
                written.value
            );
        };
        let target = if r.digest.is_some() {
            let tagged = format!("{}:{}", r.name(), b.tag);
            overrides.push_str(&format!("  {}:\n    image: \"{tagged}\"\n", s.name));
            tagged
        } else {
            r.to_string()
        };
        load(input.layout, &b.tag, &target, input.platform)?;
    }
    Ok(overrides)
}

/// Writes the MongoDB stand-in override (loading its image); returns its path.
fn mongodb_standin(input: &LiveInput, report: &mut LiveReport) -> Result<PathBuf> {
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
    load(input.layout, &standin.tag, &standin_ref, input.platform)?;
    let path = input.scratch.join("mongodb-standin.override.yaml");
    std::fs::write(&path, text).with_context(|| path.display().to_string())?;
    Ok(path)
}

/// Removes the images that loading left dangling (an earlier build loaded under the same tag),
/// and only those with this project's source label: repeated runs must not fill the disk
/// (the vfs storage driver keeps a full copy of every layer).
pub fn prune_replaced(source: &str) -> Result<()> {
    let filter = format!("label=org.opencontainers.image.source={source}");
    let out = Command::new(engine::DOCKER)
        .args(["image", "prune", "--force", "--filter", &filter])
        .output()
        .context(engine::DOCKER)?;
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

/// Creates the bind-mount sources (owned by the service's user) and the secret files that
/// lie in the scratch directory (a secret file elsewhere is the user's: never written).
fn prepare_mounts(model: &Model, scratch: &Path) -> Result<()> {
    for s in &model.services {
        let (uid, gid) = s
            .user
            .as_ref()
            .map(|u| {
                let mut p = u.value.split(':').map(|x| x.parse::<u32>().ok());
                let uid = p.next().flatten();
                (uid, p.next().flatten().or(uid))
            })
            .unwrap_or((None, None));
        for m in s.volumes.iter().filter(|m| m.kind == "bind") {
            let Some(source) = m.source.as_deref().filter(|s| s.starts_with('/')) else {
                continue;
            };
            std::fs::create_dir_all(source).with_context(|| source.to_string())?;
            std::os::unix::fs::chown(source, uid, gid)
                .with_context(|| format!("chown {source}"))?;
        }
    }
    for secret in &model.secrets {
        let Some(path) = secret
            .file
            .as_ref()
            .filter(|p| Path::new(p).starts_with(scratch))
        else {
            continue;
        };
        if let Some(dir) = Path::new(path).parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        // A throw-away value that every secret format of the stack accepts (64 hex digits:
        // the session master key; at least 32 bytes: an HS256 JWT key).
        std::fs::write(path, random_hex(32)?).with_context(|| path.clone())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
            .with_context(|| path.clone())?;
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

/// Copies the `platform` image of `tag` from the layout into the engine as `reference`.
fn load(layout: &Path, tag: &str, reference: &str, platform: Platform) -> Result<()> {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--override-arch", platform.arch()])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker-daemon:{reference}"))
        .output()
        .context("skopeo")?;
    if !out.status.success() {
        bail!(
            "skopeo copy --override-arch {} oci:{}:{tag} docker-daemon:{reference}: {}",
            platform.arch(),
            layout.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `docker-compose stop`, timed; then every container must have exited by itself: 0, or 143
/// for SIGTERM through `init`. 137 means the engine had to SIGKILL it when the grace period
/// ran out.
fn stop(args: &[String], env: &[(String, String)], report: &mut LiveReport) -> Result<()> {
    let started = std::time::Instant::now();
    compose_cmd(args, env, &["stop"])?;
    report.stop_secs = Some(started.elapsed().as_secs_f64());
    for (service, code) in measure::exit_codes(PROJECT)? {
        if code != 0 && code != 143 {
            report.findings.push(
                Finding::error(
                    Check::Live,
                    format!("did not stop cleanly within its stop_grace_period (exit code {code})"),
                )
                .service(service),
            );
        }
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
