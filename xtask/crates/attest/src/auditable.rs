//! The dependency list cargo-auditable embeds in a binary: the ELF section `.dep-v0`, zlib
//! compressed JSON `{"packages":[{"name","version","source","kind"?,"root"?,…}]}` (the format
//! that `rust-audit-info`, Trivy, Grype and Syft read). The one marked `root` is the binary's
//! own crate; `"kind":"build"` marks build-time crates, the others are recorded as runtime.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::io::Read;

pub const SECTION: &str = ".dep-v0";

/// What a binary says it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// (name, version) of the binary's own crate.
    pub root: Option<(String, String)>,
    /// (name, version) of the crates recorded as runtime dependencies, sorted.
    pub runtime: Vec<(String, String)>,
    /// (name, version) of the crates recorded as build dependencies, sorted.
    pub build: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

/// The embedded list of an ELF binary; `None` when it has no `.dep-v0` section (not built
/// with cargo-auditable).
pub fn read(binary: &[u8]) -> Result<Option<Embedded>> {
    let Some(compressed) = lucid_validate::elf::section(binary, SECTION)? else {
        return Ok(None);
    };
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(64 << 20)
        .read_to_end(&mut json)
        .context("the .dep-v0 section is not zlib data")?;
    let info: VersionInfo =
        serde_json::from_slice(&json).context("the .dep-v0 section is not cargo-auditable JSON")?;
    let mut e = Embedded {
        root: None,
        runtime: Vec::new(),
        build: Vec::new(),
    };
    for p in info.packages {
        let entry = (p.name, p.version);
        if p.root {
            e.root = Some(entry);
        } else if p.kind.as_deref() == Some("build") {
            e.build.push(entry);
        } else {
            e.runtime.push(entry);
        }
    }
    for list in [&mut e.runtime, &mut e.build] {
        list.sort();
        list.dedup();
    }
    Ok(Some(e))
}
