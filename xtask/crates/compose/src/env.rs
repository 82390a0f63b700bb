//! The environment contract: how a container learns its facts (see the runtime's `Env`).
//!
//! - `LUCID_HTTP_PORT` = the `port` field; each `extra_ports[].env` = its port;
//! - each `volumes[].env` = its mount point;
//! - `LUCID_URL_<SERVICE>` = `http://<service>:<port>` for every upstream and every Lucid service
//!   in `depends_on`;
//! - `LUCID_CATALOG` = `name=http://name:port,…` of every Lucid service of the deployment, for
//!   services with `catalog = true`;
//! - `<SECRET>_FILE` = `/run/secrets/<secret>` for each secret;
//! - then the service's own `env` table.

use anyhow::{bail, Result};
use lucid_catalog::{Service, Workspace};
use std::collections::BTreeMap;

pub const HTTP_PORT: &str = "LUCID_HTTP_PORT";
pub const CATALOG: &str = "LUCID_CATALOG";

/// `session-recorder` -> `SESSION_RECORDER`.
pub fn upper_snake(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// Same rule as `lucid_runtime::config::upstream_var`.
pub fn upstream_var(service: &str) -> String {
    format!("LUCID_URL_{}", upper_snake(service))
}

pub fn secret_var(secret: &str) -> String {
    format!("{}_FILE", upper_snake(secret))
}

pub fn secret_path(secret: &str) -> String {
    format!("{}/{secret}", crate::container::SECRETS_MOUNT)
}

pub fn url(service: &Service) -> String {
    format!("http://{}:{}", service.name, service.port)
}

/// Compose interpolates `$` in values; a literal from metadata must survive as written.
pub fn escape(value: &str) -> String {
    value.replace('$', "$$")
}

/// The environment of `service` in a deployment running `deployed` (for `LUCID_CATALOG`).
pub fn environment(
    ws: &Workspace,
    service: &Service,
    deployed: &[&Service],
) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let mut set = |key: String, value: String, field: &str| {
        if let Some(previous) = env.insert(key.clone(), value) {
            bail!(
                "{}: {}: {field}: sets {key}, which is already set to {previous:?} by another field",
                service.manifest_path.display(),
                service.name
            );
        }
        Ok(())
    };
    set(
        HTTP_PORT.into(),
        service.port.to_string(),
        "package.metadata.lucid.port",
    )?;
    for p in &service.extra_ports {
        set(
            p.env.clone(),
            p.port.to_string(),
            "package.metadata.lucid.extra_ports",
        )?;
    }
    for v in &service.volumes {
        if let Some(var) = &v.env {
            set(
                var.clone(),
                v.target.clone(),
                "package.metadata.lucid.volumes",
            )?;
        }
    }
    for target in service.connects_to() {
        // MongoDB is not a Lucid service: it has no LUCID_URL (and no HTTP).
        if let Some(t) = ws.service(target) {
            set(
                upstream_var(&t.name),
                url(t),
                "package.metadata.lucid.upstreams",
            )?;
        }
    }
    if service.catalog {
        let list: Vec<String> = deployed
            .iter()
            .map(|s| format!("{}={}", s.name, url(s)))
            .collect();
        set(
            CATALOG.into(),
            list.join(","),
            "package.metadata.lucid.catalog",
        )?;
    }
    for secret in &service.secrets {
        set(
            secret_var(secret),
            secret_path(secret),
            "package.metadata.lucid.secrets",
        )?;
    }
    for (key, value) in &service.env {
        set(key.clone(), escape(value), "package.metadata.lucid.env")?;
    }
    Ok(env)
}
