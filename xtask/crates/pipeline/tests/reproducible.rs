//! Reproducible across machines: two clean builds of all 27 images, in two checkouts at
//! different paths with two different (empty) `CARGO_HOME`s, sharing nothing but the toolchain,
//! give the same index digest per image — binaries, SBOMs, provenance and all. The Pi's platform
//! only (linux/arm64): what could make builds differ (paths, CARGO_HOME, times, the embedded
//! crate list) is the same for both targets, and two cold builds of both would add ~25 minutes
//! to CI for no other path covered. The one test of its kind, run once.

mod common;

use common::WorkspaceCopy;
use lucid_catalog::Platform;
use lucid_pipeline::compile::Builder;
use lucid_pipeline::images::{Binaries, Engine, ImagePlan, ImageRequest};
use lucid_pipeline::Context;
use std::collections::BTreeMap;
use std::path::Path;

/// A clean build of every arm64 image of the copy at `dir` with `cargo_home`; service → index digest.
fn clean_build(dir: &Path, cargo_home: &Path) -> BTreeMap<String, String> {
    let copy = WorkspaceCopy::create(dir);
    // Read by every cargo the pipeline starts (this test binary runs nothing else at once).
    std::env::set_var("CARGO_HOME", cargo_home);
    let ctx = Context::new(&copy.dir).with_cargo_target_dir(&copy.dir.join("target"));
    let ws = ctx.workspace().unwrap();
    let request = ImageRequest {
        platforms: Some(vec![Platform::LinuxArm64]),
        binaries: Binaries::Compile(Builder::Cargo),
        ..ImageRequest::all(Engine::Oci)
    };
    let plan = ImagePlan::new(&ctx, &ws, &request).unwrap();
    let built = plan.execute(&ctx, &ws).unwrap();
    built
        .manifest
        .images
        .iter()
        .map(|i| (i.service.clone(), i.digest.clone()))
        .collect()
}

#[test]
fn two_checkouts_with_two_cargo_homes_build_the_same_27_images() {
    let tmp = tempfile::tempdir().unwrap();
    let first = clean_build(&tmp.path().join("a/lucid"), &tmp.path().join("cargo-a"));
    let second = clean_build(
        &tmp.path().join("second/checkout/of/lucid"),
        &tmp.path().join("another-cargo-home"),
    );
    std::env::remove_var("CARGO_HOME");
    assert_eq!(first.len(), 27);
    assert_eq!(first, second);
}
