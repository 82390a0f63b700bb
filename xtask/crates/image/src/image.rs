//! The oci engine: one service image (a multi-platform OCI image index) assembled in-process
//! into the layout — base layer + service layer per platform, config, manifests, index.
//!
//! Incremental: each image is keyed by a hash of everything that goes into it (binary digests,
//! base digest, facts, build info, tag). When the key and the layout's blobs are unchanged,
//! nothing is rebuilt.

use crate::base::Base;
use crate::facts::{rfc3339, BuildInfo, ImageFacts, USER, WORKING_DIR};
use crate::json::canonical;
use crate::layer::{self, Entry};
use crate::layout::{write_atomic, Layout};
use crate::{hex, sha256_digest};
use anyhow::{Context, Result};
use lucid_catalog::Platform;
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, History, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndex, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder, RootFsBuilder,
};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Everything one image is made of.
pub struct ImageInput<'a> {
    pub facts: &'a ImageFacts,
    pub build: &'a BuildInfo,
    pub base: &'a Base,
    /// The static binary of each platform.
    pub binaries: Vec<(Platform, PathBuf)>,
    /// The versioned tag (`tor-proxy-0.1.0-3f2a9c1`), the index entry's ref name.
    pub ref_name: String,
}

/// A built image: the index in the layout and its platform manifests.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuiltImage {
    pub service: String,
    pub ref_name: String,
    /// Digest and size of the image index.
    pub digest: String,
    pub size: u64,
    pub platforms: Vec<PlatformBuilt>,
    /// True when the cache said nothing changed (not stored).
    #[serde(skip)]
    pub unchanged: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlatformBuilt {
    /// `linux/arm64`.
    pub platform: String,
    pub digest: String,
    pub size: u64,
    /// Config plus compressed layers, bytes.
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Digest of the service layer (the base layer is shared).
    pub layer_digest: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheRecord {
    key: String,
    image: BuiltImage,
}

fn digest(d: &str) -> Result<Digest> {
    Digest::from_str(d).with_context(|| d.to_string())
}

fn descriptor(media_type: MediaType, d: &str, size: u64) -> Result<Descriptor> {
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest(d)?)
        .size(size)
        .build()?)
}

fn arch(p: Platform) -> Arch {
    match p {
        Platform::LinuxArm64 => Arch::ARM64,
        Platform::LinuxAmd64 => Arch::Amd64,
    }
}

/// The cache key of an image: sha256 over its inputs (binaries by content).
pub fn input_key(input: &ImageInput) -> Result<String> {
    let mut h = Sha256::new();
    // Bump when the assembly itself changes, so old records are not trusted.
    h.update(b"lucid-image v1\n");
    h.update(format!(
        "{:?}\n{:?}\n{:?}\n{}\n",
        input.facts, input.build, input.base, input.ref_name
    ));
    for (p, path) in &input.binaries {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        h.update(format!("{} {}\n", p.oci(), sha256_digest(&bytes)));
    }
    Ok(hex(&h.finalize()))
}

/// More manifests for an image's index, made from its platform images once they are built:
/// the attestation manifests (SBOM, provenance) of each platform.
pub trait IndexExtras: Sync {
    /// Changes whenever the manifests would: part of the image's cache key.
    fn key(&self) -> String;
    /// The work that needs no platform manifest, done on a second thread while the layers
    /// compress (an SBOM describes the binary, not the manifest that will carry it).
    fn prepare(&self) -> Result<()> {
        Ok(())
    }
    /// Writes the manifests into `layout`; returns their index entries.
    fn manifests(&self, layout: &Layout, platforms: &[PlatformBuilt]) -> Result<Vec<Descriptor>>;
}

/// Builds (or finds unchanged) the image of `input` in `layout`; `cache_dir` holds the keys.
pub fn build(
    layout: &Layout,
    cache_dir: &Path,
    input: &ImageInput,
    on_platform: &mut dyn FnMut(Platform),
) -> Result<BuiltImage> {
    build_with(layout, cache_dir, input, None, on_platform)
}

/// [`build`], with `extras` appended to the index after the platform manifests.
pub fn build_with(
    layout: &Layout,
    cache_dir: &Path,
    input: &ImageInput,
    extras: Option<&dyn IndexExtras>,
    on_platform: &mut dyn FnMut(Platform),
) -> Result<BuiltImage> {
    let mut key = input_key(input)?;
    if let Some(e) = extras {
        key = hex(&Sha256::digest(format!("{key}\nextras {}", e.key())));
    }
    let record_path = cache_dir.join(format!("{}.json", input.facts.service));
    if let Some(mut image) = cached(layout, &record_path, &key, &input.ref_name) {
        layout.set_image(
            &input.facts.service,
            &input.ref_name,
            &descriptor(MediaType::ImageIndex, &image.digest, image.size)?,
        )?;
        image.unchanged = true;
        return Ok(image);
    }
    let labels: HashMap<String, String> = input.facts.labels(input.build).into_iter().collect();
    let (mut manifests, platforms) = std::thread::scope(|scope| {
        let prepared = extras.map(|e| scope.spawn(|| e.prepare()));
        let built = platform_images(layout, input, &labels, on_platform);
        if let Some(p) = prepared {
            p.join().map_err(|_| {
                anyhow::anyhow!(
                    "{}: preparing the index extras panicked",
                    input.facts.service
                )
            })??;
        }
        built
    })?;
    if let Some(e) = extras {
        manifests.extend(e.manifests(layout, &platforms)?);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .annotations(labels)
        .build()?;
    let image = put_index(
        layout,
        input.facts.service.clone(),
        input.ref_name.clone(),
        &index,
        platforms,
    )?;
    let record = CacheRecord {
        key,
        image: image.clone(),
    };
    write_atomic(&record_path, &serde_json::to_vec_pretty(&record)?)?;
    Ok(image)
}

/// The platform image of every binary of `input`, and its index entry.
fn platform_images(
    layout: &Layout,
    input: &ImageInput,
    labels: &HashMap<String, String>,
    on_platform: &mut dyn FnMut(Platform),
) -> Result<(Vec<Descriptor>, Vec<PlatformBuilt>)> {
    let mut manifests = Vec::new();
    let mut platforms = Vec::new();
    for (platform, path) in &input.binaries {
        let binary = std::fs::read(path).with_context(|| path.display().to_string())?;
        let built = platform_image(layout, input, *platform, binary, labels)?;
        let mut desc = descriptor(MediaType::ImageManifest, &built.digest, built.size)?;
        desc.set_platform(Some(
            PlatformBuilder::default()
                .architecture(arch(*platform))
                .os(Os::Linux)
                .build()?,
        ));
        manifests.push(desc);
        platforms.push(built);
        on_platform(*platform);
    }
    Ok((manifests, platforms))
}

/// Stores `index` as the image of `service` tagged `ref_name`.
fn put_index(
    layout: &Layout,
    service: String,
    ref_name: String,
    index: &ImageIndex,
    platforms: Vec<PlatformBuilt>,
) -> Result<BuiltImage> {
    let bytes = canonical(index)?;
    let digest = layout.put_blob(&bytes)?;
    let image = BuiltImage {
        service,
        ref_name,
        digest,
        size: bytes.len() as u64,
        platforms,
        unchanged: false,
    };
    layout.set_image(
        &image.service,
        &image.ref_name,
        &descriptor(MediaType::ImageIndex, &image.digest, image.size)?,
    )?;
    Ok(image)
}

/// `image` (already in `layout`, e.g. imported from buildx) with `extras` in its index in
/// place of any manifests that are not its platform images (BuildKit's own attestations).
pub fn with_extras(
    layout: &Layout,
    image: &BuiltImage,
    extras: &dyn IndexExtras,
) -> Result<BuiltImage> {
    let index = ImageIndex::from_reader(&layout.read_blob(&image.digest)?[..])
        .with_context(|| format!("{}: index {}", image.service, image.digest))?;
    let mut manifests: Vec<Descriptor> = index
        .manifests()
        .iter()
        .filter(|m| {
            image
                .platforms
                .iter()
                .any(|p| m.digest().as_ref() == p.digest)
        })
        .cloned()
        .collect();
    manifests.extend(extras.manifests(layout, &image.platforms)?);
    let mut index = index;
    index.set_manifests(manifests);
    put_index(
        layout,
        image.service.clone(),
        image.ref_name.clone(),
        &index,
        image.platforms.clone(),
    )
}

/// The recorded image when its key matches and every blob it needs is still in the layout.
fn cached(layout: &Layout, record: &Path, key: &str, ref_name: &str) -> Option<BuiltImage> {
    let rec: CacheRecord = serde_json::from_slice(&std::fs::read(record).ok()?).ok()?;
    if rec.key != key || rec.image.ref_name != ref_name || !layout.has_blob(&rec.image.digest) {
        return None;
    }
    for p in &rec.image.platforms {
        if !layout.has_blob(&p.digest) || !layout.has_blob(&p.layer_digest) {
            return None;
        }
    }
    Some(rec.image)
}

/// The service layer: the binary at /usr/local/bin/<service>, 0755, root-owned.
pub fn service_layer(facts: &ImageFacts, binary: Vec<u8>, epoch: u64) -> Result<layer::Layer> {
    let path = facts.binary.trim_start_matches('/');
    let mut entries = vec![Entry::file(path, 0o755, binary, epoch)];
    let mut dir = path;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        entries.push(Entry::dir(parent, 0o755, 0, epoch));
        dir = parent;
    }
    layer::build(entries)
}

fn platform_image(
    layout: &Layout,
    input: &ImageInput,
    platform: Platform,
    binary: Vec<u8>,
    labels: &HashMap<String, String>,
) -> Result<PlatformBuilt> {
    let layer = service_layer(input.facts, binary, input.build.epoch)?;
    layout.put_blob(&layer.gzip)?;
    let facts = input.facts;
    let base_layers = input.base.layers(platform)?;
    let mut diff_ids: Vec<String> = base_layers.iter().map(|l| l.diff_id.clone()).collect();
    diff_ids.push(layer.diff_id.clone());
    let mut layers = Vec::new();
    for l in &base_layers {
        layers.push(descriptor(
            MediaType::from(l.media_type.as_str()),
            &l.digest,
            l.size,
        )?);
    }
    layers.push(descriptor(
        MediaType::ImageLayerGzip,
        &layer.digest,
        layer.gzip.len() as u64,
    )?);
    let config = ImageConfigurationBuilder::default()
        .created(rfc3339(input.build.epoch))
        .architecture(arch(platform))
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .user(USER)
                .env(
                    facts
                        .env
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>(),
                )
                .entrypoint(facts.entrypoint.clone())
                .exposed_ports(facts.exposed_ports.clone())
                .working_dir(WORKING_DIR)
                .labels(labels.clone())
                .build()?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids)
                .build()?,
        )
        .build()?;
    let config = if input.base.is_reference() {
        let digest = &input.base.platform(platform)?.config;
        let base_config = ImageConfiguration::from_reader(&layout.read_blob(digest)?[..])
            .with_context(|| format!("base {} config {digest}", input.base.name))?;
        on_base_config(base_config, config)
    } else {
        config
    };
    let config_bytes = canonical(&config)?;
    let config_digest = layout.put_blob(&config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_bytes.len() as u64,
        )?)
        .layers(layers)
        .annotations(labels.clone())
        .build()?;
    let manifest_bytes = canonical(&manifest)?;
    let manifest_digest = layout.put_blob(&manifest_bytes)?;
    Ok(PlatformBuilt {
        platform: platform.oci().to_string(),
        digest: manifest_digest,
        size: manifest_bytes.len() as u64,
        compressed_size: config_bytes.len() as u64
            + base_layers.iter().map(|l| l.size).sum::<u64>()
            + layer.gzip.len() as u64,
        uncompressed_size: base_layers.iter().map(|l| l.uncompressed_size).sum::<u64>()
            + layer.tar.len() as u64,
        layer_digest: layer.digest,
    })
}

/// The config of an image on a base by reference: the base's config with ours laid over it,
/// as a Dockerfile `FROM <base>` would do — Env merged by name (ours win, base order first),
/// labels and exposed ports merged, Cmd cleared (a new ENTRYPOINT resets it), our user,
/// working dir, entrypoint and rootfs; the base's other settings (volumes, stop signal,
/// variant) and history are kept, with one history entry added for the service layer.
pub fn on_base_config(
    mut base: ImageConfiguration,
    ours: ImageConfiguration,
) -> ImageConfiguration {
    let mut config = base.config().clone().unwrap_or_default();
    let o = ours.config().clone().unwrap_or_default();
    let mut env = config.env().clone().unwrap_or_default();
    for kv in o.env().clone().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        match env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key.as_str()))
        {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
    }
    config.set_env(Some(env));
    let mut labels = config.labels().clone().unwrap_or_default();
    labels.extend(o.labels().clone().unwrap_or_default());
    config.set_labels(Some(labels));
    let mut ports = config.exposed_ports().clone().unwrap_or_default();
    for p in o.exposed_ports().clone().unwrap_or_default() {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    config.set_exposed_ports(Some(ports));
    config.set_user(o.user().clone());
    config.set_working_dir(o.working_dir().clone());
    config.set_entrypoint(o.entrypoint().clone());
    config.set_cmd(None);
    base.set_config(Some(config));
    base.set_created(ours.created().clone());
    base.set_architecture(ours.architecture().clone());
    base.set_os(ours.os().clone());
    base.set_rootfs(ours.rootfs().clone());
    if let Some(history) = base.history_mut() {
        let mut ours_history = History::default();
        ours_history.set_created(ours.created().clone());
        ours_history.set_created_by(Some("lucid: service binary".into()));
        history.push(ours_history);
    }
    base
}
