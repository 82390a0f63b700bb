//! The shape of a compose file, as far as Lucid writes one.
//!
//! Field order here is the key order in the generated YAML; maps are `BTreeMap`s so that every
//! list of names comes out sorted. Only keys that docker-compose 1.29 applies directly are used:
//! 1.29 translates `deploy.resources` itself but ignores `reservations.cpus` with a warning on
//! every command, so limits are the v2 keys `mem_limit`, `mem_reservation`, `cpus` and
//! `cpu_shares` (the CPU reservation as a relative weight), which the Compose specification
//! accepts as well.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct ComposeDoc {
    pub services: BTreeMap<String, ServiceDef>,
    pub networks: BTreeMap<String, NetworkDef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretDef>,
}

/// What a compose service and a Swarm service both say first: the image and its command, and
/// the hardening every container gets (non-root user, read-only root, an init, no capabilities).
#[derive(Debug, Clone, Serialize)]
pub struct ContainerDef {
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    pub user: String,
    pub read_only: bool,
    pub init: bool,
    pub cap_drop: Vec<String>,
}

impl ContainerDef {
    pub fn of(c: &crate::container::Container) -> ContainerDef {
        ContainerDef {
            image: c.image.clone(),
            command: c.command.clone(),
            user: c.user.to_string(),
            read_only: true,
            init: true,
            cap_drop: vec!["ALL".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceDef {
    #[serde(flatten)]
    pub container: ContainerDef,
    pub security_opt: Vec<String>,
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    pub networks: BTreeMap<String, NetworkAttachment>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    pub healthcheck: HealthcheckDef,
    pub restart: String,
    pub stop_grace_period: String,
    pub mem_limit: String,
    pub mem_reservation: String,
    pub cpus: f64,
    pub cpu_shares: u64,
    pub logging: LoggingDef,
}

/// Long volume syntax (`type`, `source`, `target`).
#[derive(Debug, Clone, Serialize)]
pub struct VolumeMount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkAttachment {
    pub ipv4_address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DependsOn {
    pub condition: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthcheckDef {
    pub test: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggingDef {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkDef {
    pub driver: String,
    pub ipam: Ipam,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ipam {
    pub driver: String,
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretDef {
    pub file: String,
}
