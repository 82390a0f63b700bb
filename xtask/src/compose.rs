//! `cargo xtask compose`.

use crate::Ctx;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Compose {}

impl Compose {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
