//! `cargo xtask`: the Lucid release pipeline.
//!
//! One module per command; each command is a struct of its options with a `run` method.
//! The stages themselves live in the crates under `xtask/crates/` (plan, image, compose,
//! validate) and talk through plain data: the Plan, built binaries, pushed digests.

mod bench;
mod build;
mod compare;
mod compose;
mod images;
mod release;
mod ui;
mod validate;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// The Lucid release pipeline. Every fact comes from the crates' [package.metadata.lucid].
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cross-compile services to static binaries: target/lucid/bin/<arch>/<service>.
    Build(build::Build),
    /// Build multi-platform distroless images (OCI layout under target/lucid/oci, or pushed).
    BuildImages(images::BuildImages),
    /// Show or refresh the pinned Debian packages of the distroless base (images/base.lock.toml).
    Base(images::Base),
    /// Regenerate the compose files under compose/ (or --check that they are fresh).
    Compose(compose::Compose),
    /// Inspect images and compose files and write images/VALIDATION_REPORT.md (+ JSON).
    Validate(validate::Validate),
    /// Build, push, pin, validate, then move the moving tags: all or nothing.
    Release(release::Release),
    /// Measure build times, image sizes and engine speed; writes target/lucid/bench/.
    Bench(bench::Bench),
    /// Compare the images of two OCI layouts (a buildx build against an oci build).
    CompareImages(compare::CompareImages),
}

/// What every command needs: the workspace root.
pub struct Ctx {
    pub root: PathBuf,
}

impl Ctx {
    fn new() -> Result<Ctx> {
        // xtask lives in <root>/xtask; cargo sets CARGO_MANIFEST_DIR at compile time.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask has a parent")
            .to_path_buf();
        Ok(Ctx { root })
    }

    /// The catalog, read with cargo_metadata.
    pub fn workspace(&self) -> Result<lucid_catalog::Workspace> {
        lucid_catalog::Workspace::load(&self.root)
    }

    /// `target/lucid/<sub>`.
    pub fn out_dir(&self, sub: &str) -> PathBuf {
        self.root.join("target").join("lucid").join(sub)
    }
}

fn main() {
    let cli = Cli::parse();
    let result = Ctx::new().and_then(|ctx| match cli.command {
        Command::Build(c) => c.run(&ctx).map(|_| ()),
        Command::BuildImages(c) => c.run(&ctx).map(|_| ()),
        Command::Base(c) => c.run(&ctx),
        Command::Compose(c) => c.run(&ctx),
        Command::Validate(c) => c.run(&ctx),
        Command::Release(c) => c.run(&ctx),
        Command::Bench(c) => c.run(&ctx),
        Command::CompareImages(c) => c.run(),
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
