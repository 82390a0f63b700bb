//! `--engine auto` picks the oci engine, the one the tests prove, even where `docker buildx`
//! works (as on GitHub's runners after docker/setup-buildx-action): a `docker` script that
//! answers `buildx version` stands first on PATH. This tests our choice, not Docker.

use lucid_image::testing::assert_success;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// The workspace (xtask lives in `<root>/xtask`).
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A `docker` whose `buildx version` succeeds; it logs its arguments to `docker.log`.
fn docker_with_buildx(dir: &Path) {
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}/docker.log\nif [ \"$1\" = buildx ] && [ \"$2\" = version ]; then\n  echo 'github.com/docker/buildx v0.19.3'\n  exit 0\nfi\nexit 1\n",
        dir.display()
    );
    let path = dir.join("docker");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn build_images_dry_run(path_first: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        path_first.display(),
        std::env::var("PATH").unwrap()
    );
    // Outputs (none for a dry run) go beside the script: never into the workspace's target/lucid.
    let out = Command::new(XTASK)
        .arg("--out-dir")
        .arg(path_first.join("out"))
        .args(["build-images", "--dry-run"])
        .args(args)
        .env("PATH", path)
        .current_dir(root())
        .output()
        .unwrap();
    assert_success(&out);
    out
}

#[test]
fn auto_picks_the_oci_engine_and_says_why_even_where_buildx_works() {
    let dir = tempfile::tempdir().unwrap();
    docker_with_buildx(dir.path());

    let out = build_images_dry_run(dir.path(), &[]);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("engine oci (auto: the engine the tests prove")
            && plan.contains("`docker buildx` works here too, but runs only with --engine buildx"),
        "{plan}"
    );
    let asked = std::fs::read_to_string(dir.path().join("docker.log")).unwrap();
    assert!(
        asked.contains("buildx version"),
        "the choice looked for buildx: {asked}"
    );

    let out = build_images_dry_run(dir.path(), &["--engine", "buildx"]);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("engine buildx (requested)"), "{plan}");
}
