//! The evidence of one build, gathered once (cargo metadata per platform, the base's Debian
//! packages, the build facts) and turned into the attestation manifests of each image: an
//! SPDX SBOM and a SLSA provenance per platform image. Both engines hand their images to
//! [`ImageEvidence`] (lucid-image's `IndexExtras`), so both attach the same thing.
//!
//! None of it waits for the image stage's real work: the crates are resolved (`cargo
//! metadata`, a subprocess) on a thread of their own from the moment the evidence is gathered,
//! and each image's SBOM and provenance are made while its layers compress (`prepare`); only
//! the subject digest is written after the platform manifests exist.

use crate::attestation::{self, Attestation};
use crate::crates::{self, ServiceCrates};
use crate::debian::DebPackage;
use crate::provenance::{self, BuildFacts};
use crate::sbom::{self, ImageContents};
use anyhow::{anyhow, Context, Result};
use lucid_catalog::Platform;
use lucid_image::image::IndexExtras;
use lucid_image::json::canonical;
use lucid_image::{Layout, PlatformBuilt};
use oci_spec::image::Descriptor;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

/// What the SBOMs and provenances of one build are made of.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub build: BuildFacts,
    /// `pickme/lucid`: the repository the images are named in (no registry: an image is the
    /// same wherever it is pushed).
    pub repository: String,
    /// `lucid-xtask-0.1.0`.
    pub tool: String,
    pub debian: Vec<DebPackage>,
    /// sha256 over what cargo resolves the crates from besides `Cargo.lock` (whose digest is in
    /// `build`): the workspace's manifests. With the binaries' digests it decides the crates
    /// (and their declared licences), so an image's cache key needs no resolve.
    pub manifests_sha256: String,
    services: Arc<Background<BTreeMap<String, ServiceEvidence>>>,
}

/// One service: its crate and the crates of its binary per platform (`linux/arm64`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceEvidence {
    pub crate_version: String,
    pub license: Option<String>,
    pub crates: BTreeMap<String, ServiceCrates>,
}

/// A value computed on a thread of its own, waited for by its first reader.
struct Background<T> {
    running: Mutex<Option<JoinHandle<Result<T>>>>,
    done: OnceLock<Result<T, String>>,
}

impl<T: Send + 'static> Background<T> {
    fn spawn(name: &str, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<Self> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(work)
            .with_context(|| format!("starting thread {name}"))?;
        Ok(Background {
            running: Mutex::new(Some(handle)),
            done: OnceLock::new(),
        })
    }

    fn get(&self) -> Result<&T> {
        once(&self.done, || {
            let handle = self.running.lock().ok().and_then(|mut h| h.take());
            handle
                .context("the thread is gone")?
                .join()
                .map_err(|_| anyhow!("the thread panicked"))?
        })
    }
}

/// The value of `cell`, made by `make` on first use; an error is kept (as its message) and
/// given again to every later reader.
fn once<T>(cell: &OnceLock<Result<T, String>>, make: impl FnOnce() -> Result<T>) -> Result<&T> {
    cell.get_or_init(|| make().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

impl<T> Drop for Background<T> {
    /// Never leaves a `cargo metadata` behind (an image stage whose images were all unchanged
    /// never asks for the crates).
    fn drop(&mut self) {
        if let Some(h) = self.running.get_mut().ok().and_then(Option::take) {
            let _ = h.join();
        }
    }
}

impl<T> std::fmt::Debug for Background<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.done.get().is_some() {
            "Background(done)"
        } else {
            "Background(running)"
        })
    }
}

impl Evidence {
    /// The evidence of `services` built for `platforms` from the workspace at `root`, whose
    /// member manifests are `manifests`. The crates of each binary (one `cargo metadata` per
    /// platform, and `Cargo.lock`'s checksums) are resolved on a thread of their own.
    pub fn gather(
        root: &Path,
        manifests: &[PathBuf],
        services: &[String],
        platforms: &[Platform],
        debian: Vec<DebPackage>,
        build: BuildFacts,
        repository: &str,
    ) -> Result<Evidence> {
        let mut h = Sha256::new();
        for m in manifests {
            let text = std::fs::read(m).with_context(|| m.display().to_string())?;
            // Relative: the key is the same wherever the workspace is checked out.
            h.update(format!(
                "{} {}\n",
                m.strip_prefix(root).unwrap_or(m).display(),
                lucid_image::hex(&Sha256::digest(&text))
            ));
        }
        let (root, services, platforms) =
            (root.to_path_buf(), services.to_vec(), platforms.to_vec());
        let resolving = Background::spawn("cargo-metadata", move || {
            resolve(&root, &services, &platforms)
        })?;
        Ok(Evidence {
            build,
            repository: repository.into(),
            tool: format!("lucid-xtask-{}", env!("CARGO_PKG_VERSION")),
            debian,
            manifests_sha256: lucid_image::hex(&h.finalize()),
            services: Arc::new(resolving),
        })
    }

    /// Every service's crates per platform (waits for the resolve).
    pub fn services(&self) -> Result<&BTreeMap<String, ServiceEvidence>> {
        self.services.get()
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
            predicates: OnceLock::new(),
        }
    }
}

/// The crates of `services` for `platforms`: one `cargo metadata` per platform.
fn resolve(
    root: &Path,
    services: &[String],
    platforms: &[Platform],
) -> Result<BTreeMap<String, ServiceEvidence>> {
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
    Ok(out)
}

/// The attestations of one image.
pub struct ImageEvidence<'a> {
    evidence: &'a Evidence,
    service: &'a str,
    tag: &'a str,
    version: &'a str,
    binaries: Vec<(Platform, PathBuf)>,
    /// Made once, by whichever comes first: `prepare` (beside the layers) or `manifests`.
    predicates: OnceLock<Result<Vec<Predicates>, String>>,
}

/// The canonical predicates of one platform image: they describe its binary and its build,
/// not its manifest, so they can be made before the manifest exists.
struct Predicates {
    platform: Platform,
    sbom: Vec<u8>,
    provenance: Vec<u8>,
}

impl ImageEvidence<'_> {
    fn service(&self) -> Result<&ServiceEvidence> {
        self.evidence
            .services()
            .with_context(|| format!("{}: resolving the crates of its binaries", self.service))?
            .get(self.service)
            .with_context(|| format!("{}: no evidence gathered for this service", self.service))
    }

    /// The predicates of every platform binary of the image.
    fn predicates(&self) -> Result<&[Predicates]> {
        once(&self.predicates, || {
            self.binaries
                .iter()
                .map(|(platform, binary)| self.predicates_of(*platform, binary))
                .collect()
        })
        .map(Vec::as_slice)
    }

    fn predicates_of(&self, platform: Platform, binary: &Path) -> Result<Predicates> {
        let e = self.evidence;
        let service = self.service()?;
        let crates = service
            .crates
            .get(platform.oci())
            .with_context(|| format!("{}: no crates gathered for {platform}", self.service))?;
        let bytes = std::fs::read(binary).with_context(|| binary.display().to_string())?;
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
        Ok(Predicates {
            platform,
            sbom: canonical(&doc)?,
            provenance: canonical(&provenance::predicate(
                &e.build,
                self.service,
                platform.oci(),
            ))?,
        })
    }

    /// The SBOM and provenance statements about the `platform` image `manifest_digest`.
    pub fn statements(
        &self,
        platform: Platform,
        manifest_digest: &str,
    ) -> Result<Vec<Attestation>> {
        let p = self
            .predicates()?
            .iter()
            .find(|p| p.platform == platform)
            .with_context(|| format!("{}: no {platform} binary", self.service))?;
        let subject =
            attestation::subject_name(&self.evidence.repository, self.tag, platform.oci());
        Ok(vec![
            attestation::statement_of_canonical(
                &subject,
                manifest_digest,
                attestation::SPDX,
                &p.sbom,
            )?,
            attestation::statement_of_canonical(
                &subject,
                manifest_digest,
                attestation::SLSA_PROVENANCE,
                &p.provenance,
            )?,
        ])
    }
}

impl IndexExtras for ImageEvidence<'_> {
    fn key(&self) -> String {
        // With the binaries' digests (the image's own key), these decide every byte of the
        // attestations; the crates themselves are resolved later, beside the layers.
        let e = self.evidence;
        let inputs = serde_json::to_vec(&(
            &e.build,
            &e.repository,
            &e.tool,
            &e.debian,
            &e.manifests_sha256,
            self.service,
            self.tag,
            self.version,
        ))
        .unwrap_or_default();
        lucid_image::hex(&Sha256::digest(inputs))
    }

    fn prepare(&self) -> Result<()> {
        self.predicates().map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::tests::facts;

    fn gather_in(root: &Path, manifest_text: &str) -> Evidence {
        let manifest = root.join("Cargo.toml");
        std::fs::write(&manifest, manifest_text).unwrap();
        std::fs::write(root.join("Cargo.lock"), "version = 4\n").unwrap();
        Evidence::gather(
            root,
            &[manifest],
            &["tor-proxy".into()],
            &[Platform::LinuxArm64],
            Vec::new(),
            facts(),
            "pickme/lucid",
        )
        .unwrap()
    }

    // The crates are resolved on a thread of their own: a resolve that fails is an error of
    // the image that needed it, naming the service and the cargo command, never a panic.
    #[test]
    fn a_failed_resolve_is_an_error_of_the_image_that_needs_it() {
        let dir = tempfile::tempdir().unwrap();
        let evidence = gather_in(dir.path(), "[package]\nname = 'broken\n");
        let binary = dir.path().join("tor-proxy");
        std::fs::write(&binary, b"\x7fELF").unwrap();
        let image = evidence.for_image(
            "tor-proxy",
            "tor-proxy-0.1.0",
            "0.1.0",
            vec![(Platform::LinuxArm64, binary)],
        );
        let digest = format!("sha256:{}", "ab".repeat(32));
        let err = format!(
            "{:#}",
            image.statements(Platform::LinuxArm64, &digest).unwrap_err()
        );
        assert!(err.starts_with("tor-proxy: resolving the crates"), "{err}");
        assert!(
            err.contains("cargo metadata --filter-platform aarch64-unknown-linux-musl"),
            "{err}"
        );
        // Asked again (the index extras are asked twice: prepare, then manifests): the same error.
        let again = format!("{:#}", image.prepare().unwrap_err());
        assert_eq!(again, err);
    }

    // The cache key of an image's attestations changes with every input of the crate resolve
    // that the binaries' digests do not already cover: a manifest's declared licence, say.
    #[test]
    fn the_key_follows_the_workspace_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let key = |text: &str| {
            let evidence = gather_in(dir.path(), text);
            let image = evidence.for_image("tor-proxy", "tor-proxy-0.1.0", "0.1.0", Vec::new());
            image.key()
        };
        let mit = key("[package]\nname = 'x'\nlicense = 'MIT'\n");
        assert_eq!(mit, key("[package]\nname = 'x'\nlicense = 'MIT'\n"));
        assert_ne!(mit, key("[package]\nname = 'x'\nlicense = 'Apache-2.0'\n"));
    }
}
