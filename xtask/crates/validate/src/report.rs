//! The report: every fact the validator measured, and every finding, as plain data.
//!
//! This struct is serialised to `images/validation-report.json` and the Markdown report is
//! rendered from it (see [`crate::markdown`]); the schema is `images/validation-report.schema.json`.
//! The summary is computed from the lists, never written by hand.

use crate::compose::yaml::{How, Origin};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the JSON layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the validation (exit 1).
    Error,
    /// Reported, does not fail.
    Warning,
}

/// What was checked. The first ten are the defect classes of the catalog, in its order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// 1. A reference that does not parse (two tags…), or that resolves to no built image.
    ImageReference,
    /// 2. A count written in a file that disagrees with what the file holds.
    Counts,
    /// 3. One host port published twice in one deployment.
    HostPorts,
    /// 4. A health check that is missing, needs a shell/curl, or probes a port nobody listens on.
    Healthcheck,
    /// 5. `depends_on` naming a service the deployment does not define.
    DependsOn,
    /// 6. Subnets and fixed IPs.
    Network,
    /// 7. Memory/CPU sums against the device profile.
    Resources,
    /// 8. An image forced to one platform.
    Platform,
    /// 9. Credentials in literals, secrets as plain environment values.
    Credentials,
    /// 10. Keys Compose does not know.
    UnknownKey,
    /// The compose file itself (missing, not YAML, wrong shape).
    ComposeFile,
    /// The image source (OCI layout, registry): missing, unreadable, digest mismatch.
    ImageSource,
    /// Image runs as root.
    User,
    /// Entrypoint missing, not an ELF of the platform's machine, or dynamically linked.
    Entrypoint,
    /// A shell, package manager or setuid file in a layer.
    Distroless,
    /// A file that looks like a secret in a layer.
    SecretFile,
    /// Required OCI labels.
    Labels,
    /// The builder's manifest (images.json) disagrees with what was measured.
    BuildManifest,
    /// The live run (`--live`).
    Live,
    /// Signature, SBOM, provenance or embedded crate list (`cargo xtask verify`'s checks).
    SupplyChain,
    /// A cluster deployment file (Swarm stack, Kubernetes manifest): unreadable, or a workload
    /// field it needs missing or malformed.
    ClusterFile,
}

impl Check {
    /// The kebab-case name used in the JSON report.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// One problem, located as precisely as the validator could: file, service, key path, line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    /// File (compose file, or image reference for image findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Key path inside the file (`services.tor-proxy.healthcheck.test`) or path inside the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// 1-based line of the key, when it could be located (for an inherited value: where the
    /// anchor or base service writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For an inherited value: the `<<` merge keys and `extends` that brought it in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<Inherited>,
    pub message: String,
}

/// One step by which a value was inherited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Inherited {
    pub file: String,
    pub line: usize,
    /// `<<` or `extends`.
    pub through: String,
}

impl Finding {
    /// An error finding; `message` may be an error of any library (its whole chain is kept).
    pub fn error(check: Check, message: impl std::fmt::Display) -> Finding {
        Finding {
            severity: Severity::Error,
            check,
            file: None,
            service: None,
            key: None,
            line: None,
            via: Vec::new(),
            message: format!("{message:#}"),
        }
    }

    pub fn warning(check: Check, message: impl std::fmt::Display) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(check, message)
        }
    }

    pub fn file(mut self, file: impl Into<String>) -> Finding {
        self.file = Some(file.into());
        self
    }

    pub fn service(mut self, service: impl Into<String>) -> Finding {
        self.service = Some(service.into());
        self
    }

    pub fn key(mut self, key: impl Into<String>) -> Finding {
        self.key = Some(key.into());
        self
    }

    pub fn line(mut self, line: Option<usize>) -> Finding {
        self.line = line;
        self
    }

    /// Located where a compose value was written, and how it was inherited.
    pub fn at(mut self, origin: &Origin) -> Finding {
        self.file = Some(origin.at.file.to_string());
        self.line = (origin.at.line > 0).then_some(origin.at.line);
        self.via = origin
            .via
            .iter()
            .map(|v| Inherited {
                file: v.at.file.to_string(),
                line: v.at.line,
                through: match v.how {
                    How::Merge => "<<".into(),
                    How::Extends => "extends".into(),
                },
            })
            .collect();
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let check = self.check.name();
        write!(f, "{sev}[{check}]")?;
        if let Some(file) = &self.file {
            write!(f, " {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, " {key}")?;
        }
        if let Some(s) = &self.service {
            write!(f, " (service {s})")?;
        }
        for v in &self.via {
            write!(f, " (through {} at {}:{})", v.through, v.file, v.line)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    /// UTC, RFC 3339 (`SOURCE_DATE_EPOCH` when set, so a release's report is reproducible).
    pub generated: String,
    /// `workspace.package.version`.
    pub version: String,
    pub device: DeviceProfile,
    /// Where the images were read: `oci:<path>` or `registry:<host>`.
    pub image_source: String,
    /// One entry per service of the catalog, in catalog order (layer, name).
    pub images: Vec<ImageReport>,
    /// Findings about the image source as a whole (missing layout, unreadable index…).
    pub image_source_findings: Vec<Finding>,
    pub compose_files: Vec<ComposeFileReport>,
    pub deployments: Vec<DeploymentReport>,
    /// The Swarm stack file and the Kubernetes manifests against the device profile per node.
    #[serde(default)]
    pub clusters: Vec<ClusterReport>,
    /// Present only with `--live`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
    /// What `cargo xtask verify` found (filled by the pipeline, which runs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supply_chain: Option<SupplyChainReport>,
    pub summary: Summary,
}

/// The supply-chain evidence of the images: signatures, SBOMs, provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SupplyChainReport {
    /// Fingerprint (`sha256:` of the DER public key) of the key signatures were checked
    /// under; `None`: not checked.
    pub key: Option<String>,
    pub images: Vec<SupplyChainImage>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SupplyChainImage {
    pub service: String,
    /// Fingerprint of the key whose signature verified.
    pub signed_by: Option<String>,
    pub platforms: Vec<SupplyChainPlatform>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SupplyChainPlatform {
    pub platform: String,
    pub sbom_debian_packages: Option<usize>,
    pub sbom_crates: Option<usize>,
    pub provenance_commit: Option<String>,
    /// Crates cargo-auditable embedded in the binary as runtime dependencies.
    pub embedded_crates: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DeviceProfile {
    pub name: String,
    pub memory_bytes: u64,
    pub cpus: f64,
    /// What the containers together may use (device minus what is left to the OS).
    pub budget_memory_bytes: u64,
    pub budget_cpus: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ImageReport {
    pub service: String,
    pub layer: u8,
    /// The versioned reference that was inspected (`None` when no image was found).
    pub reference: Option<String>,
    /// Digest of the multi-platform image index.
    pub index_digest: Option<String>,
    pub platforms: Vec<PlatformReport>,
    /// Findings about the image as a whole (not found, platform missing…).
    pub findings: Vec<Finding>,
}

impl ImageReport {
    /// The report of `service` before anything about its image is known.
    pub fn empty(service: &lucid_catalog::Service) -> ImageReport {
        ImageReport {
            service: service.name.clone(),
            layer: service.layer,
            reference: None,
            index_digest: None,
            platforms: Vec::new(),
            findings: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PlatformReport {
    /// `linux/arm64`.
    pub platform: String,
    /// Digest of the platform's image manifest.
    pub digest: String,
    /// Config plus compressed layers, as stored, bytes.
    pub compressed_size: u64,
    /// Sum of the decompressed layer tars, bytes.
    pub uncompressed_size: u64,
    pub base_name: Option<String>,
    pub base_digest: Option<String>,
    pub layer_count: usize,
    /// `User` of the image config, as written.
    pub user: String,
    /// The uid it resolves to (through the image's /etc/passwd for a name).
    pub uid: Option<u32>,
    pub entrypoint: Vec<String>,
    /// ELF machine of the entrypoint file read from the layers: `aarch64`, `x86-64`, or `e_machine N`.
    pub entrypoint_machine: Option<String>,
    /// True when the entrypoint has no PT_INTERP (statically linked).
    pub entrypoint_static: Option<bool>,
    /// Every regular file, symlink or hard link across all layers.
    pub file_count: usize,
    pub shells: Vec<String>,
    pub package_managers: Vec<String>,
    pub setuid_files: Vec<String>,
    pub secret_files: Vec<String>,
    pub labels_missing: Vec<String>,
    /// Ports the image config announces through `*_PORT` variables (used by the compose checks).
    pub env_ports: Vec<u16>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ComposeFileReport {
    /// As given (relative to the workspace root when inside it).
    pub path: String,
    /// Counted from the `services` mapping.
    pub service_count: usize,
    pub services: Vec<ComposeServiceReport>,
    /// Top-level networks: name and declared subnets.
    pub networks: Vec<NetworkReport>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ComposeServiceReport {
    pub name: String,
    pub image: Option<String>,
    /// `built <reference>`, `external, pinned by digest`, or why it does not resolve.
    pub image_resolution: String,
    /// The health check command (`test`), as written.
    pub healthcheck: Option<Vec<String>>,
    /// `[ip:]port/protocol` published on the host.
    pub host_ports: Vec<String>,
    /// `network=ip` fixed addresses.
    pub fixed_ips: Vec<String>,
    pub memory_limit: Option<u64>,
    pub memory_reservation: Option<u64>,
    pub cpus: Option<f64>,
    /// A CPU reservation, or `cpu_shares` / 1024 when only the weight is written.
    pub cpu_reservation: Option<f64>,
    /// The CPU weight under contention (1024 = one CPU's share), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NetworkReport {
    /// The key under `networks`.
    pub name: String,
    /// The Docker network it is: `name:`, else `<project>_<key>`.
    pub docker_name: String,
    pub subnets: Vec<String>,
    pub external: bool,
}

/// A cluster deployment (the Swarm stack file, the Kubernetes manifests): every replica's
/// reservation against one node of the device profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ClusterReport {
    /// `Docker Swarm stack` or `Kubernetes`.
    pub kind: String,
    pub files: Vec<String>,
    /// Services (Swarm) or Deployments and StatefulSets (Kubernetes).
    pub workloads: usize,
    /// Replicas of all workloads together.
    pub replicas: u32,
    pub memory_reservation_bytes: u64,
    pub cpu_reservation: f64,
    pub memory_limit_bytes: u64,
    /// Nodes of the device profile the reservations need at least (a replica runs on one node).
    pub nodes_needed: u32,
    pub findings: Vec<Finding>,
}

/// Files deployed together, and what was checked across them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DeploymentReport {
    pub files: Vec<String>,
    /// Distinct services across the files (a later file overriding a service counts once).
    pub service_count: usize,
    pub memory_limit_bytes: u64,
    pub memory_reservation_bytes: u64,
    pub cpu_limit: f64,
    pub cpu_reservation: f64,
    /// Host ports published, sorted.
    pub host_ports: Vec<String>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LiveReport {
    pub compose_files: Vec<String>,
    /// The platform whose images ran (`linux/arm64` runs under qemu on an x86-64 host).
    pub platform: String,
    /// True when the images ran under qemu user emulation (slower; its memory is counted too).
    pub emulated: bool,
    /// How MongoDB was replaced (it cannot be pulled here).
    pub mongodb: String,
    /// From `docker-compose up` to every container healthy, seconds.
    pub stack_healthy_secs: Option<f64>,
    /// Interval of the host's `/ready` polls, milliseconds.
    pub ready_poll_ms: u64,
    /// How long the stack ran healthy before memory was read, seconds.
    pub settle_secs: f64,
    /// Memory used by all containers together (cgroup, page cache not counted), bytes.
    pub memory_used_bytes: Option<u64>,
    /// `docker-compose stop` (SIGTERM, SIGKILL only after each service's stop_grace_period):
    /// seconds until every container had exited; a container killed by the SIGKILL is an error.
    pub stop_secs: Option<f64>,
    pub services: Vec<LiveService>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LiveService {
    pub service: String,
    pub container: String,
    /// From the container's start to the first `200` of `GET /ready`, polled from the host.
    pub time_to_ready_secs: Option<f64>,
    /// From the container's start to its first passing health probe (Docker's own timestamps;
    /// bounded below by the health check's interval).
    pub time_to_healthy_secs: Option<f64>,
    pub health: String,
    /// Memory the container used once the stack settled (cgroup usage less inactive page cache).
    pub memory_used_bytes: Option<u64>,
    /// Its memory limit (`mem_limit`), when it has one.
    pub memory_limit_bytes: Option<u64>,
    /// What `docker exec <container> /bin/sh` answered (it must fail).
    pub shell_exec: String,
    pub shell_refused: bool,
    /// Processes in the container, from the engine's `/containers/<id>/top`.
    pub processes: Option<usize>,
}

/// Counts derived from the lists above (see [`Summary::of`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Summary {
    pub images: usize,
    pub images_found: usize,
    pub platform_images: usize,
    pub platform_images_passed: usize,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub compose_files: usize,
    /// Per file, counted.
    pub compose_services: Vec<(String, usize)>,
    pub deployments: usize,
    pub live_services: Option<usize>,
    pub live_services_healthy: Option<usize>,
    pub errors: usize,
    pub warnings: usize,
    /// Findings per check, errors only.
    pub errors_by_check: Vec<(Check, usize)>,
    pub passed: bool,
}

impl Report {
    /// Every finding of the report, wherever it sits.
    pub fn findings(&self) -> Vec<&Finding> {
        let mut out: Vec<&Finding> = self.image_source_findings.iter().collect();
        for i in &self.images {
            out.extend(&i.findings);
            for p in &i.platforms {
                out.extend(&p.findings);
            }
        }
        for c in &self.compose_files {
            out.extend(&c.findings);
        }
        for d in &self.deployments {
            out.extend(&d.findings);
        }
        for c in &self.clusters {
            out.extend(&c.findings);
        }
        if let Some(l) = &self.live {
            out.extend(&l.findings);
        }
        if let Some(c) = &self.supply_chain {
            out.extend(&c.findings);
        }
        out
    }

    pub fn passed(&self) -> bool {
        self.summary.passed
    }

    /// Recomputes the summary from the lists.
    pub fn summarise(&mut self) {
        self.summary = Summary::of(self);
    }
}

impl Summary {
    pub fn of(r: &Report) -> Summary {
        let findings = r.findings();
        let errors: Vec<&&Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        let mut by_check: Vec<(Check, usize)> = Vec::new();
        for f in &errors {
            match by_check.iter_mut().find(|(c, _)| *c == f.check) {
                Some((_, n)) => *n += 1,
                None => by_check.push((f.check, 1)),
            }
        }
        by_check.sort();
        let platforms = r.images.iter().flat_map(|i| &i.platforms);
        Summary {
            images: r.images.len(),
            images_found: r.images.iter().filter(|i| i.reference.is_some()).count(),
            platform_images: platforms.clone().count(),
            platform_images_passed: platforms
                .clone()
                .filter(|p| p.findings.iter().all(|f| f.severity != Severity::Error))
                .count(),
            compressed_bytes: platforms.clone().map(|p| p.compressed_size).sum(),
            uncompressed_bytes: platforms.map(|p| p.uncompressed_size).sum(),
            compose_files: r.compose_files.len(),
            compose_services: r
                .compose_files
                .iter()
                .map(|c| (c.path.clone(), c.service_count))
                .collect(),
            deployments: r.deployments.len(),
            live_services: r.live.as_ref().map(|l| l.services.len()),
            live_services_healthy: r
                .live
                .as_ref()
                .map(|l| l.services.iter().filter(|s| s.health == "healthy").count()),
            errors: errors.len(),
            warnings: findings.len() - errors.len(),
            errors_by_check: by_check,
            passed: errors.is_empty(),
        }
    }
}
