//! `cargo xtask bench`: measurements that belong in reports, not in timed tests.
//!
//! Results are printed and written as JSON under target/lucid/bench/. The machine is shared and
//! noisy: figures are medians over repetitions where a repetition is affordable.

use crate::build::{compile, Builder, CompileOptions};
use crate::{ui, Ctx};
use anyhow::{Context as _, Result};
use serde_json::json;
use std::time::Instant;

/// Measure build times, image engines and sizes, or session pipeline throughput.
#[derive(clap::Args)]
pub struct Bench {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Cold and warm `cargo xtask build` times for both platforms, and every arm64 binary's size.
    Build {
        /// Warm (incremental) repetitions; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// The oci engine against BuildKit for all images, and the stack's compressed size.
    Images,
    /// Chunk + encrypt + Merkle throughput in MiB/s, natively and for aarch64 under qemu.
    Pipeline,
}

impl Bench {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.what {
            What::Build { repeat } => bench_build(ctx, repeat.max(1)),
            What::Images => crate::images::bench(ctx),
            What::Pipeline => bench_pipeline(ctx),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn write_result(ctx: &Ctx, name: &str, value: &serde_json::Value) -> Result<()> {
    let dir = ctx.out_dir("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")?;
    println!(
        "\nwritten: {}",
        path.strip_prefix(&ctx.root).unwrap_or(&path).display()
    );
    Ok(())
}

/// Cold: the per-target build directories removed first (dependencies included). Warm: after
/// touching one service's source, as a developer's edit-build loop would.
fn bench_build(ctx: &Ctx, repeat: usize) -> Result<()> {
    let ws = ctx.workspace()?;
    let services: Vec<_> = ws.services.iter().collect();
    let opts = CompileOptions {
        builder: Builder::Auto,
        dry_run: false,
    };
    let mut per_platform = Vec::new();
    for &platform in &ws.settings.platforms {
        let target_dir = ws.target_dir.join(platform.rust_target());
        if target_dir.exists() {
            std::fs::remove_dir_all(&target_dir)
                .with_context(|| format!("removing {}", target_dir.display()))?;
        }
        let started = Instant::now();
        compile(ctx, &ws, &services, &[platform], &opts)?;
        let cold = started.elapsed().as_secs_f64();
        let touched = ctx.root.join("services/merkle-builder/src/main.rs");
        let mut warm = Vec::new();
        for _ in 0..repeat {
            let text = std::fs::read(&touched)?;
            std::fs::write(&touched, text)?; // new mtime: cargo rebuilds that crate and relinks it
            let started = Instant::now();
            compile(ctx, &ws, &services, &[platform], &opts)?;
            warm.push(started.elapsed().as_secs_f64());
        }
        per_platform.push(json!({ "platform": platform.oci(), "cold_s": cold, "warm_median_s": median(warm.clone()), "warm_s": warm }));
    }
    let arm = ctx.out_dir("bin").join("arm64");
    let mut sizes = Vec::new();
    for s in &ws.services {
        let size = std::fs::metadata(arm.join(&s.name))
            .map(|m| m.len())
            .unwrap_or(0);
        sizes.push((s.name.clone(), size));
    }
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
    println!(
        "{}",
        ui::table(&["platform", "cold build", "warm build (median)"], &rows)
    );
    let size_rows: Vec<Vec<String>> = sizes
        .iter()
        .map(|(n, b)| vec![n.clone(), ui::human_bytes(*b), b.to_string()])
        .collect();
    println!(
        "\n{}",
        ui::table(&["service (arm64)", "size", "bytes"], &size_rows)
    );
    println!(
        "total arm64: {} ({} binaries)",
        ui::human_bytes(total),
        sizes.len()
    );
    let result = json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "platforms": per_platform,
        "arm64_binary_bytes": sizes.iter().map(|(n, b)| json!({ "service": n, "bytes": b })).collect::<Vec<_>>(),
        "arm64_total_bytes": total,
    });
    write_result(ctx, "build", &result)
}

/// Runs the pipeline benchmark binary of services/e2e natively, and its aarch64 build under qemu.
fn bench_pipeline(ctx: &Ctx) -> Result<()> {
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
    let native_json: serde_json::Value =
        serde_json::from_str(&native_out).context("pipeline-bench output (x86_64)")?;
    let arm_json: serde_json::Value =
        serde_json::from_str(&arm_out).context("pipeline-bench output (aarch64 under qemu)")?;
    println!("x86_64 native:      {native_out}");
    println!("aarch64 under qemu: {arm_out}");
    write_result(
        ctx,
        "pipeline",
        &json!({ "x86_64_native": native_json, "aarch64_qemu": arm_json }),
    )
}
