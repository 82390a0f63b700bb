//! Validation as the pipeline runs it: the workspace's images and compose files, read from this
//! context's outputs, and for a live run the stack started with MongoDB's stand-in.

use crate::context::Context;
use anyhow::Result;
use lucid_catalog::Platform;
use lucid_validate::report::Report;
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
    Ok(lucid_validate::validate(&ws, &opts))
}
