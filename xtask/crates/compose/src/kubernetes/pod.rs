//! The pod template of a container: Pod Security Standard `restricted`, resources, probes,
//! volumes, secrets.

use super::{labels, NODE_ARCH};
use crate::container::{Container, Healthcheck, SECRETS_MOUNT, TMP_SIZE};
use anyhow::{bail, Context, Result};
use lucid_catalog::parse_duration_secs;
use serde_json::{json, Value};

/// Pod volume names; a catalog volume may not take them.
const TMP_VOLUME: &str = "tmp";
const SECRETS_VOLUME: &str = "secrets";

pub(super) fn template(c: &Container) -> Result<Value> {
    for v in &c.volumes {
        if v.name == TMP_VOLUME || v.name == SECRETS_VOLUME {
            bail!(
                "{}: volume name {:?} is reserved for the pod's own volumes",
                c.name,
                v.name
            );
        }
    }
    let grace = seconds(&c.stop_grace_period).context("stop_grace_period")?;
    let mut spec = json!({
        // Nothing here talks to the Kubernetes API.
        "automountServiceAccountToken": false,
        // Kubernetes would otherwise add <SERVICE>_PORT=tcp://… variables for every Service of
        // the namespace, next to the services' own configuration (TOR_PROXY_SOCKS_PORT…).
        "enableServiceLinks": false,
        "nodeSelector": { "kubernetes.io/arch": NODE_ARCH },
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": c.user.uid,
            "runAsGroup": c.user.gid,
            "fsGroup": c.user.gid,
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "terminationGracePeriodSeconds": grace,
        "containers": [container(c)?],
        "volumes": volumes(c),
    });
    if c.replicas > 1 {
        // Replicas on different nodes where there are several, so one node can go.
        spec["topologySpreadConstraints"] = json!([{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": { "matchLabels": { super::NAME_LABEL: c.name } },
        }]);
    }
    Ok(json!({ "metadata": { "labels": labels(&c.name) }, "spec": spec }))
}

fn container(c: &Container) -> Result<Value> {
    let env: Vec<Value> = c
        .environment
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let ports: Vec<Value> = c
        .ports
        .iter()
        .map(|p| json!({ "name": p.name, "containerPort": p.port, "protocol": "TCP" }))
        .collect();
    let mut mounts = vec![json!({ "name": TMP_VOLUME, "mountPath": "/tmp" })];
    if !c.secrets.is_empty() {
        mounts
            .push(json!({ "name": SECRETS_VOLUME, "mountPath": SECRETS_MOUNT, "readOnly": true }));
    }
    mounts.extend(
        c.volumes
            .iter()
            .map(|v| json!({ "name": v.name, "mountPath": v.target })),
    );
    let r = &c.resources;
    let mut out = json!({
        "name": c.name,
        "image": c.image,
        "ports": ports,
        "env": env,
        "resources": {
            "limits": { "cpu": millicores(r.cpus), "memory": quantity(r.memory) },
            "requests": { "cpu": millicores(r.cpu_reservation), "memory": quantity(r.memory_reservation) },
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "runAsNonRoot": true,
            "runAsUser": c.user.uid,
            "runAsGroup": c.user.gid,
            "capabilities": { "drop": ["ALL"] },
            "seccompProfile": { "type": "RuntimeDefault" },
        },
        "volumeMounts": mounts,
    });
    if let Some(args) = &c.command {
        // `args`, not `command`: the image's entrypoint stays (MongoDB's initialises the user).
        out["args"] = json!(args);
    }
    for (probe, value) in probes(c)? {
        out[probe] = value;
    }
    Ok(out)
}

/// Startup, liveness and readiness. A Lucid service is probed over HTTP by the kubelet
/// (`/health` alive, `/ready` dependencies reachable: no process started per probe on a Pi);
/// MongoDB, which has no HTTP, by its exec health check.
fn probes(c: &Container) -> Result<Vec<(&'static str, Value)>> {
    let h = &c.healthcheck;
    let (interval, timeout) = (seconds(&h.interval)?, seconds(&h.timeout)?);
    // The start period, then the health check's own failures, before the kubelet gives up.
    let startup_budget = seconds(&h.start_period)? + interval * u64::from(h.retries);
    let timing = |period: u64, failures: u64| json!({ "periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": failures });
    let probe = |action: Value, timing: Value| {
        let mut p = timing;
        p.as_object_mut()
            .expect("timing is an object")
            .extend(action.as_object().expect("an action is an object").clone());
        p
    };
    let (alive, ready, startup_period) = match c.http_port {
        Some(_) => (
            json!({ "httpGet": { "path": "/health", "port": "http" } }),
            json!({ "httpGet": { "path": "/ready", "port": "http" } }),
            // The services start in milliseconds: look every second.
            1,
        ),
        None => {
            let exec = exec(h);
            (exec.clone(), exec, interval)
        }
    };
    let retries = u64::from(h.retries);
    Ok(vec![
        (
            "startupProbe",
            probe(
                alive.clone(),
                timing(startup_period, startup_budget.div_ceil(startup_period)),
            ),
        ),
        ("livenessProbe", probe(alive, timing(interval, retries))),
        ("readinessProbe", probe(ready, timing(interval, retries))),
    ])
}

fn exec(h: &Healthcheck) -> Value {
    json!({ "exec": { "command": h.command } })
}

/// tmpfs at /tmp (in memory, counted against the limit) and the secrets of `c`, one file each
/// under /run/secrets, from the Secrets of the same names.
fn volumes(c: &Container) -> Vec<Value> {
    let mut out = vec![json!({
        "name": TMP_VOLUME,
        "emptyDir": { "medium": "Memory", "sizeLimit": quantity(TMP_SIZE) },
    })];
    if !c.secrets.is_empty() {
        let sources: Vec<Value> = c
            .secrets
            .iter()
            .map(|s| json!({ "secret": { "name": s, "items": [{ "key": s, "path": s }] } }))
            .collect();
        // 0440: the owner and the pod's fsGroup (the container's group) read them.
        out.push(json!({
            "name": SECRETS_VOLUME,
            "projected": { "defaultMode": 0o440, "sources": sources },
        }));
    }
    out
}

fn seconds(duration: &str) -> Result<u64> {
    Ok(parse_duration_secs(duration)?.ceil() as u64)
}

/// `500m`: CPUs as millicores.
fn millicores(cpus: f64) -> String {
    format!("{}m", (cpus * 1000.0).round() as u64)
}

/// `64Mi`, `1Gi`: bytes in Kubernetes' binary units, exact.
pub(super) fn quantity(bytes: u64) -> String {
    for (shift, unit) in [(30, "Gi"), (20, "Mi"), (10, "Ki")] {
        if bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}
