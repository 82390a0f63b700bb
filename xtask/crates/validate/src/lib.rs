//! Validate stage: inspects the built images and any compose file, and writes the report.
//!
//! The validator is deliberately independent of the builders: it reads the OCI image layout
//! (or a registry's HTTP API) and the compose YAML itself, verifies every blob against its
//! digest, decompresses the layers, and measures what they hold. The only input it shares
//! with the other stages is the catalog (which services, which platforms, the device).
//!
//! # What is checked
//!
//! * Per image and platform ([`image`]): reference, digests, compressed and uncompressed
//!   size (measured from the blobs), base image name and digest (labels), layer count, the
//!   user (resolved through the image's own `/etc/passwd`; uid 0 fails), the entrypoint read
//!   from the layers (present, executable, an ELF whose `e_machine` is the platform's — 183
//!   aarch64, 62 x86-64 — with no `PT_INTERP`), no shell, package manager or setuid file in any
//!   layer, no file that looks like a secret, the required OCI labels.
//! * Per compose file ([`compose`]), for generated and user-given files alike, read as Docker
//!   Compose reads them (anchors and merge keys, interpolation, `extends`, `include`, profiles)
//!   into one model: the ten defect classes of the catalog (see [`report::Check`]), each
//!   finding naming the file, the service, the key path and the line the value is written on
//!   (for an inherited value, also the `<<`/`extends` line).
//! * Per deployment ([`deploy`]), on the files deployed together merged with Compose's
//!   override rules: host ports, one configuration per Docker network name, external networks,
//!   fixed IPs inside their subnet and unique, `depends_on` targets, memory and CPU sums
//!   against the device profile (`[workspace.metadata.lucid.device]`).
//!   The generated files form four deployments: `docker-compose.yaml` alone, and
//!   `lucid-dev.yaml` with `lucid-layer1-complete.yaml`, with `lucid-layer2-complete.yaml`, and
//!   with both. Files given with `--compose` form **one** deployment together.
//! * `--live` ([`live`]): loads one platform's images into the Docker engine (arm64 runs under
//!   qemu), starts the stack with docker-compose, measures each service's time to ready (its
//!   `/ready` polled from the host) beside Docker's time to healthy and its memory once the
//!   stack settled, proves `/bin/sh` cannot be executed in any container, counts processes
//!   through the engine's API, and removes it all.
//!
//! # The JSON report
//!
//! `images/validation-report.json` is the [`report::Report`] struct serialised with serde; the
//! Markdown report is rendered from that struct ([`markdown::render`]) and holds the same facts.
//! Its JSON Schema (draft 2020-12) is `images/validation-report.schema.json`, generated from
//! [`schema::schema`] (derived from the report types) and checked by a test. In short:
//!
//! | field | meaning |
//! |---|---|
//! | `schema_version` | 1; bumped on incompatible changes |
//! | `generated`, `version` | UTC time (`SOURCE_DATE_EPOCH` when set), workspace version |
//! | `device` | the target device and what containers may use (`budget_*`) |
//! | `image_source`, `image_source_findings` | `oci:<dir>` or `registry:<host>`, and problems with it |
//! | `images[]` | per service: `reference`, `index_digest`, `platforms[]` (measured facts per platform), `findings[]` |
//! | `compose_files[]` | per file: `service_count` (counted), `services[]`, `networks[]`, `findings[]` |
//! | `deployments[]` | per group of files: sums, host ports, `findings[]` |
//! | `live` | only with `--live`: platform, per service time to ready and to healthy, memory used, shell refusal, process count |
//! | `summary` | counts derived from the lists above; `passed` is false when any finding is an error |
//!
//! A finding is `{severity, check, file?, service?, key?, line?, via?, message}`; `check` is one of
//! the kebab-case names of [`report::Check`].

use anyhow::{Context, Result};
pub mod cluster;
pub mod compose;
pub mod deploy;
pub mod elf;
pub mod image;
pub mod live;
pub mod markdown;
pub mod report;
pub mod schema;
pub mod source;

use lucid_catalog::Platform;
use lucid_catalog::{topology, ImageManifest, Workspace};
use lucid_registry::Registry;
use report::{
    Check, ComposeFileReport, DeploymentReport, DeviceProfile, Finding, ImageReport, Report,
    Summary, SCHEMA_VERSION,
};
use source::{ImageSource, OciLayout};
use std::path::{Path, PathBuf};

/// What to validate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Compose files to check; empty: the generated files under `compose/`.
    pub compose: Vec<PathBuf>,
    /// Read the images from this registry instead of the OCI layout.
    pub registry: Option<String>,
    /// How to reach `registry` (credentials, CAs); default: this environment's Docker config
    /// and `/etc/docker/certs.d`, as `docker pull` would.
    pub registry_config: Option<lucid_registry::Config>,
    /// The OCI image layout (default `target/lucid/oci`).
    pub oci_layout: PathBuf,
    /// The builder's manifest to cross-check (default `target/lucid/images.json`), if present.
    pub build_manifest: Option<PathBuf>,
    /// Start the stack (see [`live`]).
    pub live: bool,
    /// What replaces MongoDB in the live run (the compose stage's stand-in).
    pub mongodb_standin: Option<live::Standin>,
    /// The platform whose images the live run starts (arm64 runs under qemu).
    pub live_platform: Platform,
    /// How the compose files are read (`--env-file`, `--profile`).
    pub read: compose::ReadOptions,
}

impl Options {
    pub fn defaults(root: &Path) -> Options {
        Options {
            compose: Vec::new(),
            registry: None,
            registry_config: None,
            oci_layout: root.join("target/lucid/oci"),
            build_manifest: Some(root.join(lucid_catalog::manifest::BUILD_MANIFEST)),
            live: false,
            mongodb_standin: None,
            live_platform: Platform::LinuxArm64,
            read: compose::ReadOptions::default(),
        }
    }
}

/// Everything the inspection of the images yields.
pub struct Inspected {
    pub source: String,
    pub source_findings: Vec<Finding>,
    pub images: Vec<ImageReport>,
    pub built: Vec<image::InspectedImage>,
}

/// Inspects the image of every service of the catalog.
pub fn inspect_images(
    ws: &Workspace,
    source: &dyn ImageSource,
    manifest: Option<&ImageManifest>,
) -> Inspected {
    let settings = &ws.settings;
    let version = manifest
        .map(|m| m.version.clone())
        .unwrap_or_else(|| ws.version.clone());
    let mut source_findings = Vec::new();
    let tags = source.tags(&settings.repository).unwrap_or_else(|e| {
        source_findings.push(Finding::error(Check::ImageSource, e).file(source.describe()));
        Vec::new()
    });
    let fill = |template: &str, service: &str, version: &str| {
        template
            .replace("{service}", service)
            .replace("{version}", version)
    };
    let mut inspector = image::Inspector::default();
    let mut images = Vec::new();
    let mut built = Vec::new();
    for s in &ws.services {
        let expected = fill(&settings.tag, &s.name, &version);
        // Exact tag, else the newest dev build of that version (`<tag>-<git sha>`).
        let tag = tags
            .iter()
            .rev()
            .find(|t| **t == expected)
            .or_else(|| {
                tags.iter()
                    .rev()
                    .find(|t| t.starts_with(&format!("{expected}-")))
            })
            .cloned();
        let mut report = ImageReport::empty(s);
        let Some(tag) = tag else {
            report.findings.push(
                Finding::error(
                    Check::ImageSource,
                    format!("no image tagged {expected} in {}", source.describe()),
                )
                .service(&s.name),
            );
            images.push(report);
            continue;
        };
        let inspection = inspector.inspect(
            source,
            &s.name,
            &settings.repository,
            &tag,
            &settings.platforms,
        );
        report.reference = Some(format!(
            "{}/{}:{tag}",
            settings.registry, settings.repository
        ));
        report.index_digest = inspection.index_digest;
        report.platforms = inspection.platforms;
        report.findings = inspection.findings;
        if let Some(m) = manifest {
            report.findings.extend(cross_check(m, &report));
        }
        if let Some(mut b) = inspection.built {
            for alias in [
                fill(&settings.moving_tag, &s.name, &version),
                fill(&settings.tag, &s.name, &ws.version),
            ] {
                if alias != b.tag && !b.aliases.contains(&alias) {
                    b.aliases.push(alias);
                }
            }
            built.push(b);
        }
        images.push(report);
    }
    Inspected {
        source: source.describe(),
        source_findings,
        images,
        built,
    }
}

/// The builder's manifest must agree with what was measured.
fn cross_check(m: &ImageManifest, r: &ImageReport) -> Vec<Finding> {
    let mut out = Vec::new();
    let err = |msg: String| {
        Finding::error(Check::BuildManifest, msg)
            .service(&r.service)
            .file(lucid_catalog::manifest::BUILD_MANIFEST)
    };
    let Some(entry) = m.image(&r.service) else {
        out.push(
            Finding::warning(Check::BuildManifest, "not in the build manifest").service(&r.service),
        );
        return out;
    };
    if r.index_digest.as_deref() != Some(entry.digest.as_str()) {
        out.push(err(format!(
            "says index {} but the image holds {:?}",
            entry.digest, r.index_digest
        )));
    }
    for p in &r.platforms {
        match entry.platforms.iter().find(|e| e.platform == p.platform) {
            None => out.push(err(format!("has no {}", p.platform))),
            Some(e) => {
                if e.digest != p.digest {
                    out.push(err(format!(
                        "{}: says {} but the index holds {}",
                        p.platform, e.digest, p.digest
                    )));
                }
                if (e.compressed_size, e.uncompressed_size)
                    != (p.compressed_size, p.uncompressed_size)
                {
                    out.push(
                        Finding::warning(
                            Check::BuildManifest,
                            format!(
                                "{}: sizes {} / {} in the manifest, measured {} / {}",
                                p.platform,
                                e.compressed_size,
                                e.uncompressed_size,
                                p.compressed_size,
                                p.uncompressed_size
                            ),
                        )
                        .service(&r.service),
                    );
                }
            }
        }
    }
    out
}

fn registry_client(host: &str, config: Option<lucid_registry::Config>) -> anyhow::Result<Registry> {
    let config = match config {
        Some(c) => c,
        None => lucid_registry::Config::from_environment(host)?,
    };
    Registry::configured(host, config)
}

/// No image could be read from `source`: one finding saying why, every image empty.
fn unreadable(ws: &Workspace, source: String, why: String) -> Inspected {
    Inspected {
        source,
        source_findings: vec![Finding::error(Check::ImageSource, why)],
        images: ws.services.iter().map(ImageReport::empty).collect(),
        built: Vec::new(),
    }
}

/// Runs every check and returns the report (not yet written).
pub fn validate(ws: &Workspace, opts: &Options) -> Report {
    let settings = &ws.settings;
    let manifest = opts
        .build_manifest
        .as_deref()
        .filter(|p| p.exists())
        .map(ImageManifest::read);
    let mut pre_findings = Vec::new();
    let manifest = match manifest {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            pre_findings.push(Finding::error(Check::BuildManifest, e));
            None
        }
        None => None,
    };
    let inspected = match &opts.registry {
        Some(host) => match registry_client(host, opts.registry_config.clone()) {
            Ok(registry) => inspect_images(ws, &registry, manifest.as_ref()),
            Err(e) => unreadable(ws, format!("registry:{host}"), format!("{e:#}")),
        },
        None => match OciLayout::open(&opts.oci_layout) {
            Ok(layout) => {
                let layout = layout.shown_as(display(&ws.root, &opts.oci_layout));
                inspect_images(ws, &layout, manifest.as_ref())
            }
            Err(e) => unreadable(
                ws,
                format!("oci:{}", display(&ws.root, &opts.oci_layout)),
                format!("{e} (run `cargo xtask build-images` first)"),
            ),
        },
    };
    let device = DeviceProfile {
        name: settings.device.name.clone(),
        memory_bytes: settings.device.memory,
        cpus: settings.device.cpus,
        budget_memory_bytes: settings.device.budget_memory(),
        budget_cpus: settings.device.budget_cpus(),
    };
    let images = compose::Images {
        repository: settings.repository.clone(),
        built: inspected.built,
        external: vec![settings.mongodb.image.clone()],
    };
    let (files, groups) = compose_files(ws, opts);
    let (mut compose_files, deployments) =
        check_compose(&files, &groups, &ws.root, &opts.read, &images, &device);
    // The cluster files are the generated ones' companions: checked when the generated files are.
    let clusters = if opts.compose.is_empty() {
        check_clusters(ws, &opts.read, &images, &device, &mut compose_files)
    } else {
        Vec::new()
    };
    let live = opts.live.then(|| {
        // The generated stack runs from docker-compose.yaml alone; given files run together.
        let run_files = if opts.compose.is_empty() {
            vec![files[0].clone()]
        } else {
            files.clone()
        };
        live::run(&live::LiveInput {
            root: &ws.root,
            layout: &opts.oci_layout,
            built: &images.built,
            files: &run_files,
            read: &opts.read,
            platform: opts.live_platform,
            mongodb_standin: opts.mongodb_standin.clone(),
            scratch: ws.root.join("target/lucid/validate-live"),
            settings: &ws.settings,
        })
    });
    let mut source_findings = pre_findings;
    source_findings.extend(inspected.source_findings);
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        generated: timestamp(),
        version: ws.version.clone(),
        device,
        image_source: inspected.source,
        images: inspected.images,
        image_source_findings: source_findings,
        compose_files,
        deployments,
        clusters,
        live,
        supply_chain: None,
        summary: Summary::default(),
    };
    report.summarise();
    report
}

/// The compose files to check and the groups of them deployed together (indexes): the
/// generated files in the catalog's topology, or the files given, all deployed together.
fn compose_files(ws: &Workspace, opts: &Options) -> (Vec<PathBuf>, Vec<Vec<usize>>) {
    if !opts.compose.is_empty() {
        let n = opts.compose.len();
        return (opts.compose.clone(), vec![(0..n).collect()]);
    }
    let generated = topology::generated_files(ws);
    let groups = topology::deployed_together(ws)
        .iter()
        .map(|g| {
            g.iter()
                .filter_map(|f| generated.iter().position(|x| x == f))
                .collect()
        })
        .collect();
    (generated.iter().map(|f| ws.root.join(f)).collect(), groups)
}

/// Reads the compose files as one project and checks every deployment on its merged model.
/// A finding about a value lands in the report of the file that writes it (once, however
/// many deployments share the file); findings across files land in the deployment's.
pub fn check_compose(
    files: &[PathBuf],
    groups: &[Vec<usize>],
    root: &Path,
    read: &compose::ReadOptions,
    images: &compose::Images,
    device: &DeviceProfile,
) -> (Vec<ComposeFileReport>, Vec<DeploymentReport>) {
    let project = match compose::Project::read(files, root, read) {
        Ok(p) => p,
        Err(e) => {
            let f = Finding::error(Check::ComposeFile, e);
            let deployment = |g: &Vec<usize>| DeploymentReport {
                files: g.iter().map(|i| display(root, &files[*i])).collect(),
                findings: vec![f.clone()],
                ..DeploymentReport::default()
            };
            return (Vec::new(), groups.iter().map(deployment).collect());
        }
    };
    let mut reports: Vec<ComposeFileReport> =
        project.docs.iter().map(|d| d.report(images)).collect();
    let mut deployments = Vec::new();
    for g in groups {
        let model = project.deployment(g);
        let names: Vec<String> = g.iter().map(|i| project.docs[*i].path.clone()).collect();
        let declarations = project.declarations(g, &model.project);
        let mut report = deploy::check(names, &model, &declarations, device);
        for f in compose::service_findings(&model, images) {
            let home = reports
                .iter_mut()
                .find(|r| Some(&r.path) == f.file.as_ref())
                .map(|r| &mut r.findings);
            let list = home.unwrap_or(&mut report.findings);
            if !list.contains(&f) {
                list.push(f);
            }
        }
        deployments.push(report);
    }
    (reports, deployments)
}

/// The Swarm stack file (read and checked as a compose file of its own, its images and health
/// checks like every compose file's; its report joins `compose_files`) and the Kubernetes
/// manifests, each against the device profile per node.
fn check_clusters(
    ws: &Workspace,
    read: &compose::ReadOptions,
    images: &compose::Images,
    device: &DeviceProfile,
    compose_files: &mut Vec<ComposeFileReport>,
) -> Vec<report::ClusterReport> {
    let stack = ws
        .root
        .join(topology::COMPOSE_DIR)
        .join(topology::STACK_FILE);
    let shown = display(&ws.root, &stack);
    let swarm = match compose::Project::read(std::slice::from_ref(&stack), &ws.root, read) {
        Ok(project) => {
            let doc = &project.docs[0];
            let mut file_report = doc.report(images);
            for f in compose::service_findings(&doc.model, images) {
                if !file_report.findings.contains(&f) {
                    file_report.findings.push(f);
                }
            }
            compose_files.push(file_report);
            cluster::swarm(&shown, &doc.model, device)
        }
        Err(e) => report::ClusterReport {
            kind: cluster::SWARM.into(),
            files: vec![shown.clone()],
            findings: vec![Finding::error(Check::ClusterFile, e).file(shown)],
            ..Default::default()
        },
    };
    let k8s = ws.root.join(topology::KUBERNETES_DIR);
    let kubernetes = cluster::kubernetes(&k8s, topology::KUBERNETES_DIR, images, device);
    vec![swarm, kubernetes]
}

/// Writes `VALIDATION_REPORT.md` and `validation-report.json` into `dir`.
pub fn write(report: &Report, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let json_path = dir.join("validation-report.json");
    let md_path = dir.join("VALIDATION_REPORT.md");
    let mut json = serde_json::to_string_pretty(report)?;
    json.push('\n');
    std::fs::write(&json_path, json).with_context(|| json_path.display().to_string())?;
    std::fs::write(&md_path, markdown::render(report))
        .with_context(|| md_path.display().to_string())?;
    // The schema travels with the report it describes.
    let schema_path = dir.join("validation-report.schema.json");
    std::fs::write(&schema_path, schema::schema_text())
        .with_context(|| schema_path.display().to_string())?;
    Ok((md_path, json_path))
}

/// A path relative to the workspace root when it lies inside it.
pub fn display(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// RFC 3339 UTC from `SOURCE_DATE_EPOCH`, or now.
fn timestamp() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    lucid_catalog::time::rfc3339(secs)
}
