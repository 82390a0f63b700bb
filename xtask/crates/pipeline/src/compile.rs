//! Stage 1, compile: the services cross-compiled to static musl binaries.
//!
//! One cargo invocation per platform builds every selected service (cargo shares the runtime and
//! the dependencies between them). Each binary is installed at `<out>/bin/<arch>/<service>` by
//! writing beside it and renaming, so a binary that is running (a service started locally) never
//! blocks a build, and is checked to be a static ELF of the platform's machine before anything
//! uses it: a dynamically linked or wrong-architecture binary would only fail later, inside a
//! container.

use crate::context::{Context, Event, Task};
use anyhow::{bail, Context as _, Result};
use lucid_catalog::{Platform, Service, Workspace};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which tool cross-compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// The first of the others that works here.
    Auto,
    /// Plain cargo with rust-lld: the services are pure Rust.
    Cargo,
    /// cargo-zigbuild, for crates with C code.
    Zigbuild,
    /// Containers (GitHub's runners).
    Cross,
}

impl Builder {
    pub const NAMES: [&'static str; 4] = ["auto", "cargo", "zigbuild", "cross"];

    pub fn name(self) -> &'static str {
        match self {
            Builder::Auto => "auto",
            Builder::Cargo => "cargo",
            Builder::Zigbuild => "zigbuild",
            Builder::Cross => "cross",
        }
    }
}

impl std::str::FromStr for Builder {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Builder> {
        match s {
            "auto" => Ok(Builder::Auto),
            "cargo" => Ok(Builder::Cargo),
            "zigbuild" => Ok(Builder::Zigbuild),
            "cross" => Ok(Builder::Cross),
            other => bail!(
                "unknown builder {other:?} (known: {})",
                Builder::NAMES.join(", ")
            ),
        }
    }
}

/// A compiled service binary, checked to be a static ELF of its platform.
#[derive(Debug, Clone)]
pub struct Binary {
    pub service: String,
    pub platform: Platform,
    /// `<out>/bin/<arch>/<service>`
    pub path: PathBuf,
}

/// What the compile stage will run: the builder (and why), one command per platform.
#[derive(Debug, Clone)]
pub struct CompilePlan {
    pub builder: Builder,
    pub why: String,
    pub services: Vec<String>,
    pub commands: Vec<(Platform, Vec<String>)>,
}

impl CompilePlan {
    /// Chooses the builder (installing missing musl targets with rustup, as a fresh machine
    /// needs) and writes the commands.
    pub fn new(services: &[&Service], platforms: &[Platform], builder: Builder) -> Result<Self> {
        let (builder, why) = choose_builder(builder, platforms)?;
        Ok(CompilePlan {
            builder,
            why,
            services: services.iter().map(|s| s.name.clone()).collect(),
            commands: platforms
                .iter()
                .map(|&p| (p, cargo_command(builder, p, services)))
                .collect(),
        })
    }

    /// The commands as a user would type them.
    pub fn command_lines(&self) -> Vec<String> {
        self.commands.iter().map(|(_, c)| c.join(" ")).collect()
    }

    /// Runs the commands and installs the checked binaries under `<out>/bin`.
    pub fn execute(&self, ctx: &Context, ws: &Workspace) -> Result<Vec<Binary>> {
        ctx.note(format!("builder: {} ({})", self.builder.name(), self.why));
        let mut binaries = Vec::new();
        for (platform, command) in &self.commands {
            run_cargo(ctx, command, *platform, &self.services)?;
            for service in &self.services {
                let built = ws
                    .target_dir
                    .join(platform.rust_target())
                    .join("release")
                    .join(service);
                let path = ctx.binary(service, *platform);
                install(&built, &path)?;
                check_static_elf(&path, *platform).with_context(|| {
                    format!("{}: binary of {service} for {platform}", path.display())
                })?;
                binaries.push(Binary {
                    service: service.clone(),
                    platform: *platform,
                    path,
                });
            }
        }
        Ok(binaries)
    }
}

/// The builder and the commands, as `--dry-run` prints them.
impl std::fmt::Display for CompilePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "builder: {} ({})", self.builder.name(), self.why)?;
        for line in self.command_lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Compiles `services` for `platforms` and returns the checked binaries.
pub fn compile(
    ctx: &Context,
    ws: &Workspace,
    services: &[&Service],
    platforms: &[Platform],
    builder: Builder,
) -> Result<Vec<Binary>> {
    CompilePlan::new(services, platforms, builder)?.execute(ctx, ws)
}

/// The binaries already under `<out>/bin` (the image stage with `--no-build`); an error lists
/// every one missing.
pub fn existing(ctx: &Context, services: &[&Service], platforms: &[Platform]) -> Result<()> {
    let missing: Vec<String> = services
        .iter()
        .flat_map(|s| platforms.iter().map(move |p| ctx.binary(&s.name, *p)))
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

/// Copies `from` beside `to` and renames it into place: a running `to` keeps its old inode.
fn install(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().expect("a binary path has a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = to.file_name().expect("a file name").to_string_lossy();
    let temporary = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::copy(from, &temporary)
        .with_context(|| format!("copying {} to {}", from.display(), temporary.display()))?;
    std::fs::rename(&temporary, to).with_context(|| {
        let _ = std::fs::remove_file(&temporary);
        format!("renaming {} to {}", temporary.display(), to.display())
    })
}

/// True when rustup installed the standard library of `target` for the active toolchain.
fn target_installed(target: &str) -> bool {
    sysroot().is_some_and(|s| s.join("lib/rustlib").join(target).join("lib").is_dir())
}

fn sysroot() -> Option<PathBuf> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
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
/// them (a download from the Rust distribution server), so a build works out of the box.
fn install_missing_targets(requested: Builder, platforms: &[Platform]) {
    let missing: Vec<&str> = platforms
        .iter()
        .map(|p| p.rust_target())
        .filter(|t| !target_installed(t))
        .collect();
    if missing.is_empty() || requested == Builder::Cross || which::which("rustup").is_err() {
        return;
    }
    let _ = Command::new("rustup")
        .arg("target")
        .arg("add")
        .args(&missing)
        .status();
}

/// rustup ships rust-lld inside the sysroot (not on PATH); rustc finds it there by itself.
fn rust_lld_in_sysroot() -> bool {
    let host = Command::new("rustc")
        .args(["-vV"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        });
    match (sysroot(), host) {
        (Some(sysroot), Some(host)) => sysroot
            .join("lib/rustlib")
            .join(host)
            .join("bin/rust-lld")
            .is_file(),
        _ => false,
    }
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

/// Runs cargo with JSON messages on stdout, so that progress can follow the service binaries as
/// they are linked; compiler diagnostics still reach the terminal rendered.
fn run_cargo(
    ctx: &Context,
    command: &[String],
    platform: Platform,
    services: &[String],
) -> Result<()> {
    let task = Task::Compile(platform);
    ctx.report(Event::Begin {
        task: task.clone(),
        total: services.len() as u64,
    });
    let mut cargo = Command::new(&command[0]);
    if let Some(dir) = &ctx.cargo_target_dir {
        cargo.env("CARGO_TARGET_DIR", dir);
    }
    let mut child = cargo
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
        let is_bin = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|v| v == "bin"));
        let linked_service = is_bin && services.iter().any(|s| s == name);
        ctx.report(Event::Advance {
            task: task.clone(),
            by: u64::from(linked_service),
            message: Some(name.to_string()),
        });
    }
    let status = child.wait()?;
    ctx.report(Event::End { task });
    if !status.success() {
        bail!("`{}` failed for {platform} ({status})", command.join(" "));
    }
    ctx.note(format!(
        "{:>14} {} service binaries built",
        platform.arch(),
        services.len()
    ));
    Ok(())
}

/// Refuses anything but a statically linked ELF executable for the platform's machine.
pub fn check_static_elf(path: &Path, platform: Platform) -> Result<()> {
    let data = std::fs::read(path)?;
    let info = lucid_validate::elf::parse(&data)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_validate::elf::synthetic;

    #[test]
    fn rejects_wrong_machine_and_dynamic_binaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin");
        std::fs::write(&p, synthetic(62, false)).unwrap();
        assert!(check_static_elf(&p, Platform::LinuxAmd64).is_ok());
        assert!(check_static_elf(&p, Platform::LinuxArm64)
            .unwrap_err()
            .to_string()
            .contains("ELF machine 62"));
        std::fs::write(&p, synthetic(183, true)).unwrap();
        assert!(check_static_elf(&p, Platform::LinuxArm64)
            .unwrap_err()
            .to_string()
            .contains("dynamically linked"));
    }

    #[test]
    fn one_cargo_command_per_platform_with_every_service() {
        let services: Vec<Service> = ["a", "b"].iter().map(|n| test_service(n)).collect();
        let refs: Vec<&Service> = services.iter().collect();
        let cmd = cargo_command(Builder::Cargo, Platform::LinuxArm64, &refs).join(" ");
        assert_eq!(cmd, "cargo build --release --locked --target aarch64-unknown-linux-musl --package a --package b --bins");
        let cmd = cargo_command(Builder::Zigbuild, Platform::LinuxAmd64, &refs).join(" ");
        assert!(
            cmd.starts_with("cargo zigbuild --release --locked --target x86_64-unknown-linux-musl")
        );
    }

    #[test]
    fn installing_replaces_a_binary_that_is_running() {
        let dir = tempfile::tempdir().unwrap();
        let running = dir.path().join("sleeper");
        std::fs::copy("/bin/sleep", &running).unwrap();
        let mut child = Command::new(&running).arg("30").spawn().unwrap();
        // Writing into a running executable fails with ETXTBSY ("Text file busy").
        let busy = std::fs::OpenOptions::new().write(true).open(&running);
        assert_eq!(busy.unwrap_err().raw_os_error(), Some(26));
        let result = install(Path::new("/bin/true"), &running);
        child.kill().unwrap();
        child.wait().unwrap();
        result.unwrap();
        assert_eq!(
            std::fs::read(&running).unwrap(),
            std::fs::read("/bin/true").unwrap()
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
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
            resources: lucid_catalog::Resources {
                memory: 1,
                memory_reservation: 1,
                cpus: 1.0,
                cpu_reservation: 0.1,
            },
        }
    }
}
