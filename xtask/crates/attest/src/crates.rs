//! The crates of a service binary for one target, from cargo metadata's resolve
//! (`cargo metadata --filter-platform <target>` keeps the dependencies of that target's
//! platform). Linked: from the service's package, along normal dependencies, leaving out proc
//! macros (compiled for the host, never linked). Build-only: what else the binary needs to be
//! built — proc macros, build-script dependencies, and their own dependencies.
//!
//! cargo-auditable (`.dep-v0`) records the same two sets together (it walks every non-dev
//! edge), marking build-script dependencies as `build`; up to at least 0.7.7 it marks a proc
//! macro that also has test or example targets (displaydoc, yoke-derive…) as `runtime`, so
//! `verify` compares the union and checks every linked crate is recorded as runtime.

use anyhow::{anyhow, bail, Context, Result};
use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Node, PackageId};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;

/// A crate as the SBOM describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// `registry+https://github.com/rust-lang/crates.io-index`, `git+…`; `None` for a path
    /// (workspace) crate.
    pub source: Option<String>,
    /// sha256 of the `.crate` from Cargo.lock (registry crates only).
    pub checksum: Option<String>,
    /// The declared licence (Cargo.toml `license`), as written.
    pub license: Option<String>,
}

impl Crate {
    /// `pkg:cargo/<name>@<version>`.
    pub fn purl(&self) -> String {
        format!(
            "pkg:cargo/{}@{}",
            self.name,
            lucid_catalog::url::query_value(&self.version)
        )
    }

    pub fn from_crates_io(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|s| s.starts_with("registry+https://github.com/rust-lang/crates.io-index"))
    }
}

/// `cargo metadata` of the workspace at `root`, resolved for `target` only (offline: the
/// build that precedes this has fetched every package).
pub fn metadata(root: &Path, target: &str) -> Result<Metadata> {
    MetadataCommand::new()
        .current_dir(root)
        .other_options(vec![
            "--filter-platform".to_string(),
            target.to_string(),
            "--locked".to_string(),
        ])
        .exec()
        .map_err(|e| {
            anyhow!(
                "cargo metadata --filter-platform {target} in {}: {e}",
                root.display()
            )
        })
}

/// The checksums of `Cargo.lock`, by (name, version, source).
pub fn lock_checksums(cargo_lock: &Path) -> Result<BTreeMap<(String, String, String), String>> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        version: String,
        source: Option<String>,
        checksum: Option<String>,
    }
    let text =
        std::fs::read_to_string(cargo_lock).with_context(|| cargo_lock.display().to_string())?;
    let lock: Lock = toml::from_str(&text).with_context(|| cargo_lock.display().to_string())?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|e| Some(((e.name, e.version, e.source?), e.checksum?)))
        .collect())
}

/// The crates of a service binary: what it links, and what only built it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServiceCrates {
    /// Linked into the binary.
    pub linked: Vec<Crate>,
    /// Needed to build it but not linked: proc macros, build-script dependencies, and what
    /// they depend on.
    pub build: Vec<Crate>,
}

/// The crates of the binary of workspace package `package` (itself excluded), each list
/// sorted by name and version. Dev-dependencies are neither.
pub fn of_service(
    metadata: &Metadata,
    package: &str,
    checksums: &BTreeMap<(String, String, String), String>,
) -> Result<ServiceCrates> {
    let root = &metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == package)
        .with_context(|| format!("{package} is not a package of the workspace"))?
        .id;
    let resolve = metadata
        .resolve
        .as_ref()
        .context("cargo metadata without a resolve (was --no-deps given?)")?;
    let nodes: HashMap<&PackageId, &Node> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let proc_macros: HashSet<&PackageId> = metadata
        .packages
        .iter()
        .filter(|p| p.targets.iter().any(|t| t.is_proc_macro()))
        .map(|p| &p.id)
        .collect();
    // Linked: reached from the root through normal dependencies on crates that are not proc
    // macros. Needed: reached through normal or build dependencies at all.
    let linked = reach(&nodes, root, &|dep, kind| {
        kind == DependencyKind::Normal && !proc_macros.contains(dep)
    })?;
    let needed = reach(&nodes, root, &|_, kind| kind != DependencyKind::Development)?;
    let mut out = ServiceCrates::default();
    for p in metadata
        .packages
        .iter()
        .filter(|p| &p.id != root && needed.contains(&p.id))
    {
        let c = describe(p, checksums)?;
        if linked.contains(&p.id) {
            out.linked.push(c);
        } else {
            out.build.push(c);
        }
    }
    out.linked.sort();
    out.build.sort();
    Ok(out)
}

/// The packages reachable from `root` along the dependency edges `follow` accepts.
fn reach<'a>(
    nodes: &HashMap<&'a PackageId, &'a Node>,
    root: &'a PackageId,
    follow: &dyn Fn(&PackageId, DependencyKind) -> bool,
) -> Result<HashSet<&'a PackageId>> {
    let mut seen: HashSet<&PackageId> = HashSet::from([root]);
    let mut queue = VecDeque::from([root]);
    while let Some(id) = queue.pop_front() {
        let node = nodes
            .get(id)
            .with_context(|| format!("cargo metadata: no resolve node for {id}"))?;
        for dep in &node.deps {
            let followed = dep.dep_kinds.iter().any(|k| follow(&dep.pkg, k.kind));
            if followed && seen.insert(&dep.pkg) {
                queue.push_back(&dep.pkg);
            }
        }
    }
    Ok(seen)
}

fn describe(
    p: &cargo_metadata::Package,
    checksums: &BTreeMap<(String, String, String), String>,
) -> Result<Crate> {
    let source = p.source.as_ref().map(|s| s.repr.clone());
    let checksum = source.as_ref().and_then(|s| {
        checksums
            .get(&(p.name.to_string(), p.version.to_string(), s.clone()))
            .cloned()
    });
    if source
        .as_deref()
        .is_some_and(|s| s.starts_with("registry+"))
        && checksum.is_none()
    {
        bail!("Cargo.lock has no checksum for {} {}", p.name, p.version);
    }
    Ok(Crate {
        name: p.name.to_string(),
        version: p.version.to_string(),
        source,
        checksum,
        license: p.license.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
    }

    // The real workspace: tor-proxy links the runtime and its registry crates, never a proc
    // macro (serde_derive, built only), a dependency of another platform (getrandom's r-efi, for UEFI) or
    // a dev-dependency (the runtime's libc is also getrandom's, so it stays).
    #[test]
    fn lists_what_a_service_links_for_its_target() {
        let root = workspace_root();
        let metadata = metadata(&root, "aarch64-unknown-linux-musl").unwrap();
        let checksums = lock_checksums(&root.join("Cargo.lock")).unwrap();
        let crates = of_service(&metadata, "tor-proxy", &checksums).unwrap();
        let build: Vec<&str> = crates.build.iter().map(|c| c.name.as_str()).collect();
        assert!(build.contains(&"serde_derive"), "{build:?}");
        assert!(
            build.contains(&"cc"),
            "ring's build-script dependency: {build:?}"
        );
        let crates = crates.linked;
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"lucid-runtime"), "{names:?}");
        assert!(names.contains(&"serde"), "{names:?}");
        assert!(
            !names.contains(&"serde_derive"),
            "proc macro listed: {names:?}"
        );
        assert!(names.contains(&"getrandom"), "{names:?}");
        assert!(
            !names.contains(&"r-efi"),
            "UEFI-only dependency listed: {names:?}"
        );
        assert!(
            !names.contains(&"tor-proxy"),
            "the root is the binary, not a crate"
        );
        let serde = crates.iter().find(|c| c.name == "serde").unwrap();
        assert_eq!(serde.checksum.as_ref().map(String::len), Some(64));
        assert!(serde.from_crates_io());
        assert_eq!(serde.purl(), format!("pkg:cargo/serde@{}", serde.version));
        let runtime = crates.iter().find(|c| c.name == "lucid-runtime").unwrap();
        assert_eq!(
            (runtime.source.as_ref(), runtime.checksum.as_ref()),
            (None, None)
        );
    }
}
