//! `cargo xtask build`: the compile stage.

use crate::args;
use anyhow::Result;
use lucid_catalog::parse_platforms;
use lucid_pipeline::compile::{Builder, CompilePlan};
use lucid_pipeline::display::{human_bytes, table};
use lucid_pipeline::Context;

/// Cross-compile services to static musl binaries (target/lucid/bin/<arch>/<service>).
///
/// One cargo invocation per platform builds all selected services. After the build every binary
/// is checked to be a static ELF of the platform's machine, and installed by a rename, so a
/// binary that is running never blocks the build.
#[derive(clap::Args, Debug, Clone)]
pub struct Build {
    /// Services to build (default: all 27). Unknown names are listed with the valid ones.
    pub services: Vec<String>,
    /// Comma-separated platforms (default: the workspace's, linux/arm64,linux/amd64).
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,
    /// Which tool cross-compiles: `cargo` (plain cargo + rust-lld, pure-Rust crates), `zigbuild`
    /// (cargo-zigbuild, for crates with C code), `cross` (containers, used on GitHub Actions), or
    /// `auto` (the first of these that works here; it says which and why).
    #[arg(long, default_value = "auto", value_parser = args::builder())]
    pub builder: Builder,
    /// Print the exact commands without running them.
    #[arg(long)]
    pub dry_run: bool,
}

impl Build {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let ws = ctx.workspace()?;
        let services = ws.select(&self.services)?;
        let platforms = match &self.platform {
            Some(list) => parse_platforms(list)?,
            None => ws.settings.platforms.clone(),
        };
        let plan = CompilePlan::new(&services, &platforms, self.builder)?;
        if self.dry_run {
            print!("{plan}");
            return Ok(());
        }
        let binaries = plan.execute(ctx, &ws)?;
        let rows: Vec<Vec<String>> = binaries
            .iter()
            .map(|b| {
                let size = std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
                vec![
                    b.service.clone(),
                    b.platform.arch().to_string(),
                    human_bytes(size),
                    ctx.display(&b.path),
                ]
            })
            .collect();
        println!("{}", table(&["service", "arch", "size", "path"], &rows));
        println!(
            "\n{} static binaries for {} platform(s): ok",
            binaries.len(),
            platforms.len()
        );
        Ok(())
    }
}
