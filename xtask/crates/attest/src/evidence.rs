//! The evidence of one build, gathered once (cargo metadata per platform, the base's Debian
//! packages, the build facts) and turned into the attestation manifests of each image: an
//! SPDX SBOM and a SLSA provenance per platform image. Both engines hand their images to
//! [`ImageEvidence`] (lucid-image's `IndexExtras`), so both attach the same thing.

use crate::attestation::{self, Attestation};
use crate::crates::{self, ServiceCrates};
use crate::debian::DebPackage;
use crate::provenance::{self, BuildFacts};
use crate::sbom::{self, ImageContents};
use anyhow::{Context, Result};
use lucid_catalog::Platform;
use lucid_image::image::IndexExtras;
use lucid_image::{Layout, PlatformBuilt};
use oci_spec::image::Descriptor;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the SBOMs and provenances of one build are made of.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evidence {
    pub build: BuildFacts,
    /// `pickme/lucid`: the repository the images are named in (no registry: an image is the
    /// same wherever it is pushed).
    pub repository: String,
    /// `lucid-xtask-0.1.0`.
    pub tool: String,
    pub debian: Vec<DebPackage>,
    pub services: BTreeMap<String, ServiceEvidence>,
}

/// One service: its crate and the crates of its binary per platform (`linux/arm64`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceEvidence {
    pub crate_version: String,
    pub license: Option<String>,
    pub crates: BTreeMap<String, ServiceCrates>,
}

impl Evidence {
    /// Reads the crates of `services` for `platforms` from the workspace at `root` (one
    /// `cargo metadata` per platform) and its `Cargo.lock`.
    pub fn gather(
        root: &Path,
        services: &[String],
        platforms: &[Platform],
        debian: Vec<DebPackage>,
        build: BuildFacts,
        repository: &str,
    ) -> Result<Evidence> {
        let checksums = crates::lock_checksums(&root.join("Cargo.lock"))?;
        let mut out: BTreeMap<String, ServiceEvidence> = BTreeMap::new();
        for platform in platforms {
            let metadata = crates::metadata(root, platform.rust_target())?;
            for service in services {
                let package = metadata
                    .workspace_packages()
                    .into_iter()
                    .find(|p| p.name.as_str() == service)
                    .with_context(|| format!("{service}: not a package of the workspace"))?;
                let entry = out
                    .entry(service.clone())
                    .or_insert_with(|| ServiceEvidence {
                        crate_version: package.version.to_string(),
                        license: package.license.clone(),
                        crates: BTreeMap::new(),
                    });
                let crates = crates::of_service(&metadata, service, &checksums)
                    .with_context(|| format!("{service} for {platform}"))?;
                entry.crates.insert(platform.oci().to_string(), crates);
            }
        }
        Ok(Evidence {
            build,
            repository: repository.into(),
            tool: format!("lucid-xtask-{}", env!("CARGO_PKG_VERSION")),
            debian,
            services: out,
        })
    }

    /// The attestations of the image of `service` tagged `tag` (image version `version`),
    /// whose binaries are `binaries`.
    pub fn for_image<'a>(
        &'a self,
        service: &'a str,
        tag: &'a str,
        version: &'a str,
        binaries: Vec<(Platform, PathBuf)>,
    ) -> ImageEvidence<'a> {
        ImageEvidence {
            evidence: self,
            service,
            tag,
            version,
            binaries,
        }
    }
}

/// The attestations of one image.
pub struct ImageEvidence<'a> {
    evidence: &'a Evidence,
    service: &'a str,
    tag: &'a str,
    version: &'a str,
    binaries: Vec<(Platform, PathBuf)>,
}

impl ImageEvidence<'_> {
    fn service(&self) -> Result<&ServiceEvidence> {
        self.evidence
            .services
            .get(self.service)
            .with_context(|| format!("{}: no evidence gathered for this service", self.service))
    }

    /// The SBOM and provenance statements about the `platform` image `manifest_digest`.
    pub fn statements(
        &self,
        platform: Platform,
        manifest_digest: &str,
    ) -> Result<Vec<Attestation>> {
        let e = self.evidence;
        let service = self.service()?;
        let crates = service
            .crates
            .get(platform.oci())
            .with_context(|| format!("{}: no crates gathered for {platform}", self.service))?;
        let binary = self
            .binaries
            .iter()
            .find(|(p, _)| *p == platform)
            .with_context(|| format!("{}: no {platform} binary", self.service))?;
        let bytes = std::fs::read(&binary.1).with_context(|| binary.1.display().to_string())?;
        let binary_sha256 = lucid_image::hex(&Sha256::digest(&bytes));
        let image = format!("{}:{}", e.repository, self.tag);
        let doc = sbom::document(&ImageContents {
            image: &image,
            service: self.service,
            version: self.version,
            binary_version: &service.crate_version,
            platform,
            source: &e.build.source,
            revision: &e.build.commit,
            license: service.license.as_deref(),
            binary_sha256: &binary_sha256,
            epoch: e.build.epoch,
            tool: &e.tool,
            debian: &e.debian,
            crates,
        });
        let subject = attestation::subject_name(&e.repository, self.tag, platform.oci());
        let provenance = provenance::predicate(&e.build, self.service, platform.oci());
        Ok(vec![
            attestation::statement(&subject, manifest_digest, attestation::SPDX, doc)?,
            attestation::statement(
                &subject,
                manifest_digest,
                attestation::SLSA_PROVENANCE,
                provenance,
            )?,
        ])
    }
}

impl IndexExtras for ImageEvidence<'_> {
    fn key(&self) -> String {
        let inputs = serde_json::json!({
            "build": self.evidence.build,
            "repository": self.evidence.repository,
            "tool": self.evidence.tool,
            "debian": self.evidence.debian,
            "service": self.evidence.services.get(self.service),
            "tag": self.tag,
            "version": self.version,
        });
        lucid_image::hex(&Sha256::digest(inputs.to_string()))
    }

    fn manifests(&self, layout: &Layout, platforms: &[PlatformBuilt]) -> Result<Vec<Descriptor>> {
        let mut out = Vec::new();
        for p in platforms {
            let platform = Platform::parse(&p.platform)?;
            let statements = self
                .statements(platform, &p.digest)
                .with_context(|| format!("{}: attestations for {platform}", self.service))?;
            out.push(attestation::write_manifest(layout, &p.digest, &statements)?);
        }
        Ok(out)
    }
}
