//! The root file system of an image: its layers applied in order (with OCI whiteouts), as a
//! sorted map that can be compared and searched. Used to check images (no shell, the binary's
//! mode and owner) and to prove that both engines produce the same file system.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;

/// What a path holds in the final file system (mtimes left out on purpose: engines differ there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `dir`, `file`, `symlink` or `hardlink`.
    pub kind: &'static str,
    /// Permission bits including setuid/sticky (`0o1777` for /tmp).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// File contents' sha256, or the link target.
    pub content: String,
}

/// `path` (no leading `/`, no trailing `/`) → node.
pub type Tree = BTreeMap<String, Node>;

/// Applies a layer (`tar`, or `tar+gzip` detected by its magic) on top of `tree`.
pub fn apply_layer(tree: &mut Tree, layer: &[u8]) -> Result<()> {
    let tar_bytes;
    let bytes = if layer.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(layer)
            .read_to_end(&mut out)
            .context("layer gzip")?;
        tar_bytes = out;
        &tar_bytes[..]
    } else {
        layer
    };
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().context("layer tar")? {
        let mut entry = entry.context("layer tar")?;
        let raw = entry
            .path()
            .context("layer tar")?
            .to_string_lossy()
            .to_string();
        let path = normalize(&raw);
        if path.is_empty() {
            continue;
        }
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n.to_string()),
            None => (String::new(), path.clone()),
        };
        if name == ".wh..wh..opq" {
            tree.retain(|p, _| !p.starts_with(&dir));
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let gone = format!("{dir}{hidden}");
            tree.retain(|p, _| p != &gone && !p.starts_with(&format!("{gone}/")));
            continue;
        }
        let h = entry.header();
        let (mode, uid, gid) = (
            h.mode().with_context(|| path.to_string())? & 0o7777,
            h.uid().with_context(|| path.to_string())?,
            h.gid().with_context(|| path.to_string())?,
        );
        let link = || -> Result<String> {
            Ok(entry
                .link_name()
                .with_context(|| path.to_string())?
                .map(|l| l.to_string_lossy().to_string())
                .unwrap_or_default())
        };
        let (kind, content) = match h.entry_type() {
            tar::EntryType::Directory => ("dir", String::new()),
            tar::EntryType::Symlink => ("symlink", link()?),
            tar::EntryType::Link => {
                // A hard link has its target's contents: compare it as a file.
                let target = normalize(&link()?);
                let content = tree
                    .get(&target)
                    .map(|n| n.content.clone())
                    .unwrap_or_default();
                ("file", content)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .with_context(|| path.to_string())?;
                ("file", crate::sha256_digest(&data))
            }
            other => bail!("{path}: unexpected tar entry type {other:?}"),
        };
        if kind != "dir" {
            // A file replacing a directory removes what was below it.
            tree.retain(|p, _| !p.starts_with(&format!("{path}/")));
        }
        tree.insert(
            path,
            Node {
                kind,
                mode,
                uid,
                gid,
                content,
            },
        );
    }
    Ok(())
}

fn normalize(raw: &str) -> String {
    raw.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// Paths that must never be in a Lucid image: shells, busybox, package managers.
pub const FORBIDDEN: &[&str] = &[
    "bin/sh",
    "bin/bash",
    "bin/dash",
    "bin/ash",
    "bin/busybox",
    "usr/bin/sh",
    "usr/bin/bash",
    "usr/bin/dash",
    "usr/bin/busybox",
    "bin/busybox",
    "usr/bin/dpkg",
    "usr/bin/apt",
    "usr/bin/apt-get",
    "sbin/apk",
    "usr/bin/curl",
    "usr/bin/wget",
    "var/lib/dpkg/status",
];

/// The forbidden paths present in `tree`.
pub fn forbidden_paths(tree: &Tree) -> Vec<String> {
    FORBIDDEN
        .iter()
        .filter(|p| tree.contains_key(**p))
        .map(|p| p.to_string())
        .collect()
}
