//! The supply-chain evidence of a build (`lucid_attest`), from the pipeline's own facts: the
//! stamp (commit, SOURCE_DATE_EPOCH), the builder that compiled the binaries, the engine, the
//! base (its lock and packages), `Cargo.lock` and the pinned toolchain.

use crate::compile::BuildRecord;
use crate::context::Context;
use crate::images::ImagePlan;
use anyhow::Result;
use lucid_attest::debian::{self, DebPackage};
use lucid_attest::evidence::Evidence;
use lucid_attest::provenance::{file_sha256, BaseInput, BuildFacts, Toolchain};
use lucid_catalog::{BaseSource, Workspace};
use lucid_image::deb::Lock;
use lucid_image::Base;

/// The evidence every image of `plan` is attested with, gathered once.
pub fn gather(ctx: &Context, ws: &Workspace, plan: &ImagePlan, base: &Base) -> Result<Evidence> {
    let lock = match (&ws.settings.base, base.is_reference()) {
        (BaseSource::Lock(path), false) => Some(path.clone()),
        _ => None,
    };
    let debian: Vec<DebPackage> = match &lock {
        Some(path) => debian::packages(&Lock::read(&ctx.root.join(path))?, &ctx.cache.join("deb"))?,
        None => Vec::new(),
    };
    let lock = match lock {
        Some(path) => Some((
            path.display().to_string(),
            file_sha256(&ctx.root.join(&path))?,
        )),
        None => None,
    };
    let command = if plan.request.release {
        "cargo xtask release"
    } else {
        "cargo xtask build-images"
    };
    let facts = BuildFacts {
        source: ws.settings.source.clone(),
        commit: plan.stamp.revision.clone(),
        command: command.into(),
        platforms: plan.platforms.iter().map(|p| p.oci().to_string()).collect(),
        builder: BuildRecord::read(ctx).builder,
        engine: plan.engine.name().into(),
        epoch: plan.stamp.epoch,
        base: BaseInput {
            name: base.name.clone(),
            digest: base.digest.clone(),
            lock,
        },
        cargo_lock_sha256: file_sha256(&ctx.root.join("Cargo.lock"))?,
        toolchain: Toolchain::read(&ctx.root.join("rust-toolchain.toml"))?,
    };
    let services: Vec<String> = plan.images.iter().map(|i| i.service.clone()).collect();
    Evidence::gather(
        &ctx.root,
        &services,
        &plan.platforms,
        debian,
        facts,
        &ws.settings.repository,
    )
}
