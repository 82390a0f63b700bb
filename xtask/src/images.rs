//! `cargo xtask build-images` and `cargo xtask base`: the image stage.
//!
//! compile (stage 1) → base (from images/base.lock.toml) → one multi-platform image per service
//! (oci engine: in-process into target/lucid/oci; buildx engine: one `docker buildx bake`) →
//! optional push of the immutable tags → target/lucid/images.json and a summary table.

use crate::ui;
use crate::Ctx;
use anyhow::{bail, Context, Result};
use lucid_catalog::manifest::{BaseInfo, BUILD_MANIFEST};
use lucid_catalog::{
    BaseSource, ImageEntry, ImageManifest, ImageRef, Platform, PlatformImage, Service, Workspace,
};
use lucid_image::deb::Lock;
use lucid_image::docker::{self, BakeTarget};
use lucid_image::image::{self as img, ImageInput};
use lucid_image::push::{self, PushEvent};
use lucid_image::Base as BaseLayer;
use lucid_image::{BuildInfo, BuiltImage, ImageFacts, Layout, Registry};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The oci engine: the one every test builds with (daemonless, reproducible).
    Auto,
    /// One `docker buildx bake` over images/Dockerfile (needs Docker with buildx); adds BuildKit's
    /// cache and builders, not reproducible digests.
    Buildx,
    /// Daemonless: layers, configs, manifests and index written by the xtask.
    Oci,
}

/// The engine that will run for `requested`, and why (printed by --dry-run).
pub fn choose_engine(requested: Engine) -> Result<(Engine, String)> {
    match requested {
        Engine::Auto => {
            let buildx = if docker::buildx_available() {
                "`docker buildx` works here too, but runs only with --engine buildx"
            } else {
                "no `docker buildx` here"
            };
            Ok((
                Engine::Oci,
                format!(
                    "auto: the engine the tests prove — daemonless, reproducible digests, faster than \
                     BuildKit (`cargo xtask bench images`); {buildx}"
                ),
            ))
        }
        Engine::Buildx if !docker::buildx_available() => bail!(
            "--engine buildx needs `docker buildx` and `docker buildx version` failed on this machine; \
             use --engine oci (daemonless, same images)"
        ),
        e => Ok((e, "asked for with --engine".into())),
    }
}

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
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: Engine,
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

/// What the image stage needs beyond the CLI (the release passes `release = true`).
pub struct Options {
    pub services: Vec<String>,
    pub platforms: Option<Vec<Platform>>,
    pub engine: Engine,
    pub registry: Option<String>,
    pub push: bool,
    pub move_tags: bool,
    pub compile: bool,
    pub release: bool,
    pub dry_run: bool,
}

impl BuildImages {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platforms = match &self.platform {
            Some(p) => Some(lucid_catalog::parse_platforms(p)?),
            None => None,
        };
        let base_ref = match &self.base_ref {
            Some(r) => Some(parse_base_ref(r)?),
            None => None,
        };
        build_images_on(
            ctx,
            &Options {
                services: self.services,
                platforms,
                engine: self.engine,
                registry: self.registry,
                push: self.push,
                move_tags: self.move_tags,
                compile: !self.no_build,
                release: false,
                dry_run: self.dry_run,
            },
            base_ref.as_ref(),
        )
        .map(|_| ())
    }
}

/// The engine as the `--engine` flag spells it.
pub fn engine_name(engine: Engine) -> String {
    use clap::ValueEnum as _;
    engine
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// Version, revision and SOURCE_DATE_EPOCH of this build, from git (plain values without git).
pub struct Provenance {
    pub version: String,
    pub revision: String,
    pub epoch: u64,
}

impl Provenance {
    /// The facts of this build on `base`, as the image engines take them.
    pub fn build_info(&self, ws: &Workspace, base: &BaseLayer) -> BuildInfo {
        BuildInfo {
            version: self.version.clone(),
            revision: self.revision.clone(),
            source: ws.settings.source.clone(),
            epoch: self.epoch,
            base_name: base.name.clone(),
            base_digest: base.digest.clone(),
        }
    }
}

fn git(ctx: &Ctx, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(&ctx.root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

pub fn provenance(ctx: &Ctx, ws: &Workspace, release: bool) -> Result<Provenance> {
    let sha = git(ctx, &["rev-parse", "--short=7", "HEAD"]);
    let version = match (&sha, release) {
        (Some(sha), false) => format!("{}-{sha}", ws.version),
        _ => ws.version.clone(),
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
        Err(_) => git(ctx, &["log", "-1", "--format=%ct"])
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
    };
    Ok(Provenance {
        version,
        revision: git(ctx, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        epoch,
    })
}

const BASE_FIELD: &str = "[workspace.metadata.lucid.base] reference";

/// `--base-ref`: a reference pinned by digest, like the workspace field it stands in for.
fn parse_base_ref(text: &str) -> Result<ImageRef> {
    let r = ImageRef::parse(text)
        .map_err(|e| anyhow::anyhow!("--base-ref (in place of {BASE_FIELD}): {e}"))?;
    if r.digest.is_none() {
        bail!(
            "--base-ref (in place of {BASE_FIELD}) {text:?}: must be pinned by digest (@sha256:…)"
        );
    }
    Ok(r)
}

/// The base of the workspace (for every workspace platform), stored in the layout.
pub fn prepare_base(ctx: &Ctx, ws: &Workspace, layout: &Layout) -> Result<BaseLayer> {
    prepare_base_on(ctx, ws, None, &ws.settings.platforms, layout)
}

/// The base for `platforms`: `base_ref` when given (`--base-ref`), else the workspace's
/// `[workspace.metadata.lucid.base]` (a lock built here, or a reference fetched from its registry).
pub fn prepare_base_on(
    ctx: &Ctx,
    ws: &Workspace,
    base_ref: Option<&ImageRef>,
    platforms: &[Platform],
    layout: &Layout,
) -> Result<BaseLayer> {
    let (reference, field) = match (base_ref, &ws.settings.base) {
        (Some(r), _) => (r, format!("--base-ref (in place of {BASE_FIELD})")),
        (None, BaseSource::Reference(r)) => (r, BASE_FIELD.to_string()),
        (None, BaseSource::Lock(p)) => {
            let lock = Lock::read(&ctx.root.join(p))?;
            return BaseLayer::prepare(&lock, layout, &ctx.out_dir("cache"));
        }
    };
    lucid_image::base_ref::fetch(reference, platforms, layout, &ctx.out_dir("cache"))
        .map_err(|e| anyhow::anyhow!("{field}: {e}"))
}

/// The binaries of `services` for `platforms`: compiled (stage 1) or found in target/lucid/bin.
fn binaries(
    ctx: &Ctx,
    ws: &Workspace,
    services: &[&Service],
    platforms: &[Platform],
    compile: bool,
) -> Result<()> {
    if compile {
        crate::build::compile(
            ctx,
            ws,
            services,
            platforms,
            &crate::build::CompileOptions::default(),
        )?;
        return Ok(());
    }
    let missing: Vec<String> = services
        .iter()
        .flat_map(|s| platforms.iter().map(move |p| bin_path(ctx, s, *p)))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "--no-build: {} binar{} missing (run `cargo xtask build` first):\n  {}",
            missing.len(),
            if missing.len() == 1 {
                "y is"
            } else {
                "ies are"
            },
            missing.join("\n  ")
        );
    }
    Ok(())
}

fn bin_path(ctx: &Ctx, s: &Service, p: Platform) -> PathBuf {
    ctx.out_dir("bin").join(p.arch()).join(&s.name)
}

pub fn build_images(ctx: &Ctx, opts: &Options) -> Result<ImageManifest> {
    build_images_on(ctx, opts, None)
}

/// [`build_images`] on `base_ref` instead of the workspace's base (`--base-ref`).
pub fn build_images_on(
    ctx: &Ctx,
    opts: &Options,
    base_ref: Option<&ImageRef>,
) -> Result<ImageManifest> {
    let started = Instant::now();
    let ws = ctx.workspace()?;
    let services = ws.select(&opts.services)?;
    let platforms = opts
        .platforms
        .clone()
        .unwrap_or_else(|| ws.settings.platforms.clone());
    let registry_host = opts
        .registry
        .clone()
        .unwrap_or_else(|| ws.settings.registry.clone());
    let prov = provenance(ctx, &ws, opts.release)?;
    // Every reference is parsed and checked before anything is built.
    let mut refs = Vec::new();
    for s in &services {
        refs.push(
            ws.image_refs(&s.name, &prov.version, &registry_host)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{}: {}: image reference: {e}",
                        s.manifest_path.display(),
                        s.name
                    )
                })?,
        );
    }
    let (engine, why) = choose_engine(opts.engine)?;
    if opts.dry_run {
        println!(
            "engine {} ({why}), version {}, SOURCE_DATE_EPOCH {}",
            engine_name(engine),
            prov.version,
            prov.epoch
        );
        for (s, (v, m)) in services.iter().zip(&refs) {
            let moving = if opts.move_tags {
                format!(" (then {m})")
            } else {
                String::new()
            };
            let action = if opts.push { "push" } else { "build" };
            println!("  {action} {} → {v}{moving}", s.name);
        }
        return Ok(ImageManifest {
            version: prov.version,
            registry: None,
            oci_layout: None,
            base: BaseInfo {
                name: String::new(),
                digest: String::new(),
            },
            images: Vec::new(),
        });
    }
    let layout = Layout::open(&ctx.out_dir("oci"))?;
    // The base first: a wrong or unreachable base reference fails before the long compile.
    let base = prepare_base_on(ctx, &ws, base_ref, &platforms, &layout)?;
    binaries(ctx, &ws, &services, &platforms, opts.compile)?;
    let build = prov.build_info(&ws, &base);
    let facts: Vec<ImageFacts> = services.iter().map(|s| ImageFacts::of(s)).collect();
    let built = match engine {
        Engine::Buildx => buildx(
            ctx, &ws, &layout, &base, &build, &facts, &refs, &platforms, opts.push,
        )?,
        _ => oci_engine(ctx, &layout, &base, &build, &facts, &refs, &platforms)?,
    };
    let mut pushed = Vec::new();
    if opts.push {
        if engine == Engine::Oci {
            pushed = push_all(&registry_host, &layout, &built, &refs)?;
        }
        if opts.move_tags {
            let registry = Registry::new(&registry_host)?;
            for (v, m) in &refs {
                push::tag_moving(&registry, v, m)?;
            }
            println!("moved {} tags: {}", refs.len(), ws.settings.moving_tag);
        }
    }
    layout.gc()?;
    let manifest = ImageManifest {
        version: prov.version.clone(),
        registry: opts.push.then(|| registry_host.clone()),
        oci_layout: Some("target/lucid/oci".into()),
        base: BaseInfo {
            name: base.name.clone(),
            digest: base.digest.clone(),
        },
        images: built
            .iter()
            .zip(&refs)
            .map(|(b, (v, m))| ImageEntry {
                service: b.service.clone(),
                reference: v.to_string(),
                moving_reference: m.to_string(),
                digest: b.digest.clone(),
                platforms: b
                    .platforms
                    .iter()
                    .map(|p| PlatformImage {
                        platform: p.platform.clone(),
                        digest: p.digest.clone(),
                        compressed_size: p.compressed_size,
                        uncompressed_size: p.uncompressed_size,
                    })
                    .collect(),
            })
            .collect(),
    };
    manifest.write(&ctx.root.join(BUILD_MANIFEST))?;
    summary(&manifest, &built, &pushed, &layout, started);
    Ok(manifest)
}

#[allow(clippy::too_many_arguments)]
fn oci_engine(
    ctx: &Ctx,
    layout: &Layout,
    base: &BaseLayer,
    build: &BuildInfo,
    facts: &[ImageFacts],
    refs: &[(ImageRef, ImageRef)],
    platforms: &[Platform],
) -> Result<Vec<BuiltImage>> {
    let cache = ctx.out_dir("cache").join("images");
    let bar = ui::bar((facts.len() * platforms.len()) as u64, "images");
    let mut out = Vec::new();
    for (f, (versioned, _)) in facts.iter().zip(refs) {
        bar.set_message(f.service.clone());
        let input = ImageInput {
            facts: f,
            build,
            base,
            binaries: platforms
                .iter()
                .map(|p| (*p, ctx.out_dir("bin").join(p.arch()).join(&f.service)))
                .collect(),
            ref_name: versioned.tag.clone().unwrap_or_default(),
        };
        let image = img::build(layout, &cache, &input, &mut |_| bar.inc(1))
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.service))?;
        if image.unchanged {
            bar.inc(platforms.len() as u64);
        }
        out.push(image);
    }
    bar.finish_and_clear();
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn buildx(
    ctx: &Ctx,
    ws: &Workspace,
    layout: &Layout,
    base: &BaseLayer,
    build: &BuildInfo,
    facts: &[ImageFacts],
    refs: &[(ImageRef, ImageRef)],
    platforms: &[Platform],
    push: bool,
) -> Result<Vec<BuiltImage>> {
    let all: Vec<ImageFacts> = ws.services.iter().map(ImageFacts::of).collect();
    let dockerfile = ctx.root.join(docker::DOCKERFILE);
    let current = std::fs::read_to_string(&dockerfile).unwrap_or_default();
    if current != docker::dockerfile(&all) {
        bail!(
            "{} is stale (the catalog changed): run `cargo test -p lucid-image --test dockerfile` to regenerate it",
            dockerfile.display()
        );
    }
    // A base by reference reaches bake as the named context `base`; the lock base as a rootfs tar.
    let base_image = base
        .is_reference()
        .then(|| format!("{}@{}", base.name, base.digest));
    if !base.is_reference() {
        let base_tar = ctx.out_dir(docker::BASE_TAR);
        lucid_image::layout::write_atomic(&base_tar, &base.tar(layout)?)?;
    }
    let targets: Vec<BakeTarget> = facts
        .iter()
        .zip(refs)
        .map(|(f, (v, _))| BakeTarget {
            facts: f,
            tags: vec![v.to_string()],
        })
        .collect();
    let bake_file = ctx.out_dir("docker-bake.json");
    let bake = docker::bake_on(&targets, build, platforms, push, base_image.as_deref());
    lucid_image::layout::write_atomic(&bake_file, serde_json::to_string_pretty(&bake)?.as_bytes())?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(&ctx.root);
    let bake_arg = bake_file.display().to_string();
    xshell::cmd!(sh, "docker buildx bake -f {bake_arg} --provenance=false").run()?;
    let mut out = Vec::new();
    for (f, (v, _)) in facts.iter().zip(refs) {
        let tag = v.tag.clone().unwrap_or_default();
        if push {
            // The registry now holds the image: describe it from there.
            let registry = Registry::new(&v.registry)?;
            let bytes = registry.get_manifest(&v.repository, &tag)?.bytes;
            let digest = layout.put_blob(&bytes)?;
            out.push(BuiltImage {
                service: f.service.clone(),
                ref_name: tag,
                digest,
                size: bytes.len() as u64,
                platforms: Vec::new(),
                unchanged: false,
            });
        } else {
            let archive = ctx.out_dir("buildx").join(format!("{}.tar", f.service));
            let bytes = std::fs::read(&archive).with_context(|| archive.display().to_string())?;
            out.push(docker::import_oci_archive(
                layout, &bytes, &f.service, &tag,
            )?);
        }
    }
    Ok(out)
}

/// Pushes every image's immutable tag; a bar per image (bytes) and an overall one.
fn push_all(
    host: &str,
    layout: &Layout,
    built: &[BuiltImage],
    refs: &[(ImageRef, ImageRef)],
) -> Result<Vec<push::PushOutcome>> {
    let registry = Registry::new(host)?;
    let overall = ui::bar(built.len() as u64, "push");
    let mut out = Vec::new();
    for (image, (versioned, _)) in built.iter().zip(refs) {
        overall.set_message(image.service.clone());
        let blobs = push::blobs(layout, image)?;
        let bar = ui::bar(blobs.iter().map(|(_, s)| s).sum(), &image.service);
        let outcome = push::push_image(&registry, layout, image, versioned, &mut |e| match e {
            PushEvent::BlobSkipped { size, .. } | PushEvent::BlobUploaded { size, .. } => {
                bar.inc(*size)
            }
            PushEvent::ManifestPushed { .. } => {}
        })
        .map_err(|e| anyhow::anyhow!("pushing {versioned}: {e}"))?;
        bar.finish_and_clear();
        overall.inc(1);
        out.push(outcome);
    }
    overall.finish_and_clear();
    Ok(out)
}

fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

fn summary(
    m: &ImageManifest,
    built: &[BuiltImage],
    pushed: &[push::PushOutcome],
    layout: &Layout,
    started: Instant,
) {
    let rows: Vec<Vec<String>> = m
        .images
        .iter()
        .map(|i| {
            vec![
                i.service.clone(),
                i.platforms
                    .iter()
                    .map(|p| p.platform.trim_start_matches("linux/"))
                    .collect::<Vec<_>>()
                    .join(","),
                i.platforms
                    .iter()
                    .map(|p| ui::human_bytes(p.compressed_size))
                    .collect::<Vec<_>>()
                    .join(" / "),
                short(&i.digest),
            ]
        })
        .collect();
    println!(
        "{}",
        ui::table(&["service", "platforms", "compressed", "digest"], &rows)
    );
    let unchanged = built.iter().filter(|b| b.unchanged).count();
    let mut line = format!(
        "{} images: {} built, {} unchanged",
        built.len(),
        built.len() - unchanged,
        unchanged
    );
    if let Some(registry) = &m.registry {
        let same = pushed.iter().filter(|p| p.unchanged).count();
        let bytes: u64 = pushed.iter().map(|p| p.uploaded_bytes).sum();
        let skipped: usize = pushed.iter().map(|p| p.skipped_blobs).sum();
        line.push_str(&format!(
            "; {registry}: {} pushed, {same} unchanged ({} uploaded, {skipped} blobs already there)",
            pushed.len() - same,
            ui::human_bytes(bytes)
        ));
    }
    println!("{line}; {:.1}s", started.elapsed().as_secs_f64());
    println!("base {}@{}", m.base.name, m.base.digest);
    if let Ok(bytes) = unique_bytes(layout, built, Platform::LinuxArm64) {
        if bytes > 0 {
            println!(
                "unique compressed bytes of the arm64 images: {}",
                ui::human_bytes(bytes)
            );
        }
    }
}

/// Sum of the distinct blobs (config + layers) of `built`'s `platform` images.
pub fn unique_bytes(layout: &Layout, built: &[BuiltImage], platform: Platform) -> Result<u64> {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for image in built {
        for p in image
            .platforms
            .iter()
            .filter(|p| p.platform == platform.oci())
        {
            let one = BuiltImage {
                platforms: vec![p.clone()],
                ..image.clone()
            };
            for (digest, size) in push::blobs(layout, &one)? {
                if seen.insert(digest) {
                    total += size;
                }
            }
        }
    }
    Ok(total)
}

/// Show or refresh the pinned Debian packages of the distroless base (images/base.lock.toml).
#[derive(clap::Args)]
pub struct Base {
    /// Look up the newest versions in the lock's archives and rewrite the lock.
    #[arg(long)]
    pub update: bool,
    /// With --update: show the changes, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl Base {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let BaseSource::Lock(rel) = &ws.settings.base else {
            bail!(
                "[workspace.metadata.lucid.base] uses a reference, not a lock: nothing to update"
            );
        };
        let path = ctx.root.join(rel);
        let lock = Lock::read(&path)?;
        let shown = if self.update {
            let new = lucid_image::deb::update(&lock)?;
            for (old, new) in lock.packages.iter().zip(&new.packages) {
                if old.version != new.version || old.sha256 != new.sha256 {
                    println!("{}: {} → {}", old.name, old.version, new.version);
                }
            }
            if new == lock {
                println!("{}: up to date", rel.display());
            } else if self.dry_run {
                println!("(dry run: {} not written)", rel.display());
            } else {
                std::fs::write(&path, new.render()).with_context(|| path.display().to_string())?;
                println!("wrote {}", rel.display());
            }
            new
        } else {
            lock
        };
        let rows: Vec<Vec<String>> = shown
            .packages
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.architecture.clone(),
                    ui::human_bytes(p.size),
                    p.sha256[..16].to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            ui::table(&["package", "version", "arch", "size", "sha256"], &rows)
        );
        if !self.update {
            let layout = Layout::open(&ctx.out_dir("oci"))?;
            let base = prepare_base(ctx, &ws, &layout)?;
            println!(
                "base {}: layer {} ({} compressed, {} uncompressed)",
                base.name,
                base.digest,
                ui::human_bytes(base.size),
                ui::human_bytes(base.uncompressed_size)
            );
        }
        Ok(())
    }
}

/// `cargo xtask bench images`: the oci engine against BuildKit `docker build` of images/Dockerfile
/// for every service (arm64), and the unique compressed bytes of the arm64 stack.
/// Both start from the same inputs (binaries in target/lucid/bin, the base layer already made).
pub fn bench(ctx: &Ctx) -> Result<()> {
    const OCI_RUNS: usize = 3;
    let docker_runs: usize = std::env::var("LUCID_BENCH_DOCKER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let ws = ctx.workspace()?;
    let services: Vec<&Service> = ws.services.iter().collect();
    let platform = Platform::LinuxArm64;
    binaries(ctx, &ws, &services, &[platform], false)?;
    let prov = provenance(ctx, &ws, false)?;
    let main_layout = Layout::open(&ctx.out_dir("oci"))?;
    let base = prepare_base(ctx, &ws, &main_layout)?;
    let build = prov.build_info(&ws, &base);
    let facts: Vec<ImageFacts> = services.iter().map(|s| ImageFacts::of(s)).collect();
    let refs: Vec<(ImageRef, ImageRef)> = services
        .iter()
        .map(|s| ws.image_refs(&s.name, &prov.version, "localhost"))
        .collect::<Result<_>>()?;
    let dir = ctx.out_dir("bench");
    let base_gz = main_layout.read_blob(&base.digest)?;

    let mut oci_secs = Vec::new();
    let mut built = Vec::new();
    let mut unique = 0;
    for run in 0..OCI_RUNS {
        let root = dir.join("oci-run");
        let _ = std::fs::remove_dir_all(&root);
        let layout = Layout::open(&root.join("oci"))?;
        layout.put_blob(&base_gz)?;
        let bar = ui::bar(facts.len() as u64, &format!("oci run {}", run + 1));
        let t = Instant::now();
        built.clear();
        for (f, (v, _)) in facts.iter().zip(&refs) {
            let input = ImageInput {
                facts: f,
                build: &build,
                base: &base,
                binaries: vec![(platform, bin_path(ctx, services[built.len()], platform))],
                ref_name: v.tag.clone().unwrap_or_default(),
            };
            built.push(img::build(
                &layout,
                &root.join("cache"),
                &input,
                &mut |_| {},
            )?);
            bar.inc(1);
        }
        oci_secs.push(t.elapsed().as_secs_f64());
        bar.finish_and_clear();
        if run + 1 == OCI_RUNS {
            unique = unique_bytes(&layout, &built, platform)?;
        }
    }

    // BuildKit: the same Dockerfile, context target/lucid with the same base rootfs and binaries.
    let base_tar = ctx.out_dir(docker::BASE_TAR);
    lucid_image::layout::write_atomic(&base_tar, &base.tar(&main_layout)?)?;
    let all: Vec<ImageFacts> = ws.services.iter().map(ImageFacts::of).collect();
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(&dockerfile, docker::dockerfile(&all))?;
    let mut docker_secs = Vec::new();
    for run in 0..docker_runs {
        let bar = ui::bar(facts.len() as u64, &format!("buildkit run {}", run + 1));
        let t = Instant::now();
        for f in &facts {
            let tag = format!("lucid-bench/{}:arm64", f.service);
            let args =
                docker::docker_build_args(f, &build, platform, &dockerfile, &ctx.out_dir(""), &tag);
            let status = std::process::Command::new("/usr/bin/docker")
                .args(&args)
                .arg("--no-cache")
                .env("DOCKER_BUILDKIT", "1")
                .stdout(std::process::Stdio::null())
                .status()
                .context("running /usr/bin/docker")?;
            if !status.success() {
                bail!("docker build of {} failed ({status})", f.service);
            }
            bar.inc(1);
        }
        docker_secs.push(t.elapsed().as_secs_f64());
        bar.finish_and_clear();
    }
    for f in &facts {
        let _ = std::process::Command::new("/usr/bin/docker")
            .args(["rmi", "-f", &format!("lucid-bench/{}:arm64", f.service)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (oci_median, docker_median) = (
        median(&mut oci_secs.clone()),
        median(&mut docker_secs.clone()),
    );
    let report = serde_json::json!({
        "images": facts.len(),
        "platform": platform.oci(),
        "oci_engine_seconds": oci_secs,
        "buildkit_docker_build_seconds": docker_secs,
        "median_ratio_buildkit_over_oci": docker_median / oci_median,
        "arm64_unique_compressed_bytes": unique,
        "goal_bytes": 48_000_000u64,
        "base_layer_compressed_bytes": base.size,
    });
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("images.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!(
        "images bench ({} services, {}): oci engine median {:.2}s over {} runs, BuildKit docker build median {:.2}s over {} run(s): ratio {:.1}x",
        facts.len(),
        platform.oci(),
        oci_median,
        oci_secs.len(),
        docker_median,
        docker_secs.len(),
        docker_median / oci_median
    );
    println!(
        "arm64 stack: {} unique compressed bytes ({}; goal 48 MB) — wrote {}",
        unique,
        ui::human_bytes(unique),
        dir.join("images.json").display()
    );
    Ok(())
}
