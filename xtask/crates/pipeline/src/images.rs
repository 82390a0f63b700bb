//! Stage 2, images: one multi-platform distroless image per service.
//!
//! compile (or the binaries already built) → the base (from `images/base.lock.toml`, or a base
//! by reference) → one image per service, by the oci engine (in-process, into the OCI layout
//! `<out>/oci`) or the buildx engine (one `docker buildx bake`) → `<out>/images.json`, the record
//! of what was built that the later stages read.

use crate::compile::{self, Builder, CompilePlan};
use crate::context::{Context, Event, Task};
use crate::stamp::BuildStamp;
use anyhow::{bail, Context as _, Result};
use lucid_attest::evidence::Evidence;
use lucid_catalog::manifest::BaseInfo;
use lucid_catalog::{
    BaseSource, ImageEntry, ImageManifest, ImageRef, Platform, PlatformImage, Service, Workspace,
};
use lucid_image::deb::Lock;
use lucid_image::docker::{self, BakeTarget};
use lucid_image::image::{self as img, ImageInput};
use lucid_image::{Base, BuildInfo, BuiltImage, ImageFacts, Layout};
use std::collections::BTreeSet;

/// Why `auto` is the oci engine (the first half of the reason `resolve` gives).
macro_rules! auto_reason {
    () => {
        "auto: the engine the tests prove — daemonless, reproducible digests, faster than \
         BuildKit (`cargo xtask bench images`); "
    };
}

/// Which engine assembles the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The oci engine, the one every test builds with, even where `docker buildx` works.
    Auto,
    /// One `docker buildx bake` over images/Dockerfile (needs Docker with buildx): BuildKit's
    /// cache and remote builders, but no reproducible digests and an untested path here.
    Buildx,
    /// Daemonless: layers, configs, manifests and index written in-process.
    Oci,
}

impl Engine {
    pub const NAMES: [&'static str; 3] = ["auto", "buildx", "oci"];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Auto => "auto",
            Engine::Buildx => "buildx",
            Engine::Oci => "oci",
        }
    }

    /// The engine `self` means here, and why. `auto` is the oci engine even on a machine with
    /// buildx (GitHub's runners): the release that runs there is the one the tests prove.
    pub fn resolve(self) -> Result<(Engine, &'static str)> {
        match self {
            Engine::Auto if docker::buildx_available() => Ok((
                Engine::Oci,
                concat!(
                    auto_reason!(),
                    "`docker buildx` works here too, but runs only with --engine buildx"
                ),
            )),
            Engine::Auto => Ok((Engine::Oci, concat!(auto_reason!(), "no `docker buildx` here"))),
            Engine::Buildx if !docker::buildx_available() => bail!(
                "--engine buildx needs `docker buildx` and `docker buildx version` failed on this machine; \
                 use --engine oci (daemonless, same images)"
            ),
            e => Ok((e, "requested")),
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Engine> {
        match s {
            "auto" => Ok(Engine::Auto),
            "buildx" => Ok(Engine::Buildx),
            "oci" => Ok(Engine::Oci),
            other => bail!(
                "unknown engine {other:?} (known: {})",
                Engine::NAMES.join(", ")
            ),
        }
    }
}

/// Where the binaries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binaries {
    /// Compile them first (stage 1) with this builder.
    Compile(Builder),
    /// Use those already under `<out>/bin` (`--no-build`).
    Existing,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// Services by name; empty: all.
    pub services: Vec<String>,
    /// Default: the workspace's platforms.
    pub platforms: Option<Vec<Platform>>,
    pub engine: Engine,
    /// Registry host of the references; default: the workspace's.
    pub registry: Option<String>,
    pub binaries: Binaries,
    /// A release builds the plain workspace version; other builds add the git short sha.
    pub release: bool,
    /// This run's base instead of the workspace's `[workspace.metadata.lucid.base]`.
    pub base_ref: Option<ImageRef>,
    /// The images go to the registry (the publish stage pushes them from the layout, for both
    /// engines).
    pub push: bool,
    /// With `push`: the moving tags follow.
    pub move_tags: bool,
}

impl ImageRequest {
    /// Every service, every platform, the workspace's registry, compiled with `auto`.
    pub fn all(engine: Engine) -> ImageRequest {
        ImageRequest {
            services: Vec::new(),
            platforms: None,
            engine,
            registry: None,
            binaries: Binaries::Compile(Builder::Auto),
            release: false,
            base_ref: None,
            push: false,
            move_tags: false,
        }
    }
}

/// One image to build: the service and its two references.
#[derive(Debug, Clone)]
pub struct PlannedImage {
    pub service: String,
    /// `<registry>/<repository>:<service>-<version>`
    pub versioned: ImageRef,
    /// `<registry>/<repository>:<service>`
    pub moving: ImageRef,
}

/// What the image stage will do, known before anything is built: `--dry-run` prints it.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub engine: Engine,
    pub why: &'static str,
    pub stamp: BuildStamp,
    pub registry: String,
    pub platforms: Vec<Platform>,
    pub images: Vec<PlannedImage>,
    /// Stage 1, unless the binaries exist already (`--no-build`).
    pub compile: Option<CompilePlan>,
    pub request: ImageRequest,
}

/// What the image stage built.
#[derive(Debug, Clone)]
pub struct BuiltImages {
    /// The images themselves, as the publish stage pushes them (same order as the plan).
    pub images: Vec<BuiltImage>,
    /// The record written to `<out>/images.json`.
    pub manifest: ImageManifest,
    pub base: Base,
}

impl ImagePlan {
    /// Resolves the request: services, platforms, engine, version and every reference, each
    /// parsed and checked before anything is built.
    pub fn new(ctx: &Context, ws: &Workspace, request: &ImageRequest) -> Result<ImagePlan> {
        let services = ws.select(&request.services)?;
        let platforms = request
            .platforms
            .clone()
            .unwrap_or_else(|| ws.settings.platforms.clone());
        let registry = request
            .registry
            .clone()
            .unwrap_or_else(|| ws.settings.registry.clone());
        let stamp = BuildStamp::of(ctx, ws, request.release)?;
        let images = services
            .iter()
            .map(|s| {
                let (versioned, moving) = image_refs(ws, s, &stamp.version, &registry)?;
                Ok(PlannedImage {
                    service: s.name.clone(),
                    versioned,
                    moving,
                })
            })
            .collect::<Result<_>>()?;
        let (engine, why) = request.engine.resolve()?;
        let compile = match request.binaries {
            Binaries::Compile(builder) => Some(CompilePlan::new(&services, &platforms, builder)?),
            Binaries::Existing => None,
        };
        Ok(ImagePlan {
            engine,
            why,
            stamp,
            registry,
            platforms,
            images,
            compile,
            request: request.clone(),
        })
    }

    /// Compiles (unless the binaries exist), prepares the base, builds every image, and writes
    /// `<out>/images.json`.
    pub fn execute(&self, ctx: &Context, ws: &Workspace) -> Result<BuiltImages> {
        let services: Vec<&Service> = self
            .images
            .iter()
            .map(|i| ws.service(&i.service).expect("planned from the catalog"))
            .collect();
        let layout = Layout::open(&ctx.oci_layout())?;
        // The base first: a wrong or unreachable base reference fails before the long compile.
        let base = prepare_base(
            ctx,
            ws,
            self.request.base_ref.as_ref(),
            &self.platforms,
            &layout,
        )?;
        match &self.compile {
            Some(plan) => {
                plan.execute(ctx, ws)?;
            }
            None => compile::existing(ctx, &services, &self.platforms)?,
        }
        let build = self.stamp.build_info(ws, &base);
        let facts: Vec<ImageFacts> = services.iter().map(|s| ImageFacts::of(s)).collect();
        // SBOM and provenance of every platform image, attached the same way by both engines.
        let scope = crate::evidence::Scope {
            stamp: &self.stamp,
            engine: self.engine.name(),
            release: self.request.release,
            platforms: &self.platforms,
            services: self.images.iter().map(|i| i.service.clone()).collect(),
        };
        let evidence = crate::evidence::gather(ctx, ws, scope, &base)?;
        let images = match self.engine {
            Engine::Buildx => self.buildx(ctx, ws, &layout, &base, &build, &facts, &evidence)?,
            _ => self.oci(ctx, &layout, &base, &build, &facts, &evidence)?,
        };
        layout.gc()?;
        let manifest = self.manifest(ctx, &base, &images);
        manifest.write(&ctx.build_manifest())?;
        Ok(BuiltImages {
            images,
            manifest,
            base,
        })
    }

    /// The record of the build: references, digests and sizes per platform.
    fn manifest(&self, ctx: &Context, base: &Base, images: &[BuiltImage]) -> ImageManifest {
        ImageManifest {
            version: self.stamp.version.clone(),
            registry: self.request.push.then(|| self.registry.clone()),
            oci_layout: Some(ctx.display(&ctx.oci_layout())),
            base: BaseInfo {
                name: base.name.clone(),
                digest: base.digest.clone(),
            },
            images: images
                .iter()
                .zip(&self.images)
                .map(|(b, planned)| ImageEntry {
                    service: b.service.clone(),
                    reference: planned.versioned.to_string(),
                    moving_reference: planned.moving.to_string(),
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
        }
    }

    /// The oci engine: every image written in-process into the layout (unchanged inputs are
    /// recognised by their key and not rebuilt).
    fn oci(
        &self,
        ctx: &Context,
        layout: &Layout,
        base: &Base,
        build: &BuildInfo,
        facts: &[ImageFacts],
        evidence: &Evidence,
    ) -> Result<Vec<BuiltImage>> {
        let cache = ctx.cache.join("images");
        let per_image = self.platforms.len() as u64;
        ctx.report(Event::Begin {
            task: Task::Images,
            total: facts.len() as u64 * per_image,
        });
        let mut out = Vec::new();
        for (f, planned) in facts.iter().zip(&self.images) {
            let input = ImageInput {
                facts: f,
                build,
                base,
                binaries: self.binaries(ctx, &f.service),
                ref_name: planned.versioned.tag.clone().unwrap_or_default(),
            };
            let extras = evidence.for_image(
                &f.service,
                &input.ref_name,
                &self.stamp.version,
                input.binaries.clone(),
            );
            let advance = |by| {
                ctx.report(Event::Advance {
                    task: Task::Images,
                    by,
                    message: Some(f.service.clone()),
                })
            };
            let image = img::build_with(layout, &cache, &input, Some(&extras), &mut |_| advance(1))
                .with_context(|| f.service.clone())?;
            if image.unchanged {
                advance(per_image);
            }
            out.push(image);
        }
        ctx.report(Event::End { task: Task::Images });
        Ok(out)
    }

    /// The binary of `service` for every platform of the plan.
    fn binaries(&self, ctx: &Context, service: &str) -> Vec<(Platform, std::path::PathBuf)> {
        self.platforms
            .iter()
            .map(|p| (*p, ctx.binary(service, *p)))
            .collect()
    }

    /// The buildx engine: one `docker buildx bake` over the generated Dockerfile (without
    /// BuildKit's own attestations); its OCI archives are imported into the layout and get our
    /// attestations there, as the oci engine's images do. The publish stage pushes them.
    #[allow(clippy::too_many_arguments)]
    fn buildx(
        &self,
        ctx: &Context,
        ws: &Workspace,
        layout: &Layout,
        base: &Base,
        build: &BuildInfo,
        facts: &[ImageFacts],
        evidence: &Evidence,
    ) -> Result<Vec<BuiltImage>> {
        if ctx.out != ctx.root.join("target/lucid") {
            bail!("the buildx engine builds in target/lucid of the workspace (its bake file names that context); use --engine oci for another output directory");
        }
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
            lucid_image::layout::write_atomic(&ctx.out_dir(docker::BASE_TAR), &base.tar(layout)?)?;
        }
        let targets: Vec<BakeTarget> = facts
            .iter()
            .zip(&self.images)
            .map(|(f, planned)| BakeTarget {
                facts: f,
                tags: vec![planned.versioned.to_string()],
            })
            .collect();
        let bake_file = ctx.out_dir("docker-bake.json");
        let bake = docker::bake_on(
            &targets,
            build,
            &self.platforms,
            false,
            base_image.as_deref(),
        );
        lucid_image::layout::write_atomic(
            &bake_file,
            serde_json::to_string_pretty(&bake)?.as_bytes(),
        )?;
        let sh = xshell::Shell::new()?;
        sh.change_dir(&ctx.root);
        let bake_arg = bake_file.display().to_string();
        xshell::cmd!(sh, "docker buildx bake -f {bake_arg} --provenance=false").run()?;
        let mut out = Vec::new();
        for (f, planned) in facts.iter().zip(&self.images) {
            let v = &planned.versioned;
            let tag = v.tag.clone().unwrap_or_default();
            let archive = ctx.out_dir("buildx").join(format!("{}.tar", f.service));
            let bytes = std::fs::read(&archive).with_context(|| archive.display().to_string())?;
            let imported = docker::import_oci_archive(layout, &bytes, &f.service, &tag)?;
            let extras = evidence.for_image(
                &f.service,
                &tag,
                &self.stamp.version,
                self.binaries(ctx, &f.service),
            );
            out.push(
                img::with_extras(layout, &imported, &extras).with_context(|| f.service.clone())?,
            );
        }
        Ok(out)
    }
}

/// What `build-images --dry-run` prints.
impl std::fmt::Display for ImagePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(compile) = &self.compile {
            write!(f, "{compile}")?;
        }
        writeln!(
            f,
            "engine {} ({}), version {}, SOURCE_DATE_EPOCH {}",
            self.engine.name(),
            self.why,
            self.stamp.version,
            self.stamp.epoch
        )?;
        let action = if self.request.push { "push" } else { "build" };
        for image in &self.images {
            write!(f, "  {action} {} → {}", image.service, image.versioned)?;
            if self.request.move_tags {
                write!(f, " (then {})", image.moving)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The immutable and the moving reference of a service's image, with an error that names the
/// service's manifest.
pub fn image_refs(
    ws: &Workspace,
    service: &Service,
    version: &str,
    registry: &str,
) -> Result<(ImageRef, ImageRef)> {
    ws.image_refs(&service.name, version, registry)
        .with_context(|| {
            format!(
                "{}: {}: image reference",
                service.manifest_path.display(),
                service.name
            )
        })
}

const BASE_FIELD: &str = "[workspace.metadata.lucid.base] reference";

/// `--base-ref`: a reference pinned by digest, like the workspace field it stands in for.
pub fn parse_base_ref(text: &str) -> Result<ImageRef> {
    let r =
        ImageRef::parse(text).with_context(|| format!("--base-ref (in place of {BASE_FIELD})"))?;
    if r.digest.is_none() {
        bail!(
            "--base-ref (in place of {BASE_FIELD}) {text:?}: must be pinned by digest (@sha256:…)"
        );
    }
    Ok(r)
}

/// The base for `platforms`: `base_ref` when given (`--base-ref`), else the workspace's
/// `[workspace.metadata.lucid.base]` (a lock built here, or a reference fetched from its registry).
pub fn prepare_base(
    ctx: &Context,
    ws: &Workspace,
    base_ref: Option<&ImageRef>,
    platforms: &[Platform],
    layout: &Layout,
) -> Result<Base> {
    let (reference, field) = match (base_ref, &ws.settings.base) {
        (Some(r), _) => (r, format!("--base-ref (in place of {BASE_FIELD})")),
        (None, BaseSource::Reference(r)) => (r, BASE_FIELD.to_string()),
        (None, BaseSource::Lock(p)) => {
            let lock = Lock::read(&ctx.root.join(p))?;
            return Base::prepare(&lock, layout, &ctx.cache);
        }
    };
    lucid_image::base_ref::fetch(reference, platforms, layout, &ctx.cache).with_context(|| field)
}

/// Sum of the distinct blobs (config + layers) of the `platform` images of `built`.
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
            for (digest, size) in lucid_image::push::blobs(layout, &one)? {
                if seen.insert(digest) {
                    total += size;
                }
            }
        }
    }
    Ok(total)
}
