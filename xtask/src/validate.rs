//! `cargo xtask validate`.

use crate::Ctx;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Validate {}

impl Validate {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
