//! `cargo xtask verify`: signatures, SBOMs, provenance and embedded crate lists of the images.

use anyhow::{bail, Result};
use lucid_attest::verify::{self, ImageVerification, Options};
use lucid_attest::PublicKey;
use lucid_pipeline::display;
use lucid_pipeline::Context;
use std::path::PathBuf;

/// Check the supply-chain evidence of the images: for each image, the cosign signature is
/// valid for its digest and repository (with --key); each platform image has an SBOM and a
/// provenance whose subject is that platform's manifest digest; the provenance's commit is the
/// release's (--commit, else the image's revision label); the crate list cargo-auditable
/// embedded in each binary equals the SBOM's.
///
/// Reads a registry (--registry HOST) or an OCI layout (--oci DIR, default target/lucid/oci).
/// Exits 1 naming the image and the check that failed.
#[derive(clap::Args)]
// `--version` is the version of the images to check, not a request to print the xtask's.
#[command(disable_version_flag = true)]
pub struct Verify {
    /// Services to check (default: all).
    pub services: Vec<String>,
    /// Read the images from this registry (e.g. docker.io, 127.0.0.1:5000).
    #[arg(long, value_name = "HOST", conflicts_with = "oci")]
    pub registry: Option<String>,
    /// Read the images from this OCI image layout.
    #[arg(long, value_name = "DIR")]
    pub oci: Option<PathBuf>,
    /// The public key (cosign.pub) the signatures must verify under; without it the
    /// signature check is left out.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Version of the images (default: the workspace version for --registry, the last build's
    /// for the OCI layout).
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// The commit the provenance must name (default: each image's revision label).
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
}

impl Verify {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let ws = ctx.workspace()?;
        let oci = match (&self.registry, &self.oci) {
            (None, None) => Some(ctx.oci_layout()),
            (_, oci) => oci.clone(),
        };
        let version = match (&self.version, &self.registry) {
            (Some(v), _) => v.trim_start_matches('v').to_string(),
            (None, Some(_)) => ws.version.clone(),
            (None, None) => lucid_catalog::ImageManifest::read(
                &ctx.root.join(lucid_catalog::manifest::BUILD_MANIFEST),
            )
            .map(|m| m.version)
            .unwrap_or_else(|_| ws.version.clone()),
        };
        let host = self
            .registry
            .clone()
            .unwrap_or_else(|| ws.settings.registry.clone());
        let source = lucid_attest::source::open(self.registry.as_deref(), oci.as_deref())?;
        let opts = Options {
            key: self.key.as_deref().map(PublicKey::load).transpose()?,
            commit: self.commit.clone(),
        };
        let targets = verify::targets(&ws, &self.services, &version, &host)?;
        let results: Vec<ImageVerification> = targets
            .iter()
            .map(|t| verify::verify_image(source.as_ref(), t, &opts))
            .collect();
        summary(&results, source.describe(), opts.key.as_ref());
        let failures: Vec<String> = results
            .iter()
            .flat_map(|r| &r.failures)
            .map(|f| f.to_string())
            .collect();
        if !failures.is_empty() {
            bail!(
                "{} check(s) failed:\n  {}",
                failures.len(),
                failures.join("\n  ")
            );
        }
        Ok(())
    }
}

fn summary(results: &[ImageVerification], source: String, key: Option<&PublicKey>) {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let per_platform = |f: &dyn Fn(&verify::PlatformEvidence) -> String| {
                r.platforms.iter().map(f).collect::<Vec<_>>().join(" / ")
            };
            vec![
                r.service.clone(),
                r.index_digest
                    .as_deref()
                    .map(|d| d.chars().take(19).collect())
                    .unwrap_or_default(),
                match (&r.signed_by, key) {
                    (Some(_), _) => "valid".into(),
                    (None, Some(_)) => "INVALID".into(),
                    (None, None) => "not checked".into(),
                },
                per_platform(&|p| match (p.sbom_debian_packages, p.sbom_crates) {
                    (Some(d), Some(c)) => format!("{d} deb + {c} crates"),
                    _ => "-".into(),
                }),
                per_platform(&|p| {
                    p.provenance_commit
                        .as_deref()
                        .map(|c| c.chars().take(12).collect())
                        .unwrap_or_else(|| "-".into())
                }),
                if r.passed() {
                    "ok".into()
                } else {
                    format!("{} failed", r.failures.len())
                },
            ]
        })
        .collect();
    println!(
        "{}",
        display::table(
            &[
                "service",
                "index",
                "signature",
                "sbom (per platform)",
                "provenance commit",
                "checks"
            ],
            &rows
        )
    );
    let passed = results.iter().filter(|r| r.passed()).count();
    println!(
        "{passed}/{} images pass ({source}; {})",
        results.len(),
        match key {
            Some(k) => format!("signatures checked under {}", k.fingerprint()),
            None => "signatures not checked: no --key".into(),
        }
    );
}
