//! Compose stage: the compose files of the stack, generated from the catalog alone.
//!
//! Input: the [`Workspace`] (every `[package.metadata.lucid]`) and, after a release, the release
//! [`ImageManifest`] whose digests pin the images. Output: the files under `compose/`, which are
//! committed; `cargo xtask compose --check` (and this crate's tests) fail when a committed file
//! differs from what would be generated. Generation refuses files that do not fit the device
//! profile, that would leave a `depends_on` dangling in their deployment, or that the Compose
//! Specification schema rejects.
//!
//! Data directories are bind mounts of `<data_root>/<volume>`; they must exist and be owned by
//! uid 65532 (MongoDB's by 999) before the first start: see the header of each file.

use anyhow::{anyhow, bail, Context, Result};
pub mod budget;

pub mod env;
pub mod images;
pub mod model;
pub mod mongodb;
pub mod network;
pub mod schema;
pub mod service;

pub use images::{read_release_manifest, Source};
pub use lucid_catalog::topology::{Deployment, COMPOSE_DIR};

use lucid_catalog::{ImageManifest, Workspace, MONGODB};
use model::{ComposeDoc, SecretDef};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The command that regenerates the files (named in their header).
pub const COMMAND: &str = "cargo xtask compose";

/// One generated file and what it asks of the device.
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
}

/// Everything `cargo xtask compose` would write.
#[derive(Debug, Clone)]
pub struct Generated {
    pub files: Vec<ComposeFile>,
    pub source: Source,
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
        match generate_one(ws, d, &deployments, &images, &source, &addresses) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        let all: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
        bail!("{}", all.join("\n"));
    }
    Ok(Generated { files, source })
}

fn generate_one(
    ws: &Workspace,
    d: &Deployment,
    all: &[Deployment],
    images: &BTreeMap<String, String>,
    source: &Source,
    addresses: &network::Addresses,
) -> Result<ComposeFile> {
    let services = d.services(ws);
    let mut resources: Vec<&lucid_catalog::Resources> =
        services.iter().map(|s| &s.resources).collect();
    if d.mongodb {
        resources.push(&ws.settings.mongodb.resources);
    }
    let usage = budget::usage(resources);
    budget::check(&d.file, usage, &ws.settings.device)?;
    check_dependencies(ws, d, all)?;

    let mut doc = ComposeDoc {
        services: BTreeMap::new(),
        networks: BTreeMap::from([(
            ws.settings.network.name.clone(),
            network::definition(ws, addresses),
        )]),
        secrets: BTreeMap::new(),
    };
    if d.mongodb {
        doc.services
            .insert(MONGODB.into(), mongodb::definition(ws, addresses)?);
    }
    for s in &services {
        let def = service::definition(ws, s, images[&s.name].clone(), d, addresses)?;
        doc.services.insert(s.name.clone(), def);
    }
    let secrets: BTreeSet<String> = doc
        .services
        .values()
        .flat_map(|s| s.secrets.iter().cloned())
        .collect();
    doc.secrets = secrets
        .into_iter()
        .map(|name| {
            let file = format!("{}/{name}", service::SECRETS_DIR);
            (name, SecretDef { file })
        })
        .collect();

    let yaml = serde_norway::to_string(&doc)
        .with_context(|| format!("compose/{}: cannot serialise", d.file))?;
    let text = format!("{}{}", header(ws, d, &doc, source), spaced(&yaml));
    schema::validate(&format!("compose/{}", d.file), &text)
        .map_err(|problems| anyhow!("{}", problems.join("\n")))?;
    Ok(ComposeFile {
        deployment: d.clone(),
        text,
        containers: doc.services.len(),
        usage,
    })
}

/// Every `depends_on` must name a service defined by a file of the same deployment.
fn check_dependencies(ws: &Workspace, d: &Deployment, all: &[Deployment]) -> Result<()> {
    let mut defined: BTreeSet<&str> = d
        .deployed_services(ws)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let with_mongodb = d.mongodb
        || all
            .iter()
            .any(|o| o.mongodb && d.deployed_with.contains(&o.file));
    if with_mongodb {
        defined.insert(MONGODB);
    }
    let mut problems = Vec::new();
    for s in d.services(ws) {
        for dep in &s.depends_on {
            if !defined.contains(dep.as_str()) {
                problems.push(format!(
                    "{}: {}: package.metadata.lucid.depends_on: {dep:?} is not defined in compose/{} or the files it is deployed with ({:?})",
                    s.manifest_path.display(),
                    s.name,
                    d.file,
                    d.deployed_with
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

fn header(ws: &Workspace, d: &Deployment, doc: &ComposeDoc, source: &Source) -> String {
    let mut h = String::new();
    let mut line = |s: &str| {
        if s.is_empty() {
            h.push_str("#\n");
        } else {
            h.push_str("# ");
            h.push_str(s);
            h.push('\n');
        }
    };
    line(&format!(
        "GENERATED by `{COMMAND}` from [package.metadata.lucid] of the service crates and"
    ));
    line("[workspace.metadata.lucid] of the root Cargo.toml. Do not edit: change the metadata and");
    line(&format!(
        "regenerate; `{COMMAND} --check` (run by CI) fails when this file is stale."
    ));
    line("");
    line(&format!("compose/{}: {}.", d.file, d.title));
    let files: Vec<String> = d.files().iter().map(|f| format!("-f {f}")).collect();
    line(&format!("Deploy: docker-compose {} up -d", files.join(" ")));
    line(&format!("Images: {source}."));
    line("");
    let lucid_dirs: Vec<String> = doc
        .services
        .iter()
        .filter(|(name, _)| name.as_str() != MONGODB)
        .flat_map(|(_, s)| s.volumes.iter())
        .map(|v| v.source.clone())
        .collect();
    let mongo_dirs: Vec<String> = doc
        .services
        .get(MONGODB)
        .map(|m| m.volumes.iter().map(|v| v.source.clone()).collect())
        .unwrap_or_default();
    if !lucid_dirs.is_empty() || !mongo_dirs.is_empty() {
        line(&format!(
            "Data: bind mounts under {}. Docker refuses to start a container",
            ws.settings.data_root
        ));
        line("whose directory is missing; the containers run as non-root users, so create them");
        line("owned by those users before the first start (bind mounts keep host ownership):");
        if !lucid_dirs.is_empty() {
            line(&format!(
                "  install -d -o 65532 -g 65532 {}",
                lucid_dirs.join(" ")
            ));
        }
        if !mongo_dirs.is_empty() {
            line(&format!(
                "  install -d -o 999 -g 999 {}",
                mongo_dirs.join(" ")
            ));
        }
        line("");
    }
    if !doc.secrets.is_empty() {
        let names: Vec<&str> = doc.secrets.keys().map(String::as_str).collect();
        line(&format!(
            "Secrets: one file each in {}/ (relative to this file): {}.",
            service::SECRETS_DIR,
            names.join(", ")
        ));
        line(
            "They are bind-mounted at /run/secrets/<name> and must be readable by the containers'",
        );
        line("users (65532, MongoDB 999): e.g. mode 0444 files in a root-owned 0700 directory.");
        line("");
    }
    h
}

/// A blank line between top-level sections and between services, for the reader.
fn spaced(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 256);
    let mut section = "";
    for (i, l) in yaml.lines().enumerate() {
        let top_level = !l.starts_with(' ');
        if top_level {
            section = l;
        }
        let service_start = section == "services:" && l.starts_with("  ") && !l.starts_with("   ");
        if i > 0 && (top_level || service_start) && !out.ends_with(":\n") {
            out.push('\n');
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// A committed file that differs from what would be generated.
#[derive(Debug, Clone)]
pub struct Stale {
    /// Path relative to the workspace root.
    pub path: String,
    /// Unified diff from the committed file to the generated one.
    pub diff: String,
}

/// Compares the generated files with those under `<root>/compose/`.
pub fn check(root: &Path, generated: &Generated) -> Vec<Stale> {
    let mut out = Vec::new();
    for f in &generated.files {
        let rel = format!("{COMPOSE_DIR}/{}", f.name());
        let committed = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
        if committed != f.text {
            out.push(Stale {
                diff: unified_diff(&rel, &committed, &f.text),
                path: rel,
            });
        }
    }
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

/// Writes the files that differ; returns the paths written (relative to `root`).
pub fn write(root: &Path, generated: &Generated) -> Result<Vec<String>> {
    let dir = root.join(COMPOSE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let mut written = Vec::new();
    for f in &generated.files {
        let rel = format!("{COMPOSE_DIR}/{}", f.name());
        let path = root.join(&rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.text.as_str()) {
            std::fs::write(&path, &f.text).with_context(|| path.display().to_string())?;
            written.push(rel);
        }
    }
    Ok(written)
}
