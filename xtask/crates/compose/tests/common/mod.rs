//! Helpers shared by the integration tests of the compose stage.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use lucid_catalog::Workspace;
use lucid_compose::Generated;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn repo_workspace() -> Workspace {
    Workspace::load(&repo_root()).expect("the repository's catalog is valid")
}

/// The files as generated from the repository's catalog, without a release manifest.
pub fn generated(ws: &Workspace) -> Generated {
    lucid_compose::generate(ws, None).expect("the repository's catalog generates")
}

pub fn text<'g>(g: &'g Generated, file: &str) -> &'g str {
    &g.files
        .iter()
        .find(|f| f.name() == file)
        .unwrap_or_else(|| panic!("{file} not generated"))
        .text
}

pub fn parse(yaml: &str) -> Value {
    serde_norway::from_str(yaml).expect("generated YAML parses")
}

/// Every document of a multi-document YAML file (a Kubernetes manifest).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("generated YAML parses"))
        .collect()
}

/// Every object of the generated Kubernetes manifests, with the file it is in.
pub fn kubernetes_objects(g: &Generated) -> Vec<(String, Value)> {
    g.kubernetes
        .iter()
        .flat_map(|f| documents(&f.text).into_iter().map(|d| (f.path.clone(), d)))
        .collect()
}

/// Writes the generated compose files and the stack file into `dir`.
pub fn write_into(g: &Generated, dir: &Path) {
    for f in &g.files {
        std::fs::write(dir.join(f.name()), &f.text).unwrap();
    }
    std::fs::write(dir.join(lucid_compose::swarm::FILE), &g.stack.text).unwrap();
}

/// `docker-compose -f … config -q` in `dir` (Debian docker-compose 1.29.2).
pub fn compose_config(dir: &Path, files: &[&str]) -> Result<()> {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(dir)
        .args(["--project-name", "lucid-config-test"]);
    for f in files {
        cmd.args(["-f", f]);
    }
    let out = cmd
        .args(["config", "-q"])
        .output()
        .context("cannot run docker-compose (is it installed?)")?;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        bail!("docker-compose {files:?} config -q failed: {stderr}");
    }
    // 1.29 reports ignored keys as warnings, which we do not want either.
    if stderr.contains("WARNING") {
        bail!("docker-compose {files:?} config -q warned: {stderr}");
    }
    Ok(())
}

/// A copy of this repository's catalog (root manifest and service crates) in a temp dir, with
/// `edit(service, manifest_text)` applied to each service's Cargo.toml.
pub fn fixture_workspace(edit: impl Fn(&str, String) -> String) -> (tempfile::TempDir, Workspace) {
    let root = repo_root();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("root manifest lists members");
    let manifest = manifest.replace(members, r#"members = ["services/*"]"#);
    std::fs::write(tmp.path().join("Cargo.toml"), manifest).unwrap();
    for entry in std::fs::read_dir(root.join("services")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        copy_tree(&dir, &tmp.path().join("services").join(&name));
        std::fs::write(
            tmp.path().join("services").join(&name).join("Cargo.toml"),
            edit(&name, text),
        )
        .unwrap();
    }
    let ws = Workspace::load(tmp.path()).expect("fixture catalog loads");
    (tmp, ws)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &target);
            }
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
