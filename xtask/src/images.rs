//! `cargo xtask build-images` and `cargo xtask base`: the image stage.

use crate::Ctx;
use anyhow::Result;

#[derive(clap::Args)]
pub struct BuildImages {}

impl BuildImages {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}

#[derive(clap::Args)]
pub struct Base {}

impl Base {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
