//! The oci engine: image content contract, reproducibility, incrementality, and that real OCI
//! tools (skopeo, umoci) read the layout.

mod common;

use lucid_image::rootfs::{apply_layer, forbidden_paths, Tree};
use lucid_image::testing::assert_success;
use lucid_image::Layout;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use std::process::Command;

fn index(layout: &Layout, digest: &str) -> ImageIndex {
    ImageIndex::from_reader(&layout.read_blob(digest).unwrap()[..]).unwrap()
}

fn manifest(layout: &Layout, digest: &str) -> ImageManifest {
    ImageManifest::from_reader(&layout.read_blob(digest).unwrap()[..]).unwrap()
}

#[test]
fn two_clean_builds_give_identical_digests() {
    let ws = common::workspace();
    let digests: Vec<Vec<String>> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let layout = Layout::open(&dir.path().join("oci")).unwrap();
            let base = common::base(&layout);
            let info = common::build_info(&base);
            ["tor-proxy", "api-server"]
                .iter()
                .map(|s| common::build(&layout, dir.path(), &ws, s, &info, &base).digest)
                .collect()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn unchanged_inputs_are_not_rebuilt_and_a_new_binary_is() {
    let ws = common::workspace();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let base = common::base(&layout);
    let info = common::build_info(&base);
    let first = common::build(&layout, dir.path(), &ws, "merkle-builder", &info, &base);
    assert!(!first.unchanged);
    let again = common::build(&layout, dir.path(), &ws, "merkle-builder", &info, &base);
    assert!(again.unchanged);
    assert_eq!(again.digest, first.digest);
    let later = lucid_image::BuildInfo {
        epoch: info.epoch + 1,
        ..info
    };
    let rebuilt = common::build(&layout, dir.path(), &ws, "merkle-builder", &later, &base);
    assert!(!rebuilt.unchanged);
    assert_ne!(rebuilt.digest, first.digest);
}

#[test]
fn image_follows_the_content_contract() {
    let ws = common::workspace();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let base = common::base(&layout);
    let info = common::build_info(&base);
    let image = common::build(&layout, dir.path(), &ws, "tor-proxy", &info, &base);
    let idx = index(&layout, &image.digest);
    let archs: Vec<String> = idx
        .manifests()
        .iter()
        .map(|m| m.platform().as_ref().unwrap().architecture().to_string())
        .collect();
    assert_eq!(archs, ["arm64", "amd64"]);
    let mut base_layers = Vec::new();
    for m in idx.manifests() {
        let man = manifest(&layout, m.digest().as_ref());
        base_layers.push(man.layers()[0].digest().to_string());
        let config = ImageConfiguration::from_reader(
            &layout.read_blob(man.config().digest().as_ref()).unwrap()[..],
        )
        .unwrap();
        let c = config.config().as_ref().unwrap();
        assert_eq!(c.user().as_deref(), Some("65532:65532"));
        assert_eq!(
            c.entrypoint().as_deref(),
            Some(&["/usr/local/bin/tor-proxy".to_string()][..])
        );
        assert_eq!(c.working_dir().as_deref(), Some("/home/nonroot"));
        let env = c.env().clone().unwrap();
        for want in [
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "LUCID_HTTP_PORT=9052",
            "TOR_PROXY_SOCKS_PORT=9050",
        ] {
            assert!(env.iter().any(|e| e == want), "{want} not in {env:?}");
        }
        let mut ports = c.exposed_ports().clone().unwrap();
        ports.sort();
        assert_eq!(ports, ["9050/tcp", "9052/tcp"]);
        let labels = c.labels().clone().unwrap();
        assert_eq!(
            labels["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(labels["org.opencontainers.image.title"], "tor-proxy");
        assert_eq!(labels["org.opencontainers.image.base.digest"], base.digest);
        for k in ["source", "revision", "version", "description", "base.name"] {
            assert!(
                labels.contains_key(&format!("org.opencontainers.image.{k}")),
                "{k}"
            );
        }
        assert_eq!(config.created().as_deref(), Some("2023-11-14T22:13:20Z"));
        let mut tree = Tree::new();
        for l in man.layers() {
            apply_layer(&mut tree, &layout.read_blob(l.digest().as_ref()).unwrap()).unwrap();
        }
        let bin = &tree["usr/local/bin/tor-proxy"];
        assert_eq!(
            (bin.kind, bin.mode, bin.uid, bin.gid),
            ("file", 0o755, 0, 0)
        );
        assert_eq!(
            forbidden_paths(&tree),
            Vec::<String>::new(),
            "no shell, no package manager"
        );
    }
    // The base layer is the same blob for both platforms.
    assert_eq!(base_layers[0], base_layers[1]);
    assert_eq!(base_layers[0], base.digest);
}

#[test]
fn skopeo_and_umoci_read_the_layout() {
    let ws = common::workspace();
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("oci");
    let layout = Layout::open(&oci).unwrap();
    let base = common::base(&layout);
    let info = common::build_info(&base);
    let image = common::build(&layout, dir.path(), &ws, "api-gateway", &info, &base);
    common::build(&layout, dir.path(), &ws, "api-server", &info, &base);
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &format!("oci:{}:{}", oci.display(), image.ref_name),
        ])
        .output()
        .expect("skopeo is installed");
    assert_success(&out);
    assert_eq!(
        lucid_image::sha256_digest(&out.stdout),
        image.digest,
        "skopeo sees the same index"
    );
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--override-arch",
            "arm64",
            &format!("oci:{}:{}", oci.display(), image.ref_name),
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["Architecture"], "arm64");
    // umoci checks the layout's structure and lists our ref names.
    let out = Command::new("umoci")
        .args(["ls", "--layout", &oci.display().to_string()])
        .output()
        .expect("umoci is installed");
    assert_success(&out);
    let refs = String::from_utf8_lossy(&out.stdout);
    assert!(
        refs.contains(&image.ref_name) && refs.contains("api-server-0.1.0-test"),
        "{refs}"
    );
}

#[test]
fn imports_an_oci_archive_like_buildx_writes() {
    let ws = common::workspace();
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("oci");
    let layout = Layout::open(&oci).unwrap();
    let base = common::base(&layout);
    let info = common::build_info(&base);
    let image = common::build(&layout, dir.path(), &ws, "openapi-server", &info, &base);
    let archive = dir.path().join("openapi-server.tar");
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            &format!("oci:{}:{}", oci.display(), image.ref_name),
            &format!("oci-archive:{}", archive.display()),
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let other = Layout::open(&dir.path().join("imported")).unwrap();
    let imported = lucid_image::docker::import_oci_archive(
        &other,
        &std::fs::read(&archive).unwrap(),
        "openapi-server",
        "openapi-server-x",
    )
    .unwrap();
    assert_eq!(imported.digest, image.digest);
    let platforms: Vec<&str> = imported
        .platforms
        .iter()
        .map(|p| p.platform.as_str())
        .collect();
    assert_eq!(platforms, ["linux/arm64", "linux/amd64"]);
    assert_eq!(
        other
            .find("openapi-server-x")
            .unwrap()
            .unwrap()
            .digest()
            .to_string(),
        image.digest
    );
}
