//! The OCI image layout under `target/lucid/oci/`: the local, content-addressed store of every
//! image (`blobs/sha256/<hex>`), and `index.json` with one entry per service annotated
//! `org.opencontainers.image.ref.name = <versioned tag>`, so `skopeo copy oci:<dir>:<tag> …` works.

use crate::json::canonical;
use crate::sha256_digest;
use anyhow::{bail, Context, Result};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const TITLE: &str = "org.opencontainers.image.title";

pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, creating an empty one if needed.
    pub fn open(root: &Path) -> Result<Layout> {
        let blobs = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).with_context(|| blobs.display().to_string())?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let layout = Layout { root: root.into() };
        if !root.join("index.json").exists() {
            layout.write_index(&[])?;
        }
        Ok(layout)
    }

    /// Opens the layout at `root`, which must exist (`oci-layout` marker).
    pub fn open_existing(root: &Path) -> Result<Layout> {
        if !root.join("oci-layout").is_file() {
            bail!(
                "{}: not an OCI image layout (no oci-layout file)",
                root.display()
            );
        }
        Layout::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs").join("sha256").join(hex)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores `bytes` (once) and returns their digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(&digest);
        if !path.is_file() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Reads a blob and checks that it still has its digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
        if sha256_digest(&bytes) != digest {
            bail!(
                "{}: corrupt blob (content does not match its digest); delete it and rebuild",
                path.display()
            );
        }
        Ok(bytes)
    }

    /// The entries of `index.json`.
    pub fn entries(&self) -> Result<Vec<Descriptor>> {
        let path = self.root.join("index.json");
        let index = ImageIndex::from_file(&path).with_context(|| path.display().to_string())?;
        Ok(index.manifests().clone())
    }

    /// The entry tagged `ref_name`.
    pub fn find(&self, ref_name: &str) -> Result<Option<Descriptor>> {
        Ok(self.entries()?.into_iter().find(|d| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .is_some_and(|r| r == ref_name)
        }))
    }

    /// Records `desc` as the image of `service` tagged `ref_name`, replacing the service's
    /// previous entry (one entry per service: the layout holds the current build).
    pub fn set_image(&self, service: &str, ref_name: &str, desc: &Descriptor) -> Result<()> {
        let mut entries: Vec<Descriptor> = self
            .entries()?
            .into_iter()
            .filter(|d| {
                let a = d.annotations().clone().unwrap_or_default();
                a.get(TITLE).map(String::as_str) != Some(service)
                    && a.get(REF_NAME).map(String::as_str) != Some(ref_name)
            })
            .collect();
        let mut desc = desc.clone();
        desc.set_annotations(Some(HashMap::from([
            (REF_NAME.to_string(), ref_name.to_string()),
            (TITLE.to_string(), service.to_string()),
        ])));
        desc.set_platform(None);
        entries.push(desc);
        entries.sort_by_key(|d| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME).cloned())
                .unwrap_or_default()
        });
        self.write_index(&entries)
    }

    fn write_index(&self, entries: &[Descriptor]) -> Result<()> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(entries.to_vec())
            .build()?;
        write_atomic(&self.root.join("index.json"), &canonical(&index)?)
    }

    /// Deletes blobs that no entry of index.json reaches (old builds); returns bytes freed.
    pub fn gc(&self) -> Result<u64> {
        let mut live = BTreeSet::new();
        let mut todo: Vec<Descriptor> = self.entries()?;
        while let Some(d) = todo.pop() {
            let digest = d.digest().to_string();
            if !live.insert(digest.clone()) {
                continue;
            }
            match d.media_type() {
                MediaType::ImageIndex => {
                    let idx = ImageIndex::from_reader(&self.read_blob(&digest)?[..])
                        .with_context(|| digest.to_string())?;
                    todo.extend(idx.manifests().iter().cloned());
                }
                MediaType::ImageManifest => {
                    let m = ImageManifest::from_reader(&self.read_blob(&digest)?[..])
                        .with_context(|| digest.to_string())?;
                    live.insert(m.config().digest().to_string());
                    live.extend(m.layers().iter().map(|l| l.digest().to_string()));
                }
                _ => {}
            }
        }
        let dir = self.root.join("blobs").join("sha256");
        let mut freed = 0;
        for f in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            if !live.contains(&format!("sha256:{name}")) {
                freed += f.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = std::fs::remove_file(f.path());
            }
        }
        Ok(freed)
    }
}

/// Writes through a temporary file and a rename, so an interrupted run never leaves half a blob.
/// The temporary name is unique per call (process id and a counter): two threads writing the
/// same path at once must not share, truncate or rename away each other's temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    // Test threads of one process used to share one temporary name and rename it away from
    // each other (CI saw "No such file or directory" on the base record).
    #[test]
    fn concurrent_writers_of_one_path_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.json");
        let writers: Vec<_> = (0..8u8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    (0..25).try_for_each(|_| write_atomic(&path, &[b'a' + i; 4096]))
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap().expect("every concurrent write succeeds");
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(
            bytes.iter().all(|b| *b == bytes[0]),
            "one writer's version, whole"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
