//! The base by reference (`[workspace.metadata.lucid.base] reference = "…@sha256:…"`): an image
//! fetched from its registry — index (or single manifest), then for each platform built its
//! manifest, config and layers — every blob checked against its digest, layers also against
//! the config's diff_ids.
//!
//! Blobs land in the layout (the service images reference the base layers) and in a cache
//! store beside it (`<cache>/base-ref/`, an OCI layout too): the layout is garbage-collected
//! after each build, the cache is not, so a rerun needs no registry. Trusting the cache is safe
//! because everything is reached from the pinned digest.

use crate::base::{Base, BasePlatform, LayerRef, LAYER_GZIP};
use crate::layout::Layout;
use crate::registry::Registry;
use crate::sha256_digest;
use anyhow::{anyhow, bail, Context, Result};
use lucid_catalog::{ImageRef, Platform};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Fetches `reference` (digest-pinned) for `platforms` into `layout` (and `cache_dir/base-ref`).
/// Errors name the reference; the caller adds where it was configured.
pub fn fetch(
    reference: &ImageRef,
    platforms: &[Platform],
    layout: &Layout,
    cache_dir: &Path,
) -> Result<Base> {
    fetch_pinned(reference, platforms, layout, cache_dir).with_context(|| reference.to_string())
}

fn fetch_pinned(
    reference: &ImageRef,
    platforms: &[Platform],
    layout: &Layout,
    cache_dir: &Path,
) -> Result<Base> {
    let pinned = reference
        .digest
        .clone()
        .context("a base reference must be pinned by digest (@sha256:…)")?;
    let store = Layout::open(&cache_dir.join("base-ref"))?;
    let mut source = Source {
        reference,
        layout,
        store: &store,
        registry: None,
    };
    let top = source.manifest(&pinned)?;
    let top_json = json(&top, &pinned)?;
    let mut out = Vec::new();
    if is_index(&top_json) {
        let entries = top_json["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for p in platforms {
            let entry = entries
                .iter()
                .find(|m| matches_platform(&m["platform"], *p))
                .ok_or_else(|| missing_platform(*p, &available(&entries)))?;
            let digest = entry["digest"].as_str().unwrap_or_default().to_string();
            let bytes = source.manifest(&digest)?;
            out.push(source.platform(*p, &digest, &json(&bytes, &digest)?)?);
        }
    } else {
        // A single-platform image: it serves the one platform its config names.
        for p in platforms {
            let built = source.platform(*p, &pinned, &top_json)?;
            let config = json(&source.blob(&built.config)?, &built.config)?;
            if !matches_platform(&config, *p) {
                let has = format!(
                    "{}/{}",
                    config["os"].as_str().unwrap_or("?"),
                    config["architecture"].as_str().unwrap_or("?")
                );
                return Err(missing_platform(*p, &[has]));
            }
            out.push(built);
        }
    }
    let mut seen = BTreeSet::new();
    let (mut size, mut uncompressed_size) = (0, 0);
    for l in out.iter().flat_map(|p| &p.layers) {
        if seen.insert(&l.digest) {
            size += l.size;
            uncompressed_size += l.uncompressed_size;
        }
    }
    Ok(Base {
        name: reference.without_digest().to_string(),
        digest: pinned,
        diff_id: String::new(),
        size,
        uncompressed_size,
        platforms: out,
    })
}

/// Where blobs come from: the layout, else the cache store, else the registry (connected on
/// first need, so a cached base builds offline).
struct Source<'a> {
    reference: &'a ImageRef,
    layout: &'a Layout,
    store: &'a Layout,
    registry: Option<Registry>,
}

impl Source<'_> {
    fn registry(&mut self) -> Result<&Registry> {
        if self.registry.is_none() {
            self.registry = Some(Registry::new(&self.reference.registry)?);
        }
        Ok(self.registry.as_ref().expect("just set"))
    }

    fn manifest(&mut self, digest: &str) -> Result<Vec<u8>> {
        self.get(digest, true)
    }

    fn blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        self.get(digest, false)
    }

    fn get(&mut self, digest: &str, manifest: bool) -> Result<Vec<u8>> {
        if self.layout.has_blob(digest) {
            return self.layout.read_blob(digest);
        }
        if self.store.has_blob(digest) {
            let bytes = self.store.read_blob(digest)?;
            self.layout.put_blob(&bytes)?;
            return Ok(bytes);
        }
        let reference = self.reference;
        let bytes = self.download(digest, manifest)?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            bail!(
                "registry {} served {actual} for {digest}: content does not match its digest",
                reference.registry
            );
        }
        self.store.put_blob(&bytes)?;
        self.layout.put_blob(&bytes)?;
        Ok(bytes)
    }

    fn download(&mut self, digest: &str, manifest: bool) -> Result<Vec<u8>> {
        let reference = self.reference;
        let repo = &reference.repository;
        Ok(if manifest {
            let registry = self.registry()?;
            match registry.manifest_digest(repo, digest)? {
                Some(_) => registry.get_manifest(repo, digest)?.bytes,
                None => {
                    let tag = reference.tag.as_deref().unwrap_or("latest");
                    let serves = match registry.manifest_digest(repo, tag)? {
                        Some(d) => format!("the tag {tag} points at {d}"),
                        None => format!("it has no tag {tag} either"),
                    };
                    bail!(
                        "registry {} has no manifest {digest} in {repo} ({serves}); \
                         is the digest right?",
                        reference.registry
                    );
                }
            }
        } else {
            self.registry()?.get_blob(repo, digest)?
        })
    }

    /// Config and layers of one platform manifest, every layer checked against its diff_id.
    fn platform(
        &mut self,
        platform: Platform,
        digest: &str,
        manifest: &Value,
    ) -> Result<BasePlatform> {
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .with_context(|| format!("manifest {digest} has no config"))?
            .to_string();
        let config = json(&self.blob(&config_digest)?, &config_digest)?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
        if layers.len() != diff_ids.len() {
            bail!(
                "{platform} manifest {digest} has {} layers, its config {} diff_ids",
                layers.len(),
                diff_ids.len()
            );
        }
        let mut out = Vec::new();
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let media_type = layer["mediaType"].as_str().unwrap_or_default();
            let layer_digest = layer["digest"].as_str().unwrap_or_default().to_string();
            let bytes = self.blob(&layer_digest)?;
            let tar = match media_type {
                LAYER_GZIP | DOCKER_LAYER_GZIP => {
                    let mut tar = Vec::new();
                    flate2::read::GzDecoder::new(&bytes[..])
                        .read_to_end(&mut tar)
                        .with_context(|| format!("layer {layer_digest}"))?;
                    tar
                }
                OCI_LAYER_TAR => bytes.clone(),
                other => {
                    bail!(
                        "layer {layer_digest} has media type {other:?}; \
                         supported: gzip or uncompressed tar layers"
                    )
                }
            };
            if sha256_digest(&tar) != diff_id {
                bail!("layer {layer_digest} does not uncompress to its diff_id {diff_id}");
            }
            out.push(LayerRef {
                // Docker's gzip layer is the OCI gzip layer byte for byte; our manifests are OCI.
                media_type: if media_type == DOCKER_LAYER_GZIP {
                    LAYER_GZIP.into()
                } else {
                    media_type.into()
                },
                digest: layer_digest,
                diff_id,
                size: bytes.len() as u64,
                uncompressed_size: tar.len() as u64,
            });
        }
        Ok(BasePlatform {
            platform: platform.oci().into(),
            manifest: digest.into(),
            config: config_digest,
            layers: out,
        })
    }
}

fn json(bytes: &[u8], digest: &str) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("{digest}: invalid JSON"))
}

fn is_index(v: &Value) -> bool {
    v["mediaType"]
        .as_str()
        .is_some_and(|t| INDEX_TYPES.contains(&t))
        || (v["mediaType"].is_null() && v["manifests"].is_array())
}

/// `platform` (of an index entry) or a config (same `os`/`architecture` keys) is `p`.
fn matches_platform(v: &Value, p: Platform) -> bool {
    let arch = p.arch();
    v["os"].as_str() == Some("linux") && v["architecture"].as_str() == Some(arch)
}

fn available(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|m| {
            let p = &m["platform"];
            Some(format!(
                "{}/{}",
                p["os"].as_str()?,
                p["architecture"].as_str()?
            ))
        })
        .collect()
}

fn missing_platform(p: Platform, has: &[String]) -> anyhow::Error {
    anyhow!(
        "the base has no {p} image (it has: {}); build fewer platforms (--platform) \
         or choose a base that has {p}",
        if has.is_empty() {
            "none".to_string()
        } else {
            has.join(", ")
        }
    )
}
