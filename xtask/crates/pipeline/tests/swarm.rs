//! End to end on a real Docker Swarm: the generated stack file deploys the whole stack, a
//! stateless service scales and spreads requests over its replicas, a rolling update to a new
//! build drops no request, an update to a build whose health check fails rolls back by itself,
//! and `docker stack rm` leaves nothing behind.
//!
//! The images are real: the pipeline's image stage builds them from a temporary copy of the
//! workspace (this workspace's target/lucid is never written) and its publish stage pushes them
//! to a distribution registry the test starts; the stack file is generated from the copy's
//! catalog pinned to the pushed digests, exactly as after a release. The second build is the
//! copy at the next version; the broken one also answers `/health` with 503.
//!
//! What the test changes in the generated file, and why — nothing else:
//! - `LUCID_NODE_ARCH` is this node's architecture (the file places tasks on `aarch64` Pis);
//! - MongoDB's image is replaced by a stand-in (the real one cannot be pulled here): the busybox
//!   client image, whose `mongod` accepts TCP connections on the `--port` it is given and whose
//!   `mongosh` succeeds when something does — so the generated command and health check run
//!   unchanged. (`docker stack deploy` appends an override's lists to the file's — command,
//!   health check — instead of replacing them, so the compose test's override cannot be used.)
//!
//! The generated file needs no IPVS (DNS round robin, host-mode ports), which this kernel lacks.
//!
//! Needs dockerd (20.10 runs a one-node swarm), Debian's docker-registry and busybox-static;
//! set LUCID_SKIP_E2E=1 to skip it on a machine without them. Other tests share the engine: the
//! test leaves the swarm only if it created it, and removes only what it created. The figures
//! (deploy to healthy, update, rollback) are printed, not asserted: the machine is shared.

mod common;

use common::*;
use lucid_catalog::{ImageManifest, Platform, Workspace, MONGODB};
use lucid_compose::swarm::{ARCH_VARIABLE, DATA_LABEL, MONGODB_LABEL};
use lucid_compose::testing::{host_files, run, DOCKER};
use lucid_pipeline::images::{Engine, ImagePlan, ImageRequest};
use lucid_pipeline::publish;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const STACK: &str = "lucid-swarm-e2e";
/// Stateless, two replicas in the catalog: the service that scales and updates.
const SCALED: &str = "openapi-server";
const SCALE_TO: usize = 3;
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(420);

fn docker(args: &[&str]) -> String {
    run(Command::new(DOCKER).args(args)).unwrap_or_else(|e| panic!("{e:#}"))
}

fn service_name(service: &str) -> String {
    format!("{STACK}_{service}")
}

/// The images the test deploys: the whole stack at V0, and two later builds of [`SCALED`].
struct Images {
    v0: ImageManifest,
    /// The next version of [`SCALED`], pinned.
    v1: String,
    /// The version after it, whose `/health` answers 503, pinned.
    broken: String,
}

/// The image stage on the copy for `platform` (`services`, empty: all), then the push to
/// `registry`: what `cargo xtask build-images --push` does.
fn build_and_push(
    copy: &WorkspaceCopy,
    docker_config: &Path,
    registry: &str,
    platform: Platform,
    services: &[&str],
) -> ImageManifest {
    let started = Instant::now();
    let (ctx, _) = copy.context(docker_config);
    let ctx = ctx.with_cache(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucid-cache"));
    let ws = ctx.workspace().unwrap();
    let request = ImageRequest {
        services: services.iter().map(|s| s.to_string()).collect(),
        platforms: Some(vec![platform]),
        registry: Some(registry.to_string()),
        push: true,
        ..ImageRequest::all(Engine::Oci)
    };
    let plan = ImagePlan::new(&ctx, &ws, &request).unwrap();
    let built = plan
        .execute(&ctx, &ws)
        .unwrap_or_else(|e| panic!("the image stage ({services:?}): {e:#}"));
    publish::publish(&ctx, &plan, &built)
        .unwrap_or_else(|e| panic!("the push ({services:?}): {e:#}"));
    eprintln!(
        "swarm-e2e: images of {} ({}) built and pushed: {:.0}s",
        if services.is_empty() {
            "every service".to_string()
        } else {
            services.join(" ")
        },
        platform.oci(),
        started.elapsed().as_secs_f64()
    );
    built.manifest
}

fn pinned(manifest: &ImageManifest, service: &str) -> String {
    let entry = manifest.image(service).unwrap();
    format!("{}@{}", entry.reference, entry.digest)
}

/// Makes the copy's `/health` answer 503: a build whose health check fails.
fn break_health(copy: &WorkspaceCopy) {
    let path = copy.dir.join("services/runtime/src/server/builtin.rs");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (where the runtime answers /health)",
            path.display()
        )
    });
    let anchor = "pub fn health(id: &Identity, stats: &Stats) -> Response {";
    assert!(
        text.contains(anchor),
        "{}: no {anchor:?} to patch",
        path.display()
    );
    let broken = text.replacen(
        anchor,
        &format!("{anchor}\n    return Response::error(503, \"broken on purpose\");"),
        1,
    );
    std::fs::write(&path, broken).unwrap();
}

fn build_images(dir: &Path, registry: &str, platform: Platform) -> Images {
    let copy = WorkspaceCopy::create(&dir.join("workspace"));
    let config = docker_config(&dir.join("docker-config"), registry, None);
    let version = Workspace::load(&copy.dir).unwrap().version;
    let v0 = build_and_push(&copy, &config, registry, platform, &[]);
    let version = next_patch(&version);
    copy.bump_version(&version);
    let v1 = build_and_push(&copy, &config, registry, platform, &[SCALED]);
    break_health(&copy);
    copy.bump_version(&next_patch(&version));
    let broken = build_and_push(&copy, &config, registry, platform, &[SCALED]);
    Images {
        v1: pinned(&v1, SCALED),
        broken: pinned(&broken, SCALED),
        v0,
    }
}

/// `mongod` of the stand-in: accepts (and closes) connections on the `--port` it is given.
const STANDIN_MONGOD: &str = "#!/bin/busybox sh\n\
while [ $# -gt 0 ]; do [ \"$1\" = --port ] && port=$2; shift; done\n\
exec /bin/busybox nc -ll -p \"${port:?--port}\" -e /bin/busybox true\n";

/// `mongosh` of the stand-in (the health check): succeeds when `--port` accepts a connection.
const STANDIN_MONGOSH: &str = "#!/bin/busybox sh\n\
while [ $# -gt 0 ]; do [ \"$1\" = --port ] && port=$2; shift; done\n\
exec /bin/busybox nc 127.0.0.1 \"${port:?--port}\" </dev/null\n";

/// The client inside the overlay network: Debian's static busybox in an image of its own (the
/// service images have no shell; wget needs /etc/services to know the http port). It is also
/// MongoDB's stand-in: its `mongod` and `mongosh` are the scripts above.
struct ClientImage {
    reference: String,
}

impl ClientImage {
    fn build(dir: &Path, registry: &str) -> ClientImage {
        let ctx = dir.join("client");
        std::fs::create_dir_all(ctx.join("etc")).unwrap();
        std::fs::create_dir_all(ctx.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", ctx.join("busybox"))
            .expect("/bin/busybox (Debian busybox-static) is installed");
        std::fs::write(ctx.join("etc/services"), "http\t\t80/tcp\t\twww\n").unwrap();
        std::fs::write(ctx.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        std::fs::write(ctx.join("etc/group"), "root:x:0:\n").unwrap();
        for (name, script) in [("mongod", STANDIN_MONGOD), ("mongosh", STANDIN_MONGOSH)] {
            let path = ctx.join("bin").join(name);
            std::fs::write(&path, script).unwrap();
            let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            std::fs::set_permissions(&path, executable).unwrap();
        }
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc/ /etc/\nCOPY bin/ /usr/local/bin/\n",
        )
        .unwrap();
        let reference = format!("{registry}/lucid-test/busybox:swarm-e2e");
        docker(&["build", "-q", "-t", &reference, ctx.to_str().unwrap()]);
        docker(&["push", &reference]);
        ClientImage { reference }
    }

    /// Runs `script` in a throwaway client on `network`; its output.
    fn run(&self, network: &str, script: &str) -> String {
        docker(&[
            "run",
            "--rm",
            "--network",
            network,
            &self.reference,
            "/bin/busybox",
            "sh",
            "-c",
            script,
        ])
    }
}

impl Drop for ClientImage {
    fn drop(&mut self) {
        let _ = run(Command::new(DOCKER).args(["rmi", &self.reference]));
    }
}

/// This engine in a swarm, with the node labels the stack file places on; undone on drop as
/// far as the test did it.
struct Swarm {
    created: bool,
    gwbridge_existed: bool,
    node: String,
    added_labels: Vec<&'static str>,
    /// Architecture as the placement constraints see it (`x86_64`, `aarch64`).
    arch: String,
}

impl Swarm {
    fn join() -> Swarm {
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let gwbridge_existed =
            !docker(&["network", "ls", "-q", "--filter", "name=^docker_gwbridge$"])
                .trim()
                .is_empty();
        let created = match state.trim() {
            "inactive" => {
                docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
                true
            }
            "active" => false,
            other => {
                panic!("this engine's swarm is {other:?}; the test needs an active or no swarm")
            }
        };
        let mut swarm = Swarm {
            created,
            gwbridge_existed,
            node: docker(&["info", "--format", "{{.Swarm.NodeID}}"])
                .trim()
                .to_string(),
            added_labels: vec![],
            arch: String::new(),
        };
        swarm.arch = docker(&[
            "node",
            "inspect",
            &swarm.node,
            "--format",
            "{{.Description.Platform.Architecture}}",
        ])
        .trim()
        .to_string();
        for label in [MONGODB_LABEL, DATA_LABEL] {
            let value = docker(&[
                "node",
                "inspect",
                &swarm.node,
                "--format",
                &format!("{{{{index .Spec.Labels \"{label}\"}}}}"),
            ]);
            if value.trim() != "true" {
                docker(&[
                    "node",
                    "update",
                    "--label-add",
                    &format!("{label}=true"),
                    &swarm.node,
                ]);
                swarm.added_labels.push(label);
            }
        }
        swarm
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.created {
            let _ = run(Command::new(DOCKER).args(["swarm", "leave", "--force"]));
            if !self.gwbridge_existed {
                remove_gwbridge();
            }
            return;
        }
        for label in &self.added_labels {
            let _ =
                run(Command::new(DOCKER).args(["node", "update", "--label-rm", label, &self.node]));
        }
    }
}

/// Removes the bridge Swarm made for the tasks' outside traffic. The daemon may still count
/// endpoints of removed containers on it for a while (or, on Docker 20.10, until it restarts):
/// then it stays, empty, and the next swarm reuses it.
fn remove_gwbridge() {
    let started = Instant::now();
    loop {
        match run(Command::new(DOCKER).args(["network", "rm", "docker_gwbridge"])) {
            Ok(_) => return,
            Err(e) if started.elapsed() > Duration::from_secs(20) => {
                eprintln!("swarm-e2e: NOTE: docker_gwbridge left in place: {e:#}");
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Objects of the stack still present: services, networks, secrets, containers.
fn leftovers() -> Vec<String> {
    let filter = format!("label=com.docker.stack.namespace={STACK}");
    let mut out = Vec::new();
    for (kind, args) in [
        ("service", vec!["service", "ls", "-q", "--filter", &filter]),
        ("network", vec!["network", "ls", "-q", "--filter", &filter]),
        ("secret", vec!["secret", "ls", "-q", "--filter", &filter]),
        ("container", vec!["ps", "-a", "-q", "--filter", &filter]),
    ] {
        let listed = run(Command::new(DOCKER).args(&args)).unwrap_or_default();
        out.extend(listed.split_whitespace().map(|id| format!("{kind} {id}")));
    }
    out
}

/// Removes the stack and waits until nothing of it is left; what is left after `timeout`.
fn remove_stack(timeout: Duration) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let _ = run(Command::new(DOCKER).args(["stack", "rm", STACK]));
    loop {
        let left = leftovers();
        if left.is_empty() || started.elapsed() > timeout {
            return (left, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The deployed stack: removed on drop if the test did not get to remove it, then the images
/// the swarm pulled for it.
struct Deployed {
    registry: String,
    removed: bool,
}

impl Drop for Deployed {
    fn drop(&mut self) {
        if !self.removed {
            remove_stack(Duration::from_secs(120));
        }
        remove_pulled_images(&self.registry);
    }
}

/// Images the swarm pulled from the test's registry, removed by reference (never by id: an id
/// may carry other tags of the shared engine).
fn remove_pulled_images(registry: &str) {
    let listed = docker(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}}@{{.Digest}}",
    ]);
    for reference in listed
        .lines()
        .filter(|l| l.starts_with(&format!("{registry}/")))
    {
        let _ = run(Command::new(DOCKER).args(["rmi", reference]));
    }
}

/// Service -> (running, desired) tasks, as `docker service ls` counts them (a task with a health
/// check counts as running once it is healthy).
fn replicas() -> BTreeMap<String, (usize, usize)> {
    let out = docker(&[
        "service",
        "ls",
        "--filter",
        &format!("label=com.docker.stack.namespace={STACK}"),
        "--format",
        "{{.Name}} {{.Replicas}}",
    ]);
    out.lines()
        .filter_map(|l| {
            let (name, counts) = l.split_once(' ')?;
            let (running, desired) = counts.split(' ').next()?.split_once('/')?;
            let name = name.strip_prefix(&format!("{STACK}_"))?.to_string();
            Some((name, (running.parse().ok()?, desired.parse().ok()?)))
        })
        .collect()
}

/// The stack's containers by health: how many say `(healthy)`, and the others' statuses.
fn container_health() -> (usize, Vec<String>) {
    let out = docker(&[
        "ps",
        "--filter",
        &format!("label=com.docker.stack.namespace={STACK}"),
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    let (healthy, other): (Vec<&str>, Vec<&str>) =
        out.lines().partition(|l| l.contains("(healthy)"));
    (healthy.len(), other.iter().map(|s| s.to_string()).collect())
}

/// Waits until every service of the stack runs its desired tasks, all healthy; the time taken.
fn converge(services: usize, started: Instant) -> Duration {
    loop {
        let r = replicas();
        let converged = r.len() == services && r.values().all(|(run, want)| run == want);
        let desired: usize = r.values().map(|(_, want)| want).sum();
        let (healthy, others) = container_health();
        if converged && healthy == desired && others.is_empty() {
            return started.elapsed();
        }
        if started.elapsed() > CONVERGE_TIMEOUT {
            let lagging: Vec<String> = r
                .iter()
                .filter(|(_, (run, want))| run != want)
                .map(|(name, counts)| {
                    let tasks = run(Command::new(DOCKER).args([
                        "service",
                        "ps",
                        "--no-trunc",
                        "--format",
                        "{{.CurrentState}} {{.Error}}",
                        &service_name(name),
                    ]))
                    .unwrap_or_default();
                    format!("--- {name} {counts:?}\n{tasks}")
                })
                .collect();
            panic!(
                "the stack did not converge in {:.0}s (MongoDB replaced by a stand-in): {} services of {services}; not healthy: {others:?}\n{}",
                started.elapsed().as_secs_f64(),
                r.len(),
                lagging.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The image the service's spec names, and those of its running tasks.
fn images_of(service: &str) -> (String, Vec<String>) {
    let name = service_name(service);
    let spec = docker(&[
        "service",
        "inspect",
        &name,
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
    ]);
    let tasks = docker(&[
        "service",
        "ps",
        &name,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}}",
    ]);
    (
        spec.trim().to_string(),
        tasks.lines().map(str::to_string).collect(),
    )
}

/// Waits until the service's update reaches `state` (an update that ends in another state
/// fails the test).
fn await_update_state(service: &str, state: &str, started: Instant) {
    loop {
        let now = update_state(service);
        if now == state {
            return;
        }
        let settled = [
            "completed",
            "paused",
            "rollback_completed",
            "rollback_paused",
        ];
        assert!(
            !settled.contains(&now.as_str()) && started.elapsed() < Duration::from_secs(420),
            "{service}: update state {now:?} after {:.0}s, waiting for {state:?}",
            started.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn update_state(service: &str) -> String {
    docker(&[
        "service",
        "inspect",
        &service_name(service),
        "--format",
        "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
    ])
    .trim()
    .to_string()
}

/// `GET http://127.0.0.1:<port><path>` from the host: status line and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    Ok((
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    ))
}

/// The `instance` of every `/health` answer in `output` (one JSON line per answer).
fn instances(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["instance"].as_str().map(str::to_string))
        .collect()
}

/// A client that requests `url` in a loop (wget, 3 s bound each) until told to stop: one line
/// per request, `ok` or `fail <exit code>`.
struct LoopingClient {
    name: String,
}

impl LoopingClient {
    fn start(client: &ClientImage, network: &str, url: &str) -> LoopingClient {
        let name = format!("{STACK}-client");
        let _ = run(Command::new(DOCKER).args(["rm", "-f", &name]));
        // Bounded: at most 20000 requests, whatever happens to the test.
        let script = format!(
            "i=0; while [ ! -e /stop ] && [ $i -lt 20000 ]; do i=$((i+1)); \
             if timeout 3 wget -q -O /dev/null {url}; then echo ok; else echo \"fail $?\"; fi; \
             sleep 0.05; done; echo done"
        );
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            network,
            &client.reference,
            "/bin/busybox",
            "sh",
            "-c",
            &script,
        ]);
        let c = LoopingClient { name };
        let started = Instant::now();
        while !c.log().contains("ok") {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the client got no answer: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn log(&self) -> String {
        docker(&["logs", &self.name])
    }

    /// Stops the loop after its current request; (answered, failed) requests.
    fn stop(self) -> (usize, Vec<String>) {
        docker(&["exec", &self.name, "/bin/busybox", "touch", "/stop"]);
        docker(&["wait", &self.name]);
        let log = self.log();
        assert!(
            log.lines().any(|l| l == "done"),
            "the client loop did not finish: {log}"
        );
        let ok = log.lines().filter(|l| *l == "ok").count();
        let failed = log
            .lines()
            .filter(|l| l.starts_with("fail"))
            .map(str::to_string)
            .collect();
        (ok, failed)
    }
}

impl Drop for LoopingClient {
    fn drop(&mut self) {
        let _ = run(Command::new(DOCKER).args(["rm", "-f", &self.name]));
    }
}

/// The override that replaces MongoDB's image by the stand-in (see the module docs).
fn mongodb_standin(client: &ClientImage) -> String {
    format!(
        "# TEST STAND-IN for MongoDB: a TCP listener on its port, not a database.\n\
         version: '3.8'\nservices:\n  {MONGODB}:\n    image: \"{}\"\n",
        client.reference
    )
}

fn available() -> Result<(), String> {
    for tool in [DOCKER, "/usr/bin/docker-registry", "/bin/busybox"] {
        if !Path::new(tool).exists() {
            return Err(format!("{tool} is missing"));
        }
    }
    run(Command::new(DOCKER).args(["info", "--format", "{{.ServerVersion}}"]))
        .map(|_| ())
        .map_err(|e| format!("dockerd: {e:#}"))
}

#[test]
fn the_stack_file_deploys_scales_updates_without_loss_rolls_back_and_leaves_nothing() {
    if std::env::var_os("LUCID_SKIP_E2E").is_some() {
        eprintln!("swarm-e2e: skipped (LUCID_SKIP_E2E is set)");
        return;
    }
    if let Err(e) = available() {
        panic!("the swarm e2e test needs dockerd, docker-registry and busybox-static (set LUCID_SKIP_E2E=1 to skip): {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&dir.path().join("registry"), None);
    let host = registry.host();
    let platform = Platform::host().expect("host is arm64 or amd64");
    let images = build_images(dir.path(), &host, platform);
    let ws = Workspace::load(&dir.path().join("workspace")).unwrap();
    // The copy is at the broken build's version now; the stack runs V0, pinned.
    let generated = lucid_compose::generate(&ws, Some(&images.v0)).unwrap();
    let scaled = ws.service(SCALED).unwrap();
    assert!(
        scaled.replicas >= 2 && scaled.volumes.is_empty(),
        "{SCALED}: stateless and replicated"
    );

    let swarm = Swarm::join();
    let client = ClientImage::build(dir.path(), &host);
    let deploy_dir = dir.path().join("deploy");
    std::fs::create_dir(&deploy_dir).unwrap();
    std::fs::write(
        deploy_dir.join(lucid_compose::swarm::FILE),
        &generated.stack.text,
    )
    .unwrap();
    std::fs::write(
        deploy_dir.join("mongodb-standin.yaml"),
        mongodb_standin(&client),
    )
    .unwrap();
    let files = host_files(&ws, &deploy_dir).unwrap();
    let network = format!("{STACK}_{}", ws.settings.network.name);

    // A leftover of an interrupted run would hold the names and the host ports.
    remove_stack(Duration::from_secs(120));
    let started = Instant::now();
    let out = Command::new(DOCKER)
        .current_dir(&deploy_dir)
        .args([
            "stack",
            "deploy",
            "-c",
            lucid_compose::swarm::FILE,
            "-c",
            "mongodb-standin.yaml",
            STACK,
        ])
        .envs(files.env())
        .env(ARCH_VARIABLE, &swarm.arch)
        .output()
        .unwrap();
    let mut deployed = Deployed {
        registry: host.clone(),
        removed: false,
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "docker stack deploy failed:\n{said}");
    assert!(
        !said.contains("Ignoring") && !said.contains("could not be accessed"),
        "docker stack deploy warned:\n{said}"
    );

    let services = ws.services.len() + 1;
    let healthy_after = converge(services, started);
    let tasks: usize = replicas().values().map(|(_, want)| want).sum();
    eprintln!(
        "swarm-e2e: docker stack deploy -> all {services} services healthy ({tasks} tasks; MongoDB a stand-in): {:.1}s",
        healthy_after.as_secs_f64()
    );
    // The entry point answers on its host-mode port; a service reaches its dependency (MongoDB's
    // stand-in) over the overlay network.
    let (status, body) =
        http_get(8080, "/health").expect("api-gateway publishes 8080 in host mode");
    assert!(
        status.contains(" 200 ") && body.contains("api-gateway"),
        "{status} {body}"
    );
    let ready = client.run(
        &network,
        "timeout 5 wget -q -O - http://api-server:8081/ready",
    );
    assert!(ready.contains("\"ready\""), "api-server /ready: {ready}");

    // Scale out: a bounded stream of requests is answered by several replicas.
    let scaled_service = service_name(SCALED);
    docker(&[
        "service",
        "scale",
        "--detach",
        &format!("{scaled_service}={SCALE_TO}"),
    ]);
    converge(services, Instant::now());
    let url = format!("http://{SCALED}:{}/health", scaled.port);
    let answers = client.run(
        &network,
        &format!("for i in $(seq 1 40); do timeout 3 wget -q -O - {url} || echo FAIL; echo; done"),
    );
    let seen = instances(&answers);
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 40, "every request answered:\n{answers}");
    assert!(distinct.len() >= 2, "40 requests reached only {distinct:?}");
    eprintln!(
        "swarm-e2e: {SCALED} scaled to {SCALE_TO}: 40/40 requests answered by {} replicas",
        distinct.len()
    );

    // Rolling update to the second build while a client keeps asking.
    let looping = LoopingClient::start(&client, &network, &url);
    let started = Instant::now();
    let update = run(Command::new(DOCKER).args([
        "service",
        "update",
        "--detach=false",
        "--image",
        &images.v1,
        &scaled_service,
    ]));
    // The CLI returns once the tasks run; Swarm calls the update complete after watching the
    // last task for the monitor period. The client asks until then.
    let tasks_updated = started.elapsed();
    update.unwrap_or_else(|e| panic!("the rolling update failed: {e:#}"));
    await_update_state(SCALED, "completed", started);
    let update_took = started.elapsed();
    let (answered, failed) = looping.stop();
    let (spec, running) = images_of(SCALED);
    assert_eq!(spec, images.v1);
    assert_eq!(running.len(), SCALE_TO, "{running:?}");
    assert!(
        running
            .iter()
            .all(|i| images.v1.starts_with(i.as_str()) || *i == images.v1),
        "{running:?} vs {}",
        images.v1
    );
    assert!(
        answered > 0 && failed.is_empty(),
        "{} of {} requests failed during the rolling update: {failed:?}",
        failed.len(),
        answered + failed.len()
    );
    eprintln!(
        "swarm-e2e: rolling update of {SCALED} ({SCALE_TO} replicas) to the next version: tasks replaced in {:.1}s, complete (after the monitor period) in {:.1}s; {answered} requests, {} failed",
        tasks_updated.as_secs_f64(),
        update_took.as_secs_f64(),
        failed.len()
    );

    // An update to a build whose health check fails rolls back by itself.
    let started = Instant::now();
    let _ = run(Command::new(DOCKER).args([
        "service",
        "update",
        "--detach=false",
        "--image",
        &images.broken,
        &scaled_service,
    ]));
    await_update_state(SCALED, "rollback_completed", started);
    let rollback_took = started.elapsed();
    let (spec, running) = images_of(SCALED);
    assert_eq!(spec, images.v1, "the service is back on the previous image");
    converge(services, Instant::now());
    let (_, running_after) = images_of(SCALED);
    assert_eq!(
        running_after.len(),
        SCALE_TO,
        "{running:?} {running_after:?}"
    );
    let tried = docker(&[
        "service",
        "ps",
        &scaled_service,
        "--format",
        "{{.Image}} {{.CurrentState}}",
    ]);
    let broken_tag = images.broken.split('@').next().unwrap();
    assert!(
        tried.contains(broken_tag),
        "no task of the broken build was started:\n{tried}"
    );
    eprintln!(
        "swarm-e2e: update to a build failing its health check: rolled back in {:.1}s, {SCALED} back on the previous image",
        rollback_took.as_secs_f64()
    );

    let (left, took) = remove_stack(Duration::from_secs(120));
    deployed.removed = true;
    assert!(left.is_empty(), "docker stack rm left {left:?}");
    eprintln!(
        "swarm-e2e: docker stack rm: no service, network, secret or container left after {:.1}s",
        took.as_secs_f64()
    );
}
