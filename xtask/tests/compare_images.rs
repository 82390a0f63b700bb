//! `cargo xtask compare-images A B` on OCI layouts made here: the same build twice is
//! identical; a build whose bytes differ only where engines may differ (tar encoding, history,
//! created) is equivalent, with the reasons listed; other file modes, a changed config fact or
//! a missing tag fail. The buildx-vs-oci job of ci.yml runs this command on GitHub's runners.

use lucid_image::layer::{self, Entry};
use lucid_image::testing::assert_success;
use lucid_image::Layout;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// How one build differs from the reference build.
#[derive(Clone, Copy)]
struct Build {
    /// Layer mtimes: other tar bytes, same file system (mtimes are not compared).
    mtime: u64,
    history: &'static str,
    created: &'static str,
    /// Mode of the binary.
    mode: u32,
    user: &'static str,
    /// The labels repeated as annotations on the index and manifests (what the oci engine does).
    annotations: Option<&'static str>,
}

const REFERENCE: Build = Build {
    mtime: 1_700_000_000,
    history: "oci engine",
    created: "2026-01-01T00:00:00Z",
    mode: 0o755,
    user: "65532:65532",
    annotations: Some("the title"),
};

const TITLE: &str = "org.opencontainers.image.title";

fn annotations(build: Build) -> serde_json::Value {
    match build.annotations {
        Some(title) => json!({ TITLE: title }),
        None => serde_json::Value::Null,
    }
}

/// A two-platform image per tag, written blob by blob into a new layout at `dir`.
fn layout(dir: &Path, build: Build, tags: &[&str]) -> PathBuf {
    let store = Layout::open(dir).unwrap();
    let put = |v: &serde_json::Value| {
        let bytes = serde_json::to_vec(v).unwrap();
        (store.put_blob(&bytes).unwrap(), bytes.len())
    };
    let mut entries = Vec::new();
    for tag in tags {
        let mut platforms = Vec::new();
        for arch in ["arm64", "amd64"] {
            let layer = layer::build(vec![
                Entry::dir("usr", 0o755, 0, build.mtime),
                Entry::file(
                    "usr/app",
                    build.mode,
                    format!("{tag} {arch}").into_bytes(),
                    build.mtime,
                ),
            ])
            .unwrap();
            let layer_digest = store.put_blob(&layer.gzip).unwrap();
            let (config, config_size) = put(&json!({
                "architecture": arch, "os": "linux", "created": build.created,
                "config": {"User": build.user, "Entrypoint": ["/usr/app"], "Labels": {TITLE: "the title"}},
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                "history": [{"created_by": build.history}],
            }));
            let (manifest, manifest_size) = put(&json!({
                "schemaVersion": 2, "mediaType": MANIFEST, "annotations": annotations(build),
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.gzip.len()}],
            }));
            platforms.push(
                json!({"mediaType": MANIFEST, "digest": manifest, "size": manifest_size,
                "platform": {"os": "linux", "architecture": arch}}),
            );
        }
        let (index, index_size) = put(
            &json!({"schemaVersion": 2, "mediaType": INDEX, "annotations": annotations(build), "manifests": platforms}),
        );
        entries.push(
            json!({"mediaType": INDEX, "digest": index, "size": index_size,
            "annotations": {"org.opencontainers.image.ref.name": tag}}),
        );
    }
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    dir.to_path_buf()
}

fn compare(a: &Path, b: &Path) -> (Output, String) {
    let out = Command::new(XTASK)
        .arg("compare-images")
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out, stdout)
}

#[test]
fn the_same_build_twice_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let tags = ["api-server-0.1.0", "tor-proxy-0.1.0"];
    let a = layout(&dir.path().join("a"), REFERENCE, &tags);
    let b = layout(&dir.path().join("b"), REFERENCE, &tags);
    let (out, stdout) = compare(&a, &b);
    assert_success(&out);
    assert!(
        stdout.contains("api-server-0.1.0  identical (linux/arm64, linux/amd64)")
            && stdout.contains(
                "2 images: 2 identical, 0 equivalent with expected differences, 0 different"
            ),
        "{stdout}"
    );
}

#[test]
fn engine_differences_in_bytes_only_are_equivalent_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let tags = ["api-server-0.1.0"];
    let a = layout(&dir.path().join("a"), REFERENCE, &tags);
    let buildkit = Build {
        mtime: 1_800_000_000,
        history: "COPY bin/arm64/api-server /usr/local/bin/api-server # buildkit",
        created: "2026-11-28T06:00:00Z",
        annotations: None,
        ..REFERENCE
    };
    let b = layout(&dir.path().join("b"), buildkit, &tags);
    let (out, stdout) = compare(&a, &b);
    assert_success(&out);
    eprintln!("{stdout}");
    assert!(
        stdout.contains(
            "api-server-0.1.0  same files and config on linux/arm64, linux/amd64; bytes differ in: annotations, config.created, config.history, config.rootfs, layers"
        ),
        "{stdout}"
    );
    for why in [
        "each engine writes its own tar headers",
        "diff_ids",
        "build steps",
        "SOURCE_DATE_EPOCH",
    ] {
        assert!(stdout.contains(why), "{why:?} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("1 equivalent with expected differences, 0 different"),
        "{stdout}"
    );
}

#[test]
fn another_mode_another_user_or_a_missing_tag_fail() {
    let dir = tempfile::tempdir().unwrap();
    let a = layout(
        &dir.path().join("a"),
        REFERENCE,
        &["api-server-0.1.0", "tor-proxy-0.1.0"],
    );
    let changed = Build {
        mode: 0o700,
        user: "0:0",
        ..REFERENCE
    };
    let b = layout(&dir.path().join("b"), changed, &["api-server-0.1.0"]);
    let (out, stdout) = compare(&a, &b);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    eprintln!("{stdout}");
    assert!(
        stdout.contains("api-server-0.1.0  DIFFERENT")
            && stdout.contains("/usr/app")
            && stdout.contains("config User: \"65532:65532\" ≠ \"0:0\"")
            && stdout.contains("tor-proxy-0.1.0  DIFFERENT")
            && stdout.contains("missing from"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("do not hold the same images"), "{stderr}");
}

#[test]
fn annotations_that_are_not_the_labels_fail() {
    let dir = tempfile::tempdir().unwrap();
    let a = layout(&dir.path().join("a"), REFERENCE, &["api-server-0.1.0"]);
    let other = Build {
        annotations: Some("another title"),
        ..REFERENCE
    };
    let b = layout(&dir.path().join("b"), other, &["api-server-0.1.0"]);
    let (out, stdout) = compare(&a, &b);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("linux/arm64: manifest annotations differ")
            && stdout.contains("index annotations differ"),
        "{stdout}"
    );
}

#[test]
fn a_directory_that_is_no_layout_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = layout(&dir.path().join("a"), REFERENCE, &["api-server-0.1.0"]);
    let (out, _) = compare(&a, &dir.path().join("nothing"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && stderr.contains("not an OCI image layout"),
        "{stderr}"
    );
}
