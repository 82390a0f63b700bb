//! Validation as the pipeline runs it: the workspace's images and compose files, read from this
//! context's outputs, and for a live run the stack started with MongoDB's stand-in.

use crate::context::Context;
use anyhow::Result;
use lucid_attest::{verify, PublicKey};
use lucid_catalog::Platform;
use lucid_catalog::Workspace;
use lucid_validate::report::{
    Check, Finding, Report, SupplyChainImage, SupplyChainPlatform, SupplyChainReport,
};
use lucid_validate::source::{ImageSource, OciLayout};
use std::path::PathBuf;

/// What to validate (`cargo xtask validate`'s options).
#[derive(Debug, Clone, Default)]
pub struct ValidateRequest {
    /// Compose files checked as one deployment instead of the generated ones.
    pub compose: Vec<PathBuf>,
    /// Read the images from this registry's API instead of the OCI layout.
    pub registry: Option<String>,
    /// Start the stack of this platform's images (arm64 under qemu on an x86-64 host).
    pub live: Option<Platform>,
    pub env_file: Option<PathBuf>,
    pub profiles: Vec<String>,
    /// Another OCI layout than the context's.
    pub oci: Option<PathBuf>,
    /// The public key the images' signatures must verify under (supply-chain section).
    pub key: Option<PublicKey>,
}

/// The validator's options for this context: its OCI layout and image record.
pub fn options(ctx: &Context) -> lucid_validate::Options {
    let mut opts = lucid_validate::Options::defaults(&ctx.root);
    opts.oci_layout = ctx.oci_layout();
    opts.build_manifest = Some(ctx.build_manifest());
    opts
}

pub fn validate(ctx: &Context, request: &ValidateRequest) -> Result<Report> {
    let ws = ctx.workspace()?;
    let mut opts = options(ctx);
    opts.compose = request.compose.clone();
    if let Some(host) = &request.registry {
        opts.registry = Some(host.clone());
        opts.registry_config = Some(ctx.registry_config(host)?);
    }
    opts.read.env_file = request.env_file.clone();
    opts.read.profiles = request.profiles.clone();
    if let Some(oci) = &request.oci {
        opts.oci_layout = oci.clone();
    }
    if let Some(platform) = request.live {
        opts.live = true;
        opts.live_platform = platform;
        // MongoDB cannot be pulled here: the compose stage's stand-in runs server-tools in its place.
        let (standin, _) = ws.image_refs("server-tools", &ws.version, &ws.settings.registry)?;
        opts.mongodb_standin = Some(lucid_validate::live::Standin {
            image: standin.to_string(),
            compose_override: lucid_compose::mongodb_standin_override(&ws, &standin.to_string()),
        });
    }
    let mut report = lucid_validate::validate(&ws, &opts);
    let source: Box<dyn ImageSource> = match &opts.registry {
        Some(host) => Box::new(ctx.registry(host)?),
        None => Box::new(OciLayout::open(&opts.oci_layout)?),
    };
    let host = opts
        .registry
        .clone()
        .unwrap_or_else(|| ws.settings.registry.clone());
    let version = built_version(&opts).unwrap_or_else(|| ws.version.clone());
    report.supply_chain = Some(supply_chain(
        &ws,
        source.as_ref(),
        &version,
        &host,
        request.key.clone(),
    )?);
    report.summarise();
    Ok(report)
}

/// The version of the images the validator reads: its image record's, if it has one.
pub fn built_version(opts: &lucid_validate::Options) -> Option<String> {
    let path = opts.build_manifest.as_ref()?;
    lucid_catalog::ImageManifest::read(path)
        .ok()
        .map(|m| m.version)
}

/// `cargo xtask verify`'s checks of every image in `source`, as the report's supply-chain
/// section; each failed check is an error of the report.
pub fn supply_chain(
    ws: &Workspace,
    source: &dyn ImageSource,
    version: &str,
    host: &str,
    key: Option<PublicKey>,
) -> Result<SupplyChainReport> {
    let fingerprint = key.as_ref().map(|k| k.fingerprint());
    let opts = verify::Options { key, commit: None };
    let mut report = SupplyChainReport {
        key: fingerprint,
        images: Vec::new(),
        findings: Vec::new(),
    };
    for target in verify::targets(ws, &[], version, host)? {
        let v = verify::verify_image(source, &target, &opts);
        report.findings.extend(v.failures.iter().map(|f| {
            let at = match &f.platform {
                Some(p) => format!("{} ({p})", f.image),
                None => f.image.clone(),
            };
            Finding::error(Check::SupplyChain, &f.message)
                .file(at)
                .service(v.service.clone())
                .key(f.check.to_string())
        }));
        report.images.push(SupplyChainImage {
            service: v.service,
            signed_by: v.signed_by,
            platforms: v
                .platforms
                .into_iter()
                .map(|p| SupplyChainPlatform {
                    platform: p.platform,
                    sbom_debian_packages: p.sbom_debian_packages,
                    sbom_crates: p.sbom_crates,
                    provenance_commit: p.provenance_commit,
                    embedded_crates: p.embedded_crates,
                })
                .collect(),
        });
    }
    Ok(report)
}
