//! Publishing: an image of the layout → a registry. Order: every blob (HEAD first, skipped when
//! present, so a rerun after an interruption resumes), then each platform manifest by digest,
//! then the index under the immutable tag. The moving tag is never touched here: see
//! [`tag_moving`], which a release calls only after every image is pushed and validated.

use crate::image::BuiltImage;
use crate::layout::Layout;
use crate::registry::{Registry, Scope};
use anyhow::{bail, Context, Result};
use lucid_catalog::ImageRef;
use oci_spec::image::{ImageIndex, ImageManifest, MediaType};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What happened during a push (drives the progress bars).
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// The registry already had this blob.
    BlobSkipped {
        digest: String,
        size: u64,
    },
    BlobUploaded {
        digest: String,
        size: u64,
    },
    ManifestPushed {
        reference: String,
    },
}

/// The outcome of one image push.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushOutcome {
    /// The tag already pointed at this exact index: nothing was sent.
    pub unchanged: bool,
    pub uploaded_blobs: usize,
    pub uploaded_bytes: u64,
    pub skipped_blobs: usize,
    /// The digest the registry reports for the pushed index.
    pub digest: String,
}

/// The annotation by which a manifest of an index names the platform manifest it is about
/// (BuildKit's attestation manifests, ours too).
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// The manifests of `image` to push, in index order: its platform manifests and the manifests
/// of its index that refer to one of them (attestations).
pub fn manifests(layout: &Layout, image: &BuiltImage) -> Result<Vec<String>> {
    let ours: Vec<&str> = image.platforms.iter().map(|p| p.digest.as_str()).collect();
    let index = ImageIndex::from_reader(&layout.read_blob(&image.digest)?[..])
        .with_context(|| format!("{}: index {}", image.service, image.digest))?;
    Ok(index
        .manifests()
        .iter()
        .filter(|m| {
            let about = m
                .annotations()
                .as_ref()
                .and_then(|a| a.get(REFERENCE_DIGEST));
            ours.contains(&m.digest().as_ref()) || about.is_some_and(|d| ours.contains(&d.as_str()))
        })
        .map(|m| m.digest().to_string())
        .collect())
}

/// The blobs an image needs, in push order (configs and layers of every manifest of
/// [`manifests`]), deduplicated.
pub fn blobs(layout: &Layout, image: &BuiltImage) -> Result<Vec<(String, u64)>> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for digest in manifests(layout, image)? {
        let m = ImageManifest::from_reader(&layout.read_blob(&digest)?[..])
            .with_context(|| digest.clone())?;
        for d in std::iter::once(m.config()).chain(m.layers().iter()) {
            let digest = d.digest().to_string();
            if !out.iter().any(|(x, _)| *x == digest) {
                out.push((digest, d.size()));
            }
        }
    }
    Ok(out)
}

/// Pushes `image` from `layout` to `target` (its immutable tag).
pub fn push_image(
    registry: &Registry,
    layout: &Layout,
    image: &BuiltImage,
    target: &ImageRef,
    on_event: &mut dyn FnMut(&PushEvent),
) -> Result<PushOutcome> {
    let repo = &target.repository;
    let tag = target
        .tag
        .as_deref()
        .with_context(|| format!("{}: a push needs a tag", target.name()))?;
    // One token for pull and push up front; wrong credentials fail before anything is sent.
    registry.authorize(&[Scope::push(repo)])?;
    if registry.manifest_digest(repo, tag)?.as_deref() == Some(image.digest.as_str()) {
        return Ok(PushOutcome {
            unchanged: true,
            digest: image.digest.clone(),
            ..Default::default()
        });
    }
    let mut outcome = PushOutcome::default();
    for (digest, size) in blobs(layout, image)? {
        if registry.has_blob(repo, &digest)? {
            outcome.skipped_blobs += 1;
            on_event(&PushEvent::BlobSkipped { digest, size });
            continue;
        }
        let bytes = layout.read_blob(&digest)?;
        registry.upload_blob(repo, &digest, &bytes)?;
        outcome.uploaded_blobs += 1;
        outcome.uploaded_bytes += size;
        on_event(&PushEvent::BlobUploaded { digest, size });
    }
    for digest in manifests(layout, image)? {
        let bytes = layout.read_blob(&digest)?;
        registry.put_manifest(repo, &digest, MANIFEST, &bytes)?;
        on_event(&PushEvent::ManifestPushed { reference: digest });
    }
    let index = layout.read_blob(&image.digest)?;
    let digest = registry.put_manifest(repo, tag, INDEX, &index)?;
    if digest != image.digest {
        bail!(
            "registry {} stored {}:{tag} as {digest}, expected {}",
            registry.host,
            target.name(),
            image.digest
        );
    }
    on_event(&PushEvent::ManifestPushed {
        reference: tag.to_string(),
    });
    outcome.digest = digest;
    Ok(outcome)
}

/// Points the moving tag at what the immutable tag holds (same registry and repository), after
/// checking that every platform manifest of the index is present. Returns the index digest.
pub fn tag_moving(registry: &Registry, versioned: &ImageRef, moving: &ImageRef) -> Result<String> {
    if versioned.name() != moving.name() {
        bail!("moving tag {moving:?} must be in the repository of {versioned:?}");
    }
    let (Some(from), Some(to)) = (versioned.tag.as_deref(), moving.tag.as_deref()) else {
        bail!("tag_moving needs two tagged references");
    };
    let repo = &versioned.repository;
    registry.authorize(&[Scope::push(repo)])?;
    let manifest = registry.get_manifest(repo, from)?;
    let (media_type, bytes) = (manifest.media_type, manifest.bytes);
    if media_type.contains("index") || media_type.contains("manifest.list") {
        let index = ImageIndex::from_reader(&bytes[..])
            .with_context(|| format!("{}:{from}", versioned.name()))?;
        for m in index.manifests() {
            if m.media_type() == &MediaType::ImageManifest
                && registry
                    .manifest_digest(repo, m.digest().as_ref())?
                    .is_none()
            {
                bail!(
                    "{}:{from} references {} which the registry does not have: not moving {to}",
                    versioned.name(),
                    m.digest()
                );
            }
        }
    }
    registry.put_manifest(repo, to, &media_type, &bytes)
}
