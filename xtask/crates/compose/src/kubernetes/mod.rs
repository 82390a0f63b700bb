//! The Kubernetes manifests, `deploy/kubernetes/*.yaml`: plain files (no kustomize, no Helm),
//! applied with `kubectl apply -f deploy/kubernetes/`, which reads them in name order — the
//! namespace first.
//!
//! - `00-namespace.yaml`: the namespace, under the Pod Security Standard `restricted`;
//! - `01-default-deny.yaml`: no pod accepts a connection unless a policy below allows it;
//! - `<service>.yaml`, one per container: a Deployment (stateless services) or a StatefulSet
//!   with PersistentVolumeClaims (a service with a volume, MongoDB), a ClusterIP Service under
//!   the service's name (the environment contract's `http://<name>:<port>` resolves unchanged),
//!   a LoadBalancer Service `<name>-public` for an entry point, the NetworkPolicy admitting
//!   exactly its callers, and a PodDisruptionBudget when it runs more than one replica.
//!
//! Secrets are referenced by name, never embedded: each is a Secret holding one key of the same
//! name, created by the operator, mounted at `/run/secrets/<name>`. Egress is not restricted:
//! every destination inside the namespace already admits only its callers, and tor-proxy,
//! tunnel-tools and tron-node-client reach destinations outside the cluster that the catalog
//! does not name. Objects are written with sorted keys, as `kubectl get -o yaml` shows them.

mod objects;
mod pod;

use crate::container::Container;
use crate::notice::Comment;
use crate::{OutputFile, Source};
use anyhow::{Context, Result};
use lucid_catalog::topology::connections;
use lucid_catalog::{Service, Workspace};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Directory of the manifests, relative to the workspace root (the topology's).
pub const DIR: &str = lucid_catalog::topology::KUBERNETES_DIR;

/// The namespace every object lives in.
pub const NAMESPACE: &str = "lucid";

/// The label selecting a service's pods.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// Where the pods run: the Pis. The images are multi-platform, so an amd64 test cluster only
/// needs this selector removed.
pub const NODE_ARCH: &str = "arm64";

/// Every manifest, in the order `kubectl apply -f` reads them.
pub fn generate(
    ws: &Workspace,
    containers: &[Container],
    source: &Source,
) -> Result<Vec<OutputFile>> {
    let deployed: Vec<&Service> = ws.services.iter().collect();
    let calls = connections(&deployed);
    let mut files = vec![
        namespace_file(containers, source)?,
        file(
            "01-default-deny.yaml",
            &["Default deny: a pod accepts connections only where a NetworkPolicy of its service allows them."],
            &[objects::default_deny()],
        )?,
    ];
    let mut sorted: Vec<&Container> = containers.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for c in sorted {
        let callers: BTreeSet<&str> = calls
            .iter()
            .filter(|(_, callee)| *callee == c.name)
            .map(|(caller, _)| *caller)
            .collect();
        let docs = objects::all(c, &callers).with_context(|| format!("{DIR}/{}.yaml", c.name))?;
        let objects: Vec<String> = docs.iter().map(describe).collect();
        let about = format!("{}: {}.", c.name, objects.join(", "));
        files.push(file(&format!("{}.yaml", c.name), &[&about], &docs)?);
    }
    Ok(files)
}

fn namespace_file(containers: &[Container], source: &Source) -> Result<OutputFile> {
    let mut secrets: Vec<&str> = containers
        .iter()
        .flat_map(|c| c.secrets.iter().map(String::as_str))
        .collect();
    secrets.sort();
    secrets.dedup();
    let create: Vec<String> = secrets
        .iter()
        .map(|s| {
            format!(
                "  kubectl -n {NAMESPACE} create secret generic {s} --from-file={s}=./secrets/{s}"
            )
        })
        .collect();
    let mut about = vec![
        format!("The namespace {NAMESPACE} of the whole stack ({} Lucid services and MongoDB), under the", containers.len() - 1),
        "Pod Security Standard `restricted`.".to_string(),
        String::new(),
        format!("Deploy: kubectl apply -f {DIR}/"),
        format!("Images: {source}."),
        format!("Nodes: pods run on kubernetes.io/arch={NODE_ARCH} nodes; data volumes are PersistentVolumeClaims"),
        "of the default StorageClass (k3s: local-path, on the node that first runs the pod).".to_string(),
        String::new(),
        "Secrets are referenced, never stored here: create each one before the pods start, with one".to_string(),
        "key of the secret's name, from the same files as the compose secrets:".to_string(),
        format!("  kubectl apply -f {DIR}/00-namespace.yaml"),
    ];
    about.extend(create);
    let lines: Vec<&str> = about.iter().map(String::as_str).collect();
    file("00-namespace.yaml", &lines, &[objects::namespace()])
}

/// `Deployment api-gateway (1 replica)`: an object as the file header lists it.
fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match object["spec"]["replicas"].as_u64() {
        Some(n) => format!(
            "{kind} {name} ({n} replica{})",
            if n == 1 { "" } else { "s" }
        ),
        None => format!("{kind} {name}"),
    }
}

/// A manifest file: the generated-file notice, `about`, then the objects as YAML documents.
fn file(name: &str, about: &[&str], docs: &[Value]) -> Result<OutputFile> {
    let path = format!("{DIR}/{name}");
    let mut header = Comment::generated();
    for line in about {
        header.line(line);
    }
    let mut text = header.text();
    for doc in docs {
        let yaml =
            serde_norway::to_string(doc).with_context(|| format!("{path}: cannot serialise"))?;
        text.push_str("---\n");
        text.push_str(&yaml);
    }
    Ok(OutputFile { path, text })
}

/// `metadata` of a namespaced object of service `name`.
fn metadata(object: &str, service: &str) -> Value {
    json!({ "name": object, "namespace": NAMESPACE, "labels": labels(service) })
}

/// The labels of every object of `service`; [`NAME_LABEL`] alone selects its pods.
fn labels(service: &str) -> Value {
    let mut m = selector_labels(service);
    m.insert("app.kubernetes.io/part-of".into(), json!("lucid"));
    Value::Object(m)
}

fn selector_labels(service: &str) -> Map<String, Value> {
    Map::from_iter([(NAME_LABEL.to_string(), json!(service))])
}
