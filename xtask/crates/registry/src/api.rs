//! The distribution API calls the pipeline makes: blobs (HEAD, upload, GET), manifests (HEAD,
//! GET, PUT), tags. Reads ask for the pull scope, writes for pull and push.

use crate::auth::Scope;
use crate::client::{Registry, Reply};
use anyhow::{anyhow, bail, Context, Result};
use lucid_catalog::url::query_value;

/// Every manifest media type the pipeline reads: OCI and Docker, index and single-platform.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest (or index) as the registry served it.
pub struct Manifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// What the registry says its digest is (`Docker-Content-Digest`); the bytes decide.
    pub digest_header: Option<String>,
}

impl Registry {
    /// HEAD `/v2/<repo>/<kind>s/<reference>`: the reply when it exists, None when it does not.
    fn head(
        &self,
        repo: &str,
        kind: &str,
        reference: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<Reply>> {
        let path = format!("/v2/{repo}/{kind}s/{reference}");
        let r = self.send("HEAD", &path, headers, None, &[Scope::pull(repo)])?;
        match r.status {
            200 => Ok(Some(r)),
            404 => Ok(None),
            s => Err(anyhow!(
                "registry {}: HEAD {kind} {repo}:{reference}: HTTP {s}",
                self.host
            )),
        }
    }

    /// An error for a reply we did not expect, with what the registry said.
    fn unexpected(&self, what: &str, r: &Reply) -> anyhow::Error {
        anyhow!(
            "registry {}: {what}: HTTP {}: {}",
            self.host,
            r.status,
            String::from_utf8_lossy(&r.body).trim()
        )
    }

    /// True when the registry already has the blob.
    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool> {
        Ok(self.head(repo, "blob", digest, &[])?.is_some())
    }

    /// Opens a blob upload session (POST); the reply is the caller's to judge: 202 with a
    /// Location when it may push.
    pub fn start_upload(&self, repo: &str) -> Result<Reply> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        self.send("POST", &path, &[], Some(&[]), &[Scope::push(repo)])
    }

    /// Proves that the credentials may push to `repo` without pushing anything: opens an
    /// upload session and cancels it.
    pub fn check_push(&self, repo: &str) -> Result<()> {
        let start = self.start_upload(repo)?;
        if start.status != 202 {
            return Err(self.unexpected(&format!("may not push to {repo}"), &start));
        }
        if let Some(location) = start.header("location") {
            // Cancelling is a courtesy: an abandoned session expires on its own.
            let _ = self.send("DELETE", location, &[], None, &[Scope::push(repo)]);
        }
        Ok(())
    }

    /// Uploads a blob in one PUT (POST for a session, then PUT with the digest).
    pub fn upload_blob(&self, repo: &str, digest: &str, bytes: &[u8]) -> Result<()> {
        let start = self.start_upload(repo)?;
        if start.status != 202 {
            return Err(self.unexpected(&format!("starting the upload of {digest}"), &start));
        }
        let location = start
            .header("location")
            .with_context(|| format!("registry {}: upload session without Location", self.host))?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", query_value(digest));
        let r = self.send(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            Some(bytes),
            &[Scope::push(repo)],
        )?;
        if r.status != 201 {
            return Err(self.unexpected(&format!("uploading {digest}"), &r));
        }
        Ok(())
    }

    /// The digest of the manifest at `reference` (tag or digest), or None when there is none.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<String>> {
        let r = self.head(repo, "manifest", reference, &[("Accept", ACCEPT)])?;
        Ok(r.and_then(|r| r.header("docker-content-digest").map(str::to_string)))
    }

    /// The manifest at `reference` (tag or digest).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let r = self.send(
            "GET",
            &path,
            &[("Accept", ACCEPT)],
            None,
            &[Scope::pull(repo)],
        )?;
        if r.status != 200 {
            bail!(
                "registry {}: {repo}:{reference}: HTTP {} (not pushed?)",
                self.host,
                r.status
            );
        }
        Ok(Manifest {
            media_type: r.header("content-type").unwrap_or(ACCEPT).to_string(),
            digest_header: r.header("docker-content-digest").map(str::to_string),
            bytes: r.body,
        })
    }

    /// The bytes of a blob (unverified: the caller checks the digest). Registries that keep
    /// blobs in object storage answer with a redirect, followed without our credentials.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let scope = [Scope::pull(repo)];
        let r = self.send(
            "GET",
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            None,
            &scope,
        )?;
        let r = match (r.status, r.header("location")) {
            (301 | 302 | 303 | 307 | 308, Some(location)) => {
                let base = self.connect()?.base_url;
                if location.starts_with('/') || location.starts_with(&base) {
                    self.send("GET", location, &[], None, &scope)?
                } else {
                    self.transfer("GET", location, &[], None, None)?
                }
            }
            _ => r,
        };
        match r.status {
            200 => Ok(r.body),
            404 => Err(anyhow!(
                "registry {}: {repo} has no blob {digest}",
                self.host
            )),
            s => Err(anyhow!(
                "registry {}: GET blob {digest} of {repo}: HTTP {s}",
                self.host
            )),
        }
    }

    /// Stores a manifest (or index) under `reference`; returns the digest the registry computed.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let r = self.send(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            Some(bytes),
            &[Scope::push(repo)],
        )?;
        if r.status != 201 {
            return Err(self.unexpected(&format!("PUT manifest {repo}:{reference}"), &r));
        }
        Ok(r.header("docker-content-digest")
            .map(str::to_string)
            .unwrap_or_else(|| crate::sha256_digest(bytes)))
    }

    /// The tags of `repo` (`GET /v2/<repo>/tags/list`); an unknown repository has none.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let path = format!("/v2/{repo}/tags/list");
        let r = self.send("GET", &path, &[], None, &[Scope::pull(repo)])?;
        match r.status {
            200 => {}
            404 => return Ok(Vec::new()),
            _ => return Err(self.unexpected(&format!("GET tags of {repo}"), &r)),
        }
        let json: serde_json::Value = serde_json::from_slice(&r.body)
            .with_context(|| format!("registry {}: tags of {repo}: invalid JSON", self.host))?;
        Ok(json["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}
