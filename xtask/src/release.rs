//! `cargo xtask release`: one release of every service, all or nothing.

use crate::args;
use anyhow::{bail, Result};
use lucid_pipeline::images::Engine;
use lucid_pipeline::release::{ReleaseOptions, ReleasePlan};
use lucid_pipeline::Context;

/// Build, push, pin, validate, then move the moving tags: all or nothing.
///
/// Steps: preflight (tools, registry reachable and authenticated, clean git tree, version not
/// released yet) → build every service for every platform → push the immutable tags
/// `<service>-<version>` → regenerate the compose files pinned to the pushed digests →
/// validate → move the moving tags `<service>`, all of them, last → write
/// images/release-manifest.json, compose/*.yaml and images/VALIDATION_REPORT.md (+ JSON) into the
/// work tree and print the `git` commands that commit them (nothing is committed).
///
/// A failure before the moving tags leaves them untouched and the work tree unchanged; run the
/// same command again to resume (images and blobs already pushed are skipped).
#[derive(clap::Args)]
// `--version` is the version being released here, not a request to print the xtask's.
#[command(disable_version_flag = true)]
pub struct Release {
    /// Print the whole plan (commands, references, what would be pushed or skipped, which
    /// moving tags would move) and change nothing outside target/; exit 1 when a real release
    /// would stop in preflight. Images are built into target/lucid/oci to know their digests.
    #[arg(long)]
    pub dry_run: bool,
    /// Registry host (default: the workspace's `registry`, docker.io), e.g. 127.0.0.1:5000.
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,
    /// The version being released; must equal `workspace.package.version` (the release
    /// workflow passes the git tag without its `v`).
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// Release even when `git status --porcelain` shows changes (a real release runs on a clean
    /// checkout so that the revision in the labels is what was built).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Image engine (see `cargo xtask build-images --help`).
    #[arg(long, default_value = "auto", value_parser = args::engine())]
    pub engine: Engine,
}

impl Release {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let mut plan = ReleasePlan::preflight(
            ctx,
            &ReleaseOptions {
                registry: self.registry,
                version: self.version,
                allow_dirty: self.allow_dirty,
                engine: self.engine,
                dry_run: self.dry_run,
            },
        )?;
        print!("{}", plan.heading());
        let problems: Vec<String> = plan.problems().iter().map(|p| p.to_string()).collect();
        if !problems.is_empty() && !self.dry_run {
            bail!(
                "preflight failed, nothing was built or pushed:\n  - {}",
                problems.join("\n  - ")
            );
        }
        plan.build(ctx)?;
        if self.dry_run {
            print!("{}", plan.steps());
            if !problems.is_empty() {
                bail!(
                    "dry run: a real release would stop in preflight:\n  - {}",
                    problems.join("\n  - ")
                );
            }
            if let Some(Err(e)) = &plan.work {
                bail!("dry run stopped: {e}");
            }
            println!("\ndry run: nothing pushed, no file outside target/ changed");
            return Ok(());
        }
        print!("{}", plan.execute(ctx)?);
        Ok(())
    }
}
