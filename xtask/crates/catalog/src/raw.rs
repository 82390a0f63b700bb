//! The TOML shapes of the catalog, deserialised strictly (unknown fields are errors: a typo must
//! not be ignored), and their checks: every problem becomes a [`MetadataError`] naming the
//! manifest, the service and the field.

use crate::*;
use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// What a cluster deployment requests for it (a Kubernetes PersistentVolumeClaim).
    size: Option<String>,
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
    replicas: Option<u32>,
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
    volume_size: Option<String>,
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
    #[serde(default)]
    placeholder_secrets: BTreeMap<String, String>,
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
    fn push(&mut self, field: &str, message: impl std::fmt::Display) {
        let field = if field.is_empty() {
            self.prefix.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        };
        self.errors.push(MetadataError {
            manifest: self.manifest.into(),
            service: self.service.into(),
            field,
            message: format!("{message:#}"),
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

    /// The volumes, each with its size or `default_size`.
    fn volumes(&mut self, raw: Vec<RawVolume>, default_size: u64) -> Vec<Volume> {
        raw.into_iter()
            .enumerate()
            .map(|(i, v)| {
                let size = match &v.size {
                    Some(text) => self.bytes(&format!("volumes[{i}].size"), text),
                    None => default_size,
                };
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
                    size,
                }
            })
            .collect()
    }

    /// Instances in a cluster (default 1). A service that owns a volume is single-instance:
    /// its data lives on one disk, and two writers of one directory would corrupt it.
    fn replicas(&mut self, replicas: Option<u32>, volumes: &[Volume]) -> u32 {
        let Some(n) = replicas else { return 1 };
        if n == 0 {
            self.push("replicas", "0: a service runs at least one instance (remove the service from the catalog instead)");
        } else if n > 1 && !volumes.is_empty() {
            let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
            self.push(
                "replicas",
                format!("{n}: the service owns the volume(s) {names:?}, so it is single-instance (its data lives on one node's disk); only services without volumes may scale"),
            );
        }
        n.max(1)
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
    let volume_size = raw.defaults.volume_size.unwrap_or_else(|| "1G".into());
    let volume_size = ctx.bytes("defaults.volume_size", &volume_size);
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
        volumes: ctx.volumes(raw.mongodb.volumes, volume_size),
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
        volume_size,
        healthcheck,
        device,
        mongodb,
        base,
        placeholder_secrets: raw.placeholder_secrets,
    })
}

pub(super) fn service(
    name: &str,
    description: &str,
    manifest: &Path,
    value: &Value,
    settings: &Settings,
    errors: &mut Vec<MetadataError>,
) -> Option<Service> {
    let defaults = &settings.defaults;
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
            format!("crate {name:?} lives in services/{dir}: directory and crate name must match"),
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
    let volumes = ctx.volumes(raw.volumes, settings.volume_size);
    let replicas = ctx.replicas(raw.replicas, &volumes);
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
        replicas,
        resources,
    })
}
