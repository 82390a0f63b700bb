//! Reads any compose file and checks what one file alone can tell: its keys, references,
//! health checks, credentials, platforms and the counts it claims. Checks across the files of
//! a deployment live in [`crate::deploy`].

use crate::image::BuiltImage;
use crate::report::{Check, ComposeFileReport, ComposeServiceReport, Finding, NetworkReport};
use lucid_catalog::reference::short_digest;
use lucid_catalog::{parse_bytes, ImageRef};
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Top-level keys of the Compose Specification (`x-*` extensions are allowed too).
const TOP_LEVEL_KEYS: [&str; 9] = [
    "version", "name", "include", "services", "models", "networks", "volumes", "secrets", "configs",
];

/// Service keys of the Compose Specification (compose-spec.json, `definitions.service`).
const SERVICE_KEYS: [&str; 92] = [
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// Programs a distroless image does not have, which health checks of the original files called.
const SHELL_TOOLS: [&str; 10] = [
    "sh", "bash", "curl", "wget", "nc", "netcat", "netstat", "ss", "busybox", "python3",
];

/// A host port publication.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub host_ip: Option<String>,
    pub port: u16,
    pub protocol: String,
    pub key: String,
}

impl Published {
    pub fn label(&self) -> String {
        match &self.host_ip {
            Some(ip) => format!("{ip}:{}/{}", self.port, self.protocol),
            None => format!("{}/{}", self.port, self.protocol),
        }
    }
}

/// One service, as far as the checks need it.
#[derive(Debug, Clone, Default)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub healthcheck: Option<Vec<String>>,
    /// The service's healthcheck is absent or disabled.
    pub health_disabled: bool,
    pub published: Vec<Published>,
    /// Container ports it declares (`ports` targets, `expose`).
    pub container_ports: BTreeSet<u16>,
    /// network -> fixed IPv4 address, as written.
    pub networks: Vec<(String, Option<String>)>,
    pub depends_on: Vec<String>,
    pub env: Vec<(String, String)>,
    pub memory_limit: Option<u64>,
    pub memory_reservation: Option<u64>,
    pub cpus: Option<f64>,
    pub cpu_reservation: Option<f64>,
    pub resolution: String,
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub subnets: Vec<String>,
    pub external: bool,
}

/// A parsed compose file and what was found in it alone.
#[derive(Debug, Clone, Default)]
pub struct ComposeDoc {
    pub path: String,
    pub text: String,
    pub services: Vec<Service>,
    pub networks: BTreeMap<String, Network>,
    pub findings: Vec<Finding>,
}

/// What compose images are resolved against.
#[derive(Debug, Clone, Default)]
pub struct Images {
    /// Repository path of the built images (`pickme/lucid`): references into it must resolve.
    pub repository: String,
    pub built: Vec<BuiltImage>,
    /// Images not built here but expected (MongoDB), pinned by digest.
    pub external: Vec<ImageRef>,
}

impl ComposeDoc {
    /// A finding located at `key` (dotted path) in this file.
    pub fn at(&self, check: Check, key: &str, message: impl std::fmt::Display) -> Finding {
        let path: Vec<&str> = key.split('.').collect();
        let f = Finding::error(check, message)
            .file(self.path.clone())
            .key(key)
            .line(locate(&self.text, &path));
        match (path.first(), path.get(1)) {
            (Some(&"services"), Some(s)) => f.service(*s),
            _ => f,
        }
    }

    pub fn report(&self) -> ComposeFileReport {
        ComposeFileReport {
            path: self.path.clone(),
            service_count: self.services.len(),
            services: self
                .services
                .iter()
                .map(|s| ComposeServiceReport {
                    name: s.name.clone(),
                    image: s.image.clone(),
                    image_resolution: s.resolution.clone(),
                    healthcheck: s.healthcheck.clone(),
                    host_ports: s.published.iter().map(Published::label).collect(),
                    fixed_ips: s
                        .networks
                        .iter()
                        .filter_map(|(n, ip)| ip.as_ref().map(|ip| format!("{n}={ip}")))
                        .collect(),
                    memory_limit: s.memory_limit,
                    memory_reservation: s.memory_reservation,
                    cpus: s.cpus,
                    cpu_reservation: s.cpu_reservation,
                    depends_on: s.depends_on.clone(),
                })
                .collect(),
            networks: self
                .networks
                .iter()
                .map(|(n, net)| NetworkReport {
                    name: n.clone(),
                    subnets: net.subnets.clone(),
                    external: net.external,
                })
                .collect(),
            findings: self.findings.clone(),
        }
    }
}

/// Reads a compose file from disk; `display` is how the report names it.
pub fn load(path: &std::path::Path, display: &str, images: &Images) -> ComposeDoc {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(display, &text, images),
        Err(e) => ComposeDoc {
            path: display.into(),
            findings: vec![
                Finding::error(Check::ComposeFile, format!("cannot read: {e}")).file(display),
            ],
            ..ComposeDoc::default()
        },
    }
}

/// Parses and checks one compose file.
pub fn parse(display: &str, text: &str, images: &Images) -> ComposeDoc {
    let mut doc = ComposeDoc {
        path: display.into(),
        text: text.into(),
        ..ComposeDoc::default()
    };
    let mut value: Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            doc.findings.push(
                Finding::error(Check::ComposeFile, format!("not valid YAML: {e}"))
                    .file(display)
                    .line(line),
            );
            return doc;
        }
    };
    if let Err(e) = value.apply_merge() {
        doc.findings.push(
            Finding::error(Check::ComposeFile, format!("YAML merge keys: {e}")).file(display),
        );
    }
    let Some(top) = value.as_mapping() else {
        doc.findings.push(
            Finding::error(Check::ComposeFile, "not a mapping at the top level").file(display),
        );
        return doc;
    };
    let mut findings = Vec::new();
    for key in top.keys() {
        let k = scalar(key).unwrap_or_default();
        if !TOP_LEVEL_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
            findings.push(doc.at(
                Check::UnknownKey,
                &k,
                format!(
                    "top-level key {k:?} is not a Compose key (known: {}, x-*)",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            ));
        }
    }
    if let Some(nets) = top.get("networks").and_then(Value::as_mapping) {
        for (name, net) in nets {
            let name = scalar(name).unwrap_or_default();
            let mut n = Network {
                external: net
                    .get("external")
                    .is_some_and(|v| v.as_bool() == Some(true) || v.is_mapping()),
                ..Network::default()
            };
            if let Some(cfg) = net
                .get("ipam")
                .and_then(|i| i.get("config"))
                .and_then(Value::as_sequence)
            {
                n.subnets = cfg
                    .iter()
                    .filter_map(|c| c.get("subnet").and_then(scalar))
                    .map(|s| interpolate_defaults(&s))
                    .collect();
            }
            doc.networks.insert(name, n);
        }
    }
    match top.get("services") {
        None => findings.push(doc.at(Check::ComposeFile, "services", "no services")),
        Some(v) => match v.as_mapping() {
            None => {
                findings.push(doc.at(Check::ComposeFile, "services", "services is not a mapping"))
            }
            Some(services) => {
                for (name, svc) in services {
                    let name = scalar(name).unwrap_or_default();
                    let s = service(&doc, &name, svc, images, &mut findings);
                    doc.services.push(s);
                }
            }
        },
    }
    findings.extend(count_claims(&doc));
    doc.findings = findings;
    doc
}

fn service(
    doc: &ComposeDoc,
    name: &str,
    v: &Value,
    images: &Images,
    findings: &mut Vec<Finding>,
) -> Service {
    let key = |k: &str| format!("services.{name}.{k}");
    let mut s = Service {
        name: name.into(),
        ..Service::default()
    };
    let Some(map) = v.as_mapping() else {
        findings.push(doc.at(
            Check::ComposeFile,
            &format!("services.{name}"),
            "service is not a mapping",
        ));
        return s;
    };
    for k in map.keys() {
        let k = scalar(k).unwrap_or_default();
        if !SERVICE_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
            findings.push(doc.at(
                Check::UnknownKey,
                &key(&k),
                format!("{k:?} is not a Compose service key"),
            ));
        }
    }
    s.image = v.get("image").and_then(scalar);
    s.env = environment(v.get("environment"));
    for (k, val) in &s.env {
        if k.ends_with("_PORT") {
            if let Ok(p) = interpolate_defaults(val).parse() {
                s.container_ports.insert(p);
            }
        }
    }
    if let Some(expose) = v.get("expose").and_then(Value::as_sequence) {
        for e in expose.iter().filter_map(scalar) {
            if let Ok(p) = e.split('/').next().unwrap_or("").parse() {
                s.container_ports.insert(p);
            }
        }
    }
    ports(doc, name, v.get("ports"), &mut s, findings);
    match v.get("networks") {
        Some(Value::Sequence(list)) => {
            s.networks = list.iter().filter_map(scalar).map(|n| (n, None)).collect()
        }
        Some(Value::Mapping(m)) => {
            for (n, cfg) in m {
                let ip = cfg
                    .get("ipv4_address")
                    .and_then(scalar)
                    .map(|i| interpolate_defaults(&i));
                s.networks.push((scalar(n).unwrap_or_default(), ip));
            }
        }
        _ => {}
    }
    s.depends_on = match v.get("depends_on") {
        Some(Value::Sequence(list)) => list.iter().filter_map(scalar).collect(),
        Some(Value::Mapping(m)) => m.keys().filter_map(scalar).collect(),
        _ => Vec::new(),
    };
    resources(doc, name, v, &mut s, findings);
    if let Some(p) = v.get("platform").and_then(scalar) {
        findings.push(doc.at(
            Check::Platform,
            &key("platform"),
            format!("forces the image to {p}; the images are multi-platform and the device (arm64 Raspberry Pi) must pick its own"),
        ));
    }
    if let Some(user) = v.get("user").and_then(scalar) {
        let who = user.split(':').next().unwrap_or("");
        if who == "0" || who == "root" {
            findings.push(doc.at(
                Check::User,
                &key("user"),
                format!("user {user:?} runs the container as root"),
            ));
        }
    }
    credentials(doc, name, v, &s, findings);
    let built = resolve_image(doc, name, &mut s, images, findings);
    healthcheck(doc, name, v, &mut s, built, images, findings);
    s
}

/// `environment` as a list of `K=V` or a mapping.
fn environment(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default()))
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(scalar)
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn ports(
    doc: &ComposeDoc,
    name: &str,
    v: Option<&Value>,
    s: &mut Service,
    findings: &mut Vec<Finding>,
) {
    let Some(list) = v.and_then(Value::as_sequence) else {
        return;
    };
    for (i, p) in list.iter().enumerate() {
        let key = format!("services.{name}.ports[{i}]");
        let (host_ip, host, container, protocol) = if let Some(text) = scalar(p) {
            let text = interpolate_defaults(&text);
            let (spec, proto) = match text.split_once('/') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (text.clone(), "tcp".to_string()),
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
                _ => unreachable!("rsplitn(3) yields 1 to 3 parts"),
            }
        } else {
            (
                p.get("host_ip").and_then(scalar),
                p.get("published")
                    .and_then(scalar)
                    .map(|t| interpolate_defaults(&t)),
                p.get("target").and_then(scalar).unwrap_or_default(),
                p.get("protocol")
                    .and_then(scalar)
                    .unwrap_or_else(|| "tcp".into()),
            )
        };
        for c in expand_range(&container).unwrap_or_default() {
            s.container_ports.insert(c);
        }
        let Some(host) = host else { continue };
        match expand_range(&host) {
            Some(range) => {
                for port in range {
                    s.published.push(Published {
                        host_ip: host_ip.clone().filter(|ip| ip != "0.0.0.0" && ip != "::"),
                        port,
                        protocol: protocol.clone(),
                        key: key.clone(),
                    });
                }
            }
            None => findings.push(doc.at(
                Check::HostPorts,
                &key,
                format!("{host:?} is not a host port"),
            )),
        }
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

fn resources(
    doc: &ComposeDoc,
    name: &str,
    v: &Value,
    s: &mut Service,
    findings: &mut Vec<Finding>,
) {
    let res = v.get("deploy").and_then(|d| d.get("resources"));
    let pick = |section: &str, field: &str, legacy: &str| -> Option<(String, Value)> {
        res.and_then(|r| r.get(section))
            .and_then(|l| l.get(field))
            .map(|v| {
                (
                    format!("services.{name}.deploy.resources.{section}.{field}"),
                    v.clone(),
                )
            })
            .or_else(|| {
                v.get(legacy)
                    .map(|v| (format!("services.{name}.{legacy}"), v.clone()))
            })
    };
    let mut bytes = |field: Option<(String, Value)>| {
        let (key, v) = field?;
        let text = interpolate_defaults(&scalar(&v)?);
        parse_bytes(&text)
            .map_err(|e| findings.push(doc.at(Check::Resources, &key, e)))
            .ok()
    };
    s.memory_limit = bytes(pick("limits", "memory", "mem_limit"));
    s.memory_reservation = bytes(pick("reservations", "memory", "mem_reservation"));
    let mut cpus = |field: Option<(String, Value)>| {
        let (key, v) = field?;
        let text = interpolate_defaults(&scalar(&v)?);
        text.parse::<f64>()
            .map_err(|_| {
                findings.push(doc.at(
                    Check::Resources,
                    &key,
                    format!("{text:?} is not a number of CPUs"),
                ))
            })
            .ok()
    };
    s.cpus = cpus(pick("limits", "cpus", "cpus"));
    s.cpu_reservation = cpus(pick("reservations", "cpus", "cpu_reservation"));
    // Outside Swarm, Docker has no CPU reservation; compose 1.29 drops `reservations.cpus`.
    // The generator therefore expresses it as `cpu_shares` (1024 = one CPU's weight).
    if s.cpu_reservation.is_none() {
        let shares = v
            .get("cpu_shares")
            .map(|c| (format!("services.{name}.cpu_shares"), c.clone()));
        s.cpu_reservation = cpus(shares).map(|shares| shares / 1024.0);
    }
}

/// Words that make an environment variable a secret (by `_`-separated token).
fn secret_env_name(key: &str) -> bool {
    let tokens: Vec<String> = key.split('_').map(|t| t.to_ascii_uppercase()).collect();
    if tokens.last().is_some_and(|t| t == "FILE") {
        return false; // points at a secret file, the way it should be
    }
    let has = |t: &str| tokens.iter().any(|x| x == t);
    has("PASSWORD")
        || has("PASSWD")
        || has("PASS")
        || has("SECRET")
        || has("TOKEN")
        || has("CREDENTIALS")
        || has("APIKEY")
        || tokens.windows(2).any(|w| {
            w[1] == "KEY"
                && matches!(
                    w[0].as_str(),
                    "API" | "PRIVATE" | "ACCESS" | "SIGNING" | "MASTER" | "SECRET"
                )
        })
}

/// `scheme://user:password@host` with a literal password.
fn url_with_password(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let authority = after.split(['/', ' ', '"', '\'']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, pass)) = userinfo.split_once(':') {
                if !pass.is_empty() && !pass.starts_with('$') {
                    return true;
                }
            }
        }
        rest = after;
    }
    false
}

fn credentials(doc: &ComposeDoc, name: &str, v: &Value, s: &Service, findings: &mut Vec<Finding>) {
    for (k, val) in &s.env {
        if secret_env_name(k) && !val.is_empty() && !val.starts_with("/run/secrets/") {
            findings.push(doc.at(
                Check::Credentials,
                &format!("services.{name}.environment.{k}"),
                format!("secret passed as a plain environment value; use a compose secret and {k}_FILE=/run/secrets/…"),
            ));
        }
    }
    let mut strings = Vec::new();
    walk_strings(v, &format!("services.{name}"), &mut strings);
    for (key, text) in strings {
        if url_with_password(&text) {
            findings.push(doc.at(Check::Credentials, &key, "URL with a literal password"));
        } else if text.starts_with("--password=") || text.starts_with("--pass=") {
            findings.push(doc.at(
                Check::Credentials,
                &key,
                "literal password on a command line",
            ));
        }
    }
    if let Some(list) = v
        .get("healthcheck")
        .and_then(|h| h.get("test"))
        .and_then(Value::as_sequence)
    {
        for (i, w) in list.windows(2).enumerate() {
            let flag = scalar(&w[0]).unwrap_or_default();
            let value = scalar(&w[1]).unwrap_or_default();
            if matches!(flag.as_str(), "--password" | "-p" | "--pass")
                && !value.starts_with('$')
                && value.parse::<u16>().is_err()
            {
                findings.push(doc.at(
                    Check::Credentials,
                    &format!("services.{name}.healthcheck.test[{}]", i + 1),
                    "literal password in the health check",
                ));
            }
        }
    }
}

fn walk_strings(v: &Value, key: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((key.to_string(), s.clone())),
        Value::Sequence(list) => {
            for (i, x) in list.iter().enumerate() {
                walk_strings(x, &format!("{key}[{i}]"), out);
            }
        }
        Value::Mapping(m) => {
            for (k, x) in m {
                walk_strings(x, &format!("{key}.{}", scalar(k).unwrap_or_default()), out);
            }
        }
        _ => {}
    }
}

/// Resolves the image to a built one, an expected external one, or a finding.
fn resolve_image<'a>(
    doc: &ComposeDoc,
    name: &str,
    s: &mut Service,
    images: &'a Images,
    findings: &mut Vec<Finding>,
) -> Option<&'a BuiltImage> {
    let key = format!("services.{name}.image");
    let Some(text) = s.image.clone() else {
        s.resolution = "no image".into();
        findings.push(doc.at(
            Check::ImageReference,
            &format!("services.{name}"),
            "no image (the pipeline deploys built images, never builds in compose)",
        ));
        return None;
    };
    let r = match ImageRef::parse(&interpolate_defaults(&text)) {
        Ok(r) => r,
        Err(e) => {
            s.resolution = "invalid reference".into();
            findings.push(doc.at(Check::ImageReference, &key, e));
            return None;
        }
    };
    let ours = r.repository == images.repository;
    let built = images.built.iter().find(|b| {
        b.repository == r.repository
            && match (&r.digest, &r.tag) {
                (Some(d), _) => *d == b.index_digest,
                (None, Some(t)) => b.answers_to(t),
                (None, None) => false,
            }
    });
    if let Some(b) = built {
        s.resolution = format!(
            "built {}:{} ({})",
            b.repository,
            b.tag,
            short_digest(&b.index_digest)
        );
        if images.built.iter().any(|x| x.service == name) && b.service != name {
            findings.push(doc.at(
                Check::ImageReference,
                &key,
                format!("service {name} runs the image of {}", b.service),
            ));
        }
        return Some(b);
    }
    if images
        .external
        .iter()
        .any(|e| e.name() == r.name() && e.digest.is_some() && e.digest == r.digest)
    {
        s.resolution = "external, pinned by digest (catalog)".into();
        return None;
    }
    if ours {
        s.resolution = "unresolved".into();
        let why = if r.digest.is_some() {
            "is pinned to a digest that is no built image"
        } else {
            "names no built image"
        };
        findings.push(doc.at(Check::ImageReference, &key, format!("{r} {why}")));
    } else if r.digest.is_some() {
        s.resolution = "external, pinned by digest (not inspected)".into();
        findings.push(Finding {
            severity: crate::report::Severity::Warning,
            ..doc.at(
                Check::ImageReference,
                &key,
                format!("{r} is not built here; pinned, not inspected"),
            )
        });
    } else {
        s.resolution = "external, not pinned".into();
        findings.push(doc.at(
            Check::ImageReference,
            &key,
            format!("{r} is not built here and not pinned by digest"),
        ));
    }
    None
}

fn healthcheck(
    doc: &ComposeDoc,
    name: &str,
    v: &Value,
    s: &mut Service,
    built: Option<&BuiltImage>,
    images: &Images,
    findings: &mut Vec<Finding>,
) {
    let key = format!("services.{name}.healthcheck.test");
    let h = v.get("healthcheck");
    let disabled = h.and_then(|h| h.get("disable")).and_then(Value::as_bool) == Some(true);
    let test: Option<Vec<String>> = match h.and_then(|h| h.get("test")) {
        Some(Value::Sequence(list)) => {
            Some(list.iter().map(|x| scalar(x).unwrap_or_default()).collect())
        }
        // A string is run by /bin/sh -c, like CMD-SHELL.
        Some(Value::String(t)) => Some(vec!["CMD-SHELL".into(), t.clone()]),
        _ => None,
    };
    s.healthcheck = test.clone();
    let image_has_one = built.is_some_and(|b| b.has_healthcheck);
    let Some(test) = test.filter(|t| !disabled && t.first().is_some_and(|f| f != "NONE")) else {
        s.health_disabled = true;
        if !image_has_one {
            findings.push(doc.at(
                Check::Healthcheck,
                &format!("services.{name}.healthcheck"),
                "no health check",
            ));
        }
        return;
    };
    // Distroless: built here, or meant to be (the project's repository).
    let distroless = built.is_some()
        || s.image
            .as_deref()
            .and_then(|i| ImageRef::parse(&interpolate_defaults(i)).ok())
            .is_some_and(|r| r.repository == images.repository);
    let external = !distroless;
    let fail = |m: String| {
        if external {
            Finding {
                severity: crate::report::Severity::Warning,
                ..doc.at(Check::Healthcheck, &key, m)
            }
        } else {
            doc.at(Check::Healthcheck, &key, m)
        }
    };
    match test[0].as_str() {
        "CMD" => {}
        "CMD-SHELL" => {
            findings.push(fail("runs through a shell (CMD-SHELL or a string), which a distroless image does not have".into()));
            return;
        }
        other => {
            findings.push(doc.at(
                Check::Healthcheck,
                &key,
                format!("test starts with {other:?}, not CMD"),
            ));
            return;
        }
    }
    let Some(program) = test.get(1) else {
        findings.push(doc.at(Check::Healthcheck, &key, "CMD without a program"));
        return;
    };
    let base = program.rsplit('/').next().unwrap_or(program);
    if SHELL_TOOLS.contains(&base) {
        findings.push(fail(format!(
            "runs {program}, which a distroless image does not have"
        )));
    } else if let Some(b) = built {
        if !b.files.contains(program.as_str()) {
            findings.push(doc.at(
                Check::Healthcheck,
                &key,
                format!(
                    "{program} is not a file of the image {}:{}",
                    b.repository, b.tag
                ),
            ));
        }
    }
    let mut listening = s.container_ports.clone();
    if let Some(b) = built {
        listening.extend(&b.env_ports);
    }
    if !listening.is_empty() {
        for port in probed_ports(&test[1..]) {
            if !listening.contains(&port) {
                findings.push(doc.at(
                    Check::Healthcheck,
                    &key,
                    format!("probes port {port}, but the service listens on {listening:?}"),
                ));
            }
        }
    }
}

/// Ports a health check command names: `host:port` in words or URLs, `--port N`, `--port=N`.
fn probed_ports(args: &[String]) -> Vec<u16> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if matches!(a.as_str(), "--port" | "-port") {
            if let Some(p) = args.get(i + 1).and_then(|n| n.parse().ok()) {
                out.push(p);
            }
            continue;
        }
        if let Some(p) = a.strip_prefix("--port=").and_then(|n| n.parse().ok()) {
            out.push(p);
            continue;
        }
        for word in a.split_whitespace() {
            let host_part = word.split("://").last().unwrap_or(word);
            let authority = host_part.split('/').next().unwrap_or("");
            if let Some((host, port)) = authority.rsplit_once(':') {
                if !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']'))
                {
                    if let Ok(p) = port.parse() {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

/// Compares every `N services` a comment (or `x-*` value) claims with the services counted.
fn count_claims(doc: &ComposeDoc) -> Vec<Finding> {
    let counted = doc.services.len();
    let mut out = Vec::new();
    for (i, line) in doc.text.lines().enumerate() {
        let Some(pos) = comment_start(line) else {
            continue;
        };
        let words: Vec<&str> = line[pos..]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for w in words.windows(2) {
            if matches!(w[1], "services" | "service") {
                if let Ok(n) = w[0].parse::<usize>() {
                    if n != counted {
                        out.push(
                            Finding::error(
                                Check::Counts,
                                format!("says {n} services; the file defines {counted}"),
                            )
                            .file(doc.path.clone())
                            .line(Some(i + 1)),
                        );
                    }
                }
            }
        }
    }
    out
}

/// Byte offset of a `#` comment in a YAML line (outside quotes), if any.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

/// Replaces `${VAR:-default}` / `${VAR-default}` by the default and `${VAR}` by nothing:
/// what the file means with no environment set (the validator does not read the caller's).
pub fn interpolate_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let inner = &after[..end];
        if let Some((_, d)) = inner.split_once(":-").or_else(|| inner.split_once('-')) {
            out.push_str(d);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// 1-based line of a dotted key path (`services.tor-proxy.healthcheck.test`), found by
/// indentation; list indexes (`ports[1]`) locate their list's key.
pub fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: isize = -1;
    let mut found = None;
    for seg in path {
        let seg = seg.split('[').next().unwrap_or(seg);
        let mut hit = None;
        // Only direct children: lines at the indentation of the first line under the parent.
        let mut child_indent = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent_indent {
                break;
            }
            if *child_indent.get_or_insert(indent) != indent {
                continue;
            }
            let key = trimmed.trim_start_matches("- ");
            let key = key
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '"' || c == '\'');
            if key == seg && trimmed.contains(':') {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some(i + 1);
        from = i + 1;
        parent_indent = indent;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_by_indentation() {
        let text = "services:\n  a:\n    image: x\n    depends_on:\n      b:\n        image: no\n  b:\n    image: y\n    healthcheck:\n      test: [CMD]\n";
        assert_eq!(locate(text, &["services", "b", "image"]), Some(8));
        assert_eq!(
            locate(text, &["services", "b", "healthcheck", "test"]),
            Some(10)
        );
        assert_eq!(locate(text, &["services", "a", "healthcheck"]), None);
    }

    #[test]
    fn interpolation_keeps_defaults() {
        assert_eq!(interpolate_defaults("${P:-8080}:80"), "8080:80");
        assert_eq!(interpolate_defaults("${R}/x"), "/x");
    }

    #[test]
    fn secret_names_are_matched_by_token() {
        assert!(secret_env_name("MONGODB_PASSWORD"));
        assert!(secret_env_name("JWT_SECRET_KEY"));
        assert!(secret_env_name("TRON_API_KEY"));
        assert!(!secret_env_name("MONGODB_PASSWORD_FILE"));
        assert!(!secret_env_name("KEYSPACE"));
        assert!(!secret_env_name("TOR_PROXY_SOCKS_PORT"));
    }

    #[test]
    fn finds_passwords_in_urls_only_when_literal() {
        assert!(url_with_password("mongodb://lucid:lucid@mongo:27017/db"));
        assert!(!url_with_password("mongodb://lucid:${PW}@mongo:27017/db"));
        assert!(!url_with_password("http://api-server:8081/health"));
    }

    #[test]
    fn reads_probed_ports() {
        let args: Vec<String> = ["curl", "-f", "http://localhost:8080/health"]
            .map(String::from)
            .into();
        assert_eq!(probed_ports(&args), vec![8080]);
        let args: Vec<String> = ["x", "healthcheck", "--port", "9"].map(String::from).into();
        assert_eq!(probed_ports(&args), vec![9]);
    }
}
