//! The distroless "static" base, assembled from the Debian packages of the lock file.
//!
//! Content: the CA bundle, tzdata, netbase's /etc/services & co, /etc/passwd and /etc/group with
//! root (0) and nonroot (65532), /tmp (1777), /home/nonroot (owned by 65532), the packages'
//! copyright notices (licences travel with redistributed content) — and nothing else: no shell,
//! no package manager, no maintainer scripts, no docs or man pages.
//!
//! Every entry keeps the mtime the package gave it, and generated entries take the newest of
//! those: the base layer depends only on the lock, so it is the same blob for every commit and
//! for both platforms (all packages are `Architecture: all`), stored and pushed once.

use crate::deb::{self, Lock};
use crate::layer::{self, Entry, Kind, Layer};
use crate::layout::{write_atomic, Layout};
use anyhow::{bail, Context, Result};
use lucid_catalog::Platform;
use std::collections::BTreeMap;
use std::path::Path;

/// uid/gid of the `nonroot` user that every service runs as.
pub const NONROOT: u64 = 65532;

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";

const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

/// Where a CA bundle is expected by OpenSSL/rustls-native-certs and by `SSL_CERT_FILE`.
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// The base as the images use it. From the lock: one gzip layer stored in the OCI layout, the
/// same for every platform. By reference ([`crate::base_ref`]): per platform, the layers and
/// config of an image fetched from its registry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Base {
    /// `debian-lock:<sha256 of the package pins>`, or the reference without its digest.
    pub name: String,
    /// Digest of the gzip layer (the blob in the layout and the registry), or of the
    /// reference's index (or single manifest).
    pub digest: String,
    /// Digest of the uncompressed tar (lock base; empty for a reference).
    pub diff_id: String,
    /// Compressed and uncompressed bytes (for a reference: its distinct layers, all platforms).
    pub size: u64,
    pub uncompressed_size: u64,
    /// A base by reference, one entry per platform built; empty for the lock base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<BasePlatform>,
}

/// One platform of a base by reference, every blob of it in the layout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BasePlatform {
    /// `linux/arm64`.
    pub platform: String,
    pub manifest: String,
    /// Digest of the image config, the starting point of the service image's config.
    pub config: String,
    pub layers: Vec<LayerRef>,
}

/// A base layer as a service image's manifest and config refer to it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerRef {
    pub media_type: String,
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
}

/// Media type of a gzip layer (the lock base, the service layers).
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

impl Base {
    /// The base of `lock`, stored in `layout`: read from the record in `cache_dir` when the
    /// layout still holds its blob, else assembled (packages downloaded into `cache_dir/deb`).
    pub fn prepare(lock: &Lock, layout: &Layout, cache_dir: &Path) -> Result<Base> {
        let record = cache_dir.join(format!("base-{}.json", lock.fingerprint()));
        if let Ok(bytes) = std::fs::read(&record) {
            if let Ok(base) = serde_json::from_slice::<Base>(&bytes) {
                if layout.has_blob(&base.digest) {
                    return Ok(base);
                }
            }
        }
        let layer = Base::layer(lock, &cache_dir.join("deb"))?;
        layout.put_blob(&layer.gzip)?;
        let base = Base {
            name: format!("debian-lock:{}", lock.fingerprint()),
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            size: layer.gzip.len() as u64,
            uncompressed_size: layer.tar.len() as u64,
            platforms: Vec::new(),
        };
        write_atomic(&record, &serde_json::to_vec_pretty(&base)?)?;
        Ok(base)
    }

    /// True for a base by reference (fetched from a registry), false for the lock base.
    pub fn is_reference(&self) -> bool {
        !self.platforms.is_empty()
    }

    /// The base layers of `platform`'s image, in order.
    pub fn layers(&self, platform: Platform) -> Result<Vec<LayerRef>> {
        if !self.is_reference() {
            return Ok(vec![LayerRef {
                media_type: LAYER_GZIP.into(),
                digest: self.digest.clone(),
                diff_id: self.diff_id.clone(),
                size: self.size,
                uncompressed_size: self.uncompressed_size,
            }]);
        }
        Ok(self.platform(platform)?.layers.clone())
    }

    /// The platform entry of a base by reference.
    pub fn platform(&self, platform: Platform) -> Result<&BasePlatform> {
        self.platforms
            .iter()
            .find(|p| p.platform == platform.oci())
            .with_context(|| format!("base {} has no {platform} image", self.name))
    }

    /// The uncompressed base layer (the rootfs that the Dockerfile ADDs), from the layout.
    pub fn tar(&self, layout: &Layout) -> Result<Vec<u8>> {
        if self.is_reference() {
            bail!(
                "base {}@{} is an image by reference: it has no single rootfs tar (the buildx \
                 engine takes it as the named context `base`)",
                self.name,
                self.digest
            );
        }
        let gz = layout.read_blob(&self.digest)?;
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .context("base layer")?;
        Ok(out)
    }

    /// Assembles the base layer from `lock`, downloading packages into (or reading them from) `deb_cache`.
    pub fn layer(lock: &Lock, deb_cache: &Path) -> Result<Layer> {
        let mut files: BTreeMap<String, Entry> = BTreeMap::new();
        let mut certs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut newest = 0;
        for p in &lock.packages {
            let deb_bytes = deb::fetch(p, deb_cache)?;
            let data =
                deb::data_tar(&deb_bytes).with_context(|| format!("{} {}", p.name, p.version))?;
            let mut archive = tar::Archive::new(&data[..]);
            let entries = archive
                .entries()
                .with_context(|| format!("{} {}: data.tar", p.name, p.version))?;
            for entry in entries {
                let mut entry = entry.with_context(|| format!("{}: data.tar", p.name))?;
                let path = entry
                    .path()
                    .with_context(|| p.name.clone())?
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_string();
                let h = entry.header().clone();
                let mtime = h.mtime().unwrap_or(0);
                let mode = h.mode().unwrap_or(0o644) & 0o7777;
                if path.starts_with("usr/share/ca-certificates/mozilla/") && path.ends_with(".crt")
                {
                    let mut pem = Vec::new();
                    std::io::Read::read_to_end(&mut entry, &mut pem)
                        .with_context(|| format!("{}: {path}", p.name))?;
                    newest = newest.max(mtime);
                    certs.insert(path, pem);
                    continue;
                }
                if !keep(&path, &p.name) {
                    continue;
                }
                let kind = match h.entry_type() {
                    tar::EntryType::Directory => Kind::Dir,
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        let target = entry
                            .link_name()
                            .ok()
                            .flatten()
                            .map(|l| l.to_string_lossy().to_string())
                            .unwrap_or_default();
                        if h.entry_type() == tar::EntryType::Link {
                            Kind::Hardlink(target.trim_start_matches("./").to_string())
                        } else {
                            Kind::Symlink(target)
                        }
                    }
                    _ => {
                        let mut data = Vec::new();
                        std::io::Read::read_to_end(&mut entry, &mut data)
                            .with_context(|| format!("{}: {path}", p.name))?;
                        Kind::File(data)
                    }
                };
                newest = newest.max(mtime);
                files.insert(
                    path.clone(),
                    Entry {
                        path,
                        kind,
                        mode,
                        uid: 0,
                        gid: 0,
                        mtime,
                    },
                );
            }
        }
        if certs.is_empty() {
            bail!("the lock's packages hold no CA certificate (ca-certificates missing?)");
        }
        for e in generated(&certs, newest) {
            files.insert(e.path.clone(), e);
        }
        // Every parent directory exists, root-owned 0755 unless a package or the list above says otherwise.
        let paths: Vec<String> = files.keys().cloned().collect();
        for path in paths {
            let mut parent = path.as_str();
            while let Some((dir, _)) = parent.rsplit_once('/') {
                files
                    .entry(dir.to_string())
                    .or_insert_with(|| Entry::dir(dir, 0o755, 0, newest));
                parent = dir;
            }
        }
        layer::build(files.into_values().collect())
    }
}

/// What the base keeps of a package's data (directories are recreated from the kept files).
fn keep(path: &str, package: &str) -> bool {
    path.starts_with("usr/share/zoneinfo/")
        || matches!(
            path,
            "etc/services" | "etc/protocols" | "etc/rpc" | "etc/ethertypes"
        )
        || path == format!("usr/share/doc/{package}/copyright")
}

/// The files a package's maintainer scripts (or adduser) would have made, and the fixed dirs.
fn generated(certs: &BTreeMap<String, Vec<u8>>, mtime: u64) -> Vec<Entry> {
    // update-ca-certificates concatenates the certificates in file name order.
    let mut bundle = Vec::new();
    for pem in certs.values() {
        bundle.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    let mut nonroot_home = Entry::dir("home/nonroot", 0o700, NONROOT, mtime);
    nonroot_home.gid = NONROOT;
    vec![
        Entry::file(CA_BUNDLE, 0o644, bundle, mtime),
        Entry::file("etc/passwd", 0o644, PASSWD.into(), mtime),
        Entry::file("etc/group", 0o644, GROUP.into(), mtime),
        Entry::dir("etc/ssl", 0o755, 0, mtime),
        Entry::dir("etc/ssl/certs", 0o755, 0, mtime),
        Entry::dir("home", 0o755, 0, mtime),
        nonroot_home,
        Entry::dir("root", 0o700, 0, mtime),
        Entry::dir("tmp", 0o1777, 0, mtime),
    ]
}
