//! Compose stage: the deployment files of the stack, generated from the catalog alone — the
//! compose files, the Docker Swarm stack file ([`swarm`]) and the Kubernetes manifests
//! ([`kubernetes`]).
//!
//! Input: the [`Workspace`] (every `[package.metadata.lucid]`) and, after a release, the release
//! [`ImageManifest`] whose digests pin the images. The three generators share what a container
//! is ([`container`]: image, environment contract, secrets, health check, limits, instances).
//! Output: the files under `compose/` and `deploy/kubernetes/`, which are committed; `cargo xtask compose --check` (and this crate's tests) fail when a committed file
//! differs from what would be generated. Generation refuses files that do not fit the device
//! profile, that would leave a `depends_on` dangling in their deployment, or that the Compose
//! Specification schema rejects.
//!
//! Data directories are bind mounts of `<data_root>/<volume>`; they must exist and be owned by
//! uid 65532 (MongoDB's by 999) before the first start: see the header of each file.

use anyhow::{bail, Context, Result};
pub mod budget;

mod compose_file;
pub mod container;
pub mod env;
pub mod images;
pub mod kubernetes;
pub mod model;
pub mod mongodb;
pub mod network;
mod notice;
pub mod schema;
pub mod service;
pub mod swarm;
#[cfg(feature = "testing")]
pub mod testing;

pub use images::{read_release_manifest, Source};
pub use lucid_catalog::topology::{Deployment, COMPOSE_DIR};

use lucid_catalog::{ImageManifest, Workspace};
use std::collections::BTreeSet;
use std::path::Path;

/// Directories holding generated files, relative to the workspace root.
pub const OUTPUT_DIRS: [&str; 2] = [COMPOSE_DIR, kubernetes::DIR];

/// The command that regenerates the files (named in their header).
pub const COMMAND: &str = "cargo xtask compose";

/// One generated compose file and what it asks of the device.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub deployment: Deployment,
    pub text: String,
    /// Containers defined in the file (Lucid services plus MongoDB when present).
    pub containers: usize,
    pub usage: budget::Usage,
}

impl ComposeFile {
    pub fn name(&self) -> &str {
        &self.deployment.file
    }

    /// Path relative to the workspace root.
    pub fn path(&self) -> String {
        format!("{COMPOSE_DIR}/{}", self.name())
    }
}

/// A generated file besides the compose files: the stack file, a Kubernetes manifest.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// Path relative to the workspace root.
    pub path: String,
    pub text: String,
}

/// Everything `cargo xtask compose` would write.
#[derive(Debug, Clone)]
pub struct Generated {
    pub files: Vec<ComposeFile>,
    /// The Docker Swarm stack file (`compose/lucid-stack.yaml`).
    pub stack: OutputFile,
    /// The Kubernetes manifests (`deploy/kubernetes/*.yaml`), in the order `kubectl apply -f`
    /// reads them.
    pub kubernetes: Vec<OutputFile>,
    pub source: Source,
}

impl Generated {
    /// Every file as (path relative to the workspace root, text), in the order they are written.
    pub fn outputs(&self) -> Vec<(String, &str)> {
        let compose = self.files.iter().map(|f| (f.path(), f.text.as_str()));
        let others = std::iter::once(&self.stack).chain(&self.kubernetes);
        compose
            .chain(others.map(|f| (f.path.clone(), f.text.as_str())))
            .collect()
    }
}

/// A stand-in for MongoDB (see [`mongodb::standin_override`]).
pub fn mongodb_standin_override(ws: &Workspace, image: &str) -> String {
    mongodb::standin_override(ws, image)
}

/// Generates every file in memory. Errors name the file, the service and the field at fault.
pub fn generate(ws: &Workspace, release: Option<&ImageManifest>) -> Result<Generated> {
    let (images, source) = images::resolve(ws, release)?;
    let addresses = network::allocate(ws)?;
    let deployments = lucid_catalog::topology::all(ws);
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for d in &deployments {
        match compose_file::generate(ws, d, &deployments, &images, &source, &addresses) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
    }
    // The cluster files deploy the whole stack; they share its containers.
    let cluster = container::whole_stack(ws, &images).and_then(|containers| {
        let files = format!("{COMPOSE_DIR}/{} and {}/", swarm::FILE, kubernetes::DIR);
        budget::check_cluster(&files, &containers, &ws.settings.device)?;
        let stack = swarm::generate(ws, &containers, &source)?;
        let manifests = kubernetes::generate(ws, &containers, &source)?;
        Ok((stack, manifests))
    });
    match cluster {
        Ok((stack, kubernetes)) if errors.is_empty() => Ok(Generated {
            files,
            stack,
            kubernetes,
            source,
        }),
        cluster => {
            errors.extend(cluster.err());
            let all: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
            bail!("{}", all.join("\n"))
        }
    }
}

/// A committed file that differs from what would be generated.
#[derive(Debug, Clone)]
pub struct Stale {
    /// Path relative to the workspace root.
    pub path: String,
    /// Unified diff from the committed file to the generated one.
    pub diff: String,
}

/// Compares the generated files with those under `root`. A manifest left in the Kubernetes
/// directory that is no longer generated (a removed service) is stale too: `kubectl apply -f`
/// would still apply it.
pub fn check(root: &Path, generated: &Generated) -> Vec<Stale> {
    let mut out = Vec::new();
    for (rel, text) in generated.outputs() {
        let committed = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
        if committed != text {
            out.push(Stale {
                diff: unified_diff(&rel, &committed, text),
                path: rel,
            });
        }
    }
    for rel in leftover_manifests(root, generated) {
        let committed = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
        out.push(Stale {
            diff: unified_diff(&rel, &committed, ""),
            path: rel,
        });
    }
    out
}

/// `*.yaml` files in the Kubernetes directory under `root` that are not generated any more.
fn leftover_manifests(root: &Path, generated: &Generated) -> Vec<String> {
    let ours: BTreeSet<&str> = generated
        .kubernetes
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let Ok(entries) = std::fs::read_dir(root.join(kubernetes::DIR)) else {
        return vec![];
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| format!("{}/{}", kubernetes::DIR, e.file_name().to_string_lossy()))
        .filter(|rel| rel.ends_with(".yaml") && !ours.contains(rel.as_str()))
        .collect();
    out.sort();
    out
}

/// `--- a/<path>` / `+++ b/<path>` diff with 3 lines of context.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// Writes the files that differ and removes leftover manifests; returns the paths written or
/// removed (relative to `root`).
pub fn write(root: &Path, generated: &Generated) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (rel, text) in generated.outputs() {
        let path = root.join(&rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            let dir = path.parent().expect("a generated file has a directory");
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
            std::fs::write(&path, text).with_context(|| path.display().to_string())?;
            written.push(rel);
        }
    }
    for rel in leftover_manifests(root, generated) {
        let path = root.join(&rel);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        written.push(rel);
    }
    Ok(written)
}
