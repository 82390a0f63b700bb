//! The base by reference (`[workspace.metadata.lucid.base] reference`, `--base-ref`): a small
//! base image is published to a real distribution registry (started per test), fetched by
//! digest, and service images are built on it.

mod common;

use lucid_catalog::{ImageRef, Platform};
use lucid_image::base_ref;
use lucid_image::docker::{self, BakeTarget};
use lucid_image::layer::{self, Entry};
use lucid_image::registry::Registry;
use lucid_image::testing::{assert_success, TestRegistry};
use lucid_image::{push, sha256_digest, Base, BuildInfo, ImageFacts, Layout};
use serde_json::{json, Value};
use std::process::Command;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A base published to the test registry.
struct Published {
    /// `127.0.0.1:<port>/lucid-test/base:nonroot@sha256:…`.
    reference: ImageRef,
    /// Per platform: the layer digests, in order.
    layers: Vec<(Platform, Vec<String>)>,
}

/// Publishes a two-layer base for `platforms` (an OCI index), or with `docker_single` one
/// Docker schema 2 manifest (the first platform only, Docker layer media types).
fn publish(host: &str, tag: &str, platforms: &[Platform], docker_single: bool) -> Published {
    let registry = Registry::new(host).unwrap();
    let repo = "lucid-test/base";
    let put = |bytes: &[u8]| {
        let digest = sha256_digest(bytes);
        registry.upload_blob(repo, &digest, bytes).unwrap();
        digest
    };
    let shared = layer::build(vec![
        Entry::file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n".to_vec(),
            1_600_000_000,
        ),
        Entry::dir("etc", 0o755, 0, 1_600_000_000),
        Entry::dir("tmp", 0o1777, 0, 1_600_000_000),
    ])
    .unwrap();
    let mut manifests = Vec::new();
    let mut layers = Vec::new();
    for p in platforms {
        let own = layer::build(vec![
            Entry::dir("etc", 0o755, 0, 1_600_000_000),
            Entry::file(
                "etc/base-arch",
                0o644,
                p.arch().as_bytes().to_vec(),
                1_600_000_000,
            ),
        ])
        .unwrap();
        let (layer_type, config_type, manifest_type) = if docker_single {
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "application/vnd.docker.container.image.v1+json",
                DOCKER_MANIFEST,
            )
        } else {
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.config.v1+json",
                OCI_MANIFEST,
            )
        };
        let config = serde_json::to_vec(&json!({
            "architecture": p.arch(),
            "os": "linux",
            "created": "2020-09-13T12:26:40Z",
            "config": {
                "Env": ["PATH=/usr/bin:/bin", "BASE_ONLY=kept"],
                "Cmd": ["/bin/sh"],
                "User": "0",
                "WorkingDir": "/",
                "Labels": {"com.example.base": "tiny"}
            },
            "rootfs": {"type": "layers", "diff_ids": [shared.diff_id, own.diff_id]},
            "history": [{"created_by": "shared layer"}, {"created_by": "arch layer"}]
        }))
        .unwrap();
        let config_digest = put(&config);
        let shared_digest = put(&shared.gzip);
        let own_digest = put(&own.gzip);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": [
                {"mediaType": layer_type, "digest": shared_digest, "size": shared.gzip.len()},
                {"mediaType": layer_type, "digest": own_digest, "size": own.gzip.len()},
            ]
        }))
        .unwrap();
        layers.push((*p, vec![shared_digest, own_digest]));
        if docker_single {
            let digest = registry
                .put_manifest(repo, tag, DOCKER_MANIFEST, &manifest)
                .unwrap();
            return Published {
                reference: ImageRef::parse(&format!("{host}/{repo}:{tag}@{digest}")).unwrap(),
                layers,
            };
        }
        let digest = sha256_digest(&manifest);
        registry
            .put_manifest(repo, &digest, OCI_MANIFEST, &manifest)
            .unwrap();
        manifests.push(json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
            "platform": {"architecture": p.arch(), "os": "linux"}
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests
    }))
    .unwrap();
    let digest = registry.put_manifest(repo, tag, OCI_INDEX, &index).unwrap();
    Published {
        reference: ImageRef::parse(&format!("{host}/{repo}:{tag}@{digest}")).unwrap(),
        layers,
    }
}

fn info(base: &Base) -> BuildInfo {
    common::build_info(base)
}

fn blob_json(layout: &Layout, digest: &str) -> Value {
    serde_json::from_slice(&layout.read_blob(digest).unwrap()).unwrap()
}

#[test]
fn builds_services_on_a_base_fetched_by_reference() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(dir.path(), None);
    let published = publish(&reg.host(), "nonroot", &Platform::ALL, false);
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let base = base_ref::fetch(
        &published.reference,
        &Platform::ALL,
        &layout,
        &dir.path().join("cache"),
    )
    .unwrap();
    assert_eq!(
        base.name,
        format!("{}/lucid-test/base:nonroot", reg.host()),
        "base.name is the reference without its digest"
    );
    assert_eq!(Some(&base.digest), published.reference.digest.as_ref());
    let ws = common::workspace();
    let build = info(&base);
    for service in ["merkle-builder", "tor-proxy"] {
        let image = common::build(&layout, dir.path(), &ws, service, &build, &base);
        let index = blob_json(&layout, &image.digest);
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(platforms, ["arm64", "amd64"], "{service}: both platforms");
        for (p, base_layers) in &published.layers {
            let built = image
                .platforms
                .iter()
                .find(|b| b.platform == p.oci())
                .unwrap();
            let manifest = blob_json(&layout, &built.digest);
            let layers: Vec<&str> = manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap())
                .collect();
            assert_eq!(layers.len(), base_layers.len() + 1, "{service} {p}");
            assert_eq!(
                &layers[..base_layers.len()],
                base_layers.as_slice(),
                "{service} {p}: the base's layers come first, unchanged"
            );
            assert_eq!(layers[base_layers.len()], built.layer_digest);
            let config = blob_json(&layout, manifest["config"]["digest"].as_str().unwrap());
            let c = &config["config"];
            assert_eq!(c["User"], "65532:65532", "{service} {p}");
            assert_eq!(
                c["Entrypoint"],
                json!([format!("/usr/local/bin/{service}")])
            );
            assert!(c["Cmd"].is_null(), "the base's Cmd is cleared: {c}");
            let env: Vec<&str> = c["Env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect();
            assert!(env.contains(&"BASE_ONLY=kept"), "{env:?}");
            assert!(
                env.iter()
                    .any(|e| e.starts_with("PATH=/usr/local/sbin:/usr/local/bin")),
                "our PATH replaces the base's: {env:?}"
            );
            assert!(env.iter().any(|e| e.starts_with("LUCID_HTTP_PORT=")));
            let labels = &c["Labels"];
            assert_eq!(
                labels["org.opencontainers.image.base.name"],
                base.name.as_str()
            );
            assert_eq!(
                labels["org.opencontainers.image.base.digest"],
                base.digest.as_str()
            );
            assert_eq!(labels["com.example.base"], "tiny", "base labels are kept");
            assert_eq!(config["architecture"], p.arch());
            assert_eq!(
                config["rootfs"]["diff_ids"].as_array().unwrap().len(),
                3,
                "diff_ids line up with the layers"
            );
            assert_eq!(config["history"].as_array().unwrap().len(), 3);
        }
        // The registry accepts the result, and skopeo reads it back with the base's layers.
        let target =
            ImageRef::parse(&format!("{}/lucid-test/{service}:on-base", reg.host())).unwrap();
        push::push_image(
            &Registry::new(&reg.host()).unwrap(),
            &layout,
            &image,
            &target,
            &mut |_| {},
        )
        .unwrap();
        let out = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--override-arch", "arm64"])
            .arg(format!("docker://{target}"))
            .output()
            .expect("skopeo is installed");
        assert_success(&out);
        let inspected: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            inspected["Layers"][0].as_str(),
            Some(published.layers[0].1[0].as_str())
        );
        assert_eq!(
            inspected["Labels"]["org.opencontainers.image.base.digest"],
            base.digest.as_str()
        );
    }
}

#[test]
fn rejects_a_base_reference_whose_digest_the_registry_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(dir.path(), None);
    let published = publish(&reg.host(), "nonroot", &Platform::ALL, false);
    let wrong = published
        .reference
        .with_digest(&sha256_digest(b"not the base"))
        .unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let err = format!(
        "{:#}",
        base_ref::fetch(&wrong, &Platform::ALL, &layout, &dir.path().join("cache")).unwrap_err()
    );
    assert!(
        err.contains(&wrong.to_string()),
        "names the reference: {err}"
    );
    assert!(
        err.contains("has no manifest")
            && err.contains(&format!(
                "tag nonroot points at {}",
                published.reference.digest.as_deref().unwrap()
            )),
        "says what the registry serves instead: {err}"
    );
}

#[test]
fn rejects_a_base_without_a_requested_platform() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(dir.path(), None);
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let cache = dir.path().join("cache");
    // An index with amd64 only.
    let index = publish(&reg.host(), "amd64-index", &[Platform::LinuxAmd64], false);
    let err = format!(
        "{:#}",
        base_ref::fetch(&index.reference, &Platform::ALL, &layout, &cache).unwrap_err()
    );
    assert!(
        err.contains(&index.reference.to_string())
            && err.contains("has no linux/arm64 image")
            && err.contains("it has: linux/amd64"),
        "{err}"
    );
    // A single Docker schema 2 manifest (amd64): refused for arm64, fine for amd64 alone.
    let single = publish(&reg.host(), "amd64-single", &[Platform::LinuxAmd64], true);
    let err = format!(
        "{:#}",
        base_ref::fetch(&single.reference, &Platform::ALL, &layout, &cache).unwrap_err()
    );
    assert!(err.contains("has no linux/arm64 image"), "{err}");
    let base =
        base_ref::fetch(&single.reference, &[Platform::LinuxAmd64], &layout, &cache).unwrap();
    let layers = base.layers(Platform::LinuxAmd64).unwrap();
    assert_eq!(layers.len(), 2);
    assert!(
        layers
            .iter()
            .all(|l| l.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"),
        "Docker gzip layers are described with the OCI media type: {layers:?}"
    );
}

#[test]
fn unreachable_registry_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = lucid_image::testing::free_port();
    let reference = ImageRef::parse(&format!(
        "127.0.0.1:{port}/lucid-test/base:nonroot@{}",
        sha256_digest(b"x")
    ))
    .unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let err = format!(
        "{:#}",
        base_ref::fetch(
            &reference,
            &Platform::ALL,
            &layout,
            &dir.path().join("cache"),
        )
        .unwrap_err()
    );
    assert!(
        err.contains(&reference.to_string()) && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn rerun_uses_the_cached_base_without_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = TestRegistry::start(dir.path(), None);
    let published = publish(&reg.host(), "nonroot", &Platform::ALL, false);
    let cache = dir.path().join("cache");
    let first = base_ref::fetch(
        &published.reference,
        &Platform::ALL,
        &Layout::open(&dir.path().join("oci-1")).unwrap(),
        &cache,
    )
    .unwrap();
    reg.stop();
    // A fresh layout (as after the layout's garbage collection): served from the cache store.
    let layout = Layout::open(&dir.path().join("oci-2")).unwrap();
    let second = base_ref::fetch(&published.reference, &Platform::ALL, &layout, &cache).unwrap();
    assert_eq!(first, second);
    for l in second.layers(Platform::LinuxArm64).unwrap() {
        assert!(
            layout.has_blob(&l.digest),
            "{} copied to the layout",
            l.digest
        );
    }
}

#[test]
fn changing_the_base_digest_rebuilds_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start(dir.path(), None);
    let a = publish(&reg.host(), "a", &Platform::ALL, false);
    // Same layers, another index (different annotations): a different digest.
    let registry = Registry::new(&reg.host()).unwrap();
    let bytes = registry
        .get_manifest("lucid-test/base", a.reference.digest.as_deref().unwrap())
        .unwrap()
        .bytes;
    let mut index: Value = serde_json::from_slice(&bytes).unwrap();
    index["annotations"] = json!({"org.example.rebuilt": "yes"});
    let bytes = serde_json::to_vec(&index).unwrap();
    let digest_b = registry
        .put_manifest("lucid-test/base", "b", OCI_INDEX, &bytes)
        .unwrap();
    let b = a.reference.with_digest(&digest_b).unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let cache = dir.path().join("cache");
    let ws = common::workspace();
    let base_a = base_ref::fetch(&a.reference, &Platform::ALL, &layout, &cache).unwrap();
    let base_b = base_ref::fetch(&b, &Platform::ALL, &layout, &cache).unwrap();
    let first = common::build(
        &layout,
        dir.path(),
        &ws,
        "merkle-builder",
        &info(&base_a),
        &base_a,
    );
    let again = common::build(
        &layout,
        dir.path(),
        &ws,
        "merkle-builder",
        &info(&base_a),
        &base_a,
    );
    assert!(again.unchanged, "same base, same inputs: from the cache");
    let on_b = common::build(
        &layout,
        dir.path(),
        &ws,
        "merkle-builder",
        &info(&base_b),
        &base_b,
    );
    assert!(!on_b.unchanged, "another base digest rebuilds");
    assert_ne!(on_b.digest, first.digest);
}

#[test]
fn bake_passes_a_reference_base_as_the_named_context_base() {
    let ws = common::workspace();
    let facts = ImageFacts::of(ws.service("merkle-builder").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let base = common::base(&layout);
    let build = info(&base);
    let targets = [BakeTarget {
        facts: &facts,
        tags: vec!["x/y:z".into()],
    }];
    let reference = format!(
        "gcr.io/distroless/static-debian12:nonroot@{}",
        sha256_digest(b"x")
    );
    let on = docker::bake_on(&targets, &build, &Platform::ALL, false, Some(&reference));
    assert_eq!(
        on["target"]["merkle-builder"]["contexts"]["base"],
        format!("docker-image://{reference}")
    );
    let plain = docker::bake(&targets, &build, &Platform::ALL, false);
    assert!(plain["target"]["merkle-builder"].get("contexts").is_none());
    let Value::Object(mut on_target) = on["target"]["merkle-builder"].clone() else {
        panic!("target is an object")
    };
    on_target.remove("contexts");
    assert_eq!(
        Value::Object(on_target),
        plain["target"]["merkle-builder"],
        "only the context differs"
    );
    let dockerfile = std::fs::read_to_string(common::root().join(docker::DOCKERFILE)).unwrap();
    assert!(
        dockerfile.contains("FROM scratch AS base\n")
            && dockerfile.contains("FROM base AS service\n"),
        "the stage the context replaces is named `base`"
    );
}
