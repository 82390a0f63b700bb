//! The image manifest: what build-images/release produced, per service and platform.
//!
//! Written by the image stage (`target/lucid/images.json` for every build, and
//! `images/release-manifest.json` for a release), read by the compose stage (to pin digests),
//! the validator and the release. Plain data: the stages share this, not each other's code.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// The version in the tags (`0.1.0`, or `0.1.0-<sha>` for a dev build).
    pub version: String,
    /// Registry the images were pushed to, or `None` for an OCI layout only.
    pub registry: Option<String>,
    /// Path of the OCI image layout holding every image (relative to the workspace root).
    pub oci_layout: Option<String>,
    /// The base image: name and digest of its (single) layer set, for the report and labels.
    pub base: BaseInfo,
    pub images: Vec<ImageEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseInfo {
    /// `debian-lock:<sha256 of the lock file>` or the base reference.
    pub name: String,
    /// Digest of the base layer (or of the base image manifest for a reference base).
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEntry {
    pub service: String,
    /// Immutable reference, e.g. `docker.io/pickme/lucid:api-server-0.1.0`.
    pub reference: String,
    /// Moving reference, e.g. `docker.io/pickme/lucid:api-server`.
    pub moving_reference: String,
    /// Digest of the OCI image index (what compose pins to).
    pub digest: String,
    pub platforms: Vec<PlatformImage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformImage {
    /// `linux/arm64`.
    pub platform: String,
    /// Digest of the platform's image manifest.
    pub digest: String,
    /// Sum of the compressed layer sizes plus config, bytes.
    pub compressed_size: u64,
    /// Sum of the uncompressed layer sizes, bytes.
    pub uncompressed_size: u64,
}

impl ImageManifest {
    pub fn read(path: &Path) -> Result<ImageManifest> {
        let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: invalid image manifest", path.display()))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        std::fs::write(path, text).with_context(|| path.display().to_string())
    }

    pub fn image(&self, service: &str) -> Option<&ImageEntry> {
        self.images.iter().find(|i| i.service == service)
    }
}

/// Where a release leaves its manifest (committed with the pinned compose files).
pub const RELEASE_MANIFEST: &str = "images/release-manifest.json";
/// Where every build-images run leaves its manifest.
pub const BUILD_MANIFEST: &str = "target/lucid/images.json";
