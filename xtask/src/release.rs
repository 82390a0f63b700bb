//! `cargo xtask release`.

use crate::Ctx;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Release {}

impl Release {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
