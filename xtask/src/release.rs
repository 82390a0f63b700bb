//! `cargo xtask release`: one release of every service, all or nothing.
//!
//! preflight → build (compile + images into target/lucid/oci) → push the immutable tags →
//! compose files pinned to the pushed digests → validate → the moving tags, all of them, last →
//! release manifest, pinned compose files and validation report into the work tree, left for
//! the user to commit.
//!
//! Nothing a consumer follows changes before the last steps: the moving tags move only after
//! every image is pushed and the pinned compose files pass validation, and until then the
//! outputs are staged under target/lucid/release (so a failed release leaves the work tree
//! clean and the next attempt passes the clean-tree check). A failed release is resumed by
//! running the same command again: tags already holding the right image, and blobs the
//! registry already has, are skipped.

use crate::images::{self, Engine};
use crate::{ui, Ctx};
use anyhow::{bail, Context, Result};
use lucid_catalog::manifest::RELEASE_MANIFEST;
use lucid_catalog::{ImageManifest, ImageRef, Workspace};
use lucid_image::push::{self, PushEvent, PushOutcome};
use lucid_image::registry::{self, Registry};
use lucid_image::{BuiltImage, Layout, PlatformBuilt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

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
    /// Release even when `git status --porcelain` shows changes (tests; a real release runs on
    /// a clean checkout so that the revision in the labels is what was built).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Image engine (see `cargo xtask build-images --help`).
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: Engine,
    /// Release the workspace at DIR instead of the one this xtask was built from (the tests
    /// release a temporary copy of the workspace).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// Staging directory (under target/) for the outputs until the moving tags have moved.
const STAGE: &str = "release";
/// The validator's outputs, written next to the release manifest.
const REPORT_FILES: [&str; 3] = [
    "images/VALIDATION_REPORT.md",
    "images/validation-report.json",
    "images/validation-report.schema.json",
];

/// What the registry holds for one service before the release.
#[derive(Debug, Clone, Default)]
struct Remote {
    /// Index digest under `<service>-<version>`.
    versioned: Option<String>,
    /// Index digest under the moving tag `<service>`.
    moving: Option<String>,
}

/// One service's progress through the release, for the summary.
struct Row {
    service: String,
    digest: String,
    push: String,
    moving: String,
}

impl Release {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let started = Instant::now();
        let root = match &self.root {
            Some(r) => r
                .canonicalize()
                .with_context(|| format!("--root {}", r.display()))?,
            None => ctx.root.clone(),
        };
        let ctx = Ctx { root };
        let ws = ctx.workspace()?;
        let host = self
            .registry
            .clone()
            .unwrap_or_else(|| ws.settings.registry.clone());
        let mut refs = Vec::new();
        for s in &ws.services {
            refs.push(ws.image_refs(&s.name, &ws.version, &host).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {}: image reference: {e}",
                    s.manifest_path.display(),
                    s.name
                )
            })?);
        }
        println!(
            "release {} of {} services ({}) to {host}/{}{}",
            ws.version,
            ws.services.len(),
            ws.settings
                .platforms
                .iter()
                .map(|p| p.oci())
                .collect::<Vec<_>>()
                .join(", "),
            ws.settings.repository,
            if self.dry_run { " (dry run)" } else { "" }
        );
        let mut clock = Clock::new();

        step(1, "preflight", self.dry_run);
        let pre = preflight(&ctx, &ws, &self, &host, &refs);
        for line in &pre.lines {
            println!("  {line}");
        }
        clock.lap("preflight");
        if !pre.problems.is_empty() && !self.dry_run {
            bail!(
                "preflight failed, nothing was built or pushed:\n  - {}",
                pre.problems.join("\n  - ")
            );
        }
        if self.dry_run {
            let result = dry_run(
                &ctx,
                &ws,
                &self,
                &host,
                &refs,
                pre.registry.as_ref(),
                &pre.remote,
            );
            if let Err(e) = &result {
                println!("\ndry run stopped: {e:#}");
            }
            if !pre.problems.is_empty() {
                bail!(
                    "dry run: a real release would stop in preflight:\n  - {}",
                    pre.problems.join("\n  - ")
                );
            }
            result?;
            println!("\ndry run: nothing pushed, no file outside target/ changed");
            return Ok(());
        }
        let registry = pre.registry.expect("no preflight problem means a registry");
        self.release(
            &ctx,
            &ws,
            &host,
            &refs,
            &registry,
            &pre.remote,
            clock,
            started,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn release(
        &self,
        ctx: &Ctx,
        ws: &Workspace,
        host: &str,
        refs: &[(ImageRef, ImageRef)],
        registry: &Registry,
        remote: &[Remote],
        mut clock: Clock,
        started: Instant,
    ) -> Result<()> {
        // The cause first, then what state it leaves and how to go on.
        let resume = |e: anyhow::Error| {
            anyhow::anyhow!(
                "{e:#}\nthe moving tags were not touched and the work tree is unchanged; run `cargo xtask release{}` \
                 again to resume (images and blobs already pushed are skipped)",
                self.registry
                    .as_deref()
                    .map(|h| format!(" --registry {h}"))
                    .unwrap_or_default()
            )
        };

        step(2, "build", false);
        let manifest = build(ctx, self.engine, host).map_err(resume)?;
        clock.lap("build");

        step(3, "push the immutable tags", false);
        let layout = Layout::open(&ctx.out_dir("oci"))?;
        let built = built_images(&layout, &manifest)?;
        let outcomes = push_all(registry, &layout, &built, refs, remote).map_err(resume)?;
        clock.lap("push");

        step(4, "compose files pinned to the pushed digests", false);
        let stage = ctx.out_dir(STAGE);
        let release = release_manifest(&manifest, host);
        stage_outputs(ws, &stage, &release).map_err(resume)?;
        clock.lap("compose");

        step(5, "validate", false);
        let validation = validate(ws, &stage, host).map_err(resume)?;
        clock.lap("validate");

        step(6, "move the moving tags", false);
        let mut moved = Vec::new();
        for (i, ((versioned, moving), entry)) in refs.iter().zip(&manifest.images).enumerate() {
            if remote[i].moving.as_deref() == Some(entry.digest.as_str()) {
                moved.push("already");
                continue;
            }
            push::tag_moving(registry, versioned, moving).map_err(|e| {
                anyhow::anyhow!(
                    "moving {moving}: {e}\n{i} of {} moving tags had moved; every image is pushed and \
                     validated: run the same command again to move the rest",
                    refs.len()
                )
            })?;
            moved.push("moved");
        }
        eprintln!("  {} moving tags point at {}", refs.len(), manifest.version);
        clock.lap("moving tags");

        step(
            7,
            "release manifest, compose files and report into the work tree",
            false,
        );
        let written = publish(ctx, &stage)?;
        clock.lap("write");

        let rows: Vec<Row> = manifest
            .images
            .iter()
            .zip(&outcomes)
            .zip(&moved)
            .map(|((entry, o), m)| Row {
                service: entry.service.clone(),
                digest: short(&entry.digest),
                push: describe_push(o),
                moving: m.to_string(),
            })
            .collect();
        summary(
            &rows,
            &outcomes,
            &manifest,
            host,
            &validation,
            &clock,
            started,
        );
        println!("\nleft in the work tree for you to commit:");
        println!("  git add {}", written.join(" "));
        println!("  git commit -m \"Release {}\"", manifest.version);
        Ok(())
    }
}

/// Wall time per step, for the summary.
struct Clock {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

/// A step heading: progress on stderr, or a section of the plan on stdout for a dry run.
fn step(n: usize, what: &str, plan: bool) {
    if plan {
        println!("[{n}/7] {what}");
    } else {
        eprintln!("[{n}/7] {what}");
    }
}

fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

struct Preflight {
    lines: Vec<String>,
    problems: Vec<String>,
    registry: Option<Registry>,
    remote: Vec<Remote>,
}

/// Every check, all run so that one attempt reports every problem.
fn preflight(
    ctx: &Ctx,
    ws: &Workspace,
    opts: &Release,
    host: &str,
    refs: &[(ImageRef, ImageRef)],
) -> Preflight {
    let mut p = Preflight {
        lines: Vec::new(),
        problems: Vec::new(),
        registry: None,
        remote: vec![Remote::default(); refs.len()],
    };

    let version = match &opts.version {
        None => Ok(format!(
            "version {} (workspace.package.version; pass --version to check it)",
            ws.version
        )),
        Some(v) if v.trim_start_matches('v') == ws.version => Ok(format!(
            "version {v} = workspace.package.version"
        )),
        Some(v) => Err(format!(
            "--version {v} but workspace.package.version in {} is {}: bump workspace.package.version \
             to {} and commit, so that the binaries, the image labels and the tags agree",
            ctx.root.join("Cargo.toml").display(),
            ws.version,
            v.trim_start_matches('v')
        )),
    };
    check(&mut p, version);

    let mut tools = vec!["git", "cargo"];
    if opts.engine == Engine::Buildx {
        tools.push("docker");
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which::which(t).is_err())
        .collect();
    check(
        &mut p,
        if missing.is_empty() {
            Ok(format!("tools: {}", tools.join(", ")))
        } else {
            Err(format!("tools missing from PATH: {}", missing.join(", ")))
        },
    );

    check(&mut p, clean_tree(&ctx.root, opts.allow_dirty));

    let registry =
        Registry::new(host).and_then(|r| reachable(&r, refs, !opts.dry_run).map(|l| (r, l)));
    match registry {
        Ok((r, line)) => {
            check(&mut p, Ok(line));
            p.registry = Some(r);
        }
        Err(e) => check(&mut p, Err(format!("registry {host}: {e:#}"))),
    }
    if let Some(r) = &p.registry {
        match remote_state(r, refs) {
            Ok(remote) => {
                check(&mut p, released(&remote, &ws.version, host));
                p.remote = remote;
            }
            Err(e) => check(&mut p, Err(format!("registry {host}: {e:#}"))),
        }
    }
    p
}

fn check(p: &mut Preflight, result: Result<String, String>) {
    match result {
        Ok(line) => p.lines.push(format!("ok    {line}")),
        Err(problem) => {
            p.lines.push(format!("FAIL  {problem}"));
            p.problems.push(problem);
        }
    }
}

/// `git status --porcelain` must be empty: the labels record the revision that was built.
fn clean_tree(root: &Path, allow_dirty: bool) -> Result<String, String> {
    let out = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git status: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a git work tree (git status: {}); a release records the revision it built",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let changes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if changes.is_empty() {
        return Ok("work tree clean".into());
    }
    if allow_dirty {
        return Ok(format!(
            "work tree has {} change(s), allowed by --allow-dirty",
            changes.len()
        ));
    }
    let shown: Vec<&str> = changes.iter().take(8).map(String::as_str).collect();
    Err(format!(
        "work tree not clean ({} change(s): {}{}): commit or stash them; the release labels the images \
         with the revision of HEAD",
        changes.len(),
        shown.join(", "),
        if changes.len() > shown.len() { ", …" } else { "" }
    ))
}

/// The registry answers and accepts our credentials; a real run also proves it may push, by
/// opening (and cancelling) a blob upload. The line names the endpoint, its auth scheme and TLS.
fn reachable(r: &Registry, refs: &[(ImageRef, ImageRef)], push: bool) -> Result<String> {
    let repo = &refs.first().context("no services")?.0.repository;
    let reply = r.send("GET", "/v2/", &[], None, &[])?;
    if reply.status != 200 {
        bail!("GET /v2/: HTTP {} (not a registry?)", reply.status);
    }
    let connection = r.connect()?;
    let who = match r.credentials() {
        Some(c) => format!("as {} (from {})", c.username, c.origin),
        None => "anonymously".into(),
    };
    if push {
        r.check_push(repo)?;
        Ok(format!(
            "registry {} reachable, may push {who}; {connection}",
            r.host
        ))
    } else {
        Ok(format!(
            "registry {} reachable {who} (push permission is checked by a real run); {connection}",
            r.host
        ))
    }
}

fn remote_state(r: &Registry, refs: &[(ImageRef, ImageRef)]) -> Result<Vec<Remote>> {
    refs.iter()
        .map(|(v, m)| {
            let digest = |x: &ImageRef| match &x.tag {
                Some(t) => r.manifest_digest(&x.repository, t),
                None => Ok(None),
            };
            Ok(Remote {
                versioned: digest(v)?,
                moving: digest(m)?,
            })
        })
        .collect()
}

/// Released = every moving tag already points at its `<service>-<version>` image. Anything
/// less is an interrupted attempt, which this run resumes.
fn released(remote: &[Remote], version: &str, host: &str) -> Result<String, String> {
    let pushed = remote.iter().filter(|r| r.versioned.is_some()).count();
    let moved = remote
        .iter()
        .filter(|r| r.versioned.is_some() && r.versioned == r.moving)
        .count();
    if !remote.is_empty() && moved == remote.len() {
        return Err(format!(
            "version {version} is already released to {host}: every moving tag points at its \
             <service>-{version} image; bump workspace.package.version for a new release"
        ));
    }
    if pushed == 0 {
        Ok(format!("{version} not released yet"))
    } else {
        Ok(format!(
            "{version} not released yet; resuming an earlier attempt: {pushed}/{} immutable tags \
             present, {moved} moving tags already at {version}",
            remote.len()
        ))
    }
}

/// Compile and build every image for every platform into the OCI layout (no push: the release
/// pushes itself, to know what it pushed and skipped).
fn build(ctx: &Ctx, engine: Engine, host: &str) -> Result<ImageManifest> {
    images::build_images(
        ctx,
        &images::Options {
            services: Vec::new(),
            platforms: None,
            engine,
            registry: Some(host.to_string()),
            push: false,
            move_tags: false,
            compile: true,
            release: true,
            dry_run: false,
        },
    )
}

/// What the push needs of each image, read back from the layout the build wrote.
fn built_images(layout: &Layout, m: &ImageManifest) -> Result<Vec<BuiltImage>> {
    m.images
        .iter()
        .map(|e| {
            let size = |d: &str| {
                std::fs::metadata(layout.blob_path(d))
                    .map(|m| m.len())
                    .with_context(|| format!("{}: blob {d} missing from the layout", e.service))
            };
            Ok(BuiltImage {
                service: e.service.clone(),
                ref_name: ImageRef::parse(&e.reference)?.tag.unwrap_or_default(),
                digest: e.digest.clone(),
                size: size(&e.digest)?,
                platforms: e
                    .platforms
                    .iter()
                    .map(|p| {
                        Ok(PlatformBuilt {
                            platform: p.platform.clone(),
                            digest: p.digest.clone(),
                            size: size(&p.digest)?,
                            compressed_size: p.compressed_size,
                            uncompressed_size: p.uncompressed_size,
                            layer_digest: String::new(),
                        })
                    })
                    .collect::<Result<_>>()?,
                unchanged: false,
            })
        })
        .collect()
}

/// Pushes every immutable tag: blobs the registry has are skipped, so a rerun resumes.
fn push_all(
    registry: &Registry,
    layout: &Layout,
    built: &[BuiltImage],
    refs: &[(ImageRef, ImageRef)],
    remote: &[Remote],
) -> Result<Vec<PushOutcome>> {
    let overall = ui::bar(built.len() as u64, "push");
    let mut out = Vec::new();
    for ((image, (versioned, _)), before) in built.iter().zip(refs).zip(remote) {
        overall.set_message(image.service.clone());
        if let Some(old) = before.versioned.as_deref().filter(|d| *d != image.digest) {
            overall.suspend(|| {
                eprintln!(
                    "  {versioned} held {} (an interrupted attempt of another revision): replaced by {}",
                    short(old),
                    short(&image.digest)
                )
            });
        }
        let blobs = push::blobs(layout, image)?;
        let bar = ui::bar(blobs.iter().map(|(_, s)| s).sum(), &image.service);
        let outcome = push::push_image(registry, layout, image, versioned, &mut |e| match e {
            PushEvent::BlobSkipped { size, .. } | PushEvent::BlobUploaded { size, .. } => {
                bar.inc(*size)
            }
            PushEvent::ManifestPushed { .. } => {}
        });
        bar.finish_and_clear();
        let outcome = outcome.map_err(|e| {
            anyhow::anyhow!(
                "pushing {versioned}: {e}\n{} of {} images were pushed before the failure",
                out.len(),
                built.len()
            )
        })?;
        overall.inc(1);
        out.push(outcome);
    }
    overall.finish_and_clear();
    let uploaded: usize = out.iter().map(|o| o.uploaded_blobs).sum();
    let skipped: usize = out.iter().map(|o| o.skipped_blobs).sum();
    eprintln!(
        "  {} images: {} pushed, {} already there; {uploaded} blobs uploaded ({}), {skipped} already there",
        out.len(),
        out.iter().filter(|o| !o.unchanged).count(),
        out.iter().filter(|o| o.unchanged).count(),
        ui::human_bytes(out.iter().map(|o| o.uploaded_bytes).sum()),
    );
    Ok(out)
}

/// The manifest a release commits: the registry's references, no local layout path.
fn release_manifest(built: &ImageManifest, host: &str) -> ImageManifest {
    ImageManifest {
        registry: Some(host.to_string()),
        oci_layout: None,
        ..built.clone()
    }
}

/// Writes the release manifest and the pinned compose files under `stage` (a mirror of the
/// work tree's paths), for the validator to read.
fn stage_outputs(ws: &Workspace, stage: &Path, release: &ImageManifest) -> Result<()> {
    if stage.exists() {
        std::fs::remove_dir_all(stage).with_context(|| stage.display().to_string())?;
    }
    release.write(&stage.join(RELEASE_MANIFEST))?;
    let generated = lucid_compose::generate(ws, Some(release))?;
    let written = lucid_compose::write(stage, &generated)?;
    eprintln!(
        "  {} compose files pinned: {}",
        written.len(),
        generated.source
    );
    Ok(())
}

struct Validation {
    errors: usize,
    warnings: usize,
    source: String,
}

/// Validates the staged compose files against the pushed images (read back from an open
/// loopback registry; otherwise through the OCI layout, whose digests the push just matched one
/// by one against what the registry stored).
fn validate(ws: &Workspace, stage: &Path, host: &str) -> Result<Validation> {
    let mut staged = ws.clone();
    staged.root = stage.to_path_buf();
    let mut opts = lucid_validate::Options::defaults(&ws.root);
    opts.build_manifest = Some(stage.join(RELEASE_MANIFEST));
    if reads_back_from_registry(host) {
        opts.registry = Some(host.to_string());
    }
    let report = lucid_validate::validate(&staged, &opts);
    let images = stage.join("images");
    lucid_validate::write(&report, &images)?;
    std::fs::write(
        images.join("validation-report.schema.json"),
        lucid_validate::schema::schema_text(),
    )
    .context("writing the validation report schema")?;
    let s = &report.summary;
    if !report.passed() {
        for f in report.findings() {
            eprintln!("  {f}");
        }
        bail!(
            "validation failed: {} error(s), see {}",
            s.errors,
            images.join("VALIDATION_REPORT.md").display()
        );
    }
    eprintln!(
        "  {}/{} images, {} platform images, {} error(s), {} warning(s) ({})",
        s.images_found,
        s.images,
        s.platform_images_passed,
        s.errors,
        s.warnings,
        report.image_source
    );
    Ok(Validation {
        errors: s.errors,
        warnings: s.warnings,
        source: report.image_source.clone(),
    })
}

/// The validator's registry client speaks plain HTTP without credentials: it reads the pushed
/// images back from an open loopback registry; anything else is validated through the layout.
fn reads_back_from_registry(host: &str) -> bool {
    is_loopback(host) && matches!(registry::credentials_for(host), Ok(None))
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// Copies the staged outputs into the work tree; returns their paths.
fn publish(ctx: &Ctx, stage: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = vec![RELEASE_MANIFEST.to_string()];
    files.extend(REPORT_FILES.iter().map(|s| s.to_string()));
    for entry in std::fs::read_dir(stage.join(lucid_compose::COMPOSE_DIR))? {
        let name = entry?.file_name().to_string_lossy().to_string();
        files.push(format!("{}/{name}", lucid_compose::COMPOSE_DIR));
    }
    files.sort();
    for f in &files {
        let to = ctx.root.join(f);
        std::fs::create_dir_all(to.parent().expect("a file has a directory"))?;
        std::fs::copy(stage.join(f), &to)
            .with_context(|| format!("copying {} to {}", stage.join(f).display(), to.display()))?;
    }
    eprintln!("  wrote {}", files.join(", "));
    Ok(files)
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
            ui::human_bytes(o.uploaded_bytes),
            o.skipped_blobs
        )
    }
}

fn summary(
    rows: &[Row],
    outcomes: &[PushOutcome],
    m: &ImageManifest,
    host: &str,
    v: &Validation,
    clock: &Clock,
    started: Instant,
) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.service.clone(),
                r.digest.clone(),
                r.push.clone(),
                r.moving.clone(),
            ]
        })
        .collect();
    println!(
        "\n{}",
        ui::table(&["service", "digest", "push", "moving tag"], &table)
    );
    let pushed = outcomes.iter().filter(|o| !o.unchanged).count();
    println!(
        "released {} to {host}: {} images ({pushed} pushed, {} already there; {} blobs uploaded, {} skipped, {}), \
         {} moving tags moved; validate ({}): {} error(s), {} warning(s)",
        m.version,
        outcomes.len(),
        outcomes.len() - pushed,
        outcomes.iter().map(|o| o.uploaded_blobs).sum::<usize>(),
        outcomes.iter().map(|o| o.skipped_blobs).sum::<usize>(),
        ui::human_bytes(outcomes.iter().map(|o| o.uploaded_bytes).sum()),
        rows.iter().filter(|r| r.moving == "moved").count(),
        v.source,
        v.errors,
        v.warnings
    );
    println!(
        "time: {} ({:.1}s in all)",
        clock
            .laps
            .iter()
            .map(|(n, s)| format!("{n} {s:.1}s"))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
}

/// The plan: every command, reference, blob to push or skip, tag to move; builds into target/
/// (to know the digests) and asks the registry what it has, changes nothing else.
fn dry_run(
    ctx: &Ctx,
    ws: &Workspace,
    opts: &Release,
    host: &str,
    refs: &[(ImageRef, ImageRef)],
    registry: Option<&Registry>,
    remote: &[Remote],
) -> Result<()> {
    step(2, "build (into target/, to learn the digests)", true);
    let services: Vec<&lucid_catalog::Service> = ws.services.iter().collect();
    crate::build::compile(
        ctx,
        ws,
        &services,
        &ws.settings.platforms,
        &crate::build::CompileOptions {
            dry_run: true,
            ..Default::default()
        },
    )?;
    let manifest = build(ctx, opts.engine, host)?;
    let layout = Layout::open(&ctx.out_dir("oci"))?;
    let built = built_images(&layout, &manifest)?;

    step(3, "push the immutable tags", true);
    let (mut to_push, mut bytes, mut in_registry) = (0usize, 0u64, 0usize);
    // A blob shared by several images (the base layer) is uploaded once.
    let mut planned = std::collections::BTreeSet::new();
    for ((image, (versioned, _)), before) in built.iter().zip(refs).zip(remote) {
        let line = match registry {
            _ if before.versioned.as_deref() == Some(image.digest.as_str()) => {
                "skip: the tag already holds this image".to_string()
            }
            None => "push (registry not reachable: blobs unknown)".to_string(),
            Some(r) => {
                let blobs = push::blobs(&layout, image)?;
                let (mut missing, mut missing_bytes, mut present, mut shared) = (0, 0, 0, 0);
                for (digest, size) in &blobs {
                    if planned.contains(digest) {
                        shared += 1;
                    } else if r.has_blob(&versioned.repository, digest)? {
                        present += 1;
                    } else {
                        missing += 1;
                        missing_bytes += size;
                        planned.insert(digest.clone());
                    }
                }
                to_push += missing;
                bytes += missing_bytes;
                in_registry += present;
                let mut manifests = 0;
                for p in &image.platforms {
                    if r.manifest_digest(&versioned.repository, &p.digest)?
                        .is_none()
                    {
                        manifests += 1;
                    }
                }
                let replaces = before
                    .versioned
                    .as_deref()
                    .map(|d| format!(", replaces {} (interrupted attempt)", short(d)))
                    .unwrap_or_default();
                format!(
                    "push {missing} blob(s) ({}), skip {present} in the registry and {shared} pushed with an image above; {manifests} platform manifest(s) + index{replaces}",
                    ui::human_bytes(missing_bytes)
                )
            }
        };
        println!("  {versioned} = {}: {line}", short(&image.digest));
    }
    println!(
        "  in all: {to_push} blobs to upload ({}), {in_registry} already in the registry",
        ui::human_bytes(bytes)
    );

    step(4, "compose files pinned to the pushed digests", true);
    let release = release_manifest(&manifest, host);
    let generated = lucid_compose::generate(ws, Some(&release))?;
    let stale = lucid_compose::check(&ctx.root, &generated);
    for f in &generated.files {
        let path = format!("{}/{}", lucid_compose::COMPOSE_DIR, f.name());
        let state = if stale.iter().any(|s| s.path == path) {
            "would change"
        } else {
            "unchanged"
        };
        println!("  {path}: {state} ({})", generated.source);
    }
    println!(
        "  {RELEASE_MANIFEST}: would be written ({} images)",
        release.images.len()
    );

    step(5, "validate", true);
    println!(
        "  images from {}, the generated compose files in their deployments → {}",
        if reads_back_from_registry(host) {
            format!("registry {host}")
        } else {
            "the OCI layout target/lucid/oci (what was pushed)".into()
        },
        REPORT_FILES.join(", ")
    );

    step(6, "move the moving tags", true);
    for (((_, moving), entry), before) in refs.iter().zip(&manifest.images).zip(remote) {
        let now = before
            .moving
            .as_deref()
            .map(short)
            .unwrap_or_else(|| "(none)".into());
        let action = if before.moving.as_deref() == Some(entry.digest.as_str()) {
            "already there"
        } else {
            "would move"
        };
        println!("  {moving}: {now} → {} ({action})", short(&entry.digest));
    }

    step(
        7,
        "release manifest, compose files and report into the work tree",
        true,
    );
    println!(
        "  {RELEASE_MANIFEST}, compose/*.yaml, {}",
        REPORT_FILES.join(", ")
    );
    println!(
        "  then: git add {RELEASE_MANIFEST} compose {} && git commit -m \"Release {}\"",
        REPORT_FILES.join(" "),
        manifest.version
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(versioned: Option<&str>, moving: Option<&str>) -> Remote {
        Remote {
            versioned: versioned.map(str::to_string),
            moving: moving.map(str::to_string),
        }
    }

    #[test]
    fn a_version_is_released_only_when_every_moving_tag_points_at_it() {
        let done = [remote(Some("a"), Some("a")), remote(Some("b"), Some("b"))];
        assert!(released(&done, "1.0.0", "h")
            .unwrap_err()
            .contains("already released"));
        let partial = [remote(Some("a"), Some("a")), remote(Some("b"), Some("old"))];
        assert!(released(&partial, "1.0.0", "h")
            .unwrap()
            .contains("resuming"));
        let pushed_only = [remote(Some("a"), Some("old")), remote(None, Some("old"))];
        assert!(released(&pushed_only, "1.0.0", "h")
            .unwrap()
            .contains("1/2 immutable"));
        let fresh = [remote(None, None), remote(None, None)];
        assert_eq!(
            released(&fresh, "1.0.0", "h").unwrap(),
            "1.0.0 not released yet"
        );
    }

    #[test]
    fn loopback_registries_are_validated_through_their_api() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(!is_loopback("docker.io"));
    }
}
