//! The oracle: for every compose file of the corpus (tests/oracle/<case>/, each Compose feature
//! alone and combined) and every file the repository generates, the model `validate` builds
//! equals what `docker-compose config` (1.29.2, which resolves merge keys, extends,
//! interpolation, profiles and several -f files) prints, service by service, on the keys the
//! checks read: image, ports, networks and addresses, healthcheck, environment, depends_on,
//! limits, secrets, volumes; and the networks by key (Docker name, driver, subnets).
//!
//! A case directory holds its compose files and, optionally, `case.txt`:
//! `files: a.yaml b.yaml` (the -f files, default docker-compose.yaml), `profile: NAME`,
//! `env-file: FILE`, `env: NAME=VALUE`, and `oracle-files: …` when docker-compose 1.29 must be
//! given other files for the same project (it has no `include`: the included files first).
//! Needs docker-compose (CI installs it); `config` does not talk to the engine. `config` prints
//! the services of inactive profiles too: they are dropped from its output by the rule `up`
//! applies (compose/service.py `enabled_for_profiles`) before comparing.

use lucid_catalog::parse_bytes;
use lucid_validate::compose::model::{Model, Service};
use lucid_validate::compose::{Project, ReadOptions};
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the comparison covers, for one service.
#[derive(Debug, PartialEq)]
struct Compared {
    image: Option<String>,
    ports: BTreeSet<(Option<String>, Option<u16>, u16, String)>,
    networks: BTreeMap<String, Option<String>>,
    healthcheck: Option<Vec<String>>,
    environment: BTreeMap<String, Option<String>>,
    depends_on: BTreeMap<String, String>,
    memory_limit: Option<u64>,
    memory_reservation: Option<u64>,
    cpus: Option<String>,
    cpu_shares: Option<u64>,
    secrets: BTreeSet<(String, String)>,
    volumes: BTreeSet<(String, Option<String>, String, bool)>,
}

#[derive(Debug, PartialEq)]
struct NetworkCompared {
    name: String,
    driver: String,
    subnets: Vec<String>,
}

#[derive(Default)]
struct Case {
    dir: PathBuf,
    files: Vec<String>,
    oracle_files: Option<Vec<String>>,
    profiles: Vec<String>,
    env_file: Option<String>,
    env: Vec<(String, String)>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

fn read_case(dir: &Path) -> Case {
    let mut case = Case {
        dir: dir.to_path_buf(),
        files: vec!["docker-compose.yaml".into()],
        ..Case::default()
    };
    let text = std::fs::read_to_string(dir.join("case.txt")).unwrap_or_default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once(':').expect("case.txt: `key: value` lines");
        let v = v.trim();
        let words = || v.split_whitespace().map(str::to_string).collect();
        match k.trim() {
            "files" => case.files = words(),
            "oracle-files" => case.oracle_files = Some(words()),
            "profile" => case.profiles.push(v.into()),
            "env-file" => case.env_file = Some(v.into()),
            "env" => {
                let (n, val) = v.split_once('=').expect("env: NAME=VALUE");
                case.env.push((n.into(), val.into()));
            }
            other => panic!("{}: unknown case key {other}", dir.display()),
        }
    }
    case
}

/// The generated compose files, alone and in the groups deployed together.
fn generated_cases() -> Vec<Case> {
    let dir = workspace_root().join("compose");
    let f = |names: &[&str]| Case {
        dir: dir.clone(),
        files: names.iter().map(|s| s.to_string()).collect(),
        ..Case::default()
    };
    vec![
        f(&["docker-compose.yaml"]),
        f(&["lucid-dev.yaml"]),
        f(&["lucid-dev.yaml", "lucid-layer1-complete.yaml"]),
        f(&["lucid-dev.yaml", "lucid-layer2-complete.yaml"]),
        f(&[
            "lucid-dev.yaml",
            "lucid-layer1-complete.yaml",
            "lucid-layer2-complete.yaml",
        ]),
    ]
}

/// What docker-compose 1.29 prints for the case.
fn oracle(case: &Case) -> Value {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(&case.dir).envs(case.env.iter().cloned());
    if let Some(f) = &case.env_file {
        cmd.args(["--env-file", f]);
    }
    for p in &case.profiles {
        cmd.args(["--profile", p]);
    }
    for f in case.oracle_files.as_ref().unwrap_or(&case.files) {
        cmd.args(["-f", f]);
    }
    let out = cmd
        .arg("config")
        .output()
        .expect("docker-compose is installed");
    assert!(
        out.status.success(),
        "{}: docker-compose config: {}",
        case.dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_norway::from_slice(&out.stdout).unwrap()
}

/// The model validate builds for the case.
fn model(case: &Case) -> Model {
    // The case's variables, as docker-compose gets them from its environment.
    let opts = ReadOptions {
        env_file: case.env_file.as_ref().map(|f| case.dir.join(f)),
        profiles: case.profiles.clone(),
        vars: case.env.clone(),
    };
    let files: Vec<PathBuf> = case.files.iter().map(|f| case.dir.join(f)).collect();
    let project = Project::read(&files, &case.dir, &opts).unwrap();
    for d in &project.docs {
        assert!(d.tree.is_some(), "{}: {:?}", d.path, d.findings);
    }
    project.deployment(&(0..files.len()).collect::<Vec<_>>())
}

/// A scalar as text; `config` prints `$` escaped as `$$` (its output is meant to be read again).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.replace("$$", "$")),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn cpus(x: f64) -> String {
    format!("{x:.3}")
}

/// docker-compose's printed service, reduced to what is compared.
fn from_oracle(s: &Value) -> Compared {
    let get = |k: &str| s.get(k).unwrap_or(&Value::Null);
    let limits = &get("deploy")["resources"]["limits"];
    let reservations = &get("deploy")["resources"]["reservations"];
    let bytes = |v: &Value| text(v).map(|t| parse_bytes(&t).unwrap());
    Compared {
        image: text(get("image")),
        ports: get("ports")
            .as_sequence()
            .into_iter()
            .flatten()
            .map(oracle_port)
            .collect(),
        networks: match get("networks") {
            Value::Mapping(m) => m
                .iter()
                .map(|(k, v)| (text(k).unwrap(), text(&v["ipv4_address"])))
                .collect(),
            Value::Sequence(l) => l.iter().map(|k| (text(k).unwrap(), None)).collect(),
            _ => BTreeMap::new(),
        },
        healthcheck: match &get("healthcheck")["test"] {
            Value::Sequence(l) => Some(l.iter().filter_map(text).collect()),
            Value::String(t) => Some(vec!["CMD-SHELL".into(), t.clone()]),
            _ => None,
        },
        environment: get("environment")
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| (text(k).unwrap(), text(v)))
            .collect(),
        depends_on: get("depends_on")
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| (text(k).unwrap(), text(&v["condition"]).unwrap()))
            .collect(),
        memory_limit: bytes(&limits["memory"]).or_else(|| bytes(get("mem_limit"))),
        memory_reservation: bytes(&reservations["memory"])
            .or_else(|| bytes(get("mem_reservation"))),
        cpus: text(&limits["cpus"])
            .or_else(|| text(get("cpus")))
            .map(|c| cpus(c.parse().unwrap())),
        cpu_shares: text(get("cpu_shares")).map(|c| c.parse().unwrap()),
        secrets: get("secrets")
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|x| {
                let source = text(&x["source"]).or_else(|| text(x)).unwrap();
                let target = text(&x["target"]).unwrap_or_else(|| source.clone());
                let target = if target.starts_with('/') {
                    target
                } else {
                    format!("/run/secrets/{target}")
                };
                (source, target)
            })
            .collect(),
        volumes: get("volumes")
            .as_sequence()
            .into_iter()
            .flatten()
            .map(oracle_volume)
            .collect(),
    }
}

/// `[ip:]published:target[/protocol]` or `{published, target, protocol}`, as 1.29 prints them.
fn oracle_port(p: &Value) -> (Option<String>, Option<u16>, u16, String) {
    if let Some(t) = text(p) {
        let (spec, proto) = t.split_once('/').unwrap_or((&t, "tcp"));
        let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
        return match parts.as_slice() {
            [target] => (None, None, target.parse().unwrap(), proto.into()),
            [target, published] => (
                None,
                Some(published.parse().unwrap()),
                target.parse().unwrap(),
                proto.into(),
            ),
            [target, published, ip] => (
                Some(ip.to_string()),
                published.parse().ok(),
                target.parse().unwrap(),
                proto.into(),
            ),
            _ => unreachable!(),
        };
    }
    (
        text(&p["host_ip"]),
        text(&p["published"]).map(|x| x.parse().unwrap()),
        text(&p["target"]).unwrap().parse().unwrap(),
        text(&p["protocol"]).unwrap_or_else(|| "tcp".into()),
    )
}

/// `source:target[:mode]`, `target` or `{type, source, target, read_only}`.
fn oracle_volume(v: &Value) -> (String, Option<String>, String, bool) {
    if let Some(t) = text(v) {
        let parts: Vec<&str> = t.split(':').collect();
        return match parts.as_slice() {
            [target] => ("volume".into(), None, target.to_string(), false),
            [source, target, rest @ ..] => (
                if source.starts_with('/') {
                    "bind"
                } else {
                    "volume"
                }
                .into(),
                Some(source.to_string()),
                target.to_string(),
                rest.first()
                    .is_some_and(|m| m.split(',').any(|x| x == "ro")),
            ),
            [] => unreachable!(),
        };
    }
    (
        text(&v["type"]).unwrap(),
        text(&v["source"]),
        text(&v["target"]).unwrap(),
        v["read_only"].as_bool() == Some(true),
    )
}

/// Our model's service, reduced the same way.
fn from_model(s: &Service) -> Compared {
    Compared {
        image: s.image.as_ref().map(|i| i.value.clone()),
        ports: s
            .ports
            .iter()
            .map(|p| (p.host_ip.clone(), p.published, p.target, p.protocol.clone()))
            .collect(),
        networks: s
            .networks
            .iter()
            .map(|n| (n.key.clone(), n.ipv4_address.clone()))
            .collect(),
        healthcheck: s.healthcheck.as_ref().map(|h| h.test.clone()),
        environment: s
            .env
            .iter()
            .map(|v| (v.key.clone(), v.value.clone()))
            .collect(),
        depends_on: s
            .depends_on
            .iter()
            .map(|d| (d.service.clone(), d.condition.clone()))
            .collect(),
        memory_limit: s.memory_limit,
        memory_reservation: s.memory_reservation,
        cpus: s.cpus.map(cpus),
        cpu_shares: s.cpu_shares,
        secrets: s
            .secrets
            .iter()
            .map(|x| (x.source.clone(), x.target.clone()))
            .collect(),
        volumes: s
            .volumes
            .iter()
            .map(|m| {
                (
                    m.kind.clone(),
                    m.source.clone(),
                    m.target.clone(),
                    m.read_only,
                )
            })
            .collect(),
    }
}

/// Differences between the oracle and the model for one case (empty when they agree).
fn compare(case: &Case) -> Vec<String> {
    let name = format!("{} {:?}", case.dir.display(), case.files);
    let printed = oracle(case);
    let model = model(case);
    let mut diffs = Vec::new();
    let mut services = printed["services"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    // `config` prints every service; `up` starts those of no profile or an active one
    // (compose/service.py `enabled_for_profiles`): the same rule, applied to what it printed.
    services.retain(|_, s| match s["profiles"].as_sequence() {
        None => true,
        Some(p) => p
            .iter()
            .filter_map(text)
            .any(|p| case.profiles.contains(&p)),
    });
    let theirs: BTreeSet<String> = services.keys().filter_map(text).collect();
    let ours: BTreeSet<String> = model.services.iter().map(|s| s.name.clone()).collect();
    if theirs != ours {
        diffs.push(format!(
            "{name}: services {theirs:?} (docker-compose) vs {ours:?}"
        ));
    }
    for (k, v) in &services {
        let service = text(k).unwrap();
        let Some(mine) = model.service(&service) else {
            continue;
        };
        let (a, b) = (from_oracle(v), from_model(mine));
        if a != b {
            diffs.push(format!(
                "{name}: service {service}:\n docker-compose {a:?}\n validate       {b:?}"
            ));
        }
    }
    for (k, v) in printed["networks"].as_mapping().into_iter().flatten() {
        let key = text(k).unwrap();
        let external = v["external"].as_bool() == Some(true) || v["external"].is_mapping();
        let a = NetworkCompared {
            name: text(&v["name"]).unwrap_or_else(|| {
                if external {
                    key.clone()
                } else {
                    format!("{}_{key}", model.project)
                }
            }),
            driver: text(&v["driver"]).unwrap_or_else(|| "bridge".into()),
            subnets: v["ipam"]["config"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|c| text(&c["subnet"]))
                .collect(),
        };
        let b = model
            .networks
            .iter()
            .find(|n| n.key == key)
            .map(|n| NetworkCompared {
                name: n.name.clone(),
                driver: n.driver.clone(),
                subnets: n.subnets.clone(),
            });
        if Some(&a) != b.as_ref() {
            diffs.push(format!(
                "{name}: network {key}: docker-compose {a:?} vs {b:?}"
            ));
        }
    }
    diffs
}

#[test]
fn the_model_equals_docker_compose_config_for_every_file_of_the_corpus() {
    let mut cases: Vec<Case> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| read_case(&p))
        .collect();
    cases.sort_by(|a, b| a.dir.cmp(&b.dir));
    let files: usize = std::fs::read_dir(corpus())
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "yaml")
        })
        .count();
    assert!(
        files >= 40,
        "the corpus holds {files} compose files; the oracle needs at least 40"
    );
    cases.extend(generated_cases());
    let diffs: Vec<String> = cases.iter().flat_map(compare).collect();
    assert!(
        diffs.is_empty(),
        "{} case(s) differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    eprintln!(
        "oracle: {} cases, {files} corpus files + the generated files agree",
        cases.len()
    );
}
