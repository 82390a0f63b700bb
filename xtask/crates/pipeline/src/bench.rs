//! Measurements that belong in reports, not in timed tests: build times, the image engines
//! against each other, the stack's size, the session pipeline's throughput.
//!
//! Each measurement is written as JSON under `<out>/bench/` and has a `Display` for the CLI.
//! The machine is shared and noisy: figures are medians over repetitions where a repetition is
//! affordable.

use crate::compile::{self, Builder};
use crate::context::{Context, Event, Task};
use crate::display::{human_bytes, table};
use crate::evidence::{self, Scope};
use crate::images::{self, prepare_base, unique_bytes};
use crate::stamp::BuildStamp;
use anyhow::{bail, Context as _, Result};
use lucid_attest::{cosign, SigningKey};
use lucid_catalog::{Platform, Service, Workspace};
use lucid_image::docker;
use lucid_image::image::{self as img, ImageInput};
use lucid_image::{Base, BuildInfo, BuiltImage, ImageFacts, Layout};
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

    let attesting = Attesting {
        stamp: &stamp,
        key: SigningKey::generate(),
    };
    // Plain and attested runs alternate, so that the machine's drift (it is shared) falls on
    // both alike.
    let base_gz = main_layout.read_blob(&base.digest)?;
    let (mut oci_secs, mut attested_secs) = (Vec::new(), Vec::new());
    let (mut unique, mut attested_unique) = (0, 0);
    for _ in 0..OCI_RUNS {
        let (secs, bytes) = oci_run(ctx, &ws, &services, &build, &base, &base_gz, None)?;
        oci_secs.push(secs);
        unique = bytes;
        let (secs, bytes) = oci_run(
            ctx,
            &ws,
            &services,
            &build,
            &base,
            &base_gz,
            Some(&attesting),
        )?;
        attested_secs.push(secs);
        attested_unique = bytes;
    }
    let attested_median = median(attested_secs.clone());
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
        "oci_engine_with_sbom_provenance_signing_seconds": attested_secs,
        "supply_chain_added_time_fraction": attested_median / oci_median - 1.0,
        "supply_chain_goal_fraction": 0.10,
        "arm64_unique_compressed_bytes_with_supply_chain": attested_unique,
        "supply_chain_added_arm64_bytes": attested_unique.saturating_sub(unique),
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
    ) + &format!(
        "\nsupply chain (SBOM + provenance per platform image, cosign signature per index): oci engine median {:.2}s, +{:.1}% (goal ≤ 10%); +{} on the arm64 stack",
        attested_median,
        100.0 * (attested_median / oci_median - 1.0),
        human_bytes(attested_unique.saturating_sub(unique)),
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

/// `/health` of the api-gateway (its x86_64 musl release build, the binary the images carry)
/// under slow and hostile clients: latency, failures, memory and threads (`lucid_e2e::health`).
pub fn health(ctx: &Context) -> Result<Measurement> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(&ctx.root);
    let target = Platform::LinuxAmd64.rust_target();
    xshell::cmd!(
        sh,
        "cargo build --release --locked -p lucid-e2e --bin health-bench"
    )
    .run()?;
    xshell::cmd!(
        sh,
        "cargo build --release --locked -p api-gateway --target {target}"
    )
    .run()?;
    let ws = ctx.workspace()?;
    let bench = ws.target_dir.join("release/health-bench");
    let gateway = ws.target_dir.join(target).join("release/api-gateway");
    let out = xshell::cmd!(sh, "{bench} --binary {gateway}").read()?;
    let json: Value = serde_json::from_str(&out).context("health-bench output")?;
    let summary = health_summary(&json);
    record(ctx, "health", json, summary)
}

/// One line per scenario: median and p99 of /health, and how many probes failed.
fn health_summary(json: &Value) -> String {
    let Some(scenarios) = json["scenarios"].as_array() else {
        return serde_json::to_string_pretty(json).unwrap_or_default();
    };
    let rows: Vec<Vec<String>> = scenarios
        .iter()
        .map(|s| {
            let text = |v: &Value| match v {
                Value::Null => "-".to_string(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            vec![
                text(&s["scenario"]),
                text(&s["health_ms"]["median"]),
                text(&s["health_ms"]["p99"]),
                format!("{}/{}", text(&s["health_failures"]), json["samples"]),
                text(&s["healthcheck_ok"]),
                text(&s["rss_kib"]),
                text(&s["threads"]),
            ]
        })
        .collect();
    crate::display::table(
        &[
            "scenario",
            "/health median ms",
            "p99 ms",
            "failed",
            "healthcheck",
            "RSS KiB",
            "threads",
        ],
        &rows,
    )
}

/// Runs of the oci engine, plain and attested each.
const OCI_RUNS: usize = 5;

/// What the supply chain adds to a run: the evidence gathered, each image's SBOM and
/// provenance attached, each index signed (the signature image written beside it).
struct Attesting<'a> {
    stamp: &'a BuildStamp,
    key: SigningKey,
}

/// Signs `image`'s index as a release would and stores the signature image in `layout`;
/// returns its bytes (manifest, config, payload).
fn sign_into(layout: &Layout, image: &BuiltImage, key: &SigningKey) -> Result<u64> {
    let signature = cosign::sign(key, "index.docker.io/pickme/lucid", &image.digest);
    let sig = cosign::signature_image(&[signature]);
    let mut bytes = 0;
    for blob in [&sig.manifest, &sig.config]
        .into_iter()
        .chain(&sig.payloads)
    {
        layout.put_blob(blob)?;
        bytes += blob.len() as u64;
    }
    Ok(bytes)
}

/// The oci engine builds every arm64 image from scratch into a fresh layout (with
/// `attesting`, attested and signed as a release makes them); returns the time and the unique
/// compressed bytes of the images (their signatures included).
fn oci_run(
    ctx: &Context,
    ws: &Workspace,
    services: &[&Service],
    build: &BuildInfo,
    base: &Base,
    base_gz: &[u8],
    attesting: Option<&Attesting>,
) -> Result<(f64, u64)> {
    let platform = Platform::LinuxArm64;
    let root = ctx.out_dir("bench").join("oci-run");
    let _ = std::fs::remove_dir_all(&root);
    let layout = Layout::open(&root.join("oci"))?;
    layout.put_blob(base_gz)?;
    let task = Task::Images;
    ctx.report(Event::Begin {
        task: task.clone(),
        total: services.len() as u64,
    });
    let started = Instant::now();
    let evidence = match attesting {
        Some(a) => {
            let scope = Scope {
                stamp: a.stamp,
                engine: "oci",
                release: false,
                platforms: &[platform],
                services: services.iter().map(|s| s.name.clone()).collect(),
            };
            Some(evidence::gather(ctx, ws, scope, base)?)
        }
        None => None,
    };
    let mut built = Vec::new();
    let mut signature_bytes = 0;
    for s in services {
        let (versioned, _) = images::image_refs(ws, s, &build.version, "localhost")?;
        let input = ImageInput {
            facts: &ImageFacts::of(s),
            build,
            base,
            binaries: vec![(platform, ctx.binary(&s.name, platform))],
            ref_name: versioned.tag.clone().unwrap_or_default(),
        };
        let extras = evidence.as_ref().map(|e| {
            e.for_image(
                &s.name,
                &input.ref_name,
                &build.version,
                input.binaries.clone(),
            )
        });
        let extras = extras.as_ref().map(|e| e as &dyn img::IndexExtras);
        let image = img::build_with(&layout, &root.join("cache"), &input, extras, &mut |_| {})?;
        if let Some(a) = attesting {
            signature_bytes += sign_into(&layout, &image, &a.key)?;
        }
        built.push(image);
        ctx.report(Event::Advance {
            task: task.clone(),
            by: 1,
            message: Some(format!(
                "oci run{}: {}",
                if attesting.is_some() {
                    " (attested)"
                } else {
                    ""
                },
                s.name
            )),
        });
    }
    let secs = started.elapsed().as_secs_f64();
    ctx.report(Event::End { task });
    Ok((
        secs,
        unique_bytes(&layout, &built, platform)? + signature_bytes,
    ))
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
