//! Both engines give the same image: images/Dockerfile built by BuildKit (`DOCKER_BUILDKIT=1
//! /usr/bin/docker build`, what buildx runs) and the in-process oci engine produce the same root
//! file system (paths, kinds, modes, owners, contents) and the same config for a service.
//! Needs dockerd (running here and in CI).

mod common;

use lucid_catalog::Platform;
use lucid_image::compare::{self, config_facts};
use lucid_image::docker;
use lucid_image::rootfs::{apply_layer, Tree};
use lucid_image::testing::docker_save;
use lucid_image::{ImageFacts, Layout};
use serde_json::{json, Value};
use std::process::Command;

/// `docker save` of `tag`: its config JSON and flattened file system.
fn docker_image(tag: &str) -> (Value, Tree) {
    let saved = docker_save(tag);
    let config: Value = serde_json::from_slice(&saved.config).unwrap();
    let mut tree = Tree::new();
    for layer in &saved.layers {
        apply_layer(&mut tree, layer).unwrap();
    }
    (config, tree)
}

fn oci_image(layout: &Layout, index_digest: &str, platform: Platform) -> (Value, Tree) {
    let image = compare::read_image(layout, index_digest)
        .unwrap()
        .into_iter()
        .find(|p| p.platform == platform.oci())
        .unwrap();
    (image.config, image.tree)
}

#[test]
fn buildkit_dockerfile_and_oci_engine_produce_the_same_image() {
    let service = "tor-proxy";
    let platform = Platform::LinuxArm64;
    let ws = common::workspace();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let base = common::base(&layout);
    let info = common::build_info(&base);
    // The oci engine, from stand-in binaries written into the build context as well.
    let context = dir.path().join("context");
    let image = common::build(&layout, &context, &ws, service, &info, &base);
    let base_tar = context.join(docker::BASE_TAR);
    std::fs::create_dir_all(base_tar.parent().unwrap()).unwrap();
    std::fs::write(&base_tar, base.tar(&layout).unwrap()).unwrap();
    // BuildKit, with the committed Dockerfile (kept fresh by tests/dockerfile.rs).
    let facts = ImageFacts::of(ws.service(service).unwrap());
    let tag = format!("lucid-engines-test/{service}:{}", std::process::id());
    let args = docker::docker_build_args(
        &facts,
        &info,
        platform,
        &common::root().join(docker::DOCKERFILE),
        &context,
        &tag,
    );
    let out = Command::new("/usr/bin/docker")
        .args(&args)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (docker_config, docker_tree) = docker_image(&tag);
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &tag])
        .output();

    let (oci_config, oci_tree) = oci_image(&layout, &image.digest, platform);
    let facts_docker = config_facts(&docker_config);
    assert_eq!(facts_docker["User"], "65532:65532");
    assert_eq!(
        facts_docker["Entrypoint"],
        json!(["/usr/local/bin/tor-proxy"])
    );
    assert_eq!(
        facts_docker["Labels"]["org.opencontainers.image.title"],
        "tor-proxy"
    );
    assert_eq!(
        facts_docker["Labels"]["org.opencontainers.image.base.digest"],
        base.digest.as_str()
    );
    assert_eq!(facts_docker, config_facts(&oci_config));
    let differences = compare::tree_differences(&docker_tree, &oci_tree);
    assert!(
        differences.is_empty(),
        "file systems differ (BuildKit ≠ oci): {:#?}",
        &differences[..differences.len().min(10)]
    );
    assert!(oci_tree.len() > 500, "compared {} paths", oci_tree.len());
}
