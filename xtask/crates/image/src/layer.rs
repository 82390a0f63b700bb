//! Reproducible layers: a sorted list of entries → tar → gzip, with every varying field fixed.
//!
//! Same entries → same bytes → same digests: entries are sorted by path, owners are numeric
//! (no user/group names), mtimes come from the caller (SOURCE_DATE_EPOCH or the package's own),
//! and the gzip header carries no timestamp, no file name and a fixed OS byte.

use crate::sha256_digest;
use anyhow::{anyhow, Context, Result};
use flate2::{Compression, GzBuilder};
use std::io::Write;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    /// A hard link to another path of the same layer.
    Hardlink(String),
}

/// One file system entry of a layer. `path` is relative (`etc/passwd`), without trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

impl Entry {
    pub fn dir(path: &str, mode: u32, owner: u64, mtime: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::Dir,
            mode,
            uid: owner,
            gid: owner,
            mtime,
        }
    }

    pub fn file(path: &str, mode: u32, data: Vec<u8>, mtime: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File(data),
            mode,
            uid: 0,
            gid: 0,
            mtime,
        }
    }
}

/// A finished layer: its uncompressed tar (for `diff_id` and the Docker build context) and gzip.
#[derive(Debug, Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub gzip: Vec<u8>,
    /// sha256 of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// sha256 of the gzip (the manifest's layer descriptor).
    pub digest: String,
}

/// Builds the layer of `entries` (any order; sorted here).
pub fn build(mut entries: Vec<Entry>) -> Result<Layer> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);
    let tar = tar_bytes(&entries)?;
    let gzip = gzip(&tar)?;
    Ok(Layer {
        diff_id: sha256_digest(&tar),
        digest: sha256_digest(&gzip),
        tar,
        gzip,
    })
}

fn tar_bytes(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let err = |x: std::io::Error| anyhow!("tar: {}: {x}", e.path);
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                builder
                    .append_data(&mut h, format!("{}/", e.path), &[][..])
                    .map_err(err)?;
            }
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                builder
                    .append_data(&mut h, &e.path, &data[..])
                    .map_err(err)?;
            }
            Kind::Symlink(target) | Kind::Hardlink(target) => {
                h.set_entry_type(if matches!(e.kind, Kind::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                builder.append_link(&mut h, &e.path, target).map_err(err)?;
            }
        }
    }
    builder.into_inner().context("tar")
}

/// gzip with a fixed header (mtime 0, no name, OS byte "unknown") and a fixed level.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut enc = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::best());
    enc.write_all(bytes).context("gzip")?;
    enc.finish().context("gzip")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::file("usr/local/bin/x", 0o755, b"\x7fELF".to_vec(), 1_700_000_000),
            Entry::dir("usr", 0o755, 0, 1_700_000_000),
            Entry::dir("usr/local", 0o755, 0, 1_700_000_000),
            Entry::dir("usr/local/bin", 0o755, 0, 1_700_000_000),
        ]
    }

    #[test]
    fn same_entries_in_any_order_give_the_same_digest() {
        let a = build(sample()).unwrap();
        let mut reversed = sample();
        reversed.reverse();
        let b = build(reversed).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.diff_id, b.diff_id);
        // gzip header: magic, deflate, no flags, mtime 0, xfl, OS 255.
        assert_eq!(&a.gzip[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    }

    #[test]
    fn mtime_changes_the_digest() {
        let a = build(sample()).unwrap();
        let mut later = sample();
        later[0].mtime += 1;
        assert_ne!(a.digest, build(later).unwrap().digest);
    }

    #[test]
    fn tar_holds_numeric_owners_and_sorted_paths() {
        let layer = build(sample()).unwrap();
        let mut archive = tar::Archive::new(&layer.tar[..]);
        let mut paths = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().username().unwrap(), Some(""));
            paths.push(e.path().unwrap().to_string_lossy().to_string());
        }
        assert_eq!(
            paths,
            ["usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/x"]
        );
    }
}
