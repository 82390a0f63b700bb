//! Malformed catalogs: every problem is an error naming the manifest, the service and the field.
//! Each test writes a small real workspace (read with `cargo metadata`, like the real one) that
//! differs from a valid one in one place.

use lucid_catalog::Workspace;
use std::path::PathBuf;

const WORKSPACE_META: &str = r#"
[workspace.metadata.lucid]
registry = "docker.io"
repository = "pickme/lucid"
tag = "{service}-{version}"
moving_tag = "{service}"
platforms = ["linux/arm64", "linux/amd64"]
source = "https://example.org/lucid"
data_root = "/srv/lucid"
network = { name = "lucid_core_net", subnet = "172.28.0.0/24" }

[workspace.metadata.lucid.defaults]
memory = "64M"
memory_reservation = "16M"
cpus = 0.5
cpu_reservation = 0.05

[workspace.metadata.lucid.healthcheck]
interval = "10s"
timeout = "3s"
retries = 3
start_period = "5s"

[workspace.metadata.lucid.device]
name = "test device"
memory = "8G"
cpus = 4.0
reserved_memory = "2G"
reserved_cpus = 1.0

[workspace.metadata.lucid.mongodb]
image = "mongo:7@sha256:1f995ad6fdb93244a1addab1b58f934a0bc2f5643c38e02f5e9d7f0c7d227a7b"
port = 27017
memory = "1G"
memory_reservation = "256M"
cpus = 1.0
cpu_reservation = 0.25

[workspace.metadata.lucid.base]
lock = "images/base.lock.toml"
"#;

const API_SERVER: &str = "layer = 0\nport = 8081\n";
const API_GATEWAY: &str =
    "layer = 0\nport = 8080\npublish = { host_port = 8080 }\ndepends_on = [\"api-server\"]\n";

/// Writes a workspace with the given workspace metadata and services (name, metadata body or
/// `None` for a crate without `[package.metadata.lucid]`) and reads it.
fn load(workspace_meta: &str, services: &[(&str, Option<&str>)]) -> Result<Workspace, String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = format!("[workspace]\nresolver = \"2\"\nmembers = [\"services/*\"]\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n{workspace_meta}");
    std::fs::write(dir.join("Cargo.toml"), root).unwrap();
    for (name, meta) in services {
        let crate_dir = dir.join("services").join(name);
        std::fs::create_dir_all(crate_dir.join("src")).unwrap();
        std::fs::write(crate_dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        let mut manifest = format!(
            "[package]\nname = \"{name}\"\nversion.workspace = true\nedition.workspace = true\n"
        );
        if let Some(meta) = meta {
            manifest.push_str(&format!("\n[package.metadata.lucid]\n{meta}"));
        }
        std::fs::write(crate_dir.join("Cargo.toml"), manifest).unwrap();
    }
    Workspace::load(dir).map_err(|e| format!("{e:#}"))
}

fn error(workspace_meta: &str, services: &[(&str, Option<&str>)]) -> String {
    match load(workspace_meta, services) {
        Ok(_) => panic!("malformed catalog accepted"),
        Err(e) => e,
    }
}

/// The line of the error report about `service`.
fn line_of<'a>(report: &'a str, service: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.contains(&format!(": {service}: ")))
        .unwrap_or_else(|| panic!("no error for {service} in:\n{report}"))
}

#[test]
fn a_valid_fixture_loads() {
    let ws = load(
        WORKSPACE_META,
        &[
            ("api-server", Some(API_SERVER)),
            ("api-gateway", Some(API_GATEWAY)),
        ],
    )
    .unwrap();
    assert_eq!(ws.service_names(), vec!["api-gateway", "api-server"]);
}

#[test]
fn missing_port_names_manifest_service_and_field() {
    let e = error(WORKSPACE_META, &[("api-server", Some("layer = 0\n"))]);
    let line = line_of(&e, "api-server");
    assert!(
        line.contains(
            &PathBuf::from("services/api-server/Cargo.toml")
                .display()
                .to_string()
        ),
        "{line}"
    );
    assert!(
        line.contains("package.metadata.lucid") && line.contains("port"),
        "{line}"
    );
}

#[test]
fn wrongly_typed_field_is_named() {
    let e = error(
        WORKSPACE_META,
        &[("api-server", Some("layer = 0\nport = \"eighty\"\n"))],
    );
    assert!(
        line_of(&e, "api-server").contains("package.metadata.lucid.port"),
        "{e}"
    );
}

#[test]
fn unknown_field_is_an_error_not_ignored() {
    let e = error(
        WORKSPACE_META,
        &[("api-server", Some("layer = 0\nport = 8081\nprot = 1\n"))],
    );
    assert!(line_of(&e, "api-server").contains("prot"), "{e}");
}

#[test]
fn dependency_on_an_unknown_service_is_refused() {
    let e = error(WORKSPACE_META, &[("api-gateway", Some(API_GATEWAY))]);
    let line = line_of(&e, "api-gateway");
    assert!(
        line.contains("depends_on")
            && line.contains("\"api-server\" is not a service of the catalog"),
        "{line}"
    );
}

#[test]
fn the_same_host_port_twice_is_refused() {
    let other = "layer = 0\nport = 8081\npublish = { host_port = 8080 }\n";
    let e = error(
        WORKSPACE_META,
        &[
            ("api-server", Some(other)),
            ("api-gateway", Some(API_GATEWAY)),
        ],
    );
    assert!(
        e.contains("publish.host_port") && e.contains("host port 8080 is already published"),
        "{e}"
    );
}

#[test]
fn service_crate_without_metadata_is_an_error() {
    let e = error(
        WORKSPACE_META,
        &[("api-server", Some(API_SERVER)), ("forgotten", None)],
    );
    let line = line_of(&e, "forgotten");
    assert!(
        line.contains("[package.metadata.lucid]") && line.contains("missing"),
        "{line}"
    );
}

#[test]
fn bad_size_and_layer_are_both_reported_in_one_run() {
    let e = error(
        WORKSPACE_META,
        &[(
            "api-server",
            Some("layer = 7\nport = 8081\nmemory = \"lots\"\n"),
        )],
    );
    assert!(
        e.contains("package.metadata.lucid.layer") && e.contains("must be 0, 1 or 2"),
        "{e}"
    );
    assert!(
        e.contains("package.metadata.lucid.memory") && e.contains("\"lots\""),
        "{e}"
    );
    assert!(e.contains("(2 problems)"), "{e}");
}

#[test]
fn malformed_workspace_metadata_names_the_workspace_field() {
    let meta = WORKSPACE_META.replace("\"linux/arm64\", \"linux/amd64\"", "\"linux/riscv64\"");
    let e = error(&meta, &[("api-server", Some(API_SERVER))]);
    assert!(
        e.contains("workspace.metadata.lucid.platforms[0]") && e.contains("linux/riscv64"),
        "{e}"
    );
    let unpinned = WORKSPACE_META.replace(
        "mongo:7@sha256:1f995ad6fdb93244a1addab1b58f934a0bc2f5643c38e02f5e9d7f0c7d227a7b",
        "mongo:7",
    );
    let e = error(&unpinned, &[("api-server", Some(API_SERVER))]);
    assert!(
        e.contains("workspace.metadata.lucid.mongodb.image") && e.contains("digest"),
        "{e}"
    );
}

#[test]
fn moving_tag_template_with_two_tags_is_refused() {
    let meta = WORKSPACE_META.replace(
        "moving_tag = \"{service}\"",
        "moving_tag = \"{service}:latest\"",
    );
    let e = error(&meta, &[("api-server", Some(API_SERVER))]);
    assert!(
        e.contains("workspace.metadata.lucid.moving_tag") && e.contains("more than one tag"),
        "{e}"
    );
}

/// The error line about api-server when its metadata is `body`, checked to name its manifest.
fn api_server_error(body: &str) -> String {
    let e = error(WORKSPACE_META, &[("api-server", Some(body))]);
    let line = line_of(&e, "api-server").to_string();
    let manifest = PathBuf::from("services/api-server/Cargo.toml");
    assert!(line.contains(&manifest.display().to_string()), "{line}");
    line
}

#[test]
fn replicas_default_to_one_and_a_stateless_service_may_scale() {
    let ws = load(
        WORKSPACE_META,
        &[
            ("api-server", Some(API_SERVER)),
            ("api-gateway", Some(&format!("{API_GATEWAY}replicas = 3\n"))),
        ],
    )
    .unwrap();
    assert_eq!(ws.service("api-server").unwrap().replicas, 1);
    assert_eq!(ws.service("api-gateway").unwrap().replicas, 3);
}

#[test]
fn more_than_one_replica_of_a_service_with_a_volume_is_refused() {
    let line = api_server_error(
        "layer = 0\nport = 8081\nreplicas = 2\nvolumes = [{ name = \"api-data\", target = \"/data/api\" }]\n",
    );
    assert!(
        line.contains("package.metadata.lucid.replicas")
            && line.contains("api-data")
            && line.contains("single-instance"),
        "{line}"
    );
}

#[test]
fn zero_replicas_is_refused() {
    let line = api_server_error("layer = 0\nport = 8081\nreplicas = 0\n");
    assert!(
        line.contains("package.metadata.lucid.replicas: 0: a service runs at least one instance"),
        "{line}"
    );
}

#[test]
fn a_misspelt_replicas_field_is_named_not_ignored() {
    let line = api_server_error("layer = 0\nport = 8081\nreplica = 2\n");
    assert!(
        line.contains("package.metadata.lucid") && line.contains("unknown field `replica`"),
        "{line}"
    );
}

#[test]
fn an_unparsable_volume_size_names_the_volume() {
    let line = api_server_error(
        "layer = 0\nport = 8081\nvolumes = [{ name = \"api-data\", target = \"/data/api\", size = \"big\" }]\n",
    );
    assert!(
        line.contains("package.metadata.lucid.volumes[0].size"),
        "{line}"
    );
}
