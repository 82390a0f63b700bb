//! Where `verify` reads images: the validator's sources (an OCI layout, or a loopback registry
//! over plain HTTP) and, for any other registry, the pipeline's authenticated client (HTTPS,
//! Docker credentials, Bearer tokens), with every byte checked against its digest.

use anyhow::{bail, Context, Result};
use lucid_image::sha256_digest;
use lucid_validate::source::{ImageSource, OciLayout};
use std::path::Path;

/// A registry through `lucid_image::Registry`.
pub struct RegistrySource {
    registry: lucid_image::Registry,
}

impl RegistrySource {
    pub fn new(host: &str) -> Result<RegistrySource> {
        Ok(RegistrySource::with(lucid_image::Registry::new(host)?))
    }

    /// Through a client the caller made (its own Docker config).
    pub fn with(registry: lucid_image::Registry) -> RegistrySource {
        RegistrySource { registry }
    }
}

fn checked(digest: &str, bytes: Vec<u8>, what: &str) -> Result<Vec<u8>> {
    let actual = sha256_digest(&bytes);
    if actual != digest {
        bail!("{what}: content does not match its digest (expected {digest}, got {actual})");
    }
    Ok(bytes)
}

impl ImageSource for RegistrySource {
    fn describe(&self) -> String {
        format!("registry:{}", self.registry.host)
    }

    fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let path = format!("/v2/{repository}/tags/list");
        let scope = format!("repository:{repository}:pull");
        let reply = self.registry.send("GET", &path, &[], None, &scope)?;
        if reply.status != 200 {
            bail!(
                "registry {}: GET {path}: HTTP {}",
                self.registry.host,
                reply.status
            );
        }
        let json: serde_json::Value =
            serde_json::from_slice(&reply.body).with_context(|| format!("GET {path}"))?;
        Ok(json["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn resolve(&self, repository: &str, tag: &str) -> Result<String> {
        let (_, bytes) = self.registry.get_manifest(repository, tag)?;
        Ok(sha256_digest(&bytes))
    }

    fn manifest(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let (_, bytes) = self.registry.get_manifest(repository, digest)?;
        checked(digest, bytes, &format!("{repository}@{digest}"))
    }

    fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let bytes = self.registry.get_blob(repository, digest)?;
        checked(digest, bytes, &format!("{repository} blob {digest}"))
    }
}

/// The source of `--registry HOST` or `--oci DIR`.
pub fn open(registry: Option<&str>, oci: Option<&Path>) -> Result<Box<dyn ImageSource>> {
    match (registry, oci) {
        (Some(host), None) => Ok(Box::new(RegistrySource::new(host)?)),
        (None, Some(dir)) => Ok(Box::new(OciLayout::open(dir)?)),
        _ => bail!("give exactly one of --registry HOST and --oci DIR"),
    }
}
