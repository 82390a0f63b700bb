//! Reproducible across machines: two clean builds, in two checkouts at different paths with two
//! different (empty) `CARGO_HOME`s, sharing nothing but the toolchain, give the same index
//! digest per image — binaries, SBOMs, provenance and all. Three services with the widest
//! dependency trees (the runtime's hyper/tokio, the crypto and chunking crates, SOCKS), both
//! platforms: what makes a build differ (paths, CARGO_HOME, times, the embedded crate list) is
//! the pipeline's, the same for every service; two cold builds of all 27 would cost the CI
//! ~30 minutes more for no other path covered.

mod common;

use common::WorkspaceCopy;
use lucid_pipeline::compile::Builder;
use lucid_pipeline::images::{Binaries, Engine, ImagePlan, ImageRequest};
use lucid_pipeline::Context;
use std::collections::BTreeMap;
use std::path::Path;

const SERVICES: [&str; 3] = ["api-gateway", "session-encryptor", "tor-proxy"];

/// A clean build of the `SERVICES` images of the copy at `dir` with `cargo_home`; service → index digest.
fn clean_build(dir: &Path, cargo_home: &Path) -> BTreeMap<String, String> {
    let copy = WorkspaceCopy::create(dir);
    // Read by every cargo the pipeline starts (this test binary runs nothing else at once).
    std::env::set_var("CARGO_HOME", cargo_home);
    let ctx = Context::new(&copy.dir).with_cargo_target_dir(&copy.dir.join("target"));
    let ws = ctx.workspace().unwrap();
    let request = ImageRequest {
        services: SERVICES.iter().map(|s| s.to_string()).collect(),
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
fn two_checkouts_with_two_cargo_homes_build_the_same_images() {
    let tmp = tempfile::tempdir().unwrap();
    let first = clean_build(&tmp.path().join("a/lucid"), &tmp.path().join("cargo-a"));
    let second = clean_build(
        &tmp.path().join("second/checkout/of/lucid"),
        &tmp.path().join("another-cargo-home"),
    );
    std::env::remove_var("CARGO_HOME");
    assert_eq!(
        first.keys().map(String::as_str).collect::<Vec<_>>(),
        SERVICES
    );
    assert_eq!(first, second);
}
