//! One container as a compose service.

use crate::container::{Container, TMP_SIZE};
use crate::model::{
    ContainerDef, DependsOn, HealthcheckDef, LoggingDef, NetworkAttachment, ServiceDef, VolumeMount,
};
use crate::network::Addresses;
use lucid_catalog::Workspace;
use std::collections::BTreeMap;

/// Where compose finds the secret files; relative paths are relative to the compose file.
pub const SECRETS_DIR: &str = "${LUCID_SECRETS_DIR:-./secrets}";

/// The compose service of `c`, on its fixed address of the one network.
pub fn definition(ws: &Workspace, c: &Container, addresses: &Addresses) -> ServiceDef {
    let networks = BTreeMap::from([(
        ws.settings.network.name.clone(),
        NetworkAttachment {
            ipv4_address: addresses.by_service[&c.name].to_string(),
        },
    )]);
    ServiceDef {
        container: ContainerDef::of(c),
        security_opt: vec!["no-new-privileges:true".into()],
        tmpfs: vec![format!(
            "/tmp:size={},mode=1777",
            bytes(TMP_SIZE).to_lowercase()
        )],
        environment: c.environment.clone(),
        secrets: c.secrets.clone(),
        expose: c.ports.iter().map(|p| p.port.to_string()).collect(),
        ports: c
            .published()
            .map(|(p, container)| match &p.host_ip {
                Some(ip) => format!("{ip}:{}:{container}/tcp", p.host_port),
                None => format!("{}:{container}/tcp", p.host_port),
            })
            .collect(),
        volumes: c
            .volumes
            .iter()
            .map(|v| data_volume(ws, &v.name, &v.target))
            .collect(),
        networks,
        depends_on: c
            .depends_on
            .iter()
            .map(|d| {
                let condition = "service_healthy".into();
                (d.clone(), DependsOn { condition })
            })
            .collect(),
        healthcheck: healthcheck(c),
        restart: "unless-stopped".into(),
        stop_grace_period: c.stop_grace_period.clone(),
        mem_limit: bytes(c.resources.memory),
        mem_reservation: bytes(c.resources.memory_reservation),
        cpus: round2(c.resources.cpus),
        cpu_shares: cpu_shares(c.resources.cpu_reservation),
        logging: logging(),
    }
}

/// The exec health check of `c`, as compose and `docker stack deploy` write it.
pub fn healthcheck(c: &Container) -> HealthcheckDef {
    let h = &c.healthcheck;
    HealthcheckDef {
        test: h.test(),
        interval: h.interval.clone(),
        timeout: h.timeout.clone(),
        retries: h.retries,
        start_period: h.start_period.clone(),
    }
}

/// Bounded JSON logs: three files of 10 MiB per container, so logs cannot fill the SD card.
pub fn logging() -> LoggingDef {
    LoggingDef {
        driver: "json-file".into(),
        options: BTreeMap::from([
            ("max-file".into(), "3".into()),
            ("max-size".into(), "10m".into()),
        ]),
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

/// `<SECRETS_DIR>/<name>`: the file a secret is read from.
pub fn secret_file(name: &str) -> String {
    format!("{SECRETS_DIR}/{name}")
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

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Docker has no CPU reservation outside Swarm; the nearest thing is the relative weight under
/// contention, where 1024 is one full CPU. The validator reads it back as `cpu_shares / 1024`.
pub fn cpu_shares(reservation: f64) -> u64 {
    ((reservation * 1024.0).round() as u64).max(2)
}
