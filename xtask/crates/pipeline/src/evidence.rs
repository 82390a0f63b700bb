//! The supply-chain evidence of a build (`lucid_attest`), from the pipeline's own facts: the
//! stamp (commit, SOURCE_DATE_EPOCH), the builder that compiled the binaries, the engine, the
//! base (its lock and packages), `Cargo.lock` and the pinned toolchain.

use crate::compile::BuildRecord;
use crate::context::Context;
use crate::stamp::BuildStamp;
use anyhow::Result;
use lucid_attest::debian::{self, DebPackage};
use lucid_attest::evidence::Evidence;
use lucid_attest::provenance::{file_sha256, BaseInput, BuildFacts, Toolchain};
use lucid_catalog::{BaseSource, Platform, Workspace};
use lucid_image::deb::Lock;
use lucid_image::Base;

/// Which images of which build.
pub struct Scope<'a> {
    pub stamp: &'a BuildStamp,
    /// `oci` or `buildx`.
    pub engine: &'a str,
    /// A release (`cargo xtask release`) or a build (`cargo xtask build-images`).
    pub release: bool,
    pub platforms: &'a [Platform],
    pub services: Vec<String>,
}

/// The evidence every image of `scope` is attested with, gathered once.
pub fn gather(ctx: &Context, ws: &Workspace, scope: Scope, base: &Base) -> Result<Evidence> {
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
    let command = if scope.release {
        "cargo xtask release"
    } else {
        "cargo xtask build-images"
    };
    let facts = BuildFacts {
        source: ws.settings.source.clone(),
        commit: scope.stamp.revision.clone(),
        command: command.into(),
        platforms: scope
            .platforms
            .iter()
            .map(|p| p.oci().to_string())
            .collect(),
        builder: BuildRecord::read(ctx).builder,
        engine: scope.engine.into(),
        epoch: scope.stamp.epoch,
        base: BaseInput {
            name: base.name.clone(),
            digest: base.digest.clone(),
            lock,
        },
        cargo_lock_sha256: file_sha256(&ctx.root.join("Cargo.lock"))?,
        toolchain: Toolchain::read(&ctx.root.join("rust-toolchain.toml"))?,
    };
    Evidence::gather(
        &ctx.root,
        &ws.manifests,
        &scope.services,
        scope.platforms,
        debian,
        facts,
        &ws.settings.repository,
    )
}
