//! The Docker Swarm stack file, `compose/lucid-stack.yaml`: the whole stack for
//! `docker stack deploy`, from the same containers as the compose files.
//!
//! Networking: service discovery by DNS round robin (`endpoint_mode: dnsrr`) and entry points
//! published in host mode (`mode: host`) on the nodes that run them. Swarm's defaults — a
//! virtual IP per service and the ingress routing mesh — need IPVS in the kernel; dnsrr and
//! host-mode ports need nothing but the overlay network, so the file runs on any kernel a Pi
//! (or a test machine) boots. Clients spread their requests over the replicas themselves: the
//! runtime's client resolves the name for every connection, and Swarm lists only healthy tasks.
//! The price: a host-mode port is bound by one task per node, so a service that publishes one
//! updates stop-first and runs at most one replica per node; and a published port answers only
//! on the nodes running the service (point clients or a keepalived address at those).
//!
//! Swarm cannot bind a published port to one host address: a port that the catalog publishes
//! on one address only (tor-proxy's SOCKS port, 127.0.0.1 in the compose files) is not
//! published here; reach it from a container on the overlay network. Swarm services have no
//! `security_opt`, so `no-new-privileges` cannot be set; they keep the non-root user, the
//! read-only root filesystem and no capabilities. `depends_on` does not
//! exist in a stack: a service whose dependency is not up yet answers `/ready` with 503 and the
//! restart policy covers crashes.

use crate::container::{Container, TMP_SIZE};
use crate::model::{ContainerDef, HealthcheckDef, LoggingDef, SecretDef};
use crate::notice::{self, Comment};
use crate::{compose_file, schema, service, OutputFile, Source, COMPOSE_DIR};
use anyhow::{anyhow, Context, Result};
use lucid_catalog::{parse_duration_secs, Workspace, MONGODB};
use serde::Serialize;
use std::collections::BTreeMap;

/// The stack file's name under `compose/` (the topology's: the validator checks it too).
pub const FILE: &str = lucid_catalog::topology::STACK_FILE;

/// Compose file format of the stack: `docker stack deploy` (Docker 20.10) needs a 3.x version.
const FORMAT_VERSION: &str = "3.8";

/// Variable holding the nodes' architecture as Swarm reports it (`uname -m`): `aarch64` on a
/// Pi, `x86_64` on an amd64 test cluster.
pub const ARCH_VARIABLE: &str = "LUCID_NODE_ARCH";
const DEFAULT_ARCH: &str = "aarch64";

/// Node label of the node holding MongoDB's data directory.
pub const MONGODB_LABEL: &str = "lucid.mongodb";
/// Node label of the node holding the Lucid services' data directories.
pub const DATA_LABEL: &str = "lucid.data";

#[derive(Debug, Clone, Serialize)]
struct StackDoc {
    version: String,
    services: BTreeMap<String, StackService>,
    networks: BTreeMap<String, OverlayNetwork>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    secrets: BTreeMap<String, SecretDef>,
}

#[derive(Debug, Clone, Serialize)]
struct StackService {
    #[serde(flatten)]
    container: ContainerDef,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<PortDef>,
    volumes: Vec<Mount>,
    networks: Vec<String>,
    healthcheck: HealthcheckDef,
    stop_grace_period: String,
    logging: LoggingDef,
    deploy: DeployDef,
}

#[derive(Debug, Clone, Serialize)]
struct PortDef {
    target: u16,
    published: u16,
    protocol: String,
    mode: String,
}

/// A bind mount of a data directory, or the tmpfs at /tmp (Swarm ignores the `tmpfs:` key).
#[derive(Debug, Clone, Serialize)]
struct Mount {
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Serialize)]
struct TmpfsOptions {
    size: u64,
}

#[derive(Debug, Clone, Serialize)]
struct DeployDef {
    mode: String,
    replicas: u32,
    endpoint_mode: String,
    placement: Placement,
    resources: ResourcesDef,
    restart_policy: RestartPolicy,
    update_config: UpdateConfig,
    rollback_config: UpdateConfig,
}

#[derive(Debug, Clone, Serialize)]
struct Placement {
    constraints: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct ResourcesDef {
    limits: Amounts,
    reservations: Amounts,
}

#[derive(Debug, Clone, Serialize)]
struct Amounts {
    cpus: String,
    memory: String,
}

#[derive(Debug, Clone, Serialize)]
struct RestartPolicy {
    condition: String,
    delay: String,
}

#[derive(Debug, Clone, Serialize)]
struct UpdateConfig {
    parallelism: u32,
    delay: String,
    order: String,
    failure_action: String,
    monitor: String,
    max_failure_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
struct OverlayNetwork {
    driver: String,
    /// A one-off container (`docker run --network <stack>_<network>`) can join: a debugging
    /// client, since the images hold no shell.
    attachable: bool,
}

/// The stack file of `containers` (the whole stack).
pub fn generate(ws: &Workspace, containers: &[Container], source: &Source) -> Result<OutputFile> {
    let path = format!("{COMPOSE_DIR}/{FILE}");
    let monitor = monitor_secs(ws).with_context(|| format!("{path}: update monitor period"))?;
    let doc = StackDoc {
        version: FORMAT_VERSION.into(),
        services: containers
            .iter()
            .map(|c| (c.name.clone(), stack_service(ws, c, monitor)))
            .collect(),
        networks: BTreeMap::from([(
            ws.settings.network.name.clone(),
            OverlayNetwork {
                driver: "overlay".into(),
                attachable: true,
            },
        )]),
        secrets: compose_file::secret_files(containers),
    };
    let yaml =
        serde_norway::to_string(&doc).with_context(|| format!("{path}: cannot serialise"))?;
    let text = format!(
        "{}{}",
        header(ws, containers, source, monitor),
        notice::spaced(&yaml, "services:")
    );
    schema::validate(&path, &text).map_err(|problems| anyhow!("{}", problems.join("\n")))?;
    Ok(OutputFile { path, text })
}

/// How long Swarm watches an updated task before it counts the update as good: long enough
/// for a task whose health check fails from the start to turn unhealthy (the start period, then
/// `retries` failed checks `interval` apart, the last one taking up to `timeout`).
fn monitor_secs(ws: &Workspace) -> Result<u64> {
    let h = &ws.settings.healthcheck;
    let secs = parse_duration_secs(&h.start_period)?
        + parse_duration_secs(&h.interval)? * f64::from(h.retries)
        + parse_duration_secs(&h.timeout)?;
    Ok(secs.ceil() as u64)
}

/// Ports published on every address of the node, in host mode.
fn published(c: &Container) -> Vec<PortDef> {
    c.published()
        .filter(|(p, _)| p.on_every_address())
        .map(|(p, target)| PortDef {
            target,
            published: p.host_port,
            protocol: "tcp".into(),
            mode: "host".into(),
        })
        .collect()
}

fn stack_service(ws: &Workspace, c: &Container, monitor: u64) -> StackService {
    let ports = published(c);
    let tmp = Mount {
        kind: "tmpfs".into(),
        source: None,
        target: "/tmp".into(),
        tmpfs: Some(TmpfsOptions { size: TMP_SIZE }),
    };
    let data = c.volumes.iter().map(|v| {
        let bind = service::data_volume(ws, &v.name, &v.target);
        Mount {
            kind: bind.kind,
            source: Some(bind.source),
            target: bind.target,
            tmpfs: None,
        }
    });
    StackService {
        container: ContainerDef::of(c),
        environment: c.environment.clone(),
        secrets: c.secrets.clone(),
        volumes: std::iter::once(tmp).chain(data).collect(),
        networks: vec![ws.settings.network.name.clone()],
        healthcheck: service::healthcheck(c),
        stop_grace_period: c.stop_grace_period.clone(),
        logging: service::logging(),
        deploy: deploy(c, !ports.is_empty(), monitor),
        ports,
    }
}

fn deploy(c: &Container, publishes: bool, monitor: u64) -> DeployDef {
    let mut constraints = vec![format!(
        "node.platform.arch == ${{{ARCH_VARIABLE}:-{DEFAULT_ARCH}}}"
    )];
    // A bind-mounted data directory lives on one node: the task must always land there.
    if c.name == MONGODB {
        constraints.push(format!("node.labels.{MONGODB_LABEL} == true"));
    } else if !c.volumes.is_empty() {
        constraints.push(format!("node.labels.{DATA_LABEL} == true"));
    }
    let amounts = |cpus: f64, memory: u64| Amounts {
        cpus: service::round2(cpus).to_string(),
        memory: service::bytes(memory),
    };
    // Start the new task before stopping the old one (no gap), unless both would need the same
    // host port; a data directory must not have two writers either.
    let order = if publishes || !c.volumes.is_empty() {
        "stop-first"
    } else {
        "start-first"
    };
    let update = |failure_action: &str| UpdateConfig {
        parallelism: 1,
        delay: "2s".into(),
        order: order.into(),
        failure_action: failure_action.into(),
        monitor: format!("{monitor}s"),
        max_failure_ratio: 0.0,
    };
    DeployDef {
        mode: "replicated".into(),
        replicas: c.replicas,
        endpoint_mode: "dnsrr".into(),
        placement: Placement { constraints },
        resources: ResourcesDef {
            limits: amounts(c.resources.cpus, c.resources.memory),
            reservations: amounts(c.resources.cpu_reservation, c.resources.memory_reservation),
        },
        restart_policy: RestartPolicy {
            condition: "any".into(),
            delay: "5s".into(),
        },
        update_config: update("rollback"),
        // A failing rollback stops and waits for the operator rather than flapping.
        rollback_config: update("pause"),
    }
}

fn header(ws: &Workspace, containers: &[Container], source: &Source, monitor: u64) -> String {
    let mut h = Comment::generated();
    h.line(&format!(
        "{COMPOSE_DIR}/{FILE}: the whole stack ({} Lucid services and MongoDB) as a Docker Swarm stack.",
        containers.len() - 1
    ));
    h.line(&format!(
        "Deploy (on a manager): docker stack deploy -c {FILE} lucid"
    ));
    h.line(&format!("Images: {source}."));
    h.line("");
    h.line(&format!(
        "Nodes: every service runs on nodes of architecture ${{{ARCH_VARIABLE}:-{DEFAULT_ARCH}}} (set"
    ));
    h.line(&format!(
        "{ARCH_VARIABLE}=x86_64 for an amd64 cluster). MongoDB runs on the node labelled {MONGODB_LABEL}=true,"
    ));
    h.line(&format!(
        "the services with a data directory on the node labelled {DATA_LABEL}=true:"
    ));
    h.line(&format!(
        "  docker node update --label-add {MONGODB_LABEL}=true --label-add {DATA_LABEL}=true <node>"
    ));
    h.line("");
    h.data_dirs(ws, containers);
    let secrets = compose_file::secret_files(containers);
    if !secrets.is_empty() {
        let names: Vec<&str> = secrets.keys().map(String::as_str).collect();
        h.line(&format!(
            "Secrets: created by `docker stack deploy` from one file each in {}/: {}.",
            service::SECRETS_DIR,
            names.join(", ")
        ));
        h.line(
            "Swarm secrets are immutable: to change one, remove the stack or give it a new name.",
        );
        h.line("");
    }
    h.line(
        "Networking: DNS round robin (endpoint_mode: dnsrr) and host-mode published ports, which",
    );
    h.line("need no IPVS; a published port answers on the nodes running its service. Updates:");
    h.line(
        "one task at a time, start-first unless a host port or data directory forbids two tasks;",
    );
    h.line(&format!(
        "a task not healthy within {monitor}s rolls the service back to its previous image."
    ));
    h.line("");
    h.text()
}
