//! The objects of one service: its workload, Services, NetworkPolicy and PodDisruptionBudget;
//! and the namespace-wide ones.

use super::{labels, metadata, pod, selector_labels, NAMESPACE, NAME_LABEL};
use crate::container::Container;
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeSet;

pub(super) fn namespace() -> Value {
    let mut labels = labels(NAMESPACE);
    for mode in ["enforce", "audit", "warn"] {
        labels[format!("pod-security.kubernetes.io/{mode}")] = json!("restricted");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": NAMESPACE, "labels": labels },
    })
}

pub(super) fn default_deny() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": { "name": "default-deny-ingress", "namespace": NAMESPACE, "labels": labels(NAMESPACE) },
        "spec": { "podSelector": {}, "policyTypes": ["Ingress"] },
    })
}

/// Every object of `c`, whose pods `callers` connect to.
pub(super) fn all(c: &Container, callers: &BTreeSet<&str>) -> Result<Vec<Value>> {
    let mut out = vec![workload(c)?, service(c)];
    out.extend(public_service(c));
    out.extend(network_policy(c, callers));
    if c.replicas > 1 {
        out.push(disruption_budget(c));
    }
    Ok(out)
}

/// A Deployment, or a StatefulSet (one PersistentVolumeClaim per volume) for a container with
/// data: a single instance that keeps its claim across restarts and reschedules.
fn workload(c: &Container) -> Result<Value> {
    let selector = json!({ "matchLabels": selector_labels(&c.name) });
    let template = pod::template(c)?;
    if c.volumes.is_empty() {
        return Ok(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(&c.name, &c.name),
            "spec": {
                "replicas": c.replicas,
                "selector": selector,
                // A new pod is ready before an old one goes: no gap in a rolling update.
                "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 } },
                "template": template,
            },
        }));
    }
    let claims: Vec<Value> = c
        .volumes
        .iter()
        .map(|v| {
            json!({
                "metadata": { "name": v.name, "labels": labels(&c.name) },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": { "requests": { "storage": pod::quantity(v.size) } },
                },
            })
        })
        .collect();
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(&c.name, &c.name),
        "spec": {
            "replicas": c.replicas,
            // The ClusterIP Service of the same name: per-pod DNS names, which would need a
            // headless one, are of no use to a single instance.
            "serviceName": c.name,
            "selector": selector,
            "template": template,
            "volumeClaimTemplates": claims,
        },
    }))
}

/// The cluster-internal Service under the service's own name, every listener on its own port.
fn service(c: &Container) -> Value {
    let ports: Vec<Value> = c
        .ports
        .iter()
        .map(|p| json!({ "name": p.name, "port": p.port, "targetPort": p.name, "protocol": "TCP" }))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(&c.name, &c.name),
        "spec": { "type": "ClusterIP", "selector": selector_labels(&c.name), "ports": ports },
    })
}

/// An entry point's LoadBalancer Service on its host port (k3s' ServiceLB binds it on the
/// nodes). Listeners the catalog publishes on one host address only stay internal.
fn public_service(c: &Container) -> Option<Value> {
    let ports: Vec<Value> = c
        .ports
        .iter()
        .filter_map(|p| {
            let publish = p.publish.as_ref().filter(|p| p.on_every_address())?;
            Some(json!({ "name": p.name, "port": publish.host_port, "targetPort": p.name, "protocol": "TCP" }))
        })
        .collect();
    if ports.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(&format!("{}-public", c.name), &c.name),
        "spec": { "type": "LoadBalancer", "selector": selector_labels(&c.name), "ports": ports },
    }))
}

/// Admits the pods of `callers` on every listener of `c`, and anyone on its public ports;
/// nothing when neither exists (the default deny stands).
fn network_policy(c: &Container, callers: &BTreeSet<&str>) -> Option<Value> {
    let mut rules = Vec::new();
    if !callers.is_empty() {
        let from: Vec<Value> = callers
            .iter()
            .map(|caller| json!({ "podSelector": { "matchLabels": { NAME_LABEL: caller } } }))
            .collect();
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| json!({ "port": p.name, "protocol": "TCP" }))
            .collect();
        rules.push(json!({ "from": from, "ports": ports }));
    }
    let public: Vec<Value> = c
        .ports
        .iter()
        .filter(|p| p.publish.as_ref().is_some_and(|p| p.on_every_address()))
        .map(|p| json!({ "port": p.name, "protocol": "TCP" }))
        .collect();
    if !public.is_empty() {
        // No `from`: an entry point accepts connections from anywhere, on its public ports.
        rules.push(json!({ "ports": public }));
    }
    if rules.is_empty() {
        return None;
    }
    Some(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(&c.name, &c.name),
        "spec": {
            "podSelector": { "matchLabels": selector_labels(&c.name) },
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }))
}

/// A voluntary disruption (node drain, cluster upgrade) takes one replica at a time.
fn disruption_budget(c: &Container) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(&c.name, &c.name),
        "spec": { "maxUnavailable": 1, "selector": { "matchLabels": selector_labels(&c.name) } },
    })
}
