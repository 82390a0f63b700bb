//! `cargo xtask bench`.

use crate::Ctx;
use anyhow::Result;

#[derive(clap::Args)]
pub struct Bench {}

impl Bench {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
