//! Every check of `cargo xtask verify`, for one image read from an OCI layout or a registry:
//!
//! - `signature`: a cosign signature under `sha256-<hex>.sig` verifies under the key, and its
//!   payload names this index digest and this repository;
//! - `sbom`: every platform image has an attestation manifest with an SPDX statement whose
//!   subject is that platform's manifest digest, describing this service's binary;
//! - `provenance`: likewise a SLSA provenance statement, for this service and platform, whose
//!   commit is the release's (`--commit`, else the revision label the signed config carries);
//! - `crates`: the crate list cargo-auditable embedded in the binary equals the SBOM's.
//!
//! A failure names the image, the platform where it applies, and the check.

use crate::attestation::{self, Statement, REFERENCE_DIGEST};
use crate::auditable;
use crate::cosign;
use crate::keys::PublicKey;
use crate::provenance::Predicate;
use crate::sbom::Document;
use anyhow::{anyhow, bail, Context, Result};
use lucid_catalog::{ImageRef, Platform, Workspace};
use lucid_validate::source::{Descriptor, ImageSource, ManifestDoc};
use serde::de::DeserializeOwned;
use std::io::Read;

/// The checks, named as the failures name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The image itself could not be read.
    Image,
    Signature,
    Sbom,
    Provenance,
    Crates,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Check::Image => "image",
            Check::Signature => "signature",
            Check::Sbom => "sbom",
            Check::Provenance => "provenance",
            Check::Crates => "crates",
        };
        f.write_str(name)
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Failure {
    /// The image reference (`127.0.0.1:5000/pickme/lucid:tor-proxy-0.1.0`).
    pub image: String,
    pub platform: Option<String>,
    pub check: Check,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.platform {
            Some(p) => write!(f, "{} ({p}): {}: {}", self.image, self.check, self.message),
            None => write!(f, "{}: {}: {}", self.image, self.check, self.message),
        }
    }
}

/// What was found about one platform image.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PlatformEvidence {
    pub platform: String,
    pub manifest_digest: String,
    /// Debian packages and crates the SBOM lists.
    pub sbom_debian_packages: Option<usize>,
    pub sbom_crates: Option<usize>,
    pub provenance_commit: Option<String>,
    /// Crates cargo-auditable embedded in the binary as runtime dependencies.
    pub embedded_crates: Option<usize>,
}

/// What was found about one image.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImageVerification {
    pub service: String,
    pub image: String,
    pub index_digest: Option<String>,
    /// Fingerprint of the key whose signature verified.
    pub signed_by: Option<String>,
    pub platforms: Vec<PlatformEvidence>,
    pub failures: Vec<Failure>,
}

impl ImageVerification {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The image to verify and what it must be.
pub struct Target {
    pub service: String,
    /// The versioned reference (registry, repository, tag).
    pub reference: ImageRef,
    pub platforms: Vec<Platform>,
}

/// How strict to be.
#[derive(Default)]
pub struct Options {
    /// Check signatures under this key; without one the signature check is left out.
    pub key: Option<PublicKey>,
    /// The commit the provenance must name; default: the image's revision label.
    pub commit: Option<String>,
}

/// The images of `services` (every service when empty) at `version`, named in `host`'s
/// repository, for the workspace's platforms.
pub fn targets(
    ws: &Workspace,
    services: &[String],
    version: &str,
    host: &str,
) -> Result<Vec<Target>> {
    ws.select(services)?
        .into_iter()
        .map(|s| {
            let (reference, _) = ws
                .image_refs(&s.name, version, host)
                .with_context(|| format!("{}: image reference", s.name))?;
            Ok(Target {
                service: s.name.clone(),
                reference,
                platforms: ws.settings.platforms.clone(),
            })
        })
        .collect()
}

/// Runs every check on `target` in `source`.
pub fn verify_image(
    source: &dyn ImageSource,
    target: &Target,
    opts: &Options,
) -> ImageVerification {
    let mut v = ImageVerification {
        service: target.service.clone(),
        image: target.reference.to_string(),
        ..Default::default()
    };
    let repo = target.reference.repository.as_str();
    let tag = target.reference.tag.clone().unwrap_or_default();
    let index = source.resolve(repo, &tag).and_then(|digest| {
        let bytes = source.manifest(repo, &digest)?;
        let doc: ManifestDoc = serde_json::from_slice(&bytes).context("invalid index")?;
        Ok((digest, doc))
    });
    let (digest, index) = match index {
        Ok(i) => i,
        Err(e) => {
            fail(&mut v, None, Check::Image, format!("{e:#}"));
            return v;
        }
    };
    v.index_digest = Some(digest.clone());
    if let Some(key) = &opts.key {
        match check_signature(source, &target.reference, &digest, key) {
            Ok(()) => v.signed_by = Some(key.fingerprint()),
            Err(e) => fail(&mut v, None, Check::Signature, format!("{e:#}")),
        }
    }
    for platform in &target.platforms {
        let evidence = verify_platform(source, target, opts, &index, *platform, &mut v);
        v.platforms.push(evidence);
    }
    v
}

fn fail(v: &mut ImageVerification, platform: Option<Platform>, check: Check, message: String) {
    v.failures.push(Failure {
        image: v.image.clone(),
        platform: platform.map(|p| p.oci().to_string()),
        check,
        message,
    });
}

fn check_signature(
    source: &dyn ImageSource,
    reference: &ImageRef,
    digest: &str,
    key: &PublicKey,
) -> Result<()> {
    let signatures = cosign::read_signatures(source, &reference.repository, digest)?;
    cosign::verify(
        &signatures,
        key,
        digest,
        &cosign::docker_reference(reference),
    )
}

/// The statements of one platform image, read once.
struct Attestations {
    sbom: Result<Document>,
    provenance: Result<Predicate>,
}

fn verify_platform(
    source: &dyn ImageSource,
    target: &Target,
    opts: &Options,
    index: &ManifestDoc,
    platform: Platform,
    v: &mut ImageVerification,
) -> PlatformEvidence {
    let mut e = PlatformEvidence {
        platform: platform.oci().into(),
        ..Default::default()
    };
    let entry = index.manifests.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == platform.arch())
    });
    let Some(entry) = entry else {
        fail(
            v,
            Some(platform),
            Check::Image,
            format!("the index has no {platform} image"),
        );
        return e;
    };
    e.manifest_digest = entry.digest.clone();
    let repo = &target.reference.repository;
    let a = attestations(source, repo, index, &entry.digest);
    let sbom = a.sbom.and_then(|doc| {
        check_sbom(&doc, &target.service)?;
        Ok(doc)
    });
    match &sbom {
        Ok(doc) => {
            let (deb, crates) = doc.counts();
            (e.sbom_debian_packages, e.sbom_crates) = (Some(deb), Some(crates));
        }
        Err(err) => fail(v, Some(platform), Check::Sbom, format!("{err:#}")),
    }
    let commit = a.provenance.and_then(|p| {
        let expected = match &opts.commit {
            Some(c) => c.clone(),
            None => revision_label(source, repo, &entry.digest)?,
        };
        check_provenance(&p, &target.service, platform, &expected)
    });
    match commit {
        Ok(c) => e.provenance_commit = Some(c),
        Err(err) => fail(v, Some(platform), Check::Provenance, format!("{err:#}")),
    }
    let crates = embedded(source, repo, &entry.digest, &target.service).and_then(|embedded| {
        let doc = sbom
            .as_ref()
            .map_err(|_| anyhow!("no valid SBOM to compare with"))?;
        compare_crates(&embedded, doc)?;
        Ok(embedded.runtime.len())
    });
    match crates {
        Ok(n) => e.embedded_crates = Some(n),
        Err(err) => fail(v, Some(platform), Check::Crates, format!("{err:#}")),
    }
    e
}

/// The SPDX and provenance statements attached to `platform_digest`, their subjects checked.
fn attestations(
    source: &dyn ImageSource,
    repo: &str,
    index: &ManifestDoc,
    platform_digest: &str,
) -> Attestations {
    let layers = attestation_layers(source, repo, index, platform_digest);
    let read = |predicate_type: &str| -> Result<Vec<u8>> {
        let layers = layers.as_ref().map_err(|e| anyhow!("{e:#}"))?;
        let layer = layers
            .iter()
            .find(|l| {
                l.annotations
                    .get(attestation::PREDICATE_TYPE)
                    .map(String::as_str)
                    == Some(predicate_type)
            })
            .with_context(|| {
                format!("the attestation manifest has no {predicate_type} statement")
            })?;
        source.blob(repo, &layer.digest)
    };
    Attestations {
        sbom: read(attestation::SPDX)
            .and_then(|b| predicate(&b, attestation::SPDX, platform_digest)),
        provenance: read(attestation::SLSA_PROVENANCE)
            .and_then(|b| predicate(&b, attestation::SLSA_PROVENANCE, platform_digest)),
    }
}

fn attestation_layers(
    source: &dyn ImageSource,
    repo: &str,
    index: &ManifestDoc,
    platform_digest: &str,
) -> Result<Vec<Descriptor>> {
    let entries: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.annotations.get(REFERENCE_DIGEST).map(String::as_str) == Some(platform_digest)
        })
        .collect();
    let entry = match entries.as_slice() {
        [one] => *one,
        [] => bail!("the index has no attestation manifest for {platform_digest}"),
        _ => bail!(
            "the index has {} attestation manifests for {platform_digest}",
            entries.len()
        ),
    };
    let bytes = source.manifest(repo, &entry.digest)?;
    let m: ManifestDoc = serde_json::from_slice(&bytes)
        .with_context(|| format!("attestation manifest {}", entry.digest))?;
    Ok(m.layers)
}

/// The predicate of a statement whose type is `predicate_type` and whose only subject is
/// `subject_digest`.
fn predicate<P: DeserializeOwned>(
    bytes: &[u8],
    predicate_type: &str,
    subject_digest: &str,
) -> Result<P> {
    let s: Statement<serde_json::Value> =
        serde_json::from_slice(bytes).context("not an in-toto statement")?;
    if s.statement_type != attestation::STATEMENT_TYPE || s.predicate_type != predicate_type {
        bail!(
            "statement {} / {} is not a {predicate_type} statement",
            s.statement_type,
            s.predicate_type
        );
    }
    let subjects: Vec<String> = s
        .subject
        .iter()
        .filter_map(|x| x.digest.get("sha256").map(|h| format!("sha256:{h}")))
        .collect();
    if subjects != [subject_digest] {
        bail!("the statement is about {subjects:?}, not this platform image {subject_digest}");
    }
    serde_json::from_value(s.predicate).with_context(|| format!("{predicate_type} predicate"))
}

fn check_sbom(doc: &Document, service: &str) -> Result<()> {
    match doc.binary() {
        Some((name, _)) if name == service => Ok(()),
        Some((name, _)) => bail!("the SBOM describes the binary {name}, not {service}"),
        None => bail!("the SBOM names no binary contained in the image"),
    }
}

/// The provenance's commit, when it is about `service` on `platform` and built `expected`.
fn check_provenance(
    p: &Predicate,
    service: &str,
    platform: Platform,
    expected: &str,
) -> Result<String> {
    let params = &p.build_definition.external_parameters;
    if params.service != service || params.platform != platform.oci() {
        bail!(
            "the provenance is about {} {}, not {service} {platform}",
            params.service,
            params.platform
        );
    }
    let commit = p
        .commit()
        .context("the provenance's source commit and resolved git commit disagree")?;
    if commit != expected {
        bail!("the provenance says commit {commit}, the release is {expected}");
    }
    Ok(commit.to_string())
}

/// `org.opencontainers.image.revision` of the platform image's config.
fn revision_label(source: &dyn ImageSource, repo: &str, manifest_digest: &str) -> Result<String> {
    let m: ManifestDoc = serde_json::from_slice(&source.manifest(repo, manifest_digest)?)?;
    let config = m.config.context("the platform manifest has no config")?;
    let config: serde_json::Value = serde_json::from_slice(&source.blob(repo, &config.digest)?)?;
    config["config"]["Labels"]["org.opencontainers.image.revision"]
        .as_str()
        .map(str::to_string)
        .context("the image config has no org.opencontainers.image.revision label")
}

/// The dependency list embedded in the service binary (the last layer holds it).
fn embedded(
    source: &dyn ImageSource,
    repo: &str,
    manifest_digest: &str,
    service: &str,
) -> Result<auditable::Embedded> {
    let m: ManifestDoc = serde_json::from_slice(&source.manifest(repo, manifest_digest)?)?;
    let layer = m
        .layers
        .last()
        .context("the platform manifest has no layer")?;
    let gz = source.blob(repo, &layer.digest)?;
    let path = format!("usr/local/bin/{service}");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    for entry in archive.entries().context("service layer")? {
        let mut entry = entry.context("service layer")?;
        if entry.path()?.to_string_lossy().trim_start_matches("./") == path {
            let mut binary = Vec::new();
            entry
                .read_to_end(&mut binary)
                .with_context(|| path.clone())?;
            return auditable::read(&binary)?.with_context(|| {
                format!(
                    "/{path} has no {} section (not built with cargo-auditable)",
                    auditable::SECTION
                )
            });
        }
    }
    bail!("the service layer has no /{path}")
}

/// The binary's list against the SBOM's: the same crates in all (linked and build-only), and
/// every crate the SBOM says is linked recorded as a runtime dependency (see [`crate::crates`]
/// for why a proc macro may be recorded as runtime too).
fn compare_crates(embedded: &auditable::Embedded, doc: &Document) -> Result<()> {
    if embedded.root != doc.binary() {
        bail!(
            "the binary is {:?}, the SBOM says {:?}",
            embedded.root,
            doc.binary()
        );
    }
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v.dedup();
        v
    };
    let in_binary = sorted([embedded.runtime.clone(), embedded.build.clone()].concat());
    let linked = doc.linked_crates();
    let in_sbom = sorted([linked.clone(), doc.build_crates()].concat());
    let only = |a: &[(String, String)], b: &[(String, String)]| -> Vec<String> {
        a.iter()
            .filter(|x| !b.contains(x))
            .map(|(n, v)| format!("{n} {v}"))
            .collect()
    };
    if in_binary != in_sbom {
        bail!(
            "the binary embeds {} crates, the SBOM lists {}; only in the binary: {:?}; only in the SBOM: {:?}",
            in_binary.len(),
            in_sbom.len(),
            only(&in_binary, &in_sbom),
            only(&in_sbom, &in_binary)
        );
    }
    let not_runtime = only(&linked, &embedded.runtime);
    if !not_runtime.is_empty() {
        bail!("the SBOM says the binary links {not_runtime:?}, which the binary records as build-only");
    }
    Ok(())
}
