//! `cargo xtask build-images` and `cargo xtask base`: the image stage.

use crate::args;
use anyhow::Result;
use lucid_catalog::{parse_platforms, Platform};
use lucid_image::push::PushOutcome;
use lucid_image::Layout;
use lucid_pipeline::compile::Builder;
use lucid_pipeline::display::{human_bytes, short_digest, table};
use lucid_pipeline::images::{
    parse_base_ref, unique_bytes, Binaries, BuiltImages, Engine, ImagePlan, ImageRequest,
};
use lucid_pipeline::publish;
use lucid_pipeline::Context;
use std::time::Instant;

/// Build multi-platform distroless images, one per service.
///
/// Without --push the images land in the OCI image layout target/lucid/oci (no Docker, no
/// registry needed): `skopeo inspect --raw oci:target/lucid/oci:<service>-<version>`.
/// With --push they go to the registry under their immutable tag `<service>-<version>`;
/// the moving tag `<service>` moves only with --move-tags (a release moves it at the very end).
#[derive(clap::Args)]
pub struct BuildImages {
    /// Services to build (default: all).
    pub services: Vec<String>,
    /// Platforms, comma separated (default: the workspace's `platforms`).
    #[arg(long)]
    pub platform: Option<String>,
    /// `oci` (daemonless, in-process), `buildx` (one `docker buildx bake` over
    /// images/Dockerfile), or `auto`.
    #[arg(long, default_value = "auto", value_parser = args::engine())]
    pub engine: Engine,
    /// How stage 1 compiles (see `cargo xtask build --help`).
    #[arg(long, default_value = "auto", value_parser = args::builder())]
    pub builder: Builder,
    /// Registry host for the references (default: the workspace's `registry`).
    #[arg(long)]
    pub registry: Option<String>,
    /// Push the immutable tags to the registry.
    #[arg(long)]
    pub push: bool,
    /// With --push: also point the moving tags `<service>` at the new images.
    #[arg(long, requires = "push")]
    pub move_tags: bool,
    /// Use the binaries already in target/lucid/bin (skip stage 1).
    #[arg(long)]
    pub no_build: bool,
    /// Print what would be built and pushed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// For this run, build on this base image instead of the workspace's
    /// `[workspace.metadata.lucid.base]`: `<registry>/<repo>:<tag>@sha256:<digest>` (digest required).
    #[arg(long, value_name = "REFERENCE")]
    pub base_ref: Option<String>,
}

impl BuildImages {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let started = Instant::now();
        let ws = ctx.workspace()?;
        let request = ImageRequest {
            services: self.services.clone(),
            platforms: self.platform.as_deref().map(parse_platforms).transpose()?,
            engine: self.engine,
            registry: self.registry.clone(),
            binaries: if self.no_build {
                Binaries::Existing
            } else {
                Binaries::Compile(self.builder)
            },
            release: false,
            base_ref: self.base_ref.as_deref().map(parse_base_ref).transpose()?,
            push: self.push,
            move_tags: self.move_tags,
        };
        let plan = ImagePlan::new(ctx, &ws, &request)?;
        if self.dry_run {
            print!("{plan}");
            return Ok(());
        }
        let built = plan.execute(ctx, &ws)?;
        let layout = Layout::open(&ctx.oci_layout())?;
        let pushed = if self.push {
            publish::publish(ctx, &plan, &built)?
        } else {
            Vec::new()
        };
        if self.move_tags {
            println!(
                "moved {} tags: {}",
                plan.images.len(),
                ws.settings.moving_tag
            );
        }
        summary(&built, &pushed, &layout, started);
        Ok(())
    }
}

fn summary(built: &BuiltImages, pushed: &[PushOutcome], layout: &Layout, started: Instant) {
    let m = &built.manifest;
    let rows: Vec<Vec<String>> = m
        .images
        .iter()
        .map(|i| {
            let arches: Vec<&str> = i
                .platforms
                .iter()
                .map(|p| p.platform.trim_start_matches("linux/"))
                .collect();
            let sizes: Vec<String> = i
                .platforms
                .iter()
                .map(|p| human_bytes(p.compressed_size))
                .collect();
            vec![
                i.service.clone(),
                arches.join(","),
                sizes.join(" / "),
                short_digest(&i.digest),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["service", "platforms", "compressed", "digest"], &rows)
    );
    let unchanged = built.images.iter().filter(|b| b.unchanged).count();
    let mut line = format!(
        "{} images: {} built, {} unchanged",
        built.images.len(),
        built.images.len() - unchanged,
        unchanged
    );
    if let Some(registry) = &m.registry {
        let same = pushed.iter().filter(|p| p.unchanged).count();
        let bytes: u64 = pushed.iter().map(|p| p.uploaded_bytes).sum();
        let skipped: usize = pushed.iter().map(|p| p.skipped_blobs).sum();
        line.push_str(&format!(
            "; {registry}: {} pushed, {same} unchanged ({} uploaded, {skipped} blobs already there)",
            pushed.len() - same,
            human_bytes(bytes)
        ));
    }
    println!("{line}; {:.1}s", started.elapsed().as_secs_f64());
    println!("base {}@{}", m.base.name, m.base.digest);
    if let Ok(bytes) = unique_bytes(layout, &built.images, Platform::LinuxArm64) {
        if bytes > 0 {
            println!(
                "unique compressed bytes of the arm64 images: {}",
                human_bytes(bytes)
            );
        }
    }
}
