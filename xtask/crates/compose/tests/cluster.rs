//! What the cluster files (the Swarm stack file, the Kubernetes manifests) promise, checked on
//! the repository's own catalog: the restricted Pod Security Standard, network policies along
//! the catalog's connections only, single-instance services, the Swarm update rules, and the
//! manifests' validity for Kubernetes (kubernetes-validate, offline schemas).

mod common;

use common::*;
use lucid_catalog::{parse_duration_secs, Service, Workspace, MONGODB};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

const LUCID_UID: u64 = 65532;
const MONGODB_UID: u64 = 999;

/// Deployments and StatefulSets, by name.
fn workloads(g: &lucid_compose::Generated) -> Vec<(String, Value)> {
    kubernetes_objects(g)
        .into_iter()
        .map(|(_, doc)| doc)
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
        .map(|d| (d["metadata"]["name"].as_str().unwrap().to_string(), d))
        .collect()
}

fn of_kind(g: &lucid_compose::Generated, kind: &str) -> Vec<Value> {
    kubernetes_objects(g)
        .into_iter()
        .map(|(_, doc)| doc)
        .filter(|d| d["kind"] == kind)
        .collect()
}

#[test]
fn every_pod_meets_the_restricted_pod_security_standard() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let namespace = &of_kind(&g, "Namespace")[0];
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let pods = workloads(&g);
    assert_eq!(
        pods.len(),
        ws.services.len() + 1,
        "every service and MongoDB"
    );
    for (name, w) in pods {
        let uid = if name == MONGODB {
            MONGODB_UID
        } else {
            LUCID_UID
        };
        let pod = &w["spec"]["template"]["spec"];
        let at = |what: &str| format!("{name}: {what}");
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"],
            true,
            "{}",
            at("pod runAsNonRoot")
        );
        assert_eq!(
            pod["securityContext"]["runAsUser"],
            uid,
            "{}",
            at("pod uid")
        );
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault",
            "{}",
            at("pod seccomp")
        );
        assert_eq!(
            pod["automountServiceAccountToken"],
            false,
            "{}",
            at("token")
        );
        assert_eq!(
            pod["nodeSelector"]["kubernetes.io/arch"],
            "arm64",
            "{}",
            at("arch")
        );
        for key in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(pod.get(key).is_none(), "{}", at(key));
        }
        for v in pod["volumes"].as_array().unwrap() {
            assert!(v.get("hostPath").is_none(), "{}", at("hostPath volume"));
        }
        let containers = pod["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1, "{}", at("containers"));
        let c = &containers[0];
        let sc = &c["securityContext"];
        assert_eq!(
            sc["allowPrivilegeEscalation"],
            false,
            "{}",
            at("privilege escalation")
        );
        assert_eq!(
            sc["readOnlyRootFilesystem"],
            true,
            "{}",
            at("read-only root")
        );
        assert_eq!(sc["runAsNonRoot"], true, "{}", at("container runAsNonRoot"));
        assert_eq!(sc["runAsUser"], uid, "{}", at("container uid"));
        assert_eq!(
            sc["capabilities"]["drop"],
            json!(["ALL"]),
            "{}",
            at("capabilities")
        );
        assert!(
            sc["capabilities"].get("add").is_none(),
            "{}",
            at("added capabilities")
        );
        assert_eq!(
            sc["seccompProfile"]["type"],
            "RuntimeDefault",
            "{}",
            at("seccomp")
        );
        for side in ["limits", "requests"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][side][resource].is_string(),
                    "{}",
                    at(&format!("resources.{side}.{resource}"))
                );
            }
        }
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert!(c[probe].is_object(), "{}", at(probe));
        }
    }
}

#[test]
fn resources_and_probes_come_from_the_catalog() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let pods = workloads(&g);
    let chunker = &pods.iter().find(|(n, _)| n == "session-chunker").unwrap().1;
    let c = &chunker["spec"]["template"]["spec"]["containers"][0];
    // session-chunker: memory = "192M", cpus = 1.0; the workspace's reservations.
    assert_eq!(
        c["resources"]["limits"],
        json!({ "cpu": "1000m", "memory": "192Mi" })
    );
    assert_eq!(
        c["resources"]["requests"],
        json!({ "cpu": "50m", "memory": "16Mi" })
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    let interval = parse_duration_secs(&ws.settings.healthcheck.interval).unwrap();
    assert_eq!(c["livenessProbe"]["periodSeconds"], interval as u64);
    assert_eq!(
        c["livenessProbe"]["failureThreshold"],
        ws.settings.healthcheck.retries
    );
    let mongo = &pods.iter().find(|(n, _)| n == MONGODB).unwrap().1;
    let probe = &mongo["spec"]["template"]["spec"]["containers"][0]["livenessProbe"];
    assert_eq!(
        probe["exec"]["command"][0], "mongosh",
        "MongoDB has no HTTP: exec probe"
    );
}

/// (caller, callee) pairs the catalog says connect: upstreams, dependencies (both handed over as
/// `LUCID_URL_<NAME>`, MongoDB's as its URL), and each `catalog = true` service to every service
/// of the stack, itself included (`LUCID_CATALOG`). Written here from the fields themselves, as
/// the oracle of the generated policies.
fn catalog_connections(ws: &Workspace) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in &ws.services {
        for callee in s.upstreams.iter().chain(&s.depends_on) {
            out.insert((s.name.clone(), callee.clone()));
        }
        if s.catalog {
            out.extend(ws.services.iter().map(|o| (s.name.clone(), o.name.clone())));
        }
    }
    out
}

#[test]
fn network_policies_admit_exactly_the_catalog_connections_and_the_entry_points() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let policies = of_kind(&g, "NetworkPolicy");
    let deny = policies
        .iter()
        .find(|p| p["spec"]["podSelector"] == json!({}))
        .expect("a default-deny policy for every pod");
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress"]));
    assert!(
        deny["spec"].get("ingress").is_none(),
        "the default admits nothing"
    );

    let mut allowed = BTreeSet::new();
    let mut public = BTreeSet::new();
    for p in policies
        .iter()
        .filter(|p| p["spec"]["podSelector"] != json!({}))
    {
        let callee = p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            .as_str()
            .unwrap()
            .to_string();
        for rule in p["spec"]["ingress"].as_array().unwrap() {
            match rule.get("from") {
                Some(from) => {
                    for peer in from.as_array().unwrap() {
                        let caller = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                            .as_str()
                            .expect("peers are pods of the namespace, by service name");
                        allowed.insert((caller.to_string(), callee.clone()));
                    }
                }
                None => {
                    for port in rule["ports"].as_array().unwrap() {
                        public.insert((callee.clone(), port["port"].as_str().unwrap().to_string()));
                    }
                }
            }
        }
    }
    let expected = catalog_connections(&ws);
    let extra: Vec<_> = allowed.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&allowed).collect();
    assert!(
        extra.is_empty(),
        "allowances no catalog connection asks for: {extra:?}"
    );
    assert!(
        missing.is_empty(),
        "catalog connections without an allowance: {missing:?}"
    );
    for s in &ws.services {
        for upstream in &s.upstreams {
            assert!(
                allowed.contains(&(s.name.clone(), upstream.clone())),
                "{} -> {upstream}",
                s.name
            );
        }
    }
    assert!(allowed.contains(&("api-server".into(), MONGODB.into())));

    // Open to anyone: exactly the listeners the catalog publishes on every host address.
    let mut entry_points = BTreeSet::new();
    for s in &ws.services {
        if s.publish.as_ref().is_some_and(|p| p.on_every_address()) {
            entry_points.insert((s.name.clone(), "http".to_string()));
        }
        for e in &s.extra_ports {
            if e.publish.as_ref().is_some_and(|p| p.on_every_address()) {
                entry_points.insert((s.name.clone(), e.name.clone()));
            }
        }
    }
    assert_eq!(public, entry_points);
    assert!(public.contains(&("api-gateway".into(), "http".into())));
    assert!(
        !public.iter().any(|(s, _)| s == "tor-proxy"),
        "tor-proxy's SOCKS port is published on 127.0.0.1 only: it stays inside the cluster"
    );
}

fn single_instance(s: &Service) -> bool {
    !s.volumes.is_empty()
}

#[test]
fn no_single_instance_service_runs_more_than_one_replica() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let stack = parse(&g.stack.text);
    let pods = workloads(&g);
    let budgets: BTreeSet<String> = of_kind(&g, "PodDisruptionBudget")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let scaled: Vec<&Service> = ws.services.iter().filter(|s| s.replicas > 1).collect();
    assert!(
        !scaled.is_empty(),
        "the Pi stack scales some stateless services"
    );
    for s in &ws.services {
        let w = &pods.iter().find(|(n, _)| *n == s.name).unwrap().1;
        let swarm_replicas = &stack["services"][&s.name]["deploy"]["replicas"];
        assert_eq!(w["spec"]["replicas"], s.replicas, "{}", s.name);
        assert_eq!(*swarm_replicas, s.replicas, "{}", s.name);
        if single_instance(s) {
            assert_eq!(s.replicas, 1, "{}", s.name);
            assert_eq!(
                w["kind"], "StatefulSet",
                "{}: data needs a claim of its own",
                s.name
            );
        } else {
            assert_eq!(w["kind"], "Deployment", "{}", s.name);
        }
        assert_eq!(
            budgets.contains(&s.name),
            s.replicas > 1,
            "{}: disruption budget",
            s.name
        );
    }
    let mongo = &pods.iter().find(|(n, _)| n == MONGODB).unwrap().1;
    assert_eq!(
        mongo["spec"]["replicas"], 1,
        "a replica set is out of scope"
    );
    assert_eq!(stack["services"][MONGODB]["deploy"]["replicas"], 1);
}

#[test]
fn stack_updates_start_first_only_where_two_tasks_can_coexist_and_roll_back_on_failure() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let stack = parse(&g.stack.text);
    let h = &ws.settings.healthcheck;
    let secs = |d: &str| parse_duration_secs(d).unwrap();
    // A task failing its health check from the start is unhealthy after this long.
    let unhealthy_after = secs(&h.start_period) + secs(&h.interval) * f64::from(h.retries);
    for (name, svc) in stack["services"].as_object().unwrap() {
        let deploy = &svc["deploy"];
        let update = &deploy["update_config"];
        let publishes = svc.get("ports").is_some();
        let has_data = svc["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["type"] == "bind");
        let order = if publishes || has_data {
            "stop-first"
        } else {
            "start-first"
        };
        assert_eq!(update["order"], order, "{name}");
        assert_eq!(update["failure_action"], "rollback", "{name}");
        assert_eq!(update["parallelism"], 1, "{name}");
        let monitor = secs(update["monitor"].as_str().unwrap());
        assert!(
            monitor >= unhealthy_after,
            "{name}: monitor {monitor}s < {unhealthy_after}s"
        );
        assert!(deploy["rollback_config"].is_object(), "{name}");
        assert_eq!(deploy["restart_policy"]["condition"], "any", "{name}");
        assert_eq!(deploy["endpoint_mode"], "dnsrr", "{name}: no IPVS needed");
        for port in svc["ports"].as_array().into_iter().flatten() {
            assert_eq!(port["mode"], "host", "{name}: no routing mesh needed");
        }
        let constraints = deploy["placement"]["constraints"].to_string();
        assert!(
            constraints.contains("node.platform.arch == ${LUCID_NODE_ARCH:-aarch64}"),
            "{name}: {constraints}"
        );
        assert_eq!(
            constraints.contains("node.labels.lucid.mongodb == true"),
            name == MONGODB,
            "{name}: {constraints}"
        );
    }
    let gateway = &stack["services"]["api-gateway"];
    assert_eq!(
        gateway["healthcheck"]["test"],
        json!(["CMD", "/usr/local/bin/api-gateway", "healthcheck"])
    );
    assert_eq!(
        gateway["deploy"]["resources"],
        json!({ "limits": { "cpus": "0.5", "memory": "64M" }, "reservations": { "cpus": "0.05", "memory": "16M" } })
    );
    assert!(
        stack["services"]["tor-proxy"].get("ports").is_none(),
        "Swarm cannot bind 127.0.0.1 only: the SOCKS port is not published"
    );
}

#[test]
fn stack_and_manifests_hand_every_service_the_compose_environment() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let compose = parse(text(&g, "docker-compose.yaml"));
    let stack = parse(&g.stack.text);
    let pods = workloads(&g);
    for (name, svc) in compose["services"].as_object().unwrap() {
        assert_eq!(
            stack["services"][name]["environment"], svc["environment"],
            "{name}"
        );
        assert_eq!(stack["services"][name]["secrets"], svc["secrets"], "{name}");
        let pod = &pods.iter().find(|(n, _)| n == name).unwrap().1;
        let env: serde_json::Map<String, Value> = pod["spec"]["template"]["spec"]["containers"][0]
            ["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone()))
            .collect();
        assert_eq!(Value::Object(env), svc["environment"], "{name}");
    }
}

#[test]
fn secrets_are_referenced_never_embedded() {
    let ws = repo_workspace();
    let g = generated(&ws);
    assert!(
        of_kind(&g, "Secret").is_empty(),
        "no Secret object in the manifests"
    );
    let pods = workloads(&g);
    let api = &pods.iter().find(|(n, _)| n == "api-server").unwrap().1;
    let volumes = &api["spec"]["template"]["spec"]["volumes"];
    let projected = volumes
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v.get("projected").is_some())
        .expect("api-server reads the MongoDB password");
    assert_eq!(
        projected["projected"]["sources"],
        json!([{ "secret": { "name": "mongodb-password", "items": [{ "key": "mongodb-password", "path": "mongodb-password" }] } }])
    );
}

#[test]
fn a_stack_whose_reservations_do_not_fit_one_device_is_refused() {
    // Each replica reserves 0.05 CPU: 80 of openapi-server alone exceed the Pi's 3.0.
    let (_dir, ws) = fixture_workspace(|name, text| {
        if name == "openapi-server" {
            text.replace("replicas = 2", "replicas = 80")
        } else {
            text
        }
    });
    let e = format!("{:#}", lucid_compose::generate(&ws, None).unwrap_err());
    assert!(
        e.contains("compose/lucid-stack.yaml") && e.contains("CPU reservations × replicas"),
        "{e}"
    );
    assert!(e.contains("deploy/kubernetes"), "{e}");
}

/// `kubernetes-validate` (PyPI; schemas bundled, offline). `.ci/run` installs it.
fn kubernetes_validate(args: &[&str], files: &[std::path::PathBuf]) -> std::process::Output {
    Command::new("kubernetes-validate")
        .args(args)
        .args(files)
        .output()
        .expect("kubernetes-validate is installed (pip install kubernetes-validate; .ci/run does)")
}

#[test]
fn every_manifest_passes_kubernetes_validate_strict_for_1_31_and_the_newest_version() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<_> = g
        .kubernetes
        .iter()
        .map(|f| {
            let path = tmp.path().join(f.path.rsplit('/').next().unwrap());
            std::fs::write(&path, &f.text).unwrap();
            path
        })
        .collect();
    // Without -k: the newest version the tool knows (its default).
    for version in [&["-k", "1.31.0"][..], &[]] {
        let args: Vec<&str> = ["--strict", "--quiet"]
            .iter()
            .chain(version)
            .copied()
            .collect();
        let out = kubernetes_validate(&args, &files);
        assert!(
            out.status.success(),
            "Kubernetes {version:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The check can fail: an unknown field in a pod spec is refused.
    let bad = tmp.path().join("bad.yaml");
    let text = g
        .kubernetes
        .iter()
        .find(|f| f.path.ends_with("/api-server.yaml"))
        .unwrap();
    std::fs::write(
        &bad,
        text.text.replace(
            "enableServiceLinks: false",
            "enableServiceLinks: false\n      hostNetworking: true",
        ),
    )
    .unwrap();
    let out = kubernetes_validate(&["--strict", "--quiet", "-k", "1.31.0"], &[bad]);
    assert!(
        !out.status.success(),
        "kubernetes-validate accepted an unknown field"
    );
}
