//! One container as every deployment target runs it: the facts the compose, Swarm and
//! Kubernetes generators share, derived once from the catalog.
//!
//! What a container *is* — image, user, environment contract, secrets, listeners, data, health
//! check, limits, instances — is decided here. How a target spells it (a limit as `64M` or
//! `64Mi`, a port as a string or an object, fixed addresses, probes) is the generators' business.

use crate::env;
use anyhow::Result;
use lucid_catalog::{Publish, Resources, Service, Volume, Workspace};
use std::collections::BTreeMap;

/// uid/gid `nonroot` of the distroless base: every Lucid service runs as it.
pub const NONROOT: User = User {
    uid: 65532,
    gid: 65532,
};

/// Where secrets appear inside a container; the services read `<NAME>_FILE` pointing there.
pub const SECRETS_MOUNT: &str = "/run/secrets";

/// The only writable path besides the volumes: a tmpfs of this size (counted against the
/// memory limit).
pub const TMP_SIZE: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// A listener of the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// `http` for the HTTP port, else the catalog's `extra_ports[].name`.
    pub name: String,
    pub port: u16,
    pub publish: Option<Publish>,
}

/// The exec health check: the command and its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Healthcheck {
    /// Exec form, without compose's leading `CMD`.
    pub command: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
}

impl Healthcheck {
    /// Compose's `test:` (exec form: distroless images have no shell).
    pub fn test(&self) -> Vec<String> {
        std::iter::once("CMD".to_string())
            .chain(self.command.iter().cloned())
            .collect()
    }
}

/// One container of the stack.
#[derive(Debug, Clone)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// Arguments replacing the image's command (MongoDB's `mongod --port …`).
    pub command: Option<Vec<String>>,
    pub user: User,
    /// The environment contract (see [`crate::env`]); `$` already escaped as `$$`, which compose,
    /// `docker stack deploy` and Kubernetes all read back as one `$`.
    pub environment: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    /// The HTTP port first, then the extra listeners.
    pub ports: Vec<Port>,
    pub volumes: Vec<Volume>,
    pub healthcheck: Healthcheck,
    /// The port answering `GET /health` and `GET /ready` (Lucid services; MongoDB has none).
    pub http_port: Option<u16>,
    pub stop_grace_period: String,
    pub resources: Resources,
    /// Instances in a cluster deployment.
    pub replicas: u32,
    /// Started (and healthy) before this one where the target supports it (compose).
    pub depends_on: Vec<String>,
}

impl Container {
    /// Listeners published on the host, with their container port.
    pub fn published(&self) -> impl Iterator<Item = (&Publish, u16)> {
        self.ports
            .iter()
            .filter_map(|p| p.publish.as_ref().map(|publish| (publish, p.port)))
    }
}

/// The health check timing of the workspace, for `command`.
pub fn healthcheck(ws: &Workspace, command: Vec<String>) -> Healthcheck {
    let h = &ws.settings.healthcheck;
    Healthcheck {
        command,
        interval: h.interval.clone(),
        timeout: h.timeout.clone(),
        retries: h.retries,
        start_period: h.start_period.clone(),
    }
}

/// A Lucid service running `image` in a deployment running `deployed` (for `LUCID_CATALOG`).
pub fn lucid(
    ws: &Workspace,
    service: &Service,
    image: String,
    deployed: &[&Service],
) -> Result<Container> {
    let http = Port {
        name: "http".into(),
        port: service.port,
        publish: service.publish.clone(),
    };
    let extra = service.extra_ports.iter().map(|p| Port {
        name: p.name.clone(),
        port: p.port,
        publish: p.publish.clone(),
    });
    Ok(Container {
        name: service.name.clone(),
        image,
        command: None,
        user: NONROOT,
        environment: env::environment(ws, service, deployed)?,
        secrets: service.secrets.clone(),
        ports: std::iter::once(http).chain(extra).collect(),
        volumes: service.volumes.clone(),
        // The binary probes its own /health: the images have no shell and no curl.
        healthcheck: healthcheck(ws, vec![service.binary_path(), "healthcheck".into()]),
        http_port: Some(service.port),
        stop_grace_period: ws.settings.stop_grace_period.clone(),
        resources: service.resources,
        replicas: service.replicas,
        depends_on: service.depends_on.clone(),
    })
}

/// Every Lucid service of the workspace running the whole stack, then MongoDB last.
pub fn whole_stack(ws: &Workspace, images: &BTreeMap<String, String>) -> Result<Vec<Container>> {
    let deployed: Vec<&Service> = ws.services.iter().collect();
    let mut out = ws
        .services
        .iter()
        .map(|s| lucid(ws, s, images[&s.name].clone(), &deployed))
        .collect::<Result<Vec<_>>>()?;
    out.push(crate::mongodb::container(ws)?);
    Ok(out)
}
