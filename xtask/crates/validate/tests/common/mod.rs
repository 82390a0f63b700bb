//! Test fixtures: a tiny but real OCI image layout, written with tar, flate2 and sha2 (not with
//! the image stage's code, so that the validator is tested against an independent writer).

#![allow(dead_code)]

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const REPOSITORY: &str = "pickme/lucid";
pub const VERSION: &str = "0.1.0";

/// One image to write, and how to break it.
#[derive(Clone)]
pub struct Spec {
    pub service: String,
    pub port: u16,
    pub user: String,
    /// Extra files in the service layer: (path, mode, content).
    pub extra: Vec<(String, u32, Vec<u8>)>,
    /// ELF machine of the binary in the arm64 slot (183 when right).
    pub arm64_machine: u16,
    pub dynamic: bool,
    pub labels: bool,
}

impl Spec {
    pub fn new(service: &str, port: u16) -> Spec {
        Spec {
            service: service.into(),
            port,
            user: "65532:65532".into(),
            extra: Vec::new(),
            arm64_machine: 183,
            dynamic: false,
            labels: true,
        }
    }
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn put(layout: &Path, bytes: &[u8]) -> (String, u64) {
    let d = digest(bytes);
    let path = layout.join("blobs/sha256").join(&d[7..]);
    std::fs::write(path, bytes).unwrap();
    (d, bytes.len() as u64)
}

/// A gzip-compressed layer tar; returns (tar bytes, gz bytes).
fn layer(files: &[(String, u32, Vec<u8>)], dirs: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    for (path, mode, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_size(content.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, content.as_slice()).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    (tar.clone(), gz.finish().unwrap())
}

/// The ELF header of a binary for `machine`.
pub fn elf(machine: u16, dynamic: bool) -> Vec<u8> {
    let mut b = lucid_validate::elf::synthetic(machine, dynamic);
    b.extend(std::iter::repeat_n(0u8, 1000));
    b
}

/// Writes one layout holding every spec's two-platform image, tagged `<service>-<VERSION>`.
pub fn write_layout(dir: &Path, specs: &[Spec]) -> PathBuf {
    let layout = dir.join("oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let base_files = vec![
        (
            "etc/passwd".to_string(),
            0o644,
            b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n".to_vec(),
        ),
        ("etc/group".to_string(), 0o644, b"root:x:0:\nnonroot:x:65532:\n".to_vec()),
        (
            "etc/ssl/certs/ca-certificates.crt".to_string(),
            0o644,
            b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec(),
        ),
    ];
    let (base_tar, base_gz) = layer(
        &base_files,
        &["etc", "etc/ssl", "etc/ssl/certs", "tmp", "home/nonroot"],
    );
    let (base_digest, base_size) = put(&layout, &base_gz);
    let mut index_entries = Vec::new();
    for spec in specs {
        let mut manifests = Vec::new();
        for (arch, machine) in [("arm64", spec.arm64_machine), ("amd64", 62u16)] {
            let mut files = vec![(
                format!("usr/local/bin/{}", spec.service),
                0o755,
                elf(machine, spec.dynamic),
            )];
            files.extend(spec.extra.iter().cloned());
            let (svc_tar, svc_gz) = layer(&files, &["usr", "usr/local", "usr/local/bin"]);
            let (svc_digest, svc_size) = put(&layout, &svc_gz);
            let mut labels = serde_json::Map::new();
            if spec.labels {
                for (k, v) in [
                    ("source", "https://github.com/pickme/lucid".to_string()),
                    ("revision", "abc1234".to_string()),
                    ("version", VERSION.to_string()),
                    ("created", "1970-01-01T00:00:00Z".to_string()),
                    ("title", spec.service.clone()),
                    ("base.name", "debian-lock:fixture".to_string()),
                    ("base.digest", base_digest.clone()),
                ] {
                    labels.insert(format!("org.opencontainers.image.{k}"), json!(v));
                }
            }
            let config = json!({
                "architecture": arch,
                "os": "linux",
                "config": {
                    "User": spec.user,
                    "Entrypoint": [format!("/usr/local/bin/{}", spec.service)],
                    "Env": [format!("LUCID_HTTP_PORT={}", spec.port)],
                    "Labels": labels,
                },
                "rootfs": {"type": "layers", "diff_ids": [digest(&base_tar), digest(&svc_tar)]},
            });
            let (cfg_digest, cfg_size) = put(&layout, &serde_json::to_vec(&config).unwrap());
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": base_digest, "size": base_size},
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": svc_digest, "size": svc_size},
                ],
            });
            let (m_digest, m_size) = put(&layout, &serde_json::to_vec(&manifest).unwrap());
            manifests.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": m_digest, "size": m_size,
                "platform": {"os": "linux", "architecture": arch},
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let (i_digest, i_size) = put(&layout, &serde_json::to_vec(&index).unwrap());
        index_entries.push(json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": i_digest, "size": i_size,
            "annotations": {"org.opencontainers.image.ref.name": format!("{}-{VERSION}", spec.service)},
        }));
    }
    let top: Value = json!({"schemaVersion": 2, "manifests": index_entries});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    layout
}

/// The four images the compose fixtures use.
pub fn fixture_specs() -> Vec<Spec> {
    vec![
        Spec::new("api-gateway", 8080),
        Spec::new("api-server", 8081),
        Spec::new("server-tools", 8090),
        Spec::new("session-recorder", 8101),
    ]
}
