//! `cargo xtask build`: cross-compiles the services (stage 1).

use crate::Ctx;
use anyhow::Result;

/// Cross-compile services to static musl binaries, one cargo invocation per platform.
#[derive(clap::Args)]
pub struct Build {}

impl Build {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
