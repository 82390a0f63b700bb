//! Measurements that belong in reports, not in timed tests: build times, the image engines
//! against each other, the stack's size, the session pipeline's throughput.
//!
//! Each measurement is written as JSON under `<out>/bench/` and has a `Display` for the CLI.
//! The machine is shared and noisy: figures are medians over repetitions where a repetition is
//! affordable.

use crate::compile::{self, Builder};
use crate::context::{Context, Event, Task};
use crate::display::{human_bytes, table};
use crate::images::{self, prepare_base, unique_bytes};
use crate::stamp::BuildStamp;
use anyhow::{bail, Context as _, Result};
use lucid_catalog::{Platform, Service, Workspace};
use lucid_image::docker;
use lucid_image::image::{self as img, ImageInput};
use lucid_image::{Base, BuildInfo, ImageFacts, Layout};
use serde_json::{json, Value};
use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A measurement: its JSON record (written to `<out>/bench/<name>.json`) and its summary.
pub struct Measurement {
    pub name: &'static str,
    pub json: Value,
    pub summary: String,
    pub written: PathBuf,
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        write!(f, "\nwritten: {}", self.written.display())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn record(ctx: &Context, name: &'static str, json: Value, summary: String) -> Result<Measurement> {
    let dir = ctx.out_dir("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| path.display().to_string())?;
    Ok(Measurement {
        name,
        json,
        summary,
        written: PathBuf::from(ctx.display(&path)),
    })
}

/// Cold (the per-target build directories removed first, dependencies included) and warm
/// (after touching one service's source, as a developer's edit-build loop) builds per platform,
/// and every arm64 binary's size.
pub fn build(ctx: &Context, repeat: usize) -> Result<Measurement> {
    let ws = ctx.workspace()?;
    let services: Vec<&Service> = ws.services.iter().collect();
    let mut per_platform = Vec::new();
    for &platform in &ws.settings.platforms {
        let target_dir = ws.target_dir.join(platform.rust_target());
        if target_dir.exists() {
            std::fs::remove_dir_all(&target_dir)
                .with_context(|| format!("removing {}", target_dir.display()))?;
        }
        let started = Instant::now();
        compile::compile(ctx, &ws, &services, &[platform], Builder::Auto)?;
        let cold = started.elapsed().as_secs_f64();
        let touched = ctx.root.join("services/merkle-builder/src/main.rs");
        let mut warm = Vec::new();
        for _ in 0..repeat.max(1) {
            let text = std::fs::read(&touched)?;
            std::fs::write(&touched, text)?; // new mtime: cargo rebuilds that crate and relinks it
            let started = Instant::now();
            compile::compile(ctx, &ws, &services, &[platform], Builder::Auto)?;
            warm.push(started.elapsed().as_secs_f64());
        }
        per_platform.push(json!({ "platform": platform.oci(), "cold_s": cold, "warm_median_s": median(warm.clone()), "warm_s": warm }));
    }
    let sizes: Vec<(String, u64)> = ws
        .services
        .iter()
        .map(|s| {
            let size = std::fs::metadata(ctx.binary(&s.name, Platform::LinuxArm64))
                .map(|m| m.len())
                .unwrap_or(0);
            (s.name.clone(), size)
        })
        .collect();
    let total: u64 = sizes.iter().map(|(_, n)| n).sum();
    let rows: Vec<Vec<String>> = per_platform
        .iter()
        .map(|p| {
            vec![
                p["platform"].as_str().unwrap_or("").into(),
                format!("{:.1} s", p["cold_s"].as_f64().unwrap_or(0.0)),
                format!("{:.1} s", p["warm_median_s"].as_f64().unwrap_or(0.0)),
            ]
        })
        .collect();
    let size_rows: Vec<Vec<String>> = sizes
        .iter()
        .map(|(n, b)| vec![n.clone(), human_bytes(*b), b.to_string()])
        .collect();
    let summary = format!(
        "{}\n\n{}\ntotal arm64: {} ({} binaries)",
        table(&["platform", "cold build", "warm build (median)"], &rows),
        table(&["service (arm64)", "size", "bytes"], &size_rows),
        human_bytes(total),
        sizes.len()
    );
    let json = json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "platforms": per_platform,
        "arm64_binary_bytes": sizes.iter().map(|(n, b)| json!({ "service": n, "bytes": b })).collect::<Vec<_>>(),
        "arm64_total_bytes": total,
    });
    record(ctx, "build", json, summary)
}

/// The oci engine against BuildKit `docker build` of images/Dockerfile for every service
/// (arm64), and the unique compressed bytes of the arm64 stack. Both start from the same inputs:
/// the binaries under `<out>/bin` and the base layer already made.
pub fn images(ctx: &Context) -> Result<Measurement> {
    let ws = ctx.workspace()?;
    let services: Vec<&Service> = ws.services.iter().collect();
    let platform = Platform::LinuxArm64;
    compile::existing(ctx, &services, &[platform])?;
    let stamp = BuildStamp::of(ctx, &ws, false)?;
    let main_layout = Layout::open(&ctx.oci_layout())?;
    let base = prepare_base(ctx, &ws, None, &ws.settings.platforms, &main_layout)?;
    let build = stamp.build_info(&ws, &base);
    let facts: Vec<ImageFacts> = services.iter().map(|s| ImageFacts::of(s)).collect();

    let (oci_secs, unique) = oci_runs(ctx, &ws, &services, &build, &base, &main_layout)?;
    let docker_secs = buildkit_runs(ctx, &ws, &facts, &build, &base, &main_layout)?;
    let (oci_median, docker_median) = (median(oci_secs.clone()), median(docker_secs.clone()));
    let json = json!({
        "images": facts.len(),
        "platform": platform.oci(),
        "oci_engine_seconds": oci_secs,
        "buildkit_docker_build_seconds": docker_secs,
        "median_ratio_buildkit_over_oci": docker_median / oci_median,
        "arm64_unique_compressed_bytes": unique,
        "goal_bytes": 48_000_000u64,
        "base_layer_compressed_bytes": base.size,
    });
    let summary = format!(
        "images bench ({} services, {}): oci engine median {:.2}s over {} runs, BuildKit docker build median {:.2}s over {} run(s): ratio {:.1}x\n\
         arm64 stack: {} unique compressed bytes ({}; goal 48 MB)",
        facts.len(),
        platform.oci(),
        oci_median,
        oci_secs.len(),
        docker_median,
        docker_secs.len(),
        docker_median / oci_median,
        unique,
        human_bytes(unique),
    );
    record(ctx, "images", json, summary)
}

/// The pipeline benchmark binary of services/e2e, natively and its aarch64 build under qemu.
pub fn pipeline(ctx: &Context) -> Result<Measurement> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(&ctx.root);
    xshell::cmd!(
        sh,
        "cargo build --release --locked -p lucid-e2e --bin pipeline-bench"
    )
    .run()?;
    xshell::cmd!(sh, "cargo build --release --locked -p lucid-e2e --bin pipeline-bench --target aarch64-unknown-linux-musl").run()?;
    let ws = ctx.workspace()?;
    let native = ws.target_dir.join("release/pipeline-bench");
    let arm = ws
        .target_dir
        .join("aarch64-unknown-linux-musl/release/pipeline-bench");
    let native_out = xshell::cmd!(sh, "{native}").read()?;
    let qemu = which::which("qemu-aarch64-static")
        .context("qemu-aarch64-static not found: apt-get install qemu-user-static")?;
    let arm_out = xshell::cmd!(sh, "{qemu} {arm}").read()?;
    let native_json: Value =
        serde_json::from_str(&native_out).context("pipeline-bench output (x86_64)")?;
    let arm_json: Value =
        serde_json::from_str(&arm_out).context("pipeline-bench output (aarch64 under qemu)")?;
    let summary = format!("x86_64 native:      {native_out}\naarch64 under qemu: {arm_out}");
    record(
        ctx,
        "pipeline",
        json!({ "x86_64_native": native_json, "aarch64_qemu": arm_json }),
        summary,
    )
}

const OCI_RUNS: usize = 3;

/// The oci engine builds every arm64 image from scratch into a fresh layout, `OCI_RUNS` times;
/// returns the times and the unique compressed bytes of the last run's images.
fn oci_runs(
    ctx: &Context,
    ws: &Workspace,
    services: &[&Service],
    build: &BuildInfo,
    base: &Base,
    main_layout: &Layout,
) -> Result<(Vec<f64>, u64)> {
    let platform = Platform::LinuxArm64;
    let dir = ctx.out_dir("bench");
    let base_gz = main_layout.read_blob(&base.digest)?;
    let mut oci_secs = Vec::new();
    let mut unique = 0;
    for run in 0..OCI_RUNS {
        let root = dir.join("oci-run");
        let _ = std::fs::remove_dir_all(&root);
        let layout = Layout::open(&root.join("oci"))?;
        layout.put_blob(&base_gz)?;
        let task = Task::Images;
        ctx.report(Event::Begin {
            task: task.clone(),
            total: services.len() as u64,
        });
        let started = Instant::now();
        let mut built = Vec::new();
        for s in services {
            let (versioned, _) = images::image_refs(ws, s, &build.version, "localhost")?;
            let input = ImageInput {
                facts: &ImageFacts::of(s),
                build,
                base,
                binaries: vec![(platform, ctx.binary(&s.name, platform))],
                ref_name: versioned.tag.clone().unwrap_or_default(),
            };
            built.push(img::build(
                &layout,
                &root.join("cache"),
                &input,
                &mut |_| {},
            )?);
            ctx.report(Event::Advance {
                task: task.clone(),
                by: 1,
                message: Some(format!("oci run {}: {}", run + 1, s.name)),
            });
        }
        oci_secs.push(started.elapsed().as_secs_f64());
        ctx.report(Event::End { task });
        if run + 1 == OCI_RUNS {
            unique = unique_bytes(&layout, &built, platform)?;
        }
    }
    Ok((oci_secs, unique))
}

/// BuildKit (`DOCKER_BUILDKIT=1 /usr/bin/docker build --no-cache`) builds the same images from
/// images/Dockerfile with the output directory as context (same base rootfs, same binaries);
/// `LUCID_BENCH_DOCKER_RUNS` times (default 3).
fn buildkit_runs(
    ctx: &Context,
    ws: &Workspace,
    facts: &[ImageFacts],
    build: &BuildInfo,
    base: &Base,
    main_layout: &Layout,
) -> Result<Vec<f64>> {
    let platform = Platform::LinuxArm64;
    let docker_runs: usize = std::env::var("LUCID_BENCH_DOCKER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // BuildKit: the same Dockerfile, context <out> with the same base rootfs and binaries.
    lucid_image::layout::write_atomic(&ctx.out_dir(docker::BASE_TAR), &base.tar(main_layout)?)?;
    let all: Vec<ImageFacts> = ws.services.iter().map(ImageFacts::of).collect();
    let dockerfile = ctx.out_dir("bench").join("Dockerfile");
    std::fs::write(&dockerfile, docker::dockerfile(&all))?;
    let mut docker_secs = Vec::new();
    for run in 0..docker_runs {
        ctx.note(format!("buildkit run {}", run + 1));
        let started = Instant::now();
        for f in facts {
            let tag = format!("lucid-bench/{}:arm64", f.service);
            let args = docker::docker_build_args(f, build, platform, &dockerfile, &ctx.out, &tag);
            let status = Command::new("/usr/bin/docker")
                .args(&args)
                .arg("--no-cache")
                .env("DOCKER_BUILDKIT", "1")
                .stdout(Stdio::null())
                .status()
                .context("running /usr/bin/docker")?;
            if !status.success() {
                bail!("docker build of {} failed ({status})", f.service);
            }
        }
        docker_secs.push(started.elapsed().as_secs_f64());
    }
    for f in facts {
        let _ = Command::new("/usr/bin/docker")
            .args(["rmi", "-f", &format!("lucid-bench/{}:arm64", f.service)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    Ok(docker_secs)
}
