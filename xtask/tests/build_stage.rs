//! `cargo xtask build` as users run it: the real cross-compilation of every service for both
//! platforms (into a temporary `--out-dir`: tests never write into the workspace's target/lucid),
//! then each binary checked with `file`, the arm64 ones run under qemu, and a rebuild while one
//! binary runs.

use lucid_image::testing::{assert_success, free_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn xtask(args: &[&str]) -> Output {
    Command::new(XTASK)
        .args(args)
        .current_dir(root())
        .output()
        .expect("xtask runs")
}

fn service_names() -> Vec<String> {
    let ws = lucid_catalog::Workspace::load(&root()).unwrap();
    ws.services.iter().map(|s| s.name.clone()).collect()
}

#[test]
fn dry_run_prints_one_cargo_command_per_platform() {
    let out = xtask(&["build", "--dry-run"]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("cargo build"))
        .collect();
    assert_eq!(commands.len(), 2, "{stdout}");
    for (command, target) in commands
        .iter()
        .zip(["aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"])
    {
        assert!(command.contains(&format!("--target {target}")), "{command}");
        for name in service_names() {
            assert!(
                command.contains(&format!("--package {name} ")),
                "{name} missing from {command}"
            );
        }
    }
}

#[test]
fn unknown_service_is_refused_with_the_valid_names() {
    let out = xtask(&["build", "tor-proxxy", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown service \"tor-proxxy\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("tor-proxy") && stderr.contains("xrdp-integration"),
        "{stderr}"
    );
}

#[test]
fn unknown_platform_is_refused() {
    let out = xtask(&["build", "--platform", "linux/riscv64", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown platform \"linux/riscv64\""));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a service on 127.0.0.1:`port` and waits until it listens; killed when dropped.
fn serve(cmd: &mut Command, port: u16, what: &str) -> Killed {
    let child = cmd
        .env_clear()
        .env("LUCID_HTTP_PORT", port.to_string())
        .env("LUCID_BIND", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e} (is qemu-user-static installed?)"));
    let running = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    running
}

fn qemu() -> &'static str {
    "qemu-aarch64-static"
}

#[test]
fn builds_54_static_binaries_whose_arm64_twins_run_under_qemu() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().display().to_string();
    let out = xtask(&[
        "build",
        "--platform",
        "linux/arm64,linux/amd64",
        "--out-dir",
        &out_dir,
    ]);
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = service_names();
    assert_eq!(names.len(), 27);

    let bin = tmp.path().join("bin");
    for (arch, machine) in [("arm64", "ARM aarch64"), ("amd64", "x86-64")] {
        for name in &names {
            let path = bin.join(arch).join(name);
            let file = Command::new("file")
                .arg(&path)
                .output()
                .expect("`file` is installed (apt-get install file)");
            let text = String::from_utf8_lossy(&file.stdout);
            assert!(text.contains(machine), "{text}");
            assert!(
                text.contains("statically linked") || text.contains("static-pie linked"),
                "{text}"
            );
        }
    }

    // One arm64 service serves /health under qemu; every arm64 binary's healthcheck probes it.
    let port = free_port();
    let _server = serve(
        Command::new(qemu()).arg(bin.join("arm64/openapi-server")),
        port,
        "arm64 openapi-server under qemu",
    );
    let dead = free_port();
    for name in &names {
        let path = bin.join("arm64").join(name);
        let help = Command::new(qemu())
            .arg(&path)
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        assert!(help.status.success(), "{name} --help failed under qemu");
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("healthcheck"),
            "{name} --help"
        );

        // Like Docker's `retries`, a probe may be retried: two emulated processes on a loaded
        // 2-core machine can miss the probe's 3 s timeout once.
        let probe = || {
            Command::new(qemu())
                .arg(&path)
                .arg("healthcheck")
                .env_clear()
                .env("LUCID_HTTP_PORT", port.to_string())
                .output()
                .unwrap()
        };
        let healthy = (0..3)
            .map(|_| probe())
            .find(|o| o.status.code() == Some(0))
            .unwrap_or_else(probe);
        assert_eq!(
            healthy.status.code(),
            Some(0),
            "{name} healthcheck against a live server: {}",
            String::from_utf8_lossy(&healthy.stderr)
        );
        let unhealthy = Command::new(qemu())
            .arg(&path)
            .arg("healthcheck")
            .env_clear()
            .env("LUCID_HTTP_PORT", dead.to_string())
            .output()
            .unwrap();
        assert_eq!(
            unhealthy.status.code(),
            Some(1),
            "{name} healthcheck against a closed port"
        );
    }
}

#[test]
fn a_binary_that_is_running_does_not_block_its_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().display().to_string();
    let build = || {
        xtask(&[
            "build",
            "openapi-server",
            "--platform",
            "linux/amd64",
            "--out-dir",
            &out_dir,
        ])
    };
    assert_success(&build());
    let binary = tmp.path().join("bin/amd64/openapi-server");
    let port = free_port();
    let _running = serve(&mut Command::new(&binary), port, "openapi-server");
    // Writing into a running executable fails with "Text file busy"; the build installs by rename.
    let busy = std::fs::OpenOptions::new().write(true).open(&binary);
    assert_eq!(
        busy.unwrap_err().raw_os_error(),
        Some(26),
        "the binary is running"
    );
    let again = build();
    assert!(
        again.status.success(),
        "rebuild while running failed:\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the old process still serves"
    );
}
