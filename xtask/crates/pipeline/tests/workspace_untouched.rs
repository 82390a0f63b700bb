//! Tests build into temporary directories: running the pipeline with another output directory
//! leaves the workspace's own `target/lucid` (the user's binaries, OCI layout and images.json)
//! exactly as it was.

mod common;

use common::root;
use lucid_catalog::{Platform, Workspace};
use lucid_pipeline::images::{Engine, ImagePlan, ImageRequest};
use lucid_pipeline::Context;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, (meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out
}

#[test]
fn building_into_another_output_directory_leaves_the_workspace_artifacts_untouched() {
    let root = root();
    let before = snapshot(&root.join("target/lucid"));
    let ws = Workspace::load(&root).unwrap();
    let out = tempfile::tempdir().unwrap();
    let ctx = Context::new(&root)
        .with_out(out.path())
        .with_cache(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucid-cache"));
    let request = ImageRequest {
        services: vec!["merkle-builder".into()],
        platforms: Some(vec![Platform::host().expect("an arm64 or amd64 host")]),
        ..ImageRequest::all(Engine::Oci)
    };
    let built = ImagePlan::new(&ctx, &ws, &request)
        .and_then(|plan| plan.execute(&ctx, &ws))
        .unwrap();
    assert_eq!(built.images.len(), 1);
    assert!(out.path().join("images.json").is_file());
    assert!(out.path().join("oci/index.json").is_file());
    assert!(out.path().join("bin").is_dir());
    assert_eq!(
        snapshot(&root.join("target/lucid")),
        before,
        "the workspace's target/lucid changed"
    );
}
