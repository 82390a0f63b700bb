//! `cargo xtask build`: cross-compiles the services (stage 1).
//!
//! One cargo invocation per platform builds every selected service (cargo shares the runtime and
//! the dependencies between them); the binaries are copied to `target/lucid/bin/<arch>/<service>`
//! and each is checked to be a static ELF of the platform's machine before anything uses it.

use crate::{ui, Ctx};
use anyhow::{bail, Context as _, Result};
use lucid_catalog::{parse_platforms, Platform, Service, Workspace};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Cross-compile services to static musl binaries (target/lucid/bin/<arch>/<service>).
///
/// One cargo invocation per platform builds all selected services. After the build every binary
/// is checked to be a static ELF of the platform's machine.
#[derive(clap::Args, Debug, Clone)]
pub struct Build {
    /// Services to build (default: all 27). Unknown names are listed with the valid ones.
    pub services: Vec<String>,
    /// Comma-separated platforms (default: the workspace's, linux/arm64,linux/amd64).
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,
    /// Which tool cross-compiles: `cargo` (plain cargo + rust-lld, pure-Rust crates), `zigbuild`
    /// (cargo-zigbuild, for crates with C code), `cross` (containers, used on GitHub Actions), or
    /// `auto` (the first of these that works here; it says which and why).
    #[arg(long, value_enum, default_value_t = Builder::Auto)]
    pub builder: Builder,
    /// Print the exact commands without running them.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    Auto,
    Cargo,
    Zigbuild,
    Cross,
}

/// A compiled service binary, checked to be a static ELF of its platform.
#[derive(Debug, Clone)]
pub struct Binary {
    pub service: String,
    pub platform: Platform,
    /// target/lucid/bin/<arch>/<service>
    pub path: PathBuf,
}

/// How to compile.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    pub builder: Builder,
    pub dry_run: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            builder: Builder::Auto,
            dry_run: false,
        }
    }
}

impl Build {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let services = ws.select(&self.services)?;
        let platforms = match &self.platform {
            Some(list) => parse_platforms(list)?,
            None => ws.settings.platforms.clone(),
        };
        let opts = CompileOptions {
            builder: self.builder,
            dry_run: self.dry_run,
        };
        let binaries = compile(ctx, &ws, &services, &platforms, &opts)?;
        if self.dry_run {
            return Ok(());
        }
        let rows: Vec<Vec<String>> = binaries
            .iter()
            .map(|b| {
                let size = std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
                vec![
                    b.service.clone(),
                    b.platform.arch().to_string(),
                    ui::human_bytes(size),
                    rel(ctx, &b.path),
                ]
            })
            .collect();
        println!("{}", ui::table(&["service", "arch", "size", "path"], &rows));
        println!(
            "\n{} static binaries for {} platform(s): ok",
            binaries.len(),
            platforms.len()
        );
        Ok(())
    }
}

/// Compiles `services` for `platforms` and returns the checked binaries (stage 1 of the pipeline).
pub fn compile(
    ctx: &Ctx,
    ws: &Workspace,
    services: &[&Service],
    platforms: &[Platform],
    opts: &CompileOptions,
) -> Result<Vec<Binary>> {
    let (builder, why) = choose_builder(opts.builder, platforms)?;
    eprintln!("builder: {} ({why})", builder_name(builder));
    let mut binaries = Vec::new();
    for &platform in platforms {
        let command = cargo_command(builder, platform, services);
        if opts.dry_run {
            println!("{}", command.join(" "));
            continue;
        }
        run_cargo(ctx, &command, platform, services)?;
        let out_dir = ctx.out_dir("bin").join(platform.arch());
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        for s in services {
            let built = ws
                .target_dir
                .join(platform.rust_target())
                .join("release")
                .join(&s.name);
            let dest = out_dir.join(&s.name);
            std::fs::copy(&built, &dest)
                .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
            check_static_elf(&dest, platform).with_context(|| {
                format!("{}: binary of {} for {platform}", dest.display(), s.name)
            })?;
            binaries.push(Binary {
                service: s.name.clone(),
                platform,
                path: dest,
            });
        }
    }
    Ok(binaries)
}

fn builder_name(b: Builder) -> &'static str {
    match b {
        Builder::Auto => "auto",
        Builder::Cargo => "cargo",
        Builder::Zigbuild => "zigbuild",
        Builder::Cross => "cross",
    }
}

/// True when rustup installed the standard library of `target` for the active toolchain.
fn target_installed(target: &str) -> bool {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    sysroot.is_some_and(|o| {
        Path::new(String::from_utf8_lossy(&o.stdout).trim())
            .join("lib/rustlib")
            .join(target)
            .join("lib")
            .is_dir()
    })
}

/// Picks the builder and says why; a requested builder whose tools are missing is an error
/// that says how to install them.
fn choose_builder(requested: Builder, platforms: &[Platform]) -> Result<(Builder, String)> {
    install_missing_targets(requested, platforms);
    let missing_targets: Vec<&str> = platforms
        .iter()
        .map(|p| p.rust_target())
        .filter(|t| !target_installed(t))
        .collect();
    let has = |tool: &str| which::which(tool).is_ok();
    let cargo_ok = missing_targets.is_empty() && (has("rust-lld") || rust_lld_in_sysroot());
    let zig_ok =
        has("cargo-zigbuild") && (has("zig") || has("python3")) && missing_targets.is_empty();
    let cross_ok = has("cross") && (has("docker") || has("podman"));
    let install_targets = format!("rustup target add {}", missing_targets.join(" "));
    match requested {
        Builder::Cargo if cargo_ok => Ok((Builder::Cargo, "requested".into())),
        Builder::Cargo => bail!("builder cargo needs the musl targets and rust-lld; missing targets: [{}]. Install with: {install_targets}", missing_targets.join(", ")),
        Builder::Zigbuild if zig_ok => Ok((Builder::Zigbuild, "requested".into())),
        Builder::Zigbuild => bail!("builder zigbuild needs cargo-zigbuild and zig: pip install cargo-zigbuild ziglang (in a venv), and {install_targets}"),
        Builder::Cross if cross_ok => Ok((Builder::Cross, "requested".into())),
        Builder::Cross => bail!("builder cross needs `cross` and a container engine: cargo install cross, and Docker or Podman"),
        Builder::Auto if cargo_ok => Ok((Builder::Cargo, "musl targets installed and rust-lld available: the services are pure Rust, no C cross toolchain needed".into())),
        Builder::Auto if zig_ok => Ok((Builder::Zigbuild, "rust-lld not found; cargo-zigbuild is installed".into())),
        Builder::Auto if cross_ok => Ok((Builder::Cross, "musl targets not installed; cross and a container engine are available".into())),
        Builder::Auto => bail!(
            "no builder works here. Either `{install_targets}` (the pinned toolchain ships rust-lld), or `pip install cargo-zigbuild ziglang`, or `cargo install cross` with Docker"
        ),
    }
}

/// On a fresh machine the pinned toolchain may lack the musl standard libraries: rustup adds
/// them (a download from the Rust distribution server), so `cargo xtask build` works out of the box.
fn install_missing_targets(requested: Builder, platforms: &[Platform]) {
    let missing: Vec<&str> = platforms
        .iter()
        .map(|p| p.rust_target())
        .filter(|t| !target_installed(t))
        .collect();
    if missing.is_empty() || requested == Builder::Cross || which::which("rustup").is_err() {
        return;
    }
    eprintln!(
        "installing Rust targets: rustup target add {}",
        missing.join(" ")
    );
    let _ = Command::new("rustup")
        .arg("target")
        .arg("add")
        .args(&missing)
        .status();
}

/// rustup ships rust-lld inside the sysroot (not on PATH); rustc finds it there by itself.
fn rust_lld_in_sysroot() -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let host = Command::new("rustc")
        .args(["-vV"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        });
    host.is_some_and(|h| {
        sysroot
            .join("lib/rustlib")
            .join(h)
            .join("bin/rust-lld")
            .is_file()
    })
}

/// The one cargo command that builds every selected service for `platform`.
fn cargo_command(builder: Builder, platform: Platform, services: &[&Service]) -> Vec<String> {
    let mut cmd: Vec<String> = match builder {
        Builder::Cross => vec!["cross".into(), "build".into()],
        Builder::Zigbuild => vec!["cargo".into(), "zigbuild".into()],
        _ => vec!["cargo".into(), "build".into()],
    };
    cmd.extend([
        "--release".into(),
        "--locked".into(),
        "--target".into(),
        platform.rust_target().into(),
    ]);
    for s in services {
        cmd.extend(["--package".into(), s.name.clone()]);
    }
    cmd.push("--bins".into());
    cmd
}

/// Runs cargo with JSON messages on stdout so that a bar can follow the service binaries as
/// they are linked; compiler diagnostics still reach the terminal rendered.
fn run_cargo(
    ctx: &Ctx,
    command: &[String],
    platform: Platform,
    services: &[&Service],
) -> Result<()> {
    let pb = ui::bar(services.len() as u64, platform.arch());
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(&ctx.root)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", command[0]))?;
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let name = msg["target"]["name"].as_str().unwrap_or("");
        pb.set_message(name.to_string());
        let is_bin = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|v| v == "bin"));
        if is_bin && services.iter().any(|s| s.name == name) {
            pb.inc(1);
        }
    }
    let status = child.wait()?;
    pb.finish_and_clear();
    if !status.success() {
        bail!("`{}` failed for {platform} ({status})", command.join(" "));
    }
    eprintln!(
        "{:>14} {} service binaries built",
        platform.arch(),
        services.len()
    );
    Ok(())
}

/// Refuses anything but a statically linked ELF executable for the platform's machine:
/// a dynamically linked or wrong-architecture binary would only fail later, inside a container.
pub fn check_static_elf(path: &Path, platform: Platform) -> Result<()> {
    let data = std::fs::read(path)?;
    let info = elf_info(&data)?;
    if info.machine != platform.elf_machine() {
        bail!(
            "ELF machine {} but {platform} needs {}",
            info.machine,
            platform.elf_machine()
        );
    }
    if info.has_interp {
        bail!("dynamically linked (has a PT_INTERP program interpreter); expected a static musl binary");
    }
    Ok(())
}

/// What the pipeline needs to know of an ELF file.
#[derive(Debug, PartialEq)]
pub struct ElfInfo {
    pub machine: u16,
    pub has_interp: bool,
}

/// Reads the ELF64 little-endian header and program headers.
pub fn elf_info(data: &[u8]) -> Result<ElfInfo> {
    if data.len() < 64 || &data[..4] != b"\x7fELF" {
        bail!("not an ELF file");
    }
    if data[4] != 2 || data[5] != 1 {
        bail!("not a 64-bit little-endian ELF");
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().expect("8 bytes"));
    let machine = u16_at(18);
    let (phoff, phentsize, phnum) = (
        u64_at(32) as usize,
        u16_at(54) as usize,
        u16_at(56) as usize,
    );
    let mut has_interp = false;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if at + 4 > data.len() {
            bail!("truncated program header table");
        }
        const PT_INTERP: u32 = 3;
        has_interp |= u32_at(at) == PT_INTERP;
    }
    Ok(ElfInfo {
        machine,
        has_interp,
    })
}

fn rel(ctx: &Ctx, p: &Path) -> String {
    p.strip_prefix(&ctx.root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16, interp: bool) -> Vec<u8> {
        let mut d = vec![0u8; 64 + 56 * 2];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[18..20].copy_from_slice(&machine.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes());
        d[54..56].copy_from_slice(&56u16.to_le_bytes());
        d[56..58].copy_from_slice(&2u16.to_le_bytes());
        d[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        d[120..124].copy_from_slice(&(if interp { 3u32 } else { 1 }).to_le_bytes());
        d
    }

    #[test]
    fn reads_machine_and_interpreter() {
        assert_eq!(
            elf_info(&elf(183, false)).unwrap(),
            ElfInfo {
                machine: 183,
                has_interp: false
            }
        );
        assert!(elf_info(&elf(62, true)).unwrap().has_interp);
        assert!(elf_info(b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn rejects_wrong_machine_and_dynamic_binaries() {
        let dir = std::env::temp_dir().join(format!("lucid-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bin");
        std::fs::write(&p, elf(62, false)).unwrap();
        assert!(check_static_elf(&p, Platform::LinuxAmd64).is_ok());
        assert!(check_static_elf(&p, Platform::LinuxArm64)
            .unwrap_err()
            .to_string()
            .contains("ELF machine 62"));
        std::fs::write(&p, elf(183, true)).unwrap();
        assert!(check_static_elf(&p, Platform::LinuxArm64)
            .unwrap_err()
            .to_string()
            .contains("dynamically linked"));
    }

    #[test]
    fn one_cargo_command_per_platform_with_every_service() {
        let names = ["a", "b"];
        let services: Vec<Service> = names.iter().map(|n| test_service(n)).collect();
        let refs: Vec<&Service> = services.iter().collect();
        let cmd = cargo_command(Builder::Cargo, Platform::LinuxArm64, &refs).join(" ");
        assert_eq!(cmd, "cargo build --release --locked --target aarch64-unknown-linux-musl --package a --package b --bins");
        let cmd = cargo_command(Builder::Zigbuild, Platform::LinuxAmd64, &refs).join(" ");
        assert!(
            cmd.starts_with("cargo zigbuild --release --locked --target x86_64-unknown-linux-musl")
        );
    }

    fn test_service(name: &str) -> Service {
        Service {
            name: name.into(),
            description: String::new(),
            manifest_path: PathBuf::new(),
            layer: 0,
            port: 1,
            publish: None,
            extra_ports: vec![],
            depends_on: vec![],
            upstreams: vec![],
            catalog: false,
            volumes: vec![],
            env: Default::default(),
            secrets: vec![],
            profiles: vec![],
            replicas: 1,
            resources: lucid_catalog::Resources {
                memory: 1,
                memory_reservation: 1,
                cpus: 1.0,
                cpu_reservation: 0.1,
            },
        }
    }
}
