//! The catalog: every deployment fact of Lucid, read once.
//!
//! Every deployment fact of Lucid (ports, volumes, dependencies, limits, image names…) is written
//! once, in `[package.metadata.lucid]` of a service crate or `[workspace.metadata.lucid]` of the
//! root manifest. This crate reads them with `cargo_metadata`, checks them, and hands the rest
//! of the pipeline a [`Workspace`]: the services, the settings, image references and the
//! deployment [`topology`]. A missing or malformed field is an error that
//! names the manifest, the service and the field.

use anyhow::{bail, Context, Result};
mod error;
pub mod manifest;
mod platform;
mod raw;
pub mod reference;
pub mod time;
pub mod topology;
pub mod units;
pub mod url;

pub use error::{MetadataError, MetadataErrors};
pub use manifest::{ImageEntry, ImageManifest, PlatformImage};
pub use platform::{parse_platforms, Platform};
pub use reference::ImageRef;
pub use units::{parse_bytes, parse_duration_secs};

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Memory and CPU of one container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    pub memory: u64,
    pub memory_reservation: u64,
    pub cpus: f64,
    pub cpu_reservation: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub host_port: u16,
    /// Host address to bind; `None` means all addresses.
    pub host_ip: Option<String>,
}

impl Publish {
    /// Published on every address of the host (no `host_ip`, or 0.0.0.0 / ::). Cluster
    /// deployments publish only these: Swarm and Kubernetes cannot bind one host address.
    pub fn on_every_address(&self) -> bool {
        match &self.host_ip {
            None => true,
            Some(ip) => ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified()),
        }
    }
}

/// A listener besides the HTTP port (tor-proxy's SOCKS port, tunnel-tools' forwarder).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraPort {
    pub name: String,
    pub port: u16,
    /// Variable through which the service learns the port.
    pub env: String,
    pub publish: Option<Publish>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Directory name under the data root (and compose volume name).
    pub name: String,
    /// Mount point inside the container.
    pub target: String,
    /// Variable through which the service learns the mount point.
    pub env: Option<String>,
    /// Bytes a cluster deployment requests for it (Kubernetes PersistentVolumeClaim).
    pub size: u64,
}

/// One Lucid service, as its crate declares it.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub description: String,
    pub manifest_path: PathBuf,
    /// 0 core support, 1 session pipeline, 2 service integration.
    pub layer: u8,
    /// HTTP port: API, /health, /ready.
    pub port: u16,
    pub publish: Option<Publish>,
    pub extra_ports: Vec<ExtraPort>,
    /// Started (and healthy) before this service.
    pub depends_on: Vec<String>,
    /// Services it calls, handed to it as `LUCID_URL_<NAME>`.
    pub upstreams: Vec<String>,
    /// Receives the address of every service deployed with it (`LUCID_CATALOG`).
    pub catalog: bool,
    pub volumes: Vec<Volume>,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub profiles: Vec<String>,
    /// Instances in a cluster deployment (Swarm, Kubernetes); always 1 for a service with a
    /// volume. Compose files run one container per service whatever this says.
    pub replicas: u32,
    pub resources: Resources,
}

impl Service {
    /// Services (or `mongodb`) this one opens connections to: its upstreams and what it
    /// depends on (both reach it as `LUCID_URL_<NAME>`), sorted, each once. Services with
    /// `catalog = true` also reach every service of their deployment (see [`Service::catalog`]).
    pub fn connects_to(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .upstreams
            .iter()
            .chain(&self.depends_on)
            .map(String::as_str)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// True when the service stays a single instance in every deployment.
    pub fn single_instance(&self) -> bool {
        !self.volumes.is_empty()
    }

    /// Path of the binary inside the image.
    pub fn binary_path(&self) -> String {
        format!("/usr/local/bin/{}", self.name)
    }
}

/// MongoDB, the one service not built here.
#[derive(Debug, Clone)]
pub struct MongoDb {
    pub image: ImageRef,
    pub port: u16,
    pub resources: Resources,
    pub volumes: Vec<Volume>,
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Healthcheck {
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub memory: u64,
    pub cpus: f64,
    pub reserved_memory: u64,
    pub reserved_cpus: f64,
}

impl Device {
    /// What the containers together may use.
    pub fn budget_memory(&self) -> u64 {
        self.memory.saturating_sub(self.reserved_memory)
    }

    pub fn budget_cpus(&self) -> f64 {
        self.cpus - self.reserved_cpus
    }
}

#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub subnet: String,
}

/// Where the base image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseSource {
    /// Assembled from the Debian packages pinned in this lock file (relative to the workspace root).
    Lock(PathBuf),
    /// Any image, pinned by digest.
    Reference(ImageRef),
}

/// `[workspace.metadata.lucid]`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub moving_tag: String,
    pub platforms: Vec<Platform>,
    pub source: String,
    pub data_root: String,
    pub network: Network,
    pub defaults: Resources,
    pub stop_grace_period: String,
    /// Size of a volume that does not give its own `size`.
    pub volume_size: u64,
    pub healthcheck: Healthcheck,
    pub device: Device,
    pub mongodb: MongoDb,
    pub base: BaseSource,
    /// What a test or live run writes for a secret whose format is not random hex
    /// (`placeholder_secrets`: an address, a login), by secret name.
    pub placeholder_secrets: BTreeMap<String, String>,
}

impl Settings {
    /// A throw-away value for the secret `name` in a test or live run: its placeholder, else 64
    /// random hex digits (valid for every key of the stack: the session master key wants hex,
    /// an HS256 JWT key at least 32 bytes).
    pub fn throwaway_secret(&self, name: &str) -> Result<String> {
        if let Some(value) = self.placeholder_secrets.get(name) {
            return Ok(value.clone());
        }
        let mut bytes = [0u8; 32];
        std::io::Read::read_exact(
            &mut std::fs::File::open("/dev/urandom").context("/dev/urandom")?,
            &mut bytes,
        )
        .context("/dev/urandom")?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The whole catalog: settings and services, sorted by layer then name.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Cargo's target directory (honours CARGO_TARGET_DIR and build.target-dir).
    pub target_dir: PathBuf,
    pub version: String,
    pub settings: Settings,
    pub services: Vec<Service>,
    /// The root `Cargo.toml` and every workspace member's: with `Cargo.lock`, what cargo
    /// resolves the crates of a binary from.
    pub manifests: Vec<PathBuf>,
}

/// The name of the MongoDB service in compose files and `depends_on`.
pub const MONGODB: &str = "mongodb";

impl Workspace {
    /// Runs `cargo metadata --no-deps` on the workspace at `root` and reads the catalog.
    pub fn load(root: &Path) -> Result<Workspace> {
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(root.join("Cargo.toml"))
            .no_deps()
            .exec()
            .with_context(|| format!("cargo metadata failed for {}", root.display()))?;
        // The typed errors stay inside: callers can downcast to [`MetadataErrors`].
        Ok(Workspace::from_metadata(&metadata)?)
    }

    /// Reads the catalog from already obtained cargo metadata.
    pub fn from_metadata(metadata: &cargo_metadata::Metadata) -> Result<Workspace, MetadataErrors> {
        let root = metadata.workspace_root.clone().into_std_path_buf();
        let root_manifest = root.join("Cargo.toml");
        let mut errors = Vec::new();
        let settings = raw::settings(&metadata.workspace_metadata, &root_manifest, &mut errors);

        let services_dir = root.join("services");
        let mut services = Vec::new();
        let mut versions = BTreeSet::new();
        for package in metadata.workspace_packages() {
            let manifest = package.manifest_path.clone().into_std_path_buf();
            if !manifest.starts_with(&services_dir) {
                continue;
            }
            let lucid = package.metadata.get("lucid");
            // Support crates (the shared runtime, test harnesses) opt out explicitly, so that a
            // service that forgot its metadata is an error rather than silently skipped.
            if lucid
                .and_then(|l| l.get("support"))
                .and_then(Value::as_bool)
                == Some(true)
            {
                continue;
            }
            match lucid {
                None => errors.push(MetadataError {
                    manifest: manifest.clone(),
                    service: package.name.to_string(),
                    field: "[package.metadata.lucid]".into(),
                    message: "missing: every crate under services/ is a service and declares its metadata (support crates say `support = true`)".into(),
                }),
                Some(value) => {
                    if let Some(defaults) = &settings {
                        let description = package.description.clone().unwrap_or_default();
                        if let Some(s) = raw::service(&package.name, &description, &manifest, value, defaults, &mut errors) {
                            versions.insert(package.version.to_string());
                            services.push(s);
                        }
                    }
                }
            }
        }
        let Some(settings) = settings else {
            return Err(MetadataErrors(errors));
        };
        services.sort_by(|a, b| (a.layer, &a.name).cmp(&(b.layer, &b.name)));
        check_references(&services, &settings, &mut errors);
        for name in settings.placeholder_secrets.keys() {
            let declared = services
                .iter()
                .flat_map(|s| &s.secrets)
                .chain(&settings.mongodb.secrets)
                .any(|s| s == name);
            if !declared {
                errors.push(MetadataError {
                    manifest: root_manifest.clone(),
                    service: "-".into(),
                    field: format!("workspace.metadata.lucid.placeholder_secrets.{name}"),
                    message: format!("{name:?} is not a secret of any service"),
                });
            }
        }
        if services.is_empty() && errors.is_empty() {
            errors.push(MetadataError {
                manifest: root_manifest.clone(),
                service: "-".into(),
                field: "workspace.members".into(),
                message: "no service crate found under services/".into(),
            });
        }
        if versions.len() > 1 {
            errors.push(MetadataError {
                manifest: root_manifest,
                service: "-".into(),
                field: "version".into(),
                message: format!(
                    "services disagree on the version ({versions:?}); use version.workspace = true"
                ),
            });
        }
        if !errors.is_empty() {
            return Err(MetadataErrors(errors));
        }
        let version = versions.into_iter().next().unwrap_or_default();
        let target_dir = metadata.target_directory.clone().into_std_path_buf();
        let mut manifests: Vec<PathBuf> = metadata
            .workspace_packages()
            .iter()
            .map(|p| p.manifest_path.clone().into_std_path_buf())
            .collect();
        manifests.push(root.join("Cargo.toml"));
        manifests.sort();
        manifests.dedup();
        Ok(Workspace {
            root,
            target_dir,
            version,
            settings,
            services,
            manifests,
        })
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }

    /// Selects services by name (empty selection: all); an unknown name is an error listing the valid ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Service>> {
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        let mut out: Vec<&Service> = Vec::new();
        for n in names {
            match self.service(n) {
                Some(s) if !out.iter().any(|o| o.name == s.name) => out.push(s),
                Some(_) => {}
                None => {
                    bail!(
                        "unknown service {n:?}; valid services are:\n  {}",
                        self.service_names().join("\n  ")
                    )
                }
            }
        }
        Ok(out)
    }

    /// The immutable and the moving reference of a service's image in `registry`.
    pub fn image_refs(
        &self,
        service: &str,
        version: &str,
        registry: &str,
    ) -> Result<(ImageRef, ImageRef)> {
        let fill = |template: &str| {
            template
                .replace("{service}", service)
                .replace("{version}", version)
        };
        let versioned = ImageRef::tagged(
            registry,
            &self.settings.repository,
            &fill(&self.settings.tag),
        )?;
        let moving = ImageRef::tagged(
            registry,
            &self.settings.repository,
            &fill(&self.settings.moving_tag),
        )?;
        Ok((versioned, moving))
    }
}

/// Names in depends_on/upstreams must exist; host ports and volume names must be unique.
fn check_references(services: &[Service], settings: &Settings, errors: &mut Vec<MetadataError>) {
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut host_ports: BTreeMap<u16, &str> = BTreeMap::new();
    let mut volumes: BTreeMap<&str, &str> = settings
        .mongodb
        .volumes
        .iter()
        .map(|v| (v.name.as_str(), MONGODB))
        .collect();
    for s in services {
        let err = |field: &str, message: String| MetadataError {
            manifest: s.manifest_path.clone(),
            service: s.name.clone(),
            field: field.into(),
            message,
        };
        for (field, list) in [("depends_on", &s.depends_on), ("upstreams", &s.upstreams)] {
            for target in list {
                if target == &s.name {
                    errors.push(err(field, format!("{target:?} is the service itself")));
                } else if target != MONGODB && !names.contains(target.as_str()) {
                    errors.push(err(
                        field,
                        format!("{target:?} is not a service of the catalog"),
                    ));
                }
            }
        }
        for dep in &s.depends_on {
            if let Some(d) = services.iter().find(|o| &o.name == dep) {
                if d.layer != 0 && d.layer != s.layer {
                    errors.push(err("depends_on", format!("{dep:?} is in layer {}: a service may depend only on layer 0 and its own layer, so that each layer file deploys with lucid-dev.yaml alone", d.layer)));
                }
            }
        }
        let publishes = s
            .publish
            .iter()
            .chain(s.extra_ports.iter().filter_map(|p| p.publish.as_ref()));
        for p in publishes {
            if let Some(other) = host_ports.insert(p.host_port, &s.name) {
                errors.push(err(
                    "publish.host_port",
                    format!("host port {} is already published by {other}", p.host_port),
                ));
            }
        }
        for v in &s.volumes {
            if let Some(other) = volumes.insert(&v.name, &s.name) {
                errors.push(err(
                    "volumes.name",
                    format!("volume {:?} is already used by {other}", v.name),
                ));
            }
        }
    }
}
