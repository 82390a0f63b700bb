//! `cargo xtask validate`.

use crate::ui::absolute;
use anyhow::{Context as _, Result};
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
    /// Also start the stack with docker-compose, time every service to healthy, prove there is
    /// no shell, count processes, then remove it.
    #[arg(long)]
    live: bool,
    /// Directory for VALIDATION_REPORT.md and validation-report.json.
    #[arg(long, value_name = "PATH", default_value = "images")]
    out: PathBuf,
    /// OCI image layout to read (default target/lucid/oci).
    #[arg(long, value_name = "DIR")]
    oci: Option<PathBuf>,
}

impl Validate {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let ws = ctx.workspace()?;
        let mut opts = lucid_validate::Options::defaults(&ctx.root);
        opts.oci_layout = ctx.oci_layout();
        opts.build_manifest = Some(ctx.build_manifest());
        opts.compose = self.compose.iter().map(|p| absolute(p)).collect();
        opts.registry = self.registry;
        opts.live = self.live;
        if let Some(oci) = &self.oci {
            opts.oci_layout = absolute(oci);
        }
        if self.live {
            // MongoDB cannot be pulled here: the compose stage's stand-in runs server-tools in its place.
            let (standin, _) = ws.image_refs("server-tools", &ws.version, &ws.settings.registry)?;
            opts.mongodb_standin = Some(lucid_validate::live::Standin {
                image: standin.to_string(),
                compose_override: lucid_compose::mongodb_standin_override(
                    &ws,
                    &standin.to_string(),
                ),
            });
        }
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_message("validating images and compose files");
        spinner.enable_steady_tick(std::time::Duration::from_millis(200));
        let report = lucid_validate::validate(&ws, &opts);
        spinner.finish_and_clear();
        let out = absolute(&self.out);
        let (md, json) = lucid_validate::write(&report, &out).context("writing the report")?;
        std::fs::write(
            out.join("validation-report.schema.json"),
            lucid_validate::schema::schema_text(),
        )
        .context("writing the schema")?;

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
