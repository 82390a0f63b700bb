//! The one compose model every check reads: the files of a deployment merged with Compose's
//! override rules, profiles applied, each value with the place it was written.

use super::interpolate::Environment;
use super::merge;
use super::read::{section, FileTree};
use super::yaml::{Entry, Node, Origin};
use crate::report::{Check, Finding};
use lucid_catalog::parse_bytes;
use std::collections::BTreeSet;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub origin: Origin,
}

/// A host port publication.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub host_ip: Option<String>,
    pub port: u16,
    pub protocol: String,
    /// Key path of the `ports` item (`services.x.ports[0]`).
    pub key: String,
    pub origin: Origin,
}

impl Published {
    pub fn label(&self) -> String {
        match &self.host_ip {
            Some(ip) => format!("{ip}:{}/{}", self.port, self.protocol),
            None => format!("{}/{}", self.port, self.protocol),
        }
    }
}

/// One `ports` mapping, as Compose normalises it (ranges expanded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    pub host_ip: Option<String>,
    pub published: Option<u16>,
    pub target: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceNetwork {
    /// The key of the top-level `networks` entry.
    pub key: String,
    pub ipv4_address: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub service: String,
    pub condition: String,
    pub origin: Origin,
}

/// One `environment` variable.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub key: String,
    /// The value; a variable named without one takes the environment's (`None` when unset).
    pub value: Option<String>,
    /// As written, before interpolation.
    pub written: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Healthcheck {
    /// `test` as a list (a string is `CMD-SHELL <string>`); `["NONE"]` when disabled.
    pub test: Vec<String>,
    pub disabled: bool,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path (absolute) or volume name; none for an anonymous volume.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    pub source: String,
    /// In-container path (Compose's default: `/run/secrets/<source>`).
    pub target: String,
}

/// One service, as far as the checks need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// The service's key, where it is written.
    pub origin: Origin,
    /// The merged mapping, for checks that walk every value.
    pub node: Node,
    pub image: Option<Located<String>>,
    pub healthcheck: Option<Healthcheck>,
    pub ports: Vec<Port>,
    pub published: Vec<Published>,
    /// Container ports it declares (`ports` targets, `expose`, `*_PORT` variables).
    pub container_ports: BTreeSet<u16>,
    pub networks: Vec<ServiceNetwork>,
    pub depends_on: Vec<Dependency>,
    pub env: Vec<EnvVar>,
    pub memory_limit: Option<u64>,
    pub memory_reservation: Option<u64>,
    pub cpus: Option<f64>,
    /// A CPU reservation, or the CPU weight `cpu_shares` / 1024 when none is written.
    pub cpu_reservation: Option<f64>,
    pub cpu_shares: Option<u64>,
    /// `deploy.replicas` (1 when not given): the budget counts every replica.
    pub replicas: u32,
    pub platform: Option<Located<String>>,
    pub user: Option<Located<String>>,
    pub secrets: Vec<SecretRef>,
    pub volumes: Vec<Mount>,
    pub profiles: Vec<String>,
}

/// A top-level network declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub key: String,
    /// The Docker network it is: `name:`, else `<project>_<key>` (external: the key).
    pub name: String,
    pub driver: String,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub external: bool,
    pub origin: Origin,
}

/// A top-level secret: its file (absolute) or external.
#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub name: String,
    pub file: Option<String>,
    pub external: bool,
}

/// A deployment: its files merged, profiles applied.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The Compose project name (prefix of the networks it creates).
    pub project: String,
    /// Services that run (no profile, or an active one), in file order.
    pub services: Vec<Service>,
    /// Services defined only for inactive profiles.
    pub inactive: Vec<String>,
    /// The networks by key, the later file's declaration winning (as Compose merges them).
    pub networks: Vec<Network>,
    pub secrets: Vec<Secret>,
    /// Values that could not be read (a port that is no port, a size that is no size…).
    pub findings: Vec<Finding>,
}

impl Model {
    /// Merges `files` (in `-f` order) and keeps the services of the `profiles` given.
    pub fn merge(
        files: &[&FileTree],
        project: &str,
        profiles: &[String],
        env: &Environment,
    ) -> Model {
        let mut services: Vec<Entry> = Vec::new();
        let mut networks: Vec<Entry> = Vec::new();
        let mut secrets: Vec<Entry> = Vec::new();
        for f in files {
            for s in section(&f.root, "services") {
                match services.iter_mut().find(|e| e.key == s.key) {
                    Some(e) => e.value = merge::service(&e.value, &s.value),
                    None => services.push(s.clone()),
                }
            }
            for (list, name) in [(&mut networks, "networks"), (&mut secrets, "secrets")] {
                for n in section(&f.root, name) {
                    match list.iter_mut().find(|e| e.key == n.key) {
                        Some(e) => *e = n.clone(),
                        None => list.push(n.clone()),
                    }
                }
            }
        }
        let mut model = Model {
            project: project.to_string(),
            networks: networks.iter().map(|n| network(n, project)).collect(),
            secrets: secrets.iter().map(secret).collect(),
            ..Model::default()
        };
        for e in &services {
            let s = Service::read(e, env, &mut model.findings);
            if s.profiles.is_empty() || s.profiles.iter().any(|p| profiles.contains(p)) {
                model.services.push(s);
            } else {
                model.inactive.push(s.name);
            }
        }
        model
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Every network declaration of a file (for the identity checks across files).
pub fn networks(file: &FileTree, project: &str) -> Vec<Network> {
    section(&file.root, "networks")
        .iter()
        .map(|n| network(n, project))
        .collect()
}

fn network(e: &Entry, project: &str) -> Network {
    let v = &e.value;
    let ext = v.get("external");
    let external = ext.is_some_and(|x| x.bool() == Some(true) || x.entries().is_some());
    let name = v
        .get("name")
        .and_then(Node::str)
        .or_else(|| ext.and_then(|x| x.get("name")).and_then(Node::str))
        .map(str::to_string)
        .unwrap_or_else(|| {
            if external {
                e.key.clone()
            } else {
                format!("{project}_{}", e.key)
            }
        });
    let config = v
        .get("ipam")
        .and_then(|i| i.get("config"))
        .and_then(Node::items)
        .unwrap_or_default();
    let all = |k: &str| -> Vec<String> {
        config
            .iter()
            .filter_map(|c| c.get(k).and_then(Node::str))
            .map(str::to_string)
            .collect()
    };
    Network {
        key: e.key.clone(),
        name,
        driver: v
            .get("driver")
            .and_then(Node::str)
            .unwrap_or("bridge")
            .to_string(),
        subnets: all("subnet"),
        gateways: all("gateway"),
        external,
        origin: e.origin(),
    }
}

fn secret(e: &Entry) -> Secret {
    Secret {
        name: e.key.clone(),
        file: e.value.get("file").and_then(Node::str).map(str::to_string),
        external: e.value.get("external").and_then(Node::bool) == Some(true),
    }
}

/// Compose's default project name: the directory's name, lower case, `[a-z0-9_-]` only.
pub fn project_name(dir: &std::path::Path) -> String {
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect()
}

/// Where a finding about `key` of a value points.
pub fn finding(
    check: Check,
    key: &str,
    origin: &Origin,
    message: impl std::fmt::Display,
) -> Finding {
    let f = Finding::error(check, message).key(key).at(origin);
    let path: Vec<&str> = key.split('.').collect();
    match (path.first(), path.get(1)) {
        (Some(&"services"), Some(s)) => f.service(s.split('[').next().unwrap_or(s)),
        _ => f,
    }
}

impl Service {
    fn read(e: &Entry, vars: &Environment, findings: &mut Vec<Finding>) -> Service {
        let name = e.key.clone();
        let v = &e.value;
        let located = |k: &str| {
            v.entry(k).and_then(|x| {
                Some(Located {
                    value: x.value.str()?.to_string(),
                    origin: x.origin(),
                })
            })
        };
        let mut s = Service {
            name: name.clone(),
            origin: e.origin(),
            node: v.clone(),
            image: located("image"),
            healthcheck: healthcheck(v),
            ports: Vec::new(),
            published: Vec::new(),
            container_ports: BTreeSet::new(),
            networks: service_networks(v),
            depends_on: depends_on(v),
            env: environment(v, vars),
            memory_limit: None,
            memory_reservation: None,
            cpus: None,
            cpu_reservation: None,
            cpu_shares: None,
            replicas: 1,
            platform: located("platform"),
            user: located("user"),
            secrets: service_secrets(v),
            volumes: mounts(v),
            profiles: strings(v.get("profiles")),
        };
        if v.entries().is_none() {
            findings.push(finding(
                Check::ComposeFile,
                &format!("services.{name}"),
                &e.origin(),
                "service is not a mapping",
            ));
            return s;
        }
        for var in &s.env {
            let port = var.value.as_deref().map(str::parse);
            if let (true, Some(Ok(p))) = (var.key.ends_with("_PORT"), port) {
                s.container_ports.insert(p);
            }
        }
        for x in strings(v.get("expose")) {
            if let Ok(p) = x.split('/').next().unwrap_or("").parse() {
                s.container_ports.insert(p);
            }
        }
        ports(&mut s, v, findings);
        resources(&mut s, v, findings);
        s
    }
}

fn strings(n: Option<&Node>) -> Vec<String> {
    n.and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.str().map(str::to_string))
        .collect()
}

fn healthcheck(v: &Node) -> Option<Healthcheck> {
    let e = v.entry("healthcheck")?;
    let h = &e.value;
    let disabled = h.get("disable").and_then(Node::bool) == Some(true);
    let test = match h.get("test") {
        _ if disabled => vec!["NONE".to_string()],
        Some(t) if t.items().is_some() => strings(Some(t)),
        // A string is run by /bin/sh -c, like CMD-SHELL.
        Some(t) => vec!["CMD-SHELL".to_string(), t.str()?.to_string()],
        None => Vec::new(),
    };
    Some(Healthcheck {
        test,
        disabled,
        origin: h
            .get("test")
            .map(Node::origin)
            .unwrap_or_else(|| e.origin()),
    })
}

fn service_networks(v: &Node) -> Vec<ServiceNetwork> {
    let Some(n) = v.get("networks") else {
        return Vec::new();
    };
    match n.items() {
        Some(items) => items
            .iter()
            .filter_map(|i| {
                Some(ServiceNetwork {
                    key: i.str()?.to_string(),
                    ipv4_address: None,
                    origin: i.origin(),
                })
            })
            .collect(),
        None => n
            .entries()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let ip = e.value.entry("ipv4_address");
                ServiceNetwork {
                    key: e.key.clone(),
                    ipv4_address: ip.and_then(|i| i.value.str()).map(str::to_string),
                    origin: ip.map(Entry::origin).unwrap_or_else(|| e.origin()),
                }
            })
            .collect(),
    }
}

fn depends_on(v: &Node) -> Vec<Dependency> {
    let Some(d) = v.get("depends_on") else {
        return Vec::new();
    };
    match d.items() {
        Some(items) => items
            .iter()
            .filter_map(|i| {
                Some(Dependency {
                    service: i.str()?.to_string(),
                    condition: "service_started".into(),
                    origin: i.origin(),
                })
            })
            .collect(),
        None => d
            .entries()
            .unwrap_or_default()
            .iter()
            .map(|e| Dependency {
                service: e.key.clone(),
                condition: e
                    .value
                    .get("condition")
                    .and_then(Node::str)
                    .unwrap_or("service_started")
                    .to_string(),
                origin: e.origin(),
            })
            .collect(),
    }
}

fn environment(v: &Node, vars: &Environment) -> Vec<EnvVar> {
    let Some(env) = v.get("environment") else {
        return Vec::new();
    };
    merge::as_map(env)
        .entries()
        .unwrap_or_default()
        .iter()
        .map(|e| EnvVar {
            key: e.key.clone(),
            value: match e.value.str() {
                Some(v) => Some(v.to_string()),
                None => vars.get(&e.key).map(str::to_string),
            },
            written: e.value.written().map(str::to_string),
            origin: e.origin(),
        })
        .collect()
}

fn service_secrets(v: &Node) -> Vec<SecretRef> {
    v.get("secrets")
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            let source = i.str().or_else(|| i.get("source").and_then(Node::str))?;
            let target = i.get("target").and_then(Node::str).map(str::to_string);
            Some(SecretRef {
                source: source.to_string(),
                target: match target {
                    Some(t) if t.starts_with('/') => t,
                    Some(t) => format!("/run/secrets/{t}"),
                    None => format!("/run/secrets/{source}"),
                },
            })
        })
        .collect()
}

fn mounts(v: &Node) -> Vec<Mount> {
    v.get("volumes")
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(mount)
        .collect()
}

fn mount(i: &Node) -> Option<Mount> {
    if let Some(text) = i.str() {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [t] => (None, *t, ""),
            [s, t] => (Some(*s), *t, ""),
            [s, t, m, ..] => (Some(*s), *t, *m),
            [] => return None,
        };
        let bind =
            source.is_some_and(|s| s.starts_with('/') || s.starts_with('.') || s.starts_with('~'));
        return Some(Mount {
            kind: if bind { "bind" } else { "volume" }.into(),
            source: source.map(str::to_string),
            target: target.to_string(),
            read_only: mode.split(',').any(|m| m == "ro"),
        });
    }
    Some(Mount {
        kind: i
            .get("type")
            .and_then(Node::str)
            .unwrap_or("volume")
            .to_string(),
        source: i.get("source").and_then(Node::str).map(str::to_string),
        target: i.get("target").and_then(Node::str)?.to_string(),
        read_only: i.get("read_only").and_then(Node::bool) == Some(true),
    })
}

fn ports(s: &mut Service, v: &Node, findings: &mut Vec<Finding>) {
    for (i, p) in v
        .get("ports")
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key = format!("services.{}.ports[{i}]", s.name);
        let bad = |what: String| finding(Check::HostPorts, &key, &p.origin(), what);
        let (host_ip, host, container, protocol) = match p.str() {
            Some(text) => short_port(text),
            None => (
                p.get("host_ip").and_then(Node::str).map(str::to_string),
                p.get("published").and_then(Node::str).map(str::to_string),
                p.get("target")
                    .and_then(Node::str)
                    .unwrap_or_default()
                    .to_string(),
                p.get("protocol")
                    .and_then(Node::str)
                    .unwrap_or("tcp")
                    .to_string(),
            ),
        };
        let Some(targets) = expand_range(&container) else {
            findings.push(bad(format!("{container:?} is not a container port")));
            continue;
        };
        let published = match host.as_deref() {
            None => vec![None; targets.len()],
            Some(h) => match expand_range(h) {
                Some(r) if r.len() == targets.len() => r.into_iter().map(Some).collect(),
                // One host port for a range of container ports: Docker picks within the range.
                Some(r) if targets.len() == 1 && !r.is_empty() => vec![Some(r[0])],
                _ => {
                    findings.push(bad(format!("{h:?} is not a host port")));
                    continue;
                }
            },
        };
        let host_ip = host_ip.filter(|ip| !ip.is_empty());
        for (target, published) in targets.iter().zip(published) {
            s.container_ports.insert(*target);
            s.ports.push(Port {
                host_ip: host_ip.clone(),
                published,
                target: *target,
                protocol: protocol.clone(),
            });
            if let Some(port) = published {
                s.published.push(Published {
                    host_ip: host_ip.clone().filter(|ip| ip != "0.0.0.0" && ip != "::"),
                    port,
                    protocol: protocol.clone(),
                    key: key.clone(),
                    origin: p.origin(),
                });
            }
        }
    }
}

/// `[ip:][host:]container[/protocol]`.
fn short_port(text: &str) -> (Option<String>, Option<String>, String, String) {
    let (spec, proto) = match text.split_once('/') {
        Some((a, b)) => (a, b.to_string()),
        None => (text, "tcp".to_string()),
    };
    let mut parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    parts.reverse();
    match parts.as_slice() {
        [c] => (None, None, c.to_string(), proto),
        [h, c] => (None, Some(h.to_string()), c.to_string(), proto),
        [ip, h, c] => (
            Some(ip.trim_matches(|c| c == '[' || c == ']').to_string()),
            (!h.is_empty()).then(|| h.to_string()),
            c.to_string(),
            proto,
        ),
        _ => (None, None, String::new(), proto),
    }
}

fn expand_range(text: &str) -> Option<Vec<u16>> {
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then(|| (a..=b).collect())
        }
        None => text.parse().ok().map(|p| vec![p]),
    }
}

fn resources(s: &mut Service, v: &Node, findings: &mut Vec<Finding>) {
    let name = s.name.clone();
    let res = v.get("deploy").and_then(|d| d.get("resources"));
    let pick = |section: &str, field: &str, legacy: &str| -> Option<(String, &Entry)> {
        res.and_then(|r| r.get(section))
            .and_then(|l| l.entry(field))
            .map(|e| {
                (
                    format!("services.{name}.deploy.resources.{section}.{field}"),
                    e,
                )
            })
            .or_else(|| {
                v.entry(legacy)
                    .map(|e| (format!("services.{name}.{legacy}"), e))
            })
    };
    let mut number = |field: Option<(String, &Entry)>, bytes: bool| -> Option<f64> {
        let (key, e) = field?;
        let text = e.value.str()?;
        let parsed = if bytes {
            parse_bytes(text)
                .map(|b| b as f64)
                .map_err(|e| e.to_string())
        } else {
            text.parse::<f64>()
                .map_err(|_| format!("{text:?} is not a number of CPUs"))
        };
        parsed
            .map_err(|m| findings.push(finding(Check::Resources, &key, &e.origin(), m)))
            .ok()
    };
    s.memory_limit = number(pick("limits", "memory", "mem_limit"), true).map(|b| b as u64);
    s.memory_reservation =
        number(pick("reservations", "memory", "mem_reservation"), true).map(|b| b as u64);
    s.cpus = number(pick("limits", "cpus", "cpus"), false);
    s.cpu_reservation = number(pick("reservations", "cpus", "cpu_reservation"), false);
    let shares = v
        .entry("cpu_shares")
        .map(|e| (format!("services.{name}.cpu_shares"), e));
    s.cpu_shares = number(shares, false).map(|c| c as u64);
    // Outside Swarm, Docker has no CPU reservation; compose 1.29 drops `reservations.cpus`.
    // The generator therefore expresses it as `cpu_shares` (1024 = one CPU's weight).
    if s.cpu_reservation.is_none() {
        s.cpu_reservation = s.cpu_shares.map(|c| c as f64 / 1024.0);
    }
    if let Some(e) = v.get("deploy").and_then(|d| d.entry("replicas")) {
        match e.value.str().map(str::parse::<u32>) {
            Some(Ok(n)) => s.replicas = n,
            _ => findings.push(finding(
                Check::Resources,
                &format!("services.{name}.deploy.replicas"),
                &e.origin(),
                "is not a whole number of replicas",
            )),
        }
    }
}
