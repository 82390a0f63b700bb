//! `cargo xtask build`: cross-compiles the services (stage 1).

use crate::Ctx;
use anyhow::Result;
use lucid_plan::{Platform, Service, Workspace};
use std::path::PathBuf;

/// Cross-compile services to static musl binaries, one cargo invocation per platform.
#[derive(clap::Args)]
pub struct Build {}

/// A compiled service binary, checked to be a static ELF of its platform.
#[derive(Debug, Clone)]
pub struct Binary {
    pub service: String,
    pub platform: Platform,
    /// target/lucid/bin/<arch>/<service>
    pub path: PathBuf,
}

/// How to compile (builder choice, dry run).
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub dry_run: bool,
}

/// Compiles `services` for `platforms` and returns the checked binaries (stage 1 of the pipeline).
pub fn compile(_ctx: &Ctx, _ws: &Workspace, _services: &[&Service], _platforms: &[Platform], _opts: &CompileOptions) -> Result<Vec<Binary>> {
    anyhow::bail!("not implemented yet")
}

impl Build {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
