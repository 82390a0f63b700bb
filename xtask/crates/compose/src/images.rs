//! Which image each service runs: pinned by digest after a release, else the versioned tag.

use anyhow::{Context, Result};
use lucid_catalog::manifest::RELEASE_MANIFEST;
use lucid_catalog::{ImageManifest, ImageRef, Workspace};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the references come from, for the summary and the file header.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `images/release-manifest.json` of this version: references pinned by digest.
    Release { version: String },
    /// No release manifest: the versioned tags of the workspace version.
    Tags { version: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Release { version } => {
                write!(
                    f,
                    "pinned by digest from {RELEASE_MANIFEST} (release {version})"
                )
            }
            Source::Tags { version } => write!(
                f,
                "versioned tags of {version} (no {RELEASE_MANIFEST}: not pinned until a release)"
            ),
        }
    }
}

/// The release manifest, if the repository has one.
pub fn read_release_manifest(root: &Path) -> Result<Option<ImageManifest>> {
    let path = root.join(RELEASE_MANIFEST);
    if !path.exists() {
        return Ok(None);
    }
    ImageManifest::read(&path).map(Some)
}

/// Service name -> image reference.
pub fn resolve(
    ws: &Workspace,
    release: Option<&ImageManifest>,
) -> Result<(BTreeMap<String, String>, Source)> {
    let mut out = BTreeMap::new();
    match release {
        Some(manifest) => {
            for s in &ws.services {
                let entry = manifest.image(&s.name).with_context(|| format!("{RELEASE_MANIFEST}: {}: no image entry for this service; release again (`cargo xtask release`) or remove the stale manifest", s.name))?;
                let pinned = ImageRef::parse(&entry.reference)
                    .and_then(|r| r.with_digest(&entry.digest))
                    .with_context(|| format!("{RELEASE_MANIFEST}: {}: reference/digest", s.name))?;
                out.insert(s.name.clone(), pinned.to_string());
            }
            Ok((
                out,
                Source::Release {
                    version: manifest.version.clone(),
                },
            ))
        }
        None => {
            for s in &ws.services {
                let (versioned, _) = ws
                    .image_refs(&s.name, &ws.version, &ws.settings.registry)
                    .with_context(|| {
                        format!("{}: {}: image reference", s.manifest_path.display(), s.name)
                    })?;
                out.insert(s.name.clone(), versioned.to_string());
            }
            Ok((
                out,
                Source::Tags {
                    version: ws.version.clone(),
                },
            ))
        }
    }
}
