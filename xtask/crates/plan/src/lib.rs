//! The catalog and the release plan.
//!
//! Every deployment fact of Lucid (ports, volumes, dependencies, limits, image names…) is written
//! once, in `[package.metadata.lucid]` of a service crate or `[workspace.metadata.lucid]` of the
//! root manifest. This crate reads them with `cargo_metadata`, checks them, and hands the rest
//! of the pipeline a [`Workspace`] and a [`Plan`]. A missing or malformed field is an error that
//! names the manifest, the service and the field.

pub mod manifest;
pub mod reference;
pub mod time;
pub mod units;
pub mod url;

pub use manifest::{ImageEntry, ImageManifest, PlatformImage};
pub use reference::ImageRef;
pub use units::{parse_bytes, parse_duration_secs};

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A target platform of the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    LinuxArm64,
    LinuxAmd64,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::LinuxArm64, Platform::LinuxAmd64];

    pub fn parse(s: &str) -> Result<Platform, String> {
        match s.trim() {
            "linux/arm64" | "linux/arm64/v8" => Ok(Platform::LinuxArm64),
            "linux/amd64" => Ok(Platform::LinuxAmd64),
            other => Err(format!(
                "unknown platform {other:?} (known: linux/arm64, linux/amd64)"
            )),
        }
    }

    /// `linux/arm64`: the OCI/Docker name.
    pub fn oci(self) -> &'static str {
        match self {
            Platform::LinuxArm64 => "linux/arm64",
            Platform::LinuxAmd64 => "linux/amd64",
        }
    }

    /// `arm64` | `amd64`: OCI architecture, and the directory name under `target/lucid/bin/`.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::LinuxArm64 => "arm64",
            Platform::LinuxAmd64 => "amd64",
        }
    }

    /// The Rust target: static musl binaries.
    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::LinuxArm64 => "aarch64-unknown-linux-musl",
            Platform::LinuxAmd64 => "x86_64-unknown-linux-musl",
        }
    }

    /// `e_machine` of the ELF header of a binary for this platform.
    pub fn elf_machine(self) -> u16 {
        match self {
            Platform::LinuxArm64 => 183, // EM_AARCH64
            Platform::LinuxAmd64 => 62,  // EM_X86_64
        }
    }

    /// The platform of the machine running the pipeline, if it is one of ours.
    pub fn host() -> Option<Platform> {
        match std::env::consts::ARCH {
            "aarch64" => Some(Platform::LinuxArm64),
            "x86_64" => Some(Platform::LinuxAmd64),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci())
    }
}

/// Parses `linux/arm64,linux/amd64`.
pub fn parse_platforms(list: &str) -> Result<Vec<Platform>, String> {
    let mut out = Vec::new();
    for p in list.split(',').filter(|s| !s.trim().is_empty()) {
        let p = Platform::parse(p)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err("no platform given".into());
    }
    Ok(out)
}

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
    pub resources: Resources,
}

impl Service {
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
    pub healthcheck: Healthcheck,
    pub device: Device,
    pub mongodb: MongoDb,
    pub base: BaseSource,
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
}

/// The name of the MongoDB service in compose files and `depends_on`.
pub const MONGODB: &str = "mongodb";

/// A catalog error: which manifest, which service, which field, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataError {
    pub manifest: PathBuf,
    pub service: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.manifest.display(),
            self.service,
            self.field,
            self.message
        )
    }
}

/// All errors found, so that one run reports every problem.
#[derive(Debug, Clone)]
pub struct MetadataErrors(pub Vec<MetadataError>);

impl fmt::Display for MetadataErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid catalog metadata ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MetadataErrors {}

impl Workspace {
    /// Runs `cargo metadata --no-deps` on the workspace at `root` and reads the catalog.
    pub fn load(root: &Path) -> Result<Workspace, String> {
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(root.join("Cargo.toml"))
            .no_deps()
            .exec()
            .map_err(|e| format!("cargo metadata failed for {}: {e}", root.display()))?;
        Workspace::from_metadata(&metadata).map_err(|e| e.to_string())
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
                        if let Some(s) = raw::service(&package.name, &description, &manifest, value, &defaults.defaults, &mut errors) {
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
        Ok(Workspace {
            root,
            target_dir,
            version,
            settings,
            services,
        })
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }

    /// Selects services by name (empty selection: all); an unknown name is an error listing the valid ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Service>, String> {
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        let mut out: Vec<&Service> = Vec::new();
        for n in names {
            match self.service(n) {
                Some(s) if !out.iter().any(|o| o.name == s.name) => out.push(s),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "unknown service {n:?}; valid services are:\n  {}",
                        self.service_names().join("\n  ")
                    ))
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
    ) -> Result<(ImageRef, ImageRef), String> {
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

mod raw {
    //! The TOML shapes, deserialised strictly (unknown fields are errors: a typo must not be ignored).

    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawPublish {
        host_port: u16,
        host_ip: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawExtraPort {
        name: String,
        port: u16,
        env: String,
        publish: Option<RawPublish>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawVolume {
        name: String,
        target: String,
        env: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawService {
        layer: u8,
        port: u16,
        publish: Option<RawPublish>,
        #[serde(default)]
        extra_ports: Vec<RawExtraPort>,
        #[serde(default)]
        depends_on: Vec<String>,
        #[serde(default)]
        upstreams: Vec<String>,
        #[serde(default)]
        catalog: bool,
        #[serde(default)]
        volumes: Vec<RawVolume>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        secrets: Vec<String>,
        #[serde(default)]
        profiles: Vec<String>,
        memory: Option<String>,
        memory_reservation: Option<String>,
        cpus: Option<f64>,
        cpu_reservation: Option<f64>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawResources {
        memory: String,
        memory_reservation: String,
        cpus: f64,
        cpu_reservation: f64,
        stop_grace_period: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawHealthcheck {
        interval: String,
        timeout: String,
        retries: u32,
        start_period: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawDevice {
        name: String,
        memory: String,
        cpus: f64,
        reserved_memory: String,
        reserved_cpus: f64,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawNetwork {
        name: String,
        subnet: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawMongo {
        image: String,
        port: u16,
        memory: String,
        memory_reservation: String,
        cpus: f64,
        cpu_reservation: f64,
        #[serde(default)]
        volumes: Vec<RawVolume>,
        #[serde(default)]
        secrets: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawBase {
        lock: Option<String>,
        reference: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawSettings {
        registry: String,
        repository: String,
        tag: String,
        moving_tag: String,
        platforms: Vec<String>,
        source: String,
        data_root: String,
        network: RawNetwork,
        defaults: RawResources,
        healthcheck: RawHealthcheck,
        device: RawDevice,
        mongodb: RawMongo,
        base: RawBase,
    }

    /// Deserialises `value` into `T`, reporting the path of the offending field.
    fn decode<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            (
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })
    }

    struct Ctx<'a> {
        manifest: &'a Path,
        service: &'a str,
        prefix: &'a str,
        errors: &'a mut Vec<MetadataError>,
    }

    impl Ctx<'_> {
        fn push(&mut self, field: &str, message: impl Into<String>) {
            let field = if field.is_empty() {
                self.prefix.to_string()
            } else {
                format!("{}.{field}", self.prefix)
            };
            self.errors.push(MetadataError {
                manifest: self.manifest.into(),
                service: self.service.into(),
                field,
                message: message.into(),
            });
        }

        fn bytes(&mut self, field: &str, text: &str) -> u64 {
            parse_bytes(text).unwrap_or_else(|e| {
                self.push(field, e);
                0
            })
        }

        fn duration(&mut self, field: &str, text: &str) -> String {
            if let Err(e) = parse_duration_secs(text) {
                self.push(field, e);
            }
            text.to_string()
        }

        fn cpus(&mut self, field: &str, v: f64) -> f64 {
            if !(v.is_finite() && v > 0.0 && v <= 64.0) {
                self.push(field, format!("{v}: must be a number of CPUs in (0, 64]"));
            }
            v
        }

        fn volumes(&mut self, raw: Vec<RawVolume>) -> Vec<Volume> {
            raw.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    if !v.target.starts_with('/') {
                        self.push(
                            &format!("volumes[{i}].target"),
                            format!("{:?} must be an absolute path", v.target),
                        );
                    }
                    if v.name.is_empty()
                        || !v
                            .name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        self.push(
                            &format!("volumes[{i}].name"),
                            format!("{:?} must be lowercase letters, digits and '-'", v.name),
                        );
                    }
                    Volume {
                        name: v.name,
                        target: v.target,
                        env: v.env,
                    }
                })
                .collect()
        }

        fn publish(&mut self, field: &str, p: Option<RawPublish>) -> Option<Publish> {
            let p = p?;
            if p.host_port == 0 {
                self.push(field, "host_port 0 is not a port");
            }
            if let Some(ip) = &p.host_ip {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    self.push(
                        &format!("{field}.host_ip"),
                        format!("{ip:?} is not an IP address"),
                    );
                }
            }
            Some(Publish {
                host_port: p.host_port,
                host_ip: p.host_ip,
            })
        }
    }

    pub(super) fn settings(
        value: &Value,
        manifest: &Path,
        errors: &mut Vec<MetadataError>,
    ) -> Option<Settings> {
        let mut ctx = Ctx {
            manifest,
            service: "-",
            prefix: "workspace.metadata.lucid",
            errors,
        };
        let Some(lucid) = value.get("lucid") else {
            ctx.push("", "missing [workspace.metadata.lucid]");
            return None;
        };
        let raw: RawSettings = match decode(lucid) {
            Ok(r) => r,
            Err((field, message)) => {
                ctx.push(&field, message);
                return None;
            }
        };
        let mut platforms = Vec::new();
        for (i, p) in raw.platforms.iter().enumerate() {
            match Platform::parse(p) {
                Ok(p) => platforms.push(p),
                Err(e) => ctx.push(&format!("platforms[{i}]"), e),
            }
        }
        for (field, template) in [("tag", &raw.tag), ("moving_tag", &raw.moving_tag)] {
            let sample = template
                .replace("{service}", "api-server")
                .replace("{version}", "0.1.0");
            if !template.contains("{service}") {
                ctx.push(field, format!("{template:?} must contain {{service}}"));
            } else if let Err(e) = ImageRef::tagged(&raw.registry, &raw.repository, &sample) {
                ctx.push(field, e);
            }
        }
        let mongo_image = ImageRef::parse(&raw.mongodb.image).unwrap_or_else(|e| {
            ctx.push("mongodb.image", e);
            ImageRef::parse("mongo:7").expect("literal")
        });
        if mongo_image.digest.is_none() {
            ctx.push("mongodb.image", "must be pinned by digest (@sha256:…)");
        }
        let base = match (raw.base.lock, raw.base.reference) {
            (Some(lock), None) => BaseSource::Lock(PathBuf::from(lock)),
            (None, Some(r)) => match ImageRef::parse(&r) {
                Ok(r) if r.digest.is_some() => BaseSource::Reference(r),
                Ok(_) => {
                    ctx.push("base.reference", "must be pinned by digest (@sha256:…)");
                    BaseSource::Lock(PathBuf::new())
                }
                Err(e) => {
                    ctx.push("base.reference", e);
                    BaseSource::Lock(PathBuf::new())
                }
            },
            _ => {
                ctx.push("base", "set exactly one of `lock` and `reference`");
                BaseSource::Lock(PathBuf::new())
            }
        };
        let defaults = Resources {
            memory: ctx.bytes("defaults.memory", &raw.defaults.memory),
            memory_reservation: ctx.bytes(
                "defaults.memory_reservation",
                &raw.defaults.memory_reservation,
            ),
            cpus: ctx.cpus("defaults.cpus", raw.defaults.cpus),
            cpu_reservation: ctx.cpus("defaults.cpu_reservation", raw.defaults.cpu_reservation),
        };
        let grace = raw
            .defaults
            .stop_grace_period
            .unwrap_or_else(|| "10s".into());
        let stop_grace_period = ctx.duration("defaults.stop_grace_period", &grace);
        let healthcheck = Healthcheck {
            interval: ctx.duration("healthcheck.interval", &raw.healthcheck.interval),
            timeout: ctx.duration("healthcheck.timeout", &raw.healthcheck.timeout),
            retries: raw.healthcheck.retries,
            start_period: ctx.duration("healthcheck.start_period", &raw.healthcheck.start_period),
        };
        let device = Device {
            name: raw.device.name,
            memory: ctx.bytes("device.memory", &raw.device.memory),
            cpus: ctx.cpus("device.cpus", raw.device.cpus),
            reserved_memory: ctx.bytes("device.reserved_memory", &raw.device.reserved_memory),
            reserved_cpus: raw.device.reserved_cpus,
        };
        if units::parse_cidr(&raw.network.subnet).is_err() {
            ctx.push(
                "network.subnet",
                format!(
                    "{:?} is not an IPv4 CIDR like 172.28.0.0/24",
                    raw.network.subnet
                ),
            );
        }
        let mongodb = MongoDb {
            image: mongo_image,
            port: raw.mongodb.port,
            resources: Resources {
                memory: ctx.bytes("mongodb.memory", &raw.mongodb.memory),
                memory_reservation: ctx.bytes(
                    "mongodb.memory_reservation",
                    &raw.mongodb.memory_reservation,
                ),
                cpus: ctx.cpus("mongodb.cpus", raw.mongodb.cpus),
                cpu_reservation: ctx.cpus("mongodb.cpu_reservation", raw.mongodb.cpu_reservation),
            },
            volumes: ctx.volumes(raw.mongodb.volumes),
            secrets: raw.mongodb.secrets,
        };
        Some(Settings {
            registry: raw.registry,
            repository: raw.repository,
            tag: raw.tag,
            moving_tag: raw.moving_tag,
            platforms,
            source: raw.source,
            data_root: raw.data_root,
            network: Network {
                name: raw.network.name,
                subnet: raw.network.subnet,
            },
            defaults,
            stop_grace_period,
            healthcheck,
            device,
            mongodb,
            base,
        })
    }

    pub(super) fn service(
        name: &str,
        description: &str,
        manifest: &Path,
        value: &Value,
        defaults: &Resources,
        errors: &mut Vec<MetadataError>,
    ) -> Option<Service> {
        let mut ctx = Ctx {
            manifest,
            service: name,
            prefix: "package.metadata.lucid",
            errors,
        };
        let raw: RawService = match decode(value) {
            Ok(r) => r,
            Err((field, message)) => {
                ctx.push(&field, message);
                return None;
            }
        };
        let dir = manifest
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if dir != name {
            ctx.push(
                "",
                format!(
                    "crate {name:?} lives in services/{dir}: directory and crate name must match"
                ),
            );
        }
        if raw.layer > 2 {
            ctx.push("layer", format!("{}: must be 0, 1 or 2", raw.layer));
        }
        if raw.port == 0 {
            ctx.push("port", "0 is not a port");
        }
        if name == MONGODB {
            ctx.push("", "the name mongodb is reserved for the MongoDB service");
        }
        let publish = ctx.publish("publish", raw.publish);
        let extra_ports = raw
            .extra_ports
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                if p.port == raw.port {
                    ctx.push(
                        &format!("extra_ports[{i}].port"),
                        format!("{} is already the HTTP port", p.port),
                    );
                }
                let publish = ctx.publish(&format!("extra_ports[{i}].publish"), p.publish);
                ExtraPort {
                    name: p.name,
                    port: p.port,
                    env: p.env,
                    publish,
                }
            })
            .collect();
        let volumes = ctx.volumes(raw.volumes);
        let resources = Resources {
            memory: raw
                .memory
                .map(|m| ctx.bytes("memory", &m))
                .unwrap_or(defaults.memory),
            memory_reservation: raw
                .memory_reservation
                .map(|m| ctx.bytes("memory_reservation", &m))
                .unwrap_or(defaults.memory_reservation),
            cpus: raw
                .cpus
                .map(|c| ctx.cpus("cpus", c))
                .unwrap_or(defaults.cpus),
            cpu_reservation: raw
                .cpu_reservation
                .map(|c| ctx.cpus("cpu_reservation", c))
                .unwrap_or(defaults.cpu_reservation),
        };
        // A size that did not parse is 0 and already reported: no follow-up error about it.
        if resources.memory > 0 && resources.memory_reservation > resources.memory {
            ctx.push("memory_reservation", "larger than the memory limit");
        }
        for key in raw.env.keys() {
            if key.starts_with("LUCID_") {
                ctx.push(
                    &format!("env.{key}"),
                    "LUCID_* variables are set by the pipeline from the other fields",
                );
            }
        }
        Some(Service {
            name: name.into(),
            description: description.into(),
            manifest_path: manifest.into(),
            layer: raw.layer,
            port: raw.port,
            publish,
            extra_ports,
            depends_on: raw.depends_on,
            upstreams: raw.upstreams,
            catalog: raw.catalog,
            volumes,
            env: raw.env,
            secrets: raw.secrets,
            profiles: raw.profiles,
            resources,
        })
    }
}
