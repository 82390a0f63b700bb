//! The whole validation on the real catalog, with a layout holding a (tiny) image of every
//! service: the report passes or fails as it should, its JSON follows the documented schema,
//! and the Markdown is rendered from it.

mod common;

use common::*;
use lucid_catalog::Workspace;
use lucid_validate::report::{Check, Report};
use lucid_validate::{schema, Options};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

fn workspace() -> Workspace {
    Workspace::load(&root()).unwrap()
}

fn specs(ws: &Workspace) -> Vec<Spec> {
    ws.services
        .iter()
        .map(|s| Spec::new(&s.name, s.port))
        .collect()
}

fn run(name: &str, specs: &[Spec], compose: Vec<PathBuf>) -> Report {
    let ws = workspace();
    let dir = scratch(name);
    let layout = write_layout(&dir, specs);
    let opts = Options {
        compose,
        oci_layout: layout,
        build_manifest: None,
        ..Options::defaults(&ws.root)
    };
    lucid_validate::validate(&ws, &opts)
}

fn fixture_files() -> Vec<PathBuf> {
    vec![fixtures().join("dev.yaml"), fixtures().join("layer1.yaml")]
}

#[test]
fn every_image_of_the_catalog_on_both_platforms_passes() {
    let ws = workspace();
    let r = run("report-pass", &specs(&ws), fixture_files());
    let errors: Vec<String> = r.findings().iter().map(|f| f.to_string()).collect();
    assert!(r.passed(), "{errors:#?}");
    // Counted from the lists: every catalog service, every platform.
    assert_eq!(r.summary.images, ws.services.len());
    assert_eq!(r.summary.images_found, ws.services.len());
    assert_eq!(r.summary.platform_images, 2 * ws.services.len());
    assert_eq!(r.summary.platform_images_passed, 2 * ws.services.len());
    assert_eq!(r.summary.deployments, 1, "given files form one deployment");
    assert_eq!(r.deployments[0].service_count, 5);
    assert_eq!(
        r.summary.compressed_bytes,
        r.images
            .iter()
            .flat_map(|i| &i.platforms)
            .map(|p| p.compressed_size)
            .sum::<u64>()
    );
}

#[test]
fn one_broken_image_fails_the_validation() {
    let ws = workspace();
    let mut specs = specs(&ws);
    specs[3]
        .extra
        .push(("bin/sh".into(), 0o755, elf(62, false)));
    specs[5].user = "0".into();
    specs[7].arm64_machine = 62;
    let r = run("report-broken", &specs, fixture_files());
    assert!(!r.passed());
    let checks: Vec<(Check, usize)> = r.summary.errors_by_check.clone();
    assert_eq!(
        checks,
        vec![
            (Check::User, 2),
            (Check::Entrypoint, 1),
            (Check::Distroless, 2)
        ]
    );
    assert_eq!(r.summary.platform_images_passed, 2 * ws.services.len() - 5);
}

#[test]
fn a_defective_compose_file_fails_the_validation() {
    let ws = workspace();
    let r = run(
        "report-compose",
        &specs(&ws),
        vec![fixtures().join("d10-top-level-key.yaml")],
    );
    assert!(!r.passed());
    assert_eq!(r.summary.errors_by_check, vec![(Check::UnknownKey, 1)]);
}

#[test]
fn missing_layout_is_reported_not_a_panic() {
    let ws = workspace();
    let opts = Options {
        compose: fixture_files(),
        oci_layout: scratch("no-layout").join("oci"),
        build_manifest: None,
        ..Options::defaults(&ws.root)
    };
    let r = lucid_validate::validate(&ws, &opts);
    assert!(!r.passed());
    assert!(r.image_source_findings[0]
        .message
        .contains("not an OCI image layout"));
    assert_eq!(r.summary.images_found, 0);
}

#[test]
fn json_follows_the_schema_and_markdown_is_rendered_from_it() {
    let ws = workspace();
    let mut specs = specs(&ws);
    specs[0].labels = false;
    let r = run("report-schema", &specs, fixture_files());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(schema::conforms(&json), Vec::<String>::new());
    // The schema check can fail: a field the schema does not know is caught.
    let mut bad = json.clone();
    bad["summary"]["extra"] = serde_json::json!(1);
    assert!(!schema::conforms(&bad).is_empty());

    let dir = scratch("report-files");
    let (md_path, json_path) = lucid_validate::write(&r, &dir).unwrap();
    let back: Report = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    assert_eq!(back, r);
    let md = std::fs::read_to_string(md_path).unwrap();
    assert_eq!(md, lucid_validate::markdown::render(&back));
    for section in [
        "## PRE-BUILT DISTROLESS IMAGES VALIDATION",
        "## COMPOSE FILE VALIDATION",
        "## DISTROLESS SECURITY VALIDATION",
        "## DEPLOYMENT VALIDATION",
        "## SUMMARY",
    ] {
        assert!(md.contains(section), "{section}");
    }
    let n = ws.services.len();
    assert!(
        md.contains(&format!("{} of {} platform images pass", 2 * n - 2, 2 * n)),
        "{md}"
    );
    assert!(md.contains("label org.opencontainers.image.base.digest missing"));
}

#[test]
fn committed_schema_file_is_fresh() {
    let path = root().join("images/validation-report.schema.json");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, schema::schema_text()).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let derived = schema::schema_text();
    let diff = similar::TextDiff::from_lines(&committed, &derived)
        .unified_diff()
        .header("committed", "derived from the report types")
        .to_string();
    assert!(
        committed == derived,
        "{} is stale: run `cargo xtask validate` or UPDATE_EXPECT=1 cargo test -p lucid-validate\n{diff}",
        path.display()
    );
}

#[test]
fn generated_compose_and_cluster_files_pass_in_their_deployments() {
    let ws = workspace();
    let r = run("report-generated", &specs(&ws), Vec::new());
    let errors: Vec<String> = r.findings().iter().map(|f| f.to_string()).collect();
    assert!(r.passed(), "{errors:#?}");
    // Four compose files in four deployments, and the Swarm stack file read as a fifth.
    assert_eq!(r.summary.compose_files, 5);
    assert_eq!(r.summary.deployments, 4);
    assert_eq!(r.compose_files[4].path, "compose/lucid-stack.yaml");
    // The Swarm stack and the Kubernetes manifests: every service and MongoDB, every replica
    // the catalog asks for, on one Pi.
    let replicas: u32 = ws.services.iter().map(|s| s.replicas).sum::<u32>() + 1;
    assert_eq!(r.clusters.len(), 2);
    for c in &r.clusters {
        assert_eq!(
            (c.workloads, c.replicas),
            (ws.services.len() + 1, replicas),
            "{c:?}"
        );
        assert_eq!(c.nodes_needed, 1, "{c:?}");
        assert!(
            c.memory_reservation_bytes > 0 && c.cpu_reservation > 0.0,
            "{c:?}"
        );
    }
    assert_eq!(r.clusters[0].files, ["compose/lucid-stack.yaml"]);
    // A file per service and MongoDB, the namespace, the default-deny policy.
    assert_eq!(r.clusters[1].files.len(), ws.services.len() + 3);
    assert_eq!(
        r.clusters[0].memory_reservation_bytes, r.clusters[1].memory_reservation_bytes,
        "the stack file and the manifests reserve the same"
    );
    // The whole stack: every Lucid service and MongoDB, counted from the file.
    assert_eq!(r.compose_files[0].service_count, ws.services.len() + 1);
}
