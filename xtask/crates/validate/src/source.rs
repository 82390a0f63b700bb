//! Where images are read from: an OCI image layout on disk, or a registry's HTTP API (through
//! the pipeline's one registry client, [`lucid_registry::Registry`]: TLS, Basic or token auth,
//! credentials from the Docker config, as a push uses them).
//!
//! Both hand out raw bytes by digest, and every byte is checked against its sha256 digest here,
//! so the inspection never relies on what the builder claims.

use anyhow::{bail, Context, Result};
pub use lucid_registry::sha256_digest;
use lucid_registry::Registry;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
pub const MANIFEST_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor (the subset the validator needs).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<PlatformSpec>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// An image index or an image manifest (they share the field names the validator reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDoc {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn verify(digest: &str, bytes: Vec<u8>, from: &str) -> Result<Vec<u8>> {
    let actual = sha256_digest(&bytes);
    if actual != digest {
        bail!("{from}: content does not match its digest (expected {digest}, got {actual})");
    }
    Ok(bytes)
}

/// A store of images addressed by tag and digest.
pub trait ImageSource {
    /// `oci:<path>` or `registry:<host>`.
    fn describe(&self) -> String;
    /// Tags of `repository` the source holds.
    fn tags(&self, repository: &str) -> Result<Vec<String>>;
    /// Digest of the top-level manifest or index that `tag` names.
    fn resolve(&self, repository: &str, tag: &str) -> Result<String>;
    /// A manifest or index by digest, verified.
    fn manifest(&self, repository: &str, digest: &str) -> Result<Vec<u8>>;
    /// A blob (config, layer) by digest, verified.
    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>>;
}

/// One OCI image layout (`index.json` + `blobs/sha256/`), tags from `org.opencontainers.image.ref.name`.
pub struct OciLayout {
    pub dir: PathBuf,
    /// How the report names it.
    shown: String,
    refs: Vec<(String, String)>,
}

impl OciLayout {
    pub fn open(dir: &Path) -> Result<OciLayout> {
        let layout = dir.join("oci-layout");
        let text = std::fs::read_to_string(&layout)
            .with_context(|| format!("{}: not an OCI image layout", layout.display()))?;
        if !text.contains("imageLayoutVersion") {
            bail!("{}: no imageLayoutVersion", layout.display());
        }
        let index_path = dir.join("index.json");
        let bytes = std::fs::read(&index_path).with_context(|| index_path.display().to_string())?;
        let index: ManifestDoc = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: invalid index", index_path.display()))?;
        let refs = index
            .manifests
            .into_iter()
            .filter_map(|d| {
                let name = d.annotations.get(REF_NAME)?;
                // A ref.name may be a bare tag or a full reference; the tag is what follows the last ':' after the last '/'.
                let tail = name.rsplit('/').next().unwrap_or(name);
                let tag = tail.rsplit_once(':').map(|(_, t)| t).unwrap_or(tail);
                Some((tag.to_string(), d.digest))
            })
            .collect();
        Ok(OciLayout {
            dir: dir.to_path_buf(),
            shown: dir.display().to_string(),
            refs,
        })
    }

    /// Names the layout `shown` in the report (a path relative to the workspace).
    pub fn shown_as(mut self, shown: String) -> OciLayout {
        self.shown = shown;
        self
    }

    fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("{digest}: only sha256 digests are supported"))?;
        let path = self.dir.join("blobs").join("sha256").join(hex);
        let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
        verify(digest, bytes, &path.display().to_string())
    }
}

impl ImageSource for OciLayout {
    fn describe(&self) -> String {
        format!("oci:{}", self.shown)
    }

    fn tags(&self, _repository: &str) -> Result<Vec<String>> {
        Ok(self.refs.iter().map(|(t, _)| t.clone()).collect())
    }

    fn resolve(&self, _repository: &str, tag: &str) -> Result<String> {
        // The last entry wins: a layout that was appended to holds the newest build last.
        self.refs
            .iter()
            .rev()
            .find(|(t, _)| t == tag)
            .map(|(_, d)| d.clone())
            .with_context(|| format!("{}: no image tagged {tag:?}", self.describe()))
    }

    fn manifest(&self, _repository: &str, digest: &str) -> Result<Vec<u8>> {
        self.read(digest)
    }

    fn blob(&self, _repository: &str, digest: &str) -> Result<Vec<u8>> {
        self.read(digest)
    }
}

/// A registry's HTTP API (distribution v2).
impl ImageSource for Registry {
    fn describe(&self) -> String {
        format!("registry:{}", self.host)
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>> {
        Registry::tags(self, repository)
    }

    fn resolve(&self, repository: &str, tag: &str) -> Result<String> {
        let manifest = self.get_manifest(repository, tag)?;
        // Trust the bytes, not the header: the digest is recomputed and compared.
        let digest = sha256_digest(&manifest.bytes);
        if let Some(h) = manifest.digest_header {
            if h != digest {
                bail!(
                    "registry {}: {repository}:{tag}: Docker-Content-Digest {h} but the body hashes to {digest}",
                    self.host
                );
            }
        }
        Ok(digest)
    }

    fn manifest(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let bytes = self.get_manifest(repository, digest)?.bytes;
        verify(
            digest,
            bytes,
            &format!("{}/{repository}@{digest}", self.host),
        )
    }

    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let bytes = self.get_blob(repository, digest)?;
        verify(
            digest,
            bytes,
            &format!("{}/{repository} blob {digest}", self.host),
        )
    }
}
