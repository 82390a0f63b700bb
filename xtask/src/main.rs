//! `cargo xtask`: the Lucid release pipeline's command line.
//!
//! A thin layer over `lucid_pipeline`: one module per command, each a struct of its options with
//! a `run` method that builds the library's request, calls it, and prints the summary. Progress
//! arrives as events and is drawn by [`ui`].

mod args;
mod base;
mod bench;
mod build;
mod compare;
mod compose;
mod images;
mod keygen;
mod release;
mod ui;
mod validate;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
use lucid_pipeline::Context;
use std::path::{Path, PathBuf};

/// The Lucid release pipeline. Every fact comes from the crates' [package.metadata.lucid].
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Where the pipeline writes binaries, images, caches and its records
    /// (default: target/lucid of the workspace).
    #[arg(long, global = true, value_name = "DIR")]
    out_dir: Option<PathBuf>,
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
    Base(base::Base),
    /// Regenerate the compose files under compose/ (or --check that they are fresh).
    Compose(compose::Compose),
    /// Inspect images and compose files and write images/VALIDATION_REPORT.md (+ JSON).
    Validate(validate::Validate),
    /// Build, push, pin, validate, then move the moving tags: all or nothing.
    Release(release::Release),
    /// Measure build times, image sizes and engine speed; writes target/lucid/bench/.
    Bench(bench::Bench),
    /// Write a cosign-compatible signing key pair (cosign.key, cosign.pub), outside the work tree.
    Keygen(keygen::Keygen),
    /// Check signatures, SBOMs, provenance and embedded crate lists of the images.
    Verify(verify::Verify),
    /// Compare the images of two OCI layouts (a buildx build against an oci build).
    CompareImages(compare::CompareImages),
}

fn main() {
    let cli = Cli::parse();
    // xtask lives in <root>/xtask; cargo sets CARGO_MANIFEST_DIR at compile time.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent");
    let progress = ui::Progress::new();
    let mut ctx = Context::new(root).with_reporter(move |e| progress.show(e));
    if let Some(out) = &cli.out_dir {
        ctx = ctx.with_out(&ui::absolute(out));
    }
    let result: Result<()> = match cli.command {
        Command::Build(c) => c.run(&ctx),
        Command::BuildImages(c) => c.run(&ctx),
        Command::Base(c) => c.run(&ctx),
        Command::Compose(c) => c.run(&ctx),
        Command::Validate(c) => c.run(&ctx),
        Command::Release(c) => c.run(&ctx),
        Command::Bench(c) => c.run(&ctx),
        Command::Keygen(c) => c.run(&ctx),
        Command::Verify(c) => c.run(&ctx),
        Command::CompareImages(c) => c.run(),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
