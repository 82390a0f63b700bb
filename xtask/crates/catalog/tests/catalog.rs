//! The real catalog of this repository reads cleanly and has the shape of the design.

use lucid_catalog::{Platform, Workspace};
use std::path::Path;

fn repo() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    Workspace::load(&root).expect("the repository's catalog is valid")
}

#[test]
fn catalog_has_27_services_in_three_layers() {
    let ws = repo();
    let per_layer: Vec<usize> = (0..3)
        .map(|l| ws.services.iter().filter(|s| s.layer == l).count())
        .collect();
    assert_eq!(per_layer, vec![5, 8, 14]);
    assert_eq!(
        ws.settings.platforms,
        vec![Platform::LinuxArm64, Platform::LinuxAmd64]
    );
    assert!(
        ws.service("lucid-runtime").is_none(),
        "the runtime is a support crate, not a service"
    );
}

#[test]
fn image_references_follow_the_templates() {
    let ws = repo();
    let (versioned, moving) = ws
        .image_refs("tor-proxy", &ws.version, &ws.settings.registry)
        .unwrap();
    assert_eq!(
        versioned.to_string(),
        format!("docker.io/pickme/lucid:tor-proxy-{}", ws.version)
    );
    assert_eq!(moving.to_string(), "docker.io/pickme/lucid:tor-proxy");
}

#[test]
fn unknown_service_selection_lists_valid_names() {
    let ws = repo();
    let err = ws
        .select(&["tor-proxxy".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tor-proxxy") && err.contains("tor-proxy") && err.contains("openapi-gateway"),
        "{err}"
    );
}
