//! The release: one version of every service, all or nothing — planned, then executed.
//!
//! [`ReleasePlan::prepare`] runs the preflight, builds every image into the OCI layout (to know
//! the digests), and asks the registry what it holds: the push of each image, the compose files
//! pinned to the new digests, and the move of each moving tag are then known. `--dry-run` prints
//! that plan; [`ReleasePlan::execute`] carries it out: push the immutable tags → compose files
//! pinned (staged under `<out>/release`) → validate → move the moving tags, all of them, last →
//! release manifest, compose files and report into the work tree, for the user to commit.
//!
//! Nothing a consumer follows changes before the last steps, so a failed release leaves the moving
//! tags and the work tree as they were, and running the same command again resumes it: tags that
//! already hold the right image, and blobs the registry already has, are skipped.

use crate::compile::Builder;
use crate::context::{Context, Event};
use crate::display::{human_bytes, short_digest, table};
use crate::images::{Binaries, BuiltImages, Engine, ImagePlan, ImageRequest};
use crate::preflight::{self, Check, Inputs, Preflight, Remote};
use crate::publish::{self, PushPlan, TagMove};
use anyhow::{bail, Context as _, Result};
use lucid_attest::{cosign, SigningKey};
use lucid_catalog::manifest::RELEASE_MANIFEST;
use lucid_catalog::{ImageManifest, ImageRef, Platform, Workspace};
use lucid_compose::Generated;
use lucid_image::push::PushOutcome;
use lucid_image::Layout;
use lucid_registry::Registry;
use std::fmt;
use std::path::Path;
use std::time::Instant;

/// Staging directory (under the output directory) for the outputs until the moving tags moved.
const STAGE: &str = "release";
/// The validator's outputs, written next to the release manifest.
const REPORT_FILES: [&str; 3] = [
    "images/VALIDATION_REPORT.md",
    "images/validation-report.json",
    "images/validation-report.schema.json",
];
const STEPS: usize = 7;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// Registry host; default: the workspace's.
    pub registry: Option<String>,
    /// The version being released; must equal `workspace.package.version`.
    pub version: Option<String>,
    pub allow_dirty: bool,
    pub engine: Engine,
    /// Plan only: read the registry, build into the output directory, change nothing else.
    pub dry_run: bool,
    /// The cosign signing key: a file or `env://VAR`; `None` only with `unsigned`.
    pub signing_key: Option<String>,
    /// Release without signatures (refused unless asked for).
    pub unsigned: bool,
}

/// Everything a release will do, known before the first push.
pub struct ReleasePlan {
    pub version: String,
    pub host: String,
    pub repository: String,
    pub platforms: Vec<Platform>,
    pub services: usize,
    pub dry_run: bool,
    /// Step 1; a failed check stops a real release before anything is built.
    pub preflight: Vec<Check>,
    /// Steps 2–7; `None` when the preflight stopped the release, an error when a dry run could
    /// not get as far as planning them.
    pub work: Option<Result<Work, String>>,
    /// `--registry` as given, for the resume hint.
    asked_registry: Option<String>,
    engine: Engine,
    refs: Vec<(ImageRef, ImageRef)>,
    /// What the registry held before, per service; empty-handed when it could not be asked.
    remote: Vec<Remote>,
    registry: Option<Registry>,
    /// Loaded in the preflight: a bad key or password stops the release before any push.
    signer: Option<SigningKey>,
    clock: Clock,
}

/// What steps 2–7 will do.
pub struct Work {
    pub images: ImagePlan,
    pub built: BuiltImages,
    /// One per image; `None` when the registry could not be asked (dry run only).
    pub pushes: Option<Vec<PushPlan>>,
    /// The release manifest and the compose files pinned to it.
    pub release: ImageManifest,
    pub compose: Generated,
    /// Compose files (workspace paths) whose committed text the release changes.
    pub compose_changes: Vec<String>,
    pub validate_from: String,
    pub moves: Vec<TagMove>,
    /// Fingerprint of the key every pushed index is signed with; `None`: `--unsigned`.
    pub signing: Option<String>,
}

impl ReleasePlan {
    /// Step 1: the preflight, then (unless it failed a real run) step 2 and the plan of every
    /// later step.
    pub fn prepare(ctx: &Context, opts: &ReleaseOptions) -> Result<ReleasePlan> {
        let mut plan = ReleasePlan::preflight(ctx, opts)?;
        if plan.problems().is_empty() || plan.dry_run {
            plan.build(ctx)?;
        }
        Ok(plan)
    }

    /// Step 1 alone: every check, nothing built.
    pub fn preflight(ctx: &Context, opts: &ReleaseOptions) -> Result<ReleasePlan> {
        let clock = Clock::new();
        let ws = ctx.workspace()?;
        let host = opts
            .registry
            .clone()
            .unwrap_or_else(|| ws.settings.registry.clone());
        let refs = ws
            .services
            .iter()
            .map(|s| crate::images::image_refs(&ws, s, &ws.version, &host))
            .collect::<Result<Vec<_>>>()?;
        let pre = Preflight::run(&Inputs {
            ctx,
            ws: &ws,
            host: &host,
            refs: &refs,
            version: opts.version.as_deref(),
            allow_dirty: opts.allow_dirty,
            engine: opts.engine,
            may_write: !opts.dry_run,
        });
        let (signing, signer) = signing_check(opts);
        let mut checks = pre.checks;
        checks.push(signing);
        let mut plan = ReleasePlan {
            version: ws.version.clone(),
            host,
            repository: ws.settings.repository.clone(),
            platforms: ws.settings.platforms.clone(),
            services: ws.services.len(),
            dry_run: opts.dry_run,
            preflight: checks,
            work: None,
            asked_registry: opts.registry.clone(),
            engine: opts.engine,
            refs,
            remote: pre.remote,
            registry: pre.registry,
            signer,
            clock,
        };
        plan.clock.lap("preflight");
        Ok(plan)
    }

    /// Step 2: builds every image, then plans steps 3–7. A dry run records a failure in the
    /// plan (it shows how far it got); a real run returns it.
    pub fn build(&mut self, ctx: &Context) -> Result<()> {
        step(ctx, 2, "build");
        let work = plan_work(ctx, self);
        self.clock.lap("build");
        self.work = Some(match work {
            Ok(w) => Ok(w),
            Err(e) if self.dry_run => Err(format!("{e:#}")),
            Err(e) => return Err(self.resumable(e)),
        });
        Ok(())
    }

    /// The preflight's problems; a release with any does not execute.
    pub fn problems(&self) -> Vec<&str> {
        preflight::problems(&self.preflight)
    }

    /// Steps 3–7, exactly as planned.
    pub fn execute(mut self, ctx: &Context) -> Result<ReleaseReport> {
        let problems = self.problems();
        if !problems.is_empty() {
            bail!(
                "preflight failed, nothing was built or pushed:\n  - {}",
                problems.join("\n  - ")
            );
        }
        if self.dry_run {
            bail!("a dry-run plan is for reading, not for executing");
        }
        let work = match self.work.take() {
            Some(Ok(w)) => w,
            _ => bail!("the release plan has no build (prepare failed)"),
        };
        let registry = self
            .registry
            .take()
            .expect("no preflight problem means a registry");
        let ws = ctx.workspace()?;
        let (outcomes, validation) = self
            .push_and_validate(ctx, &ws, &work, &registry)
            .map_err(|e| self.resumable(e))?;

        step(ctx, 6, "move the moving tags");
        let moved = publish::move_tags(&registry, &work.moves)
            .context("every image is pushed and validated")?;
        ctx.note(format!(
            "  {} moving tags point at {}",
            work.moves.len(),
            self.version
        ));
        self.clock.lap("moving tags");

        step(
            ctx,
            7,
            "release manifest, compose files and report into the work tree",
        );
        let written = publish_outputs(ctx, &ctx.out_dir(STAGE))?;
        self.clock.lap("write");
        Ok(ReleaseReport {
            version: self.version,
            host: self.host,
            rows: rows(&work, &outcomes),
            outcomes,
            moved,
            validation,
            laps: self.clock.laps,
            seconds: self.clock.started.elapsed().as_secs_f64(),
            written,
        })
    }

    /// Steps 3–5: nothing a consumer follows changes yet.
    fn push_and_validate(
        &mut self,
        ctx: &Context,
        ws: &Workspace,
        work: &Work,
        registry: &Registry,
    ) -> Result<(Vec<PushOutcome>, Validation)> {
        step(ctx, 3, "push the immutable tags, then sign them");
        let pushes = work.pushes.as_deref().unwrap_or_default();
        let layout = Layout::open(&ctx.oci_layout())?;
        let outcomes = publish::push_all(ctx, registry, &layout, pushes)?;
        if let Some(key) = &self.signer {
            sign_all(ctx, registry, work, key)?;
        }
        self.clock.lap("push");
        step(ctx, 4, "compose files pinned to the pushed digests");
        let stage = ctx.out_dir(STAGE);
        stage_outputs(ctx, &stage, work)?;
        self.clock.lap("compose");
        step(ctx, 5, "validate");
        let validation = validate(ctx, ws, &stage, registry, self.signer.as_ref())?;
        self.clock.lap("validate");
        Ok((outcomes, validation))
    }

    /// The cause first, then what state it leaves and how to go on.
    fn resumable(&self, e: anyhow::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "{e:#}\nthe moving tags were not touched and the work tree is unchanged; run `cargo xtask release{}` \
             again to resume (images and blobs already pushed are skipped)",
            self.asked_registry
                .as_deref()
                .map(|h| format!(" --registry {h}"))
                .unwrap_or_default()
        )
    }
}

/// The signing key of the release, loaded now so that a malformed key or a wrong password
/// stops the release before anything is pushed.
fn signing_check(opts: &ReleaseOptions) -> (Check, Option<SigningKey>) {
    let check = |passed: bool, line: String| Check { passed, line };
    match (&opts.signing_key, opts.unsigned) {
        (Some(_), true) => (check(false, "--signing-key and --unsigned: choose one".into()), None),
        (None, true) => (check(true, "unsigned release (--unsigned): no cosign signatures".into()), None),
        (None, false) => (
            check(
                false,
                "no signing key: pass --signing-key FILE (or env://VAR; cargo xtask keygen makes one) or --unsigned".into(),
            ),
            None,
        ),
        (Some(spec), false) => match SigningKey::from_spec(spec) {
            Ok(key) => (
                check(true, format!("signing key {spec}: {}", key.public().fingerprint())),
                Some(key),
            ),
            Err(e) => (check(false, format!("{e:#}")), None),
        },
    }
}

/// Signs every pushed index (cosign's `sha256-<hex>.sig` beside it), before any moving tag moves.
fn sign_all(ctx: &Context, registry: &Registry, work: &Work, key: &SigningKey) -> Result<()> {
    let mut signed = 0;
    for (image, planned) in work.built.images.iter().zip(&work.images.images) {
        let outcome = cosign::sign_pushed(registry, &planned.versioned, &image.digest, key)
            .with_context(|| format!("signing {}", planned.versioned))?;
        signed += usize::from(!outcome.unchanged);
    }
    ctx.note(format!(
        "  {} images signed ({} already signed) with {}",
        work.built.images.len(),
        work.built.images.len() - signed,
        key.public().fingerprint()
    ));
    Ok(())
}

/// Builds every image, then plans the push, the pinned compose files and the tag moves.
fn plan_work(ctx: &Context, plan: &ReleasePlan) -> Result<Work> {
    let ws = &ctx.workspace()?;
    let refs = &plan.refs;
    let request = ImageRequest {
        registry: Some(plan.host.clone()),
        release: true,
        binaries: Binaries::Compile(Builder::Auto),
        ..ImageRequest::all(plan.engine)
    };
    let images = ImagePlan::new(ctx, ws, &request)?;
    let built = images.execute(ctx, ws)?;
    let layout = Layout::open(&ctx.oci_layout())?;
    let targets: Vec<_> = built
        .images
        .iter()
        .zip(refs)
        .map(|(image, (versioned, _))| (image.clone(), versioned.clone()))
        .collect();
    let pushes = match &plan.registry {
        Some(r) => Some(publish::plan_pushes(r, &layout, &targets)?),
        None => None,
    };
    let release = ImageManifest {
        registry: Some(images.registry.clone()),
        oci_layout: None,
        ..built.manifest.clone()
    };
    let compose = lucid_compose::generate(ws, Some(&release))?;
    let compose_changes = lucid_compose::check(&ctx.root, &compose)
        .into_iter()
        .map(|s| s.path)
        .collect();
    let moves = refs
        .iter()
        .zip(&built.images)
        .zip(
            plan.remote
                .iter()
                .chain(std::iter::repeat(&Remote::default())),
        )
        .map(|(((versioned, moving), image), before)| TagMove {
            versioned: versioned.clone(),
            moving: moving.clone(),
            from: before.moving.clone(),
            to: image.digest.clone(),
        })
        .collect();
    let validate_from = match &plan.registry {
        Some(r) if preflight::reads_back_from_registry(r) => format!("registry {}", r.host),
        _ => format!(
            "the OCI layout {} (what was pushed)",
            ctx.display(&ctx.oci_layout())
        ),
    };
    Ok(Work {
        images,
        built,
        pushes,
        release,
        compose,
        compose_changes,
        validate_from,
        moves,
        signing: plan.signer.as_ref().map(|k| k.public().fingerprint()),
    })
}

fn step(ctx: &Context, number: usize, title: &str) {
    ctx.report(Event::Step {
        number,
        of: STEPS,
        title: title.to_string(),
    });
}

/// Writes the release manifest and the pinned compose files under `stage` (a mirror of the
/// work tree's paths), for the validator to read.
fn stage_outputs(ctx: &Context, stage: &Path, work: &Work) -> Result<()> {
    if stage.exists() {
        std::fs::remove_dir_all(stage).with_context(|| stage.display().to_string())?;
    }
    work.release.write(&stage.join(RELEASE_MANIFEST))?;
    let written = lucid_compose::write(stage, &work.compose)?;
    ctx.note(format!(
        "  {} compose files pinned: {}",
        written.len(),
        work.compose.source
    ));
    Ok(())
}

/// What validation found.
#[derive(Debug, Clone)]
pub struct Validation {
    pub errors: usize,
    pub warnings: usize,
    pub source: String,
}

/// Validates the staged compose files against the pushed images (read back from a loopback
/// registry; otherwise through the OCI layout).
fn validate(
    ctx: &Context,
    ws: &Workspace,
    stage: &Path,
    registry: &Registry,
    key: Option<&SigningKey>,
) -> Result<Validation> {
    let mut staged = ws.clone();
    staged.root = stage.to_path_buf();
    let mut opts = crate::validate::options(ctx);
    opts.build_manifest = Some(stage.join(RELEASE_MANIFEST));
    if preflight::reads_back_from_registry(registry) {
        opts.registry = Some(registry.host.clone());
        opts.registry_config = Some(ctx.registry_config(&registry.host)?);
    }
    let mut report = lucid_validate::validate(&staged, &opts);
    // Signatures live in the registry: the supply chain is read from there, with our client.
    let source = ctx.registry(&registry.host)?;
    let version = crate::validate::built_version(&opts).unwrap_or_else(|| ws.version.clone());
    report.supply_chain = Some(crate::validate::supply_chain(
        ws,
        &source,
        &version,
        &registry.host,
        key.map(|k| k.public()),
    )?);
    report.summarise();
    let images = stage.join("images");
    lucid_validate::write(&report, &images)?;
    let s = &report.summary;
    if !report.passed() {
        for f in report.findings() {
            ctx.note(format!("  {f}"));
        }
        bail!(
            "validation failed: {} error(s), see {}",
            s.errors,
            images.join("VALIDATION_REPORT.md").display()
        );
    }
    ctx.note(format!(
        "  {}/{} images, {} platform images, {} error(s), {} warning(s) ({})",
        s.images_found,
        s.images,
        s.platform_images_passed,
        s.errors,
        s.warnings,
        report.image_source
    ));
    Ok(Validation {
        errors: s.errors,
        warnings: s.warnings,
        source: report.image_source.clone(),
    })
}

/// Copies the staged outputs into the work tree; returns their paths.
fn publish_outputs(ctx: &Context, stage: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = vec![RELEASE_MANIFEST.to_string()];
    files.extend(REPORT_FILES.iter().map(|s| s.to_string()));
    for dir in lucid_compose::OUTPUT_DIRS {
        for entry in std::fs::read_dir(stage.join(dir))? {
            let name = entry?.file_name().to_string_lossy().to_string();
            files.push(format!("{dir}/{name}"));
        }
    }
    files.sort();
    for f in &files {
        let to = ctx.root.join(f);
        std::fs::create_dir_all(to.parent().expect("a file has a directory"))?;
        std::fs::copy(stage.join(f), &to)
            .with_context(|| format!("copying {} to {}", stage.join(f).display(), to.display()))?;
    }
    ctx.note(format!("  wrote {}", files.join(", ")));
    Ok(files)
}

/// One service's way through the release, for the summary.
#[derive(Debug, Clone)]
pub struct Row {
    pub service: String,
    pub digest: String,
    pub push: String,
    pub moving: &'static str,
}

fn rows(work: &Work, outcomes: &[PushOutcome]) -> Vec<Row> {
    work.built
        .images
        .iter()
        .zip(outcomes)
        .zip(&work.moves)
        .map(|((image, o), m)| Row {
            service: image.service.clone(),
            digest: short_digest(&image.digest),
            push: describe_push(o),
            moving: if m.needed() { "moved" } else { "already" },
        })
        .collect()
}

fn describe_push(o: &PushOutcome) -> String {
    if o.unchanged {
        "skipped (tag already there)".into()
    } else if o.uploaded_blobs == 0 {
        format!("pushed (0 blobs, {} already there)", o.skipped_blobs)
    } else {
        format!(
            "pushed {} blob{} ({}), {} skipped",
            o.uploaded_blobs,
            if o.uploaded_blobs == 1 { "" } else { "s" },
            human_bytes(o.uploaded_bytes),
            o.skipped_blobs
        )
    }
}

/// What a release did: its summary, and the files it left for the user to commit.
pub struct ReleaseReport {
    pub version: String,
    pub host: String,
    pub rows: Vec<Row>,
    pub outcomes: Vec<PushOutcome>,
    pub moved: usize,
    pub validation: Validation,
    pub laps: Vec<(&'static str, f64)>,
    pub seconds: f64,
    pub written: Vec<String>,
}

impl fmt::Display for ReleaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.service.clone(),
                    r.digest.clone(),
                    r.push.clone(),
                    r.moving.to_string(),
                ]
            })
            .collect();
        writeln!(
            f,
            "\n{}",
            table(&["service", "digest", "push", "moving tag"], &cells)
        )?;
        let o = &self.outcomes;
        let pushed = o.iter().filter(|o| !o.unchanged).count();
        let v = &self.validation;
        writeln!(
            f,
            "released {} to {}: {} images ({pushed} pushed, {} already there; {} blobs uploaded, {} skipped, {}), \
             {} moving tags moved; validate ({}): {} error(s), {} warning(s)",
            self.version,
            self.host,
            o.len(),
            o.len() - pushed,
            o.iter().map(|o| o.uploaded_blobs).sum::<usize>(),
            o.iter().map(|o| o.skipped_blobs).sum::<usize>(),
            human_bytes(o.iter().map(|o| o.uploaded_bytes).sum()),
            self.moved,
            v.source,
            v.errors,
            v.warnings
        )?;
        let laps: Vec<String> = self
            .laps
            .iter()
            .map(|(n, s)| format!("{n} {s:.1}s"))
            .collect();
        writeln!(f, "time: {} ({:.1}s in all)", laps.join(", "), self.seconds)?;
        writeln!(f, "\nleft in the work tree for you to commit:")?;
        writeln!(f, "  git add {}", self.written.join(" "))?;
        writeln!(f, "  git commit -m \"Release {}\"", self.version)
    }
}

impl ReleasePlan {
    /// What the release is and how its preflight went: the part of the plan a real run prints
    /// before it starts (the rest shows as it happens).
    pub fn heading(&self) -> String {
        let platforms: Vec<&str> = self.platforms.iter().map(|p| p.oci()).collect();
        let mut f = format!(
            "release {} of {} services ({}) to {}/{}{}\n",
            self.version,
            self.services,
            platforms.join(", "),
            self.host,
            self.repository,
            if self.dry_run { " (dry run)" } else { "" }
        );
        f.push_str(&format!("[1/{STEPS}] preflight\n"));
        for c in &self.preflight {
            let state = if c.passed { "ok  " } else { "FAIL" };
            f.push_str(&format!("  {state}  {}\n", c.line));
        }
        f
    }

    /// Steps 2–7 as planned (empty before [`ReleasePlan::build`]).
    pub fn steps(&self) -> String {
        match &self.work {
            None => String::new(),
            Some(Err(e)) => format!("\ndry run stopped: {e}\n"),
            Some(Ok(work)) => work.to_string(),
        }
    }
}

/// The whole plan, as `--dry-run` prints it.
impl fmt::Display for ReleasePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.heading(), self.steps())
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "[2/{STEPS}] build (into the output directory, to learn the digests)"
        )?;
        if let Some(compile) = &self.images.compile {
            for line in compile.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(
            f,
            "  engine {} ({}), version {}, SOURCE_DATE_EPOCH {}",
            self.images.engine.name(),
            self.images.why,
            self.images.stamp.version,
            self.images.stamp.epoch
        )?;
        writeln!(f, "[3/{STEPS}] push the immutable tags, then sign them")?;
        self.fmt_pushes(f)?;
        match &self.signing {
            Some(key) => {
                for (image, planned) in self.built.images.iter().zip(&self.images.images) {
                    writeln!(
                        f,
                        "  sign {}@{} with {key}",
                        planned.versioned, image.digest
                    )?;
                }
            }
            None => writeln!(f, "  not signed (--unsigned)")?,
        }
        writeln!(f, "[4/{STEPS}] compose files pinned to the pushed digests")?;
        for (path, _) in self.compose.outputs() {
            let state = if self.compose_changes.contains(&path) {
                "would change"
            } else {
                "unchanged"
            };
            writeln!(f, "  {path}: {state} ({})", self.compose.source)?;
        }
        writeln!(
            f,
            "  {RELEASE_MANIFEST}: would be written ({} images)",
            self.release.images.len()
        )?;
        writeln!(f, "[5/{STEPS}] validate")?;
        writeln!(
            f,
            "  images from {}, the generated compose files in their deployments → {}",
            self.validate_from,
            REPORT_FILES.join(", ")
        )?;
        writeln!(f, "[6/{STEPS}] move the moving tags")?;
        for m in &self.moves {
            writeln!(f, "  {m}")?;
        }
        writeln!(
            f,
            "[7/{STEPS}] release manifest, compose files and report into the work tree"
        )?;
        writeln!(
            f,
            "  {RELEASE_MANIFEST}, compose/*.yaml, {}",
            REPORT_FILES.join(", ")
        )?;
        writeln!(
            f,
            "  then: git add {RELEASE_MANIFEST} compose {} && git commit -m \"Release {}\"",
            REPORT_FILES.join(" "),
            self.release.version
        )
    }
}

impl Work {
    fn fmt_pushes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(pushes) = &self.pushes else {
            for (image, planned) in self.built.images.iter().zip(&self.images.images) {
                writeln!(
                    f,
                    "  {} = {}: push (registry not reachable: blobs unknown)",
                    planned.versioned,
                    short_digest(&image.digest)
                )?;
            }
            return Ok(());
        };
        for p in pushes {
            writeln!(f, "  {p}")?;
        }
        let (blobs, bytes) = pushes.iter().fold((0, 0), |(n, b), p| {
            let (pn, pb) = p.uploads();
            (n + pn, b + pb)
        });
        let present: usize = pushes
            .iter()
            .map(|p| {
                p.blobs
                    .iter()
                    .filter(|b| b.action == publish::BlobAction::InRegistry)
                    .count()
            })
            .sum();
        writeln!(
            f,
            "  in all: {blobs} blobs to upload ({}), {present} already in the registry",
            human_bytes(bytes)
        )
    }
}

/// Wall time per step, for the summary.
struct Clock {
    started: Instant,
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Clock {
    fn new() -> Clock {
        let now = Instant::now();
        Clock {
            started: now,
            last: now,
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }
}
