//! The cluster deployments `cargo xtask compose` writes beside the compose files: the Docker
//! Swarm stack file and the Kubernetes manifests. Checked where a compose check applies: every
//! image resolves to a built image (or the pinned external one), every workload has its health
//! checks, and the reservations of every replica against one node of the device profile — how
//! many nodes the deployment needs at least, and no replica larger than a node. (The stack
//! file's services are also checked as a compose file; see `check_compose`.)

use crate::compose::checks::resolve_reference;
use crate::compose::model::{finding, Located, Model};
use crate::compose::yaml::{self, Node, Origin};
use crate::compose::Images;
use crate::report::{Check, ClusterReport, DeviceProfile, Finding};
use std::path::Path;
use std::rc::Rc;

pub const SWARM: &str = "Docker Swarm stack";
pub const KUBERNETES: &str = "Kubernetes";

/// What each replica of one workload reserves.
struct Workload {
    name: String,
    /// Where its resources are written (for findings).
    key: String,
    origin: Origin,
    replicas: u32,
    memory_reservation: u64,
    cpu_reservation: f64,
    memory_limit: u64,
}

/// The Swarm stack file, read as Compose reads it (`model`): each service's reservations
/// (`deploy.resources.reservations`) times its `deploy.replicas`.
pub fn swarm(file: &str, model: &Model, device: &DeviceProfile) -> ClusterReport {
    let mut findings = Vec::new();
    let workloads: Vec<Workload> = model
        .services
        .iter()
        .map(|s| {
            let key = format!("services.{}.deploy.resources.reservations", s.name);
            if s.memory_reservation.is_none() {
                findings.push(finding(
                    Check::Resources,
                    &format!("{key}.memory"),
                    &s.origin,
                    "no memory reservation: the scheduler cannot place the task by size",
                ));
            }
            Workload {
                name: s.name.clone(),
                key,
                origin: s.origin.clone(),
                replicas: s.replicas,
                memory_reservation: s.memory_reservation.unwrap_or(0),
                cpu_reservation: s.cpu_reservation.unwrap_or(0.0),
                memory_limit: s.memory_limit.unwrap_or(0),
            }
        })
        .collect();
    budget(SWARM, vec![file.to_string()], &workloads, device, findings)
}

/// Every `*.yaml` under `dir` (`shown` is how the report names it): Deployments and
/// StatefulSets, their containers' images, probes and resources.
pub fn kubernetes(
    dir: &Path,
    shown: &str,
    images: &Images,
    device: &DeviceProfile,
) -> ClusterReport {
    let mut findings = Vec::new();
    let mut workloads = Vec::new();
    let mut files = Vec::new();
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(e) => {
            findings.push(
                Finding::error(
                    Check::ClusterFile,
                    format!("cannot read the directory: {e}"),
                )
                .file(shown),
            );
            Vec::new()
        }
    };
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let file: Rc<str> = format!("{shown}/{name}").into();
        files.push(file.to_string());
        let docs = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                yaml::parse_all(&file, &text)
                    .map_err(|e| format!("not valid YAML (line {}): {}", e.line, e.message))
            });
        match docs {
            Ok(docs) => {
                for doc in &docs {
                    if let Some(w) = workload(doc, images, &mut findings) {
                        workloads.push(w);
                    }
                }
            }
            Err(e) => findings.push(Finding::error(Check::ClusterFile, e).file(file.to_string())),
        }
    }
    if files.is_empty() && findings.is_empty() {
        findings.push(Finding::error(Check::ClusterFile, "no manifest").file(shown));
    }
    budget(KUBERNETES, files, &workloads, device, findings)
}

/// A Deployment or StatefulSet (`None` for any other object): its containers checked, what
/// each replica requests summed over them.
fn workload(doc: &Node, images: &Images, findings: &mut Vec<Finding>) -> Option<Workload> {
    let kind = doc.get("kind").and_then(Node::str)?;
    if kind != "Deployment" && kind != "StatefulSet" {
        return None;
    }
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::str)
        .unwrap_or("?")
        .to_string();
    let spec = doc.get("spec");
    let at = |key: &str, origin: &Origin, message: String| {
        finding(Check::ClusterFile, key, origin, message).service(name.clone())
    };
    let replicas_entry = spec.and_then(|s| s.entry("replicas"));
    let replicas = match replicas_entry.map(|e| e.value.str().map(str::parse::<u32>)) {
        None => 1,
        Some(Some(Ok(n))) => n,
        Some(_) => {
            let e = replicas_entry.expect("matched Some");
            let key = format!("{kind}/{name}.spec.replicas");
            findings.push(at(&key, &e.origin(), "is not a whole number".into()));
            1
        }
    };
    let claims = spec
        .and_then(|s| s.get("volumeClaimTemplates"))
        .and_then(Node::items)
        .is_some_and(|v| !v.is_empty());
    if claims && replicas > 1 {
        let e = replicas_entry.expect("replicas > 1 was written");
        findings.push(at(
            &format!("{kind}/{name}.spec.replicas"),
            &e.origin(),
            format!("{replicas} replicas of a workload that owns a volume: it is single-instance"),
        ));
    }
    let pod = spec
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("spec"));
    let containers = pod
        .and_then(|p| p.get("containers"))
        .and_then(Node::items)
        .unwrap_or(&[]);
    if containers.is_empty() {
        findings.push(at(
            &format!("{kind}/{name}.spec.template.spec.containers"),
            &doc.origin(),
            "no containers".into(),
        ));
    }
    let mut w = Workload {
        name: name.clone(),
        key: format!("{kind}/{name}.spec.template.spec.containers"),
        origin: doc.origin(),
        replicas,
        memory_reservation: 0,
        cpu_reservation: 0.0,
        memory_limit: 0,
    };
    for (i, c) in containers.iter().enumerate() {
        let key = format!("{kind}/{name}.spec.template.spec.containers[{i}]");
        let mut check = ContainerCheck {
            workload: &name,
            key: &key,
            container: c,
            findings: &mut *findings,
        };
        check.image(images);
        check.probes();
        w.memory_reservation += check.quantity("requests", "memory", memory_quantity) as u64;
        w.cpu_reservation += check.quantity("requests", "cpu", cpu_quantity);
        w.memory_limit += check.quantity("limits", "memory", memory_quantity) as u64;
    }
    Some(w)
}

/// One container of a workload: what it must carry, each lack a finding under its key.
struct ContainerCheck<'a> {
    workload: &'a str,
    /// `Deployment/<name>.spec.template.spec.containers[<i>]`.
    key: &'a str,
    container: &'a Node,
    findings: &'a mut Vec<Finding>,
}

impl ContainerCheck<'_> {
    fn push(
        &mut self,
        check: Check,
        field: &str,
        origin: &Origin,
        message: impl std::fmt::Display,
    ) {
        let key = format!("{}.{field}", self.key);
        self.findings
            .push(finding(check, &key, origin, message).service(self.workload));
    }

    /// A built image, or the pinned external one (as for compose files).
    fn image(&mut self, images: &Images) {
        let image = self.container.entry("image").and_then(|e| {
            Some(Located {
                value: e.value.str()?.to_string(),
                origin: e.origin(),
            })
        });
        let key = format!("{}.image", self.key);
        let origin = self.container.origin();
        let resolved = resolve_reference(self.workload, image.as_ref(), &origin, &key, images);
        let workload = self.workload;
        self.findings
            .extend(resolved.finding.map(|f| f.service(workload)));
    }

    fn probes(&mut self) {
        for probe in ["livenessProbe", "readinessProbe"] {
            if self.container.get(probe).is_none() {
                let origin = self.container.origin();
                self.push(
                    Check::Healthcheck,
                    probe,
                    &origin,
                    "missing: Kubernetes would not notice a hung or unready container",
                );
            }
        }
    }

    /// `resources.<section>.<field>` parsed with `parse`; 0 (and a finding) when missing or
    /// malformed.
    fn quantity(&mut self, section: &str, field: &str, parse: fn(&str) -> Option<f64>) -> f64 {
        let at = format!("resources.{section}.{field}");
        let entry = self
            .container
            .get("resources")
            .and_then(|r| r.get(section))
            .and_then(|s| s.entry(field));
        let Some(e) = entry else {
            let origin = self.container.origin();
            self.push(Check::ClusterFile, &at, &origin, "missing");
            return 0.0;
        };
        match e.value.str().and_then(parse) {
            Some(v) => v,
            None => {
                let written = e.value.str().unwrap_or("?").to_string();
                self.push(
                    Check::ClusterFile,
                    &at,
                    &e.origin(),
                    format!("{written:?} is not a Kubernetes quantity"),
                );
                0.0
            }
        }
    }
}

/// Bytes of a Kubernetes memory quantity: `16Mi`, `1Gi`, `500M`, `1024`.
pub fn memory_quantity(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok().filter(|n: &f64| *n >= 0.0)?;
    let factor = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    Some(n * factor)
}

/// CPUs of a Kubernetes CPU quantity: `50m`, `0.5`, `2`.
pub fn cpu_quantity(text: &str) -> Option<f64> {
    let n = match text.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok()? / 1000.0,
        None => text.parse::<f64>().ok()?,
    };
    (n >= 0.0).then_some(n)
}

/// The sums over every replica, against one node; a replica larger than a node is an error.
fn budget(
    kind: &str,
    files: Vec<String>,
    workloads: &[Workload],
    device: &DeviceProfile,
    mut findings: Vec<Finding>,
) -> ClusterReport {
    let replicas = |w: &Workload| u64::from(w.replicas);
    let memory: u64 = workloads
        .iter()
        .map(|w| w.memory_reservation * replicas(w))
        .sum();
    let cpus: f64 = workloads
        .iter()
        .map(|w| w.cpu_reservation * f64::from(w.replicas))
        .sum();
    let limits: u64 = workloads.iter().map(|w| w.memory_limit * replicas(w)).sum();
    for w in workloads {
        if w.memory_reservation > device.budget_memory_bytes
            || w.cpu_reservation > device.budget_cpus + 1e-9
        {
            findings.push(
                finding(
                    Check::Resources,
                    &w.key,
                    &w.origin,
                    format!(
                        "one replica reserves {} MiB and {:.2} CPUs; a node of {} leaves {} MiB and {:.2} CPUs to containers",
                        w.memory_reservation >> 20,
                        w.cpu_reservation,
                        device.name,
                        device.budget_memory_bytes >> 20,
                        device.budget_cpus
                    ),
                )
                .service(w.name.clone()),
            );
        }
    }
    let nodes_for = |need: f64, per_node: f64| {
        if per_node > 0.0 {
            (need / per_node - 1e-9).ceil().max(1.0) as u32
        } else {
            1
        }
    };
    let nodes_needed = nodes_for(memory as f64, device.budget_memory_bytes as f64)
        .max(nodes_for(cpus, device.budget_cpus));
    ClusterReport {
        kind: kind.to_string(),
        files,
        workloads: workloads.len(),
        replicas: workloads.iter().map(|w| w.replicas).sum(),
        memory_reservation_bytes: memory,
        cpu_reservation: cpus,
        memory_limit_bytes: limits,
        nodes_needed,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> DeviceProfile {
        DeviceProfile {
            name: "Pi".into(),
            memory_bytes: 8 << 30,
            cpus: 4.0,
            budget_memory_bytes: 6 << 30,
            budget_cpus: 3.0,
        }
    }

    fn manifest(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    const DEPLOYMENT: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: web\n        image: docker.io/library/mongo:7@sha256:1f995ad6fdb93244a1addab1b58f934a0bc2f5643c38e02f5e9d7f0c7d227a7b\n        livenessProbe: {httpGet: {path: /health, port: 80}}\n        readinessProbe: {httpGet: {path: /ready, port: 80}}\n        resources:\n          requests: {memory: 3Gi, cpu: 500m}\n          limits: {memory: 4Gi}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n";

    fn images() -> Images {
        Images {
            repository: "pickme/lucid".into(),
            built: Vec::new(),
            external: vec![lucid_catalog::ImageRef::parse("docker.io/library/mongo:7@sha256:1f995ad6fdb93244a1addab1b58f934a0bc2f5643c38e02f5e9d7f0c7d227a7b").unwrap()],
        }
    }

    #[test]
    fn swarm_tasks_count_per_replica_and_say_how_many_nodes() {
        let mongo = "docker.io/library/mongo:7@sha256:1f995ad6fdb93244a1addab1b58f934a0bc2f5643c38e02f5e9d7f0c7d227a7b";
        let text = format!(
            "services:\n  web:\n    image: {mongo}\n    deploy:\n      replicas: 4\n      resources:\n        reservations: {{memory: 2G, cpus: '0.5'}}\n        limits: {{memory: 3G}}\n  worker:\n    image: {mongo}\n    deploy:\n      replicas: many\n"
        );
        let doc = crate::compose::parse("stack.yaml", &text, &images());
        let bad: Vec<String> = doc.findings.iter().map(|f| f.to_string()).collect();
        assert!(
            bad.iter()
                .any(|f| f.contains("services.worker.deploy.replicas")
                    && f.contains("not a whole number")),
            "{bad:#?}"
        );
        let r = swarm("stack.yaml", &doc.model, &device());
        assert_eq!((r.workloads, r.replicas), (2, 5));
        assert_eq!(r.memory_reservation_bytes, 8 << 30);
        assert_eq!(r.memory_limit_bytes, 12 << 30);
        assert!((r.cpu_reservation - 2.0).abs() < 1e-9);
        assert_eq!(r.nodes_needed, 2, "8 GiB reserved, 6 GiB per node");
        let text: Vec<String> = r.findings.iter().map(|f| f.to_string()).collect();
        assert_eq!(text.len(), 1, "{text:#?}");
        assert!(text[0].contains("services.worker.deploy.resources.reservations.memory"));
    }

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        assert_eq!(memory_quantity("16Mi"), Some(16.0 * 1024.0 * 1024.0));
        assert_eq!(memory_quantity("1G"), Some(1e9));
        assert_eq!(memory_quantity("512"), Some(512.0));
        assert_eq!(memory_quantity("16MB"), None);
        assert_eq!(cpu_quantity("50m"), Some(0.05));
        assert_eq!(cpu_quantity("2"), Some(2.0));
        assert_eq!(cpu_quantity("-1"), None);
    }

    #[test]
    fn replicas_count_against_the_node_and_say_how_many_nodes() {
        let dir = tempfile::tempdir().unwrap();
        manifest(dir.path(), "web.yaml", DEPLOYMENT);
        let r = kubernetes(dir.path(), "k8s", &images(), &device());
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!((r.workloads, r.replicas), (1, 3));
        assert_eq!(r.memory_reservation_bytes, 9 << 30);
        assert!((r.cpu_reservation - 1.5).abs() < 1e-9);
        assert_eq!(r.memory_limit_bytes, 12 << 30);
        // 9 GiB reserved, 6 GiB per node.
        assert_eq!(r.nodes_needed, 2);
    }

    #[test]
    fn a_container_without_probes_or_requests_and_an_unbuilt_image_are_findings() {
        let dir = tempfile::tempdir().unwrap();
        let broken = DEPLOYMENT
            .replace(
                "        livenessProbe: {httpGet: {path: /health, port: 80}}\n",
                "",
            )
            .replace(
                "requests: {memory: 3Gi, cpu: 500m}",
                "requests: {memory: 3GB}",
            )
            .replace(
                "docker.io/library/mongo:7@sha256",
                "docker.io/pickme/lucid:web-0.1.0@sha256",
            );
        manifest(dir.path(), "web.yaml", &broken);
        let r = kubernetes(dir.path(), "k8s", &images(), &device());
        let keys: Vec<String> = r.findings.iter().map(|f| f.to_string()).collect();
        let has = |what: &str| keys.iter().any(|k| k.contains(what));
        assert!(has("containers[0].image"), "{keys:#?}");
        assert!(has("containers[0].livenessProbe"), "{keys:#?}");
        assert!(
            has("resources.requests.memory") && has("\"3GB\""),
            "{keys:#?}"
        );
        assert!(has("resources.requests.cpu"), "{keys:#?}");
        assert!(r
            .findings
            .iter()
            .all(|f| f.file.as_deref() == Some("k8s/web.yaml")));
    }

    #[test]
    fn a_replica_larger_than_a_node_and_a_replicated_volume_owner_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let huge = DEPLOYMENT
            .replace("kind: Deployment", "kind: StatefulSet")
            .replace(
                "  replicas: 3\n",
                "  replicas: 2\n  volumeClaimTemplates:\n  - metadata: {name: data}\n",
            )
            .replace("memory: 3Gi", "memory: 7Gi");
        manifest(dir.path(), "db.yaml", &huge);
        let r = kubernetes(dir.path(), "k8s", &images(), &device());
        let text: Vec<String> = r.findings.iter().map(|f| f.to_string()).collect();
        assert!(
            text.iter().any(|t| t.contains("single-instance")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("one replica reserves 7168 MiB")),
            "{text:#?}"
        );
    }

    #[test]
    fn an_unreadable_manifest_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        manifest(dir.path(), "bad.yaml", "kind: [Deployment\n");
        let r = kubernetes(dir.path(), "k8s", &images(), &device());
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].file.as_deref(), Some("k8s/bad.yaml"));
        assert_eq!(r.findings[0].check, Check::ClusterFile);
    }
}
