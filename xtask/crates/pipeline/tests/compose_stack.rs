//! End to end: the whole stack of `compose/docker-compose.yaml` runs on the real Docker engine
//! with the real docker-compose, every container turns healthy, and every container stops within
//! its grace period.
//!
//! MongoDB is replaced by a stand-in (`mongodb_standin_override`): its image cannot be pulled
//! here. Everything else is real: the images come from the image stage (built through the
//! pipeline library into a temporary output directory, never the workspace's target/lucid),
//! loaded into the engine with skopeo under the references the compose file names. Needs
//! dockerd, docker-compose and skopeo (CI starts and installs them); set LUCID_SKIP_E2E=1 to
//! skip it explicitly on a machine without them.
//!
//! The time from `up` to all-healthy is printed; it is a measurement, not an assertion.

mod common;

use anyhow::Result;
use common::root;
use lucid_catalog::{ImageRef, Platform, Workspace, MONGODB};
use lucid_compose::testing::{host_files, run, DOCKER};
use lucid_compose::Generated;
use lucid_pipeline::images::{Engine, ImagePlan, ImageRequest};
use lucid_pipeline::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PROJECT: &str = "lucid-e2e";
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(420);

/// Builds the images for the host platform into `out` and loads each under the reference
/// compose uses.
fn load_images(ws: &Workspace, out: &Path, platform: Platform, refs: &BTreeMap<String, String>) {
    let started = Instant::now();
    let ctx = Context::new(&ws.root)
        .with_out(out)
        .with_cache(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucid-cache"));
    let request = ImageRequest {
        platforms: Some(vec![platform]),
        ..ImageRequest::all(Engine::Oci)
    };
    let manifest = ImagePlan::new(&ctx, ws, &request)
        .and_then(|plan| plan.execute(&ctx, ws))
        .unwrap_or_else(|e| panic!("the image stage: {e:#}"))
        .manifest;
    eprintln!(
        "e2e: images built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let layout = ctx.oci_layout();
    let started = Instant::now();
    for (service, reference) in refs {
        let entry = manifest
            .image(service)
            .unwrap_or_else(|| panic!("the image stage built no image for {service}"));
        let built = ImageRef::parse(&entry.reference).unwrap();
        let tag = built.tag.expect("build-images tags every image");
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--override-arch",
            platform.arch(),
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker-daemon:{reference}"),
        ]))
        .unwrap_or_else(|e| panic!("loading {service}: {e}"));
    }
    eprintln!(
        "e2e: {} images loaded into the engine in {:.1}s",
        refs.len(),
        started.elapsed().as_secs_f64()
    );
    // Loading under existing tags leaves the previous build dangling: remove those, ours only.
    lucid_validate::live::prune_replaced(&ws.settings.source)
        .unwrap_or_else(|e| panic!("removing replaced images: {e}"));
}

/// A running compose project; `down -v` on drop, whatever happened.
struct Stack {
    dir: tempfile::TempDir,
    files: Vec<String>,
    env: Vec<(String, PathBuf)>,
}

impl Stack {
    fn compose(&self) -> Command {
        let mut cmd = Command::new("docker-compose");
        cmd.current_dir(self.dir.path())
            .env("COMPOSE_HTTP_TIMEOUT", "600")
            .args(["--project-name", PROJECT]);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for f in &self.files {
            cmd.args(["-f", f]);
        }
        cmd
    }

    /// name -> (status, health) of every container of the project.
    fn states(&self) -> BTreeMap<String, (String, String)> {
        let ids = run(Command::new(DOCKER).args([
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={PROJECT}"),
        ]))
        .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return BTreeMap::new();
        }
        let out = run(Command::new(DOCKER).arg("inspect").arg("--format").arg(
            "{{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}",
        ).args(&ids))
        .unwrap_or_default();
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 4).then(|| {
                    (
                        f[0].to_string(),
                        (f[1].to_string(), format!("{} exit={}", f[2], f[3])),
                    )
                })
            })
            .collect()
    }

    fn logs(&self, service: &str) -> String {
        let mut cmd = self.compose();
        cmd.args(["logs", "--no-color", "--tail", "30", service]);
        run(&mut cmd).unwrap_or_else(|e| format!("{e:#}"))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let mut cmd = self.compose();
        cmd.args(["down", "-v", "--remove-orphans", "--timeout", "5"]);
        if let Err(e) = run(&mut cmd) {
            eprintln!("e2e: cleanup failed: {e}");
        }
    }
}

fn docker_available() -> Result<()> {
    run(Command::new(DOCKER).args(["info", "--format", "{{.ServerVersion}}"]))?;
    run(Command::new("docker-compose").arg("version"))?;
    run(Command::new("skopeo").arg("--version"))?;
    Ok(())
}

/// Prepares data directories and secrets owned by uid 65532 and writes the compose files.
fn prepare(ws: &Workspace, g: &Generated, standin: &str) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    for f in &g.files {
        std::fs::write(dir.path().join(f.name()), &f.text).unwrap();
    }
    std::fs::write(dir.path().join("mongodb-standin.yaml"), standin).unwrap();
    let files = host_files(ws, dir.path()).unwrap();
    Stack {
        dir,
        files: vec!["docker-compose.yaml".into(), "mongodb-standin.yaml".into()],
        env: files.env(),
    }
}

#[test]
fn whole_stack_turns_healthy_and_stops_within_its_grace_periods() {
    if std::env::var_os("LUCID_SKIP_E2E").is_some() {
        eprintln!("e2e: skipped (LUCID_SKIP_E2E is set)");
        return;
    }
    if let Err(e) = docker_available() {
        panic!("the e2e test needs dockerd, docker-compose and skopeo (set LUCID_SKIP_E2E=1 to skip): {e}");
    }
    let ws = Workspace::load(&root()).expect("the repository's catalog is valid");
    let out = tempfile::tempdir().unwrap();
    let platform = Platform::host().expect("host is arm64 or amd64");
    // The committed file equals this (see tests/committed.rs) unless a release pinned digests,
    // which locally loaded images cannot match; the tags are what we load.
    let g = lucid_compose::generate(&ws, None).unwrap();
    let full: serde_json::Value = serde_norway::from_str(
        &g.files
            .iter()
            .find(|f| f.name() == "docker-compose.yaml")
            .expect("docker-compose.yaml is generated")
            .text,
    )
    .unwrap();
    let mut refs: BTreeMap<String, String> = full["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.as_str() != MONGODB)
        .map(|(name, s)| (name.clone(), s["image"].as_str().unwrap().to_string()))
        .collect();
    let standin_image = refs[lucid_compose::mongodb::STANDIN_SERVICE].clone();
    load_images(&ws, out.path(), platform, &refs);
    refs.insert(MONGODB.into(), standin_image.clone());

    let standin = lucid_compose::mongodb_standin_override(&ws, &standin_image);
    println!(
        "e2e: NOTE: MongoDB is replaced by a stand-in ({standin_image} answering on port {}); the real mongo image is not pulled or tested",
        ws.settings.mongodb.port
    );
    let stack = prepare(&ws, &g, &standin);

    // A leftover project from an interrupted run would hold the subnet and the host ports.
    let mut down = stack.compose();
    let _ = run(down.args(["down", "-v", "--remove-orphans", "--timeout", "5"]));

    let up_started = Instant::now();
    let mut up = stack.compose();
    if let Err(e) = run(up.args(["up", "-d", "--no-build"])) {
        let unhealthy: Vec<String> = stack
            .states()
            .into_iter()
            .filter(|(_, (_, h))| !h.starts_with("healthy"))
            .map(|(n, s)| format!("{n}: {s:?}\n{}", stack.logs(&n)))
            .collect();
        panic!(
            "docker-compose up failed (MongoDB replaced by a stand-in): {e}\n{}",
            unhealthy.join("\n")
        );
    }
    let all_healthy = loop {
        let states = stack.states();
        let healthy = states
            .values()
            .filter(|(_, h)| h.starts_with("healthy "))
            .count();
        if states.len() == refs.len() && healthy == refs.len() {
            break up_started.elapsed();
        }
        let broken: Vec<&String> = states
            .iter()
            .filter(|(_, (s, h))| s == "exited" || h.starts_with("unhealthy"))
            .map(|(n, _)| n)
            .collect();
        if !broken.is_empty() || up_started.elapsed() > HEALTHY_TIMEOUT {
            let report: Vec<String> = states
                .iter()
                .filter(|(_, (_, h))| !h.starts_with("healthy "))
                .map(|(n, s)| format!("--- {n}: {s:?}\n{}", stack.logs(n)))
                .collect();
            panic!(
                "not every container turned healthy after {:.0}s (MongoDB replaced by a stand-in); {healthy}/{} healthy:\n{}",
                up_started.elapsed().as_secs_f64(),
                refs.len(),
                report.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!(
        "e2e: up -> all {} containers healthy ({} Lucid services + MongoDB stand-in): {:.1}s",
        refs.len(),
        refs.len() - 1,
        all_healthy.as_secs_f64()
    );

    let stop_started = Instant::now();
    let mut stop = stack.compose();
    run(stop.arg("stop")).unwrap();
    let stop_took = stop_started.elapsed();
    let states = stack.states();
    // docker stop sends SIGTERM and SIGKILL only when the grace period runs out: a container that
    // needed the SIGKILL exits 137; through `init: true` a clean exit is 0, SIGTERM itself 143.
    let killed: Vec<String> = states
        .iter()
        .filter(|(_, (s, h))| s != "exited" || !(h.ends_with("exit=0") || h.ends_with("exit=143")))
        .map(|(n, s)| format!("{n}: {s:?}\n{}", stack.logs(n)))
        .collect();
    assert_eq!(states.len(), refs.len());
    assert!(
        killed.is_empty(),
        "containers not stopped cleanly within their grace period (MongoDB replaced by a stand-in):\n{}",
        killed.join("\n")
    );
    println!(
        "e2e: docker-compose stop: all {} containers exited cleanly (0/143) in {:.1}s",
        states.len(),
        stop_took.as_secs_f64()
    );

    println!(
        "e2e: {}",
        serde_json::json!({
            "project": PROJECT,
            "platform": platform.oci(),
            "containers": refs.len(),
            "mongodb": "stand-in (server-tools image), not the real MongoDB",
            "up_to_all_healthy_seconds": (all_healthy.as_secs_f64() * 10.0).round() / 10.0,
            "stop_seconds": (stop_took.as_secs_f64() * 10.0).round() / 10.0,
            "healthcheck_interval": ws.settings.healthcheck.interval,
        })
    );
}
