//! Where images are read from: an OCI image layout on disk, or a registry's HTTP API.
//!
//! Both hand out raw bytes by digest, and every byte is checked against its sha256 digest here,
//! so the inspection never relies on what the builder claims.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
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

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
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
            refs,
        })
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
        format!("oci:{}", self.dir.display())
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

/// A registry's HTTP API (distribution v2), plain HTTP: the pipeline's local registries.
pub struct Registry {
    pub host: String,
    agent: ureq::Agent,
}

impl Registry {
    pub fn new(host: &str) -> Registry {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        Registry {
            host: host.trim_end_matches('/').to_string(),
            agent,
        }
    }

    fn base(&self) -> String {
        if self.host.starts_with("http://") || self.host.starts_with("https://") {
            self.host.clone()
        } else {
            format!("http://{}", self.host)
        }
    }

    fn get(&self, url: &str, accept: &str) -> Result<(Vec<u8>, Option<String>)> {
        let mut resp = self
            .agent
            .get(url)
            .header("Accept", accept)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status().as_u16();
        if status != 200 {
            bail!("GET {url}: HTTP {status}");
        }
        let digest = resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .body_mut()
            .with_config()
            .limit(2 << 30)
            .read_to_vec()
            .with_context(|| format!("GET {url}"))?;
        Ok((body, digest))
    }

    fn accept_manifests() -> String {
        INDEX_MEDIA_TYPES
            .iter()
            .chain(MANIFEST_MEDIA_TYPES.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl ImageSource for Registry {
    fn describe(&self) -> String {
        format!("registry:{}", self.host)
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let url = format!("{}/v2/{repository}/tags/list", self.base());
        let (body, _) = self.get(&url, "application/json")?;
        let tags: Tags =
            serde_json::from_slice(&body).with_context(|| format!("GET {url}: invalid JSON"))?;
        Ok(tags.tags.unwrap_or_default())
    }

    fn resolve(&self, repository: &str, tag: &str) -> Result<String> {
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base());
        let (body, header) = self.get(&url, &Registry::accept_manifests())?;
        // Trust the bytes, not the header: the digest is recomputed and compared.
        let digest = sha256_digest(&body);
        if let Some(h) = header {
            if h != digest {
                bail!("GET {url}: Docker-Content-Digest {h} but the body hashes to {digest}");
            }
        }
        Ok(digest)
    }

    fn manifest(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.base());
        let (body, _) = self.get(&url, &Registry::accept_manifests())?;
        verify(digest, body, &url)
    }

    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base());
        let (body, _) = self.get(&url, "*/*")?;
        verify(digest, body, &url)
    }
}
