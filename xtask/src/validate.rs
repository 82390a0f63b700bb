//! `cargo xtask validate`.

use crate::ui::absolute;
use anyhow::{Context as _, Result};
use lucid_pipeline::validate::{validate, ValidateRequest};
use lucid_pipeline::Context;
use std::path::PathBuf;

/// Inspect the built images and the compose files, and write images/VALIDATION_REPORT.md
/// and images/validation-report.json (the same facts; the Markdown is rendered from the JSON).
///
/// Images are read from the OCI layout target/lucid/oci (or a registry with --registry),
/// every blob verified against its digest and every layer decompressed. Without --compose the
/// generated files under compose/ are checked, in their four deployments (docker-compose.yaml
/// alone; lucid-dev.yaml with each layer file, and with both). Files given with --compose are
/// checked as ONE deployment: every file given is deployed together.
///
/// Exits 1 when any check fails.
#[derive(clap::Args)]
pub struct Validate {
    /// Compose files to check instead of the generated ones (any compose file); repeatable.
    #[arg(long = "compose", value_name = "FILE")]
    compose: Vec<PathBuf>,
    /// Read the images from this registry's HTTP API (e.g. 127.0.0.1:5000) instead of the OCI layout.
    #[arg(long, value_name = "HOST")]
    registry: Option<String>,
    /// Also start the stack with docker-compose: time every service to ready (its /ready polled
    /// from the host) and to healthy, read each container's memory, prove there is no shell,
    /// count processes, then remove it.
    #[arg(long)]
    live: bool,
    /// Whose images --live runs: linux/arm64 (the Pi's; under qemu on an x86-64 host) or linux/amd64.
    #[arg(long, value_name = "PLATFORM", default_value = "linux/arm64", value_parser = lucid_catalog::Platform::parse)]
    platform: lucid_catalog::Platform,
    /// Variables for interpolating the compose files (default: .env beside the first file).
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Compose profiles to activate; services of other profiles are not deployed. Repeatable.
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Directory for VALIDATION_REPORT.md and validation-report.json.
    #[arg(long, value_name = "PATH", default_value = "images")]
    out: PathBuf,
    /// OCI image layout to read (default target/lucid/oci).
    #[arg(long, value_name = "DIR")]
    oci: Option<PathBuf>,
}

impl Validate {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_message("validating images and compose files");
        spinner.enable_steady_tick(std::time::Duration::from_millis(200));
        let report = validate(
            ctx,
            &ValidateRequest {
                compose: self.compose.iter().map(|p| absolute(p)).collect(),
                registry: self.registry,
                live: self.live.then_some(self.platform),
                env_file: self.env_file.as_deref().map(absolute),
                profiles: self.profiles,
                oci: self.oci.as_deref().map(absolute),
            },
        );
        spinner.finish_and_clear();
        let report = report?;
        let (md, json) =
            lucid_validate::write(&report, &absolute(&self.out)).context("writing the report")?;
        let s = &report.summary;
        for f in report.findings() {
            eprintln!("{f}");
        }
        println!(
            "images: {}/{} found, {}/{} platform images pass, {:.1} MiB compressed",
            s.images_found,
            s.images,
            s.platform_images_passed,
            s.platform_images,
            s.compressed_bytes as f64 / (1u64 << 20) as f64
        );
        for (file, n) in &s.compose_services {
            println!("compose: {file}: {n} services");
        }
        if let (Some(n), Some(h)) = (s.live_services, s.live_services_healthy) {
            println!("live: {h}/{n} services healthy");
        }
        println!(
            "{} error(s), {} warning(s); wrote {} and {}",
            s.errors,
            s.warnings,
            lucid_validate::display(&ctx.root, &md),
            lucid_validate::display(&ctx.root, &json)
        );
        if !report.passed() {
            anyhow::bail!("validation failed ({} errors)", s.errors);
        }
        Ok(())
    }
}
