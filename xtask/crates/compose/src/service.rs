//! One Lucid service as a compose service.

use crate::env;
use crate::model::{
    DependsOn, HealthcheckDef, LoggingDef, NetworkAttachment, ServiceDef, VolumeMount,
};
use crate::network::Addresses;
use anyhow::Result;
use lucid_catalog::topology::Deployment;
use lucid_catalog::{Resources, Service, Workspace};
use std::collections::BTreeMap;

/// uid:gid `nonroot` of the distroless base.
pub const NONROOT: &str = "65532:65532";

/// Where compose finds the secret files; relative paths are relative to the compose file.
pub const SECRETS_DIR: &str = "${LUCID_SECRETS_DIR:-./secrets}";

/// The hardening and housekeeping every container gets; callers fill in the rest.
pub fn base(
    ws: &Workspace,
    name: &str,
    image: String,
    user: &str,
    resources: &Resources,
    addresses: &Addresses,
) -> ServiceDef {
    let mut networks = BTreeMap::new();
    networks.insert(
        ws.settings.network.name.clone(),
        NetworkAttachment {
            ipv4_address: addresses.by_service[name].to_string(),
        },
    );
    ServiceDef {
        image,
        command: None,
        user: user.into(),
        read_only: true,
        init: true,
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["no-new-privileges:true".into()],
        // The only writable path besides the volumes; counted against the memory limit.
        tmpfs: vec!["/tmp:size=16m,mode=1777".into()],
        environment: BTreeMap::new(),
        secrets: vec![],
        expose: vec![],
        ports: vec![],
        volumes: vec![],
        networks,
        depends_on: BTreeMap::new(),
        healthcheck: HealthcheckDef {
            test: vec![],
            interval: ws.settings.healthcheck.interval.clone(),
            timeout: ws.settings.healthcheck.timeout.clone(),
            retries: ws.settings.healthcheck.retries,
            start_period: ws.settings.healthcheck.start_period.clone(),
        },
        restart: "unless-stopped".into(),
        stop_grace_period: ws.settings.stop_grace_period.clone(),
        mem_limit: bytes(resources.memory),
        mem_reservation: bytes(resources.memory_reservation),
        cpus: round2(resources.cpus),
        cpu_shares: cpu_shares(resources.cpu_reservation),
        logging: LoggingDef {
            driver: "json-file".into(),
            options: BTreeMap::from([
                ("max-file".into(), "3".into()),
                ("max-size".into(), "10m".into()),
            ]),
        },
    }
}

/// A directory under the data root, bind-mounted. The long syntax makes Docker refuse a missing
/// host directory instead of creating it owned by root (which uid 65532 could not write).
pub fn data_volume(ws: &Workspace, name: &str, target: &str) -> VolumeMount {
    VolumeMount {
        kind: "bind".into(),
        source: format!("{}/{name}", ws.settings.data_root),
        target: target.into(),
    }
}

pub fn definition(
    ws: &Workspace,
    service: &Service,
    image: String,
    deployment: &Deployment,
    addresses: &Addresses,
) -> Result<ServiceDef> {
    let mut def = base(
        ws,
        &service.name,
        image,
        NONROOT,
        &service.resources,
        addresses,
    );
    def.environment = env::environment(ws, service, &deployment.deployed_services(ws))?;
    def.secrets = service.secrets.clone();
    def.expose = std::iter::once(service.port)
        .chain(service.extra_ports.iter().map(|p| p.port))
        .map(|p| p.to_string())
        .collect();
    let published = service.publish.iter().map(|p| (p, service.port)).chain(
        service
            .extra_ports
            .iter()
            .filter_map(|e| e.publish.as_ref().map(|p| (p, e.port))),
    );
    def.ports = published
        .map(|(p, container)| match &p.host_ip {
            Some(ip) => format!("{ip}:{}:{container}/tcp", p.host_port),
            None => format!("{}:{container}/tcp", p.host_port),
        })
        .collect();
    def.volumes = service
        .volumes
        .iter()
        .map(|v| data_volume(ws, &v.name, &v.target))
        .collect();
    def.depends_on = service
        .depends_on
        .iter()
        .map(|d| {
            (
                d.clone(),
                DependsOn {
                    condition: "service_healthy".into(),
                },
            )
        })
        .collect();
    def.healthcheck.test = vec!["CMD".into(), service.binary_path(), "healthcheck".into()];
    Ok(def)
}

/// `64M`, `1G`: Docker's binary units, exact.
pub fn bytes(n: u64) -> String {
    if n.is_multiple_of(1 << 30) {
        format!("{}G", n >> 30)
    } else if n.is_multiple_of(1 << 20) {
        format!("{}M", n >> 20)
    } else if n.is_multiple_of(1 << 10) {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Docker has no CPU reservation outside Swarm; the nearest thing is the relative weight under
/// contention, where 1024 is one full CPU. The validator reads it back as `cpu_shares / 1024`.
pub fn cpu_shares(reservation: f64) -> u64 {
    ((reservation * 1024.0).round() as u64).max(2)
}
