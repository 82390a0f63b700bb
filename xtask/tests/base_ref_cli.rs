//! `cargo xtask build-images --base-ref …`: the flag is wired to the base-by-reference path and
//! its errors name the reference and the field. These runs fail before anything is built or
//! written (the base is resolved before the compile stage); building on a fetched base is
//! covered by xtask/crates/image/tests/base_reference.rs against a real registry.

use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn build_images(base_ref: &str) -> Output {
    // Outputs go to a temporary directory: tests never write into the workspace's target/lucid.
    let out = tempfile::tempdir().unwrap();
    Command::new(XTASK)
        .arg("--out-dir")
        .arg(out.path())
        .args([
            "build-images",
            "merkle-builder",
            "--engine",
            "oci",
            "--no-build",
            "--base-ref",
            base_ref,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("xtask runs")
}

#[test]
fn base_ref_without_digest_is_refused() {
    let out = build_images("127.0.0.1:5/distroless/static:nonroot");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--base-ref")
            && err.contains("[workspace.metadata.lucid.base] reference")
            && err.contains("pinned by digest"),
        "{err}"
    );
}

#[test]
fn unreachable_base_registry_is_a_clear_error_naming_the_reference_and_the_field() {
    let port = lucid_image::testing::free_port();
    let reference = format!(
        "127.0.0.1:{port}/distroless/static:nonroot@sha256:{}",
        "ab".repeat(32)
    );
    let out = build_images(&reference);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("[workspace.metadata.lucid.base] reference")
            && err.contains(&reference)
            && err.contains("unreachable"),
        "{err}"
    );
}
