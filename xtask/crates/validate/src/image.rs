//! Inspects one multi-platform image: reads the index, each platform's manifest, config and
//! layers, and checks what the layers hold (user, entrypoint ELF, no shell, no package
//! manager, no setuid file, no secret, labels).

use crate::elf;
use crate::report::{Check, Finding, PlatformReport};
use crate::source::{ImageSource, ManifestDoc};
use anyhow::{anyhow, bail, Context, Result};
use lucid_catalog::Platform;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

/// Labels every Lucid image carries (pipeline.md, "Images").
pub const REQUIRED_LABELS: [&str; 7] = [
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
    "org.opencontainers.image.title",
    "org.opencontainers.image.base.name",
    "org.opencontainers.image.base.digest",
];

const SHELLS: [&str; 13] = [
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox",
    "rbash",
];
const PACKAGE_MANAGERS: [&str; 14] = [
    "apt",
    "apt-get",
    "apt-cache",
    "aptitude",
    "dpkg",
    "dpkg-deb",
    "apk",
    "yum",
    "dnf",
    "microdnf",
    "rpm",
    "zypper",
    "pacman",
    "pip",
];
/// File names that hold credentials by convention.
const SECRET_NAMES: [&str; 10] = [
    ".env",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".git-credentials",
    ".pgpass",
    "credentials.json",
    ".npmrc",
];
/// Files at most this large are scanned for private-key armour.
const SCAN_LIMIT: u64 = 256 * 1024;
/// Bytes kept from the start of each executable: the ELF header and program headers.
const HEAD: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    File,
    Dir,
    Symlink(String),
    Hardlink(String),
    Other,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    mode: u32,
    /// First bytes of executables, all of /etc/passwd.
    head: Option<Vec<u8>>,
}

/// What one layer holds, computed once per layer digest (the base layer is shared).
#[derive(Debug, Clone, Default)]
pub struct LayerScan {
    entries: Vec<(String, Entry)>,
    uncompressed_size: u64,
    diff_id: String,
    secrets: Vec<String>,
}

/// Facts of the images that the compose checks use (files present, ports announced).
#[derive(Debug, Clone, Default)]
pub struct InspectedImage {
    pub service: String,
    pub repository: String,
    pub tag: String,
    /// Other tags that name this image in compose files: the moving tag, and the release tag
    /// of a dev build (`api-server-0.1.0` for `api-server-0.1.0-<sha>`).
    pub aliases: Vec<String>,
    pub index_digest: String,
    /// Paths (absolute) present in the merged filesystem of every platform.
    pub files: BTreeSet<String>,
    pub env_ports: BTreeSet<u16>,
    pub has_healthcheck: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ContainerConfig {
    user: Option<String>,
    entrypoint: Option<Vec<String>>,
    env: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    healthcheck: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: ContainerConfig,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// What inspecting one multi-platform image yields.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub platforms: Vec<PlatformReport>,
    /// Findings about the image as a whole (unreadable index, platform missing…).
    pub findings: Vec<Finding>,
    /// What the compose checks need; `None` when no platform could be read.
    pub built: Option<InspectedImage>,
    pub index_digest: Option<String>,
}

impl Inspection {
    fn failed(finding: Finding, index_digest: Option<String>) -> Inspection {
        Inspection {
            platforms: Vec::new(),
            findings: vec![finding],
            built: None,
            index_digest,
        }
    }
}

/// Inspects images, sharing layer scans between them.
#[derive(Default)]
pub struct Inspector {
    cache: HashMap<String, std::rc::Rc<LayerScan>>,
}

impl InspectedImage {
    /// True when `tag` names this image.
    pub fn answers_to(&self, tag: &str) -> bool {
        self.tag == tag || self.aliases.iter().any(|a| a == tag)
    }
}

impl Inspector {
    /// Inspects `repository:tag` for `platforms`; `built` receives what compose checks need.
    pub fn inspect(
        &mut self,
        source: &dyn ImageSource,
        service: &str,
        repository: &str,
        tag: &str,
        platforms: &[Platform],
    ) -> Inspection {
        let mut findings = Vec::new();
        let reference = format!("{repository}:{tag}");
        let err = |m: String| {
            Finding::error(Check::ImageSource, m)
                .file(reference.clone())
                .service(service)
        };
        let index_digest = match source.resolve(repository, tag) {
            Ok(d) => d,
            Err(e) => return Inspection::failed(err(format!("{e:#}")), None),
        };
        let index: ManifestDoc = match source
            .manifest(repository, &index_digest)
            .and_then(|b| serde_json::from_slice(&b).context("invalid index"))
        {
            Ok(i) => i,
            Err(e) => return Inspection::failed(err(format!("{e:#}")), Some(index_digest)),
        };
        if index.manifests.is_empty() {
            findings.push(err(format!(
                "{index_digest} is not a multi-platform image index (media type {:?})",
                index.media_type
            )));
        }
        let mut reports = Vec::new();
        let mut built = InspectedImage {
            service: service.into(),
            repository: repository.into(),
            tag: tag.into(),
            index_digest: index_digest.clone(),
            ..InspectedImage::default()
        };
        let mut first = true;
        for platform in platforms {
            let entry = index.manifests.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == platform.arch())
            });
            let Some(entry) = entry else {
                findings.push(err(format!(
                    "the index {index_digest} has no {platform} image"
                )));
                continue;
            };
            match self.platform(
                source,
                service,
                &reference,
                repository,
                *platform,
                &entry.digest,
            ) {
                Ok(facts) => {
                    if first {
                        built.files = facts.files;
                        built.env_ports = facts.env_ports;
                        built.has_healthcheck = facts.has_healthcheck;
                        first = false;
                    } else {
                        built.files = built.files.intersection(&facts.files).cloned().collect();
                        built.env_ports = built
                            .env_ports
                            .intersection(&facts.env_ports)
                            .copied()
                            .collect();
                        built.has_healthcheck &= facts.has_healthcheck;
                    }
                    reports.push(facts.report);
                }
                Err(e) => findings.push(err(format!("{platform}: {e}"))),
            }
        }
        let built = (!first).then_some(built);
        Inspection {
            platforms: reports,
            findings,
            built,
            index_digest: Some(index_digest),
        }
    }

    fn layer(
        &mut self,
        source: &dyn ImageSource,
        repository: &str,
        digest: &str,
        media_type: &str,
    ) -> Result<std::rc::Rc<LayerScan>> {
        if let Some(s) = self.cache.get(digest) {
            return Ok(s.clone());
        }
        let blob = source.blob(repository, digest)?;
        let scan = std::rc::Rc::new(
            scan_layer(&blob, media_type).with_context(|| format!("layer {digest}"))?,
        );
        self.cache.insert(digest.to_string(), scan.clone());
        Ok(scan)
    }

    /// Inspects one platform's image: its manifest, config and layers.
    fn platform(
        &mut self,
        source: &dyn ImageSource,
        service: &str,
        reference: &str,
        repository: &str,
        platform: Platform,
        digest: &str,
    ) -> Result<PlatformFacts> {
        let bytes = source.manifest(repository, digest)?;
        let manifest: ManifestDoc =
            serde_json::from_slice(&bytes).with_context(|| format!("manifest {digest}"))?;
        let config_desc = manifest
            .config
            .as_ref()
            .with_context(|| format!("manifest {digest} has no config"))?;
        let config_bytes = source.blob(repository, &config_desc.digest)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .with_context(|| format!("config {}", config_desc.digest))?;
        let at = Locator {
            file: format!("{reference} ({platform})"),
            service,
        };
        let mut findings = Vec::new();
        if config.architecture != platform.arch() || config.os != "linux" {
            findings.push(at.error(
                Check::ImageSource,
                "config.architecture",
                format!(
                    "the {platform} slot holds a config for {}/{}",
                    config.os, config.architecture
                ),
            ));
        }
        let layers = self.layers(source, repository, &manifest, &config, &at, &mut findings)?;
        let contents = Contents::of(&layers.scans);
        contents.findings(&at, &mut findings);
        let fs = Fs {
            map: &contents.merged,
        };
        // User: a number, or a name looked up in the image's own /etc/passwd.
        let user = config.config.user.clone().unwrap_or_default();
        let uid = resolve_uid(&user, &fs);
        match uid {
            Ok(0) => findings.push(at.error(
                Check::User,
                "config.User",
                format!("runs as root (User {user:?})"),
            )),
            Ok(_) => {}
            Err(ref e) => findings.push(at.error(Check::User, "config.User", format!("{e:#}"))),
        }
        let entrypoint = config.config.entrypoint.clone().unwrap_or_default();
        let elf = check_entrypoint(&entrypoint, &fs, platform, &at, &mut findings);
        let labels = config.config.labels.clone().unwrap_or_default();
        let labels_missing: Vec<String> = REQUIRED_LABELS
            .iter()
            .filter(|l| labels.get(**l).is_none_or(|v| v.is_empty()))
            .map(|l| l.to_string())
            .collect();
        for l in &labels_missing {
            findings.push(at.error(Check::Labels, "config.Labels", format!("label {l} missing")));
        }
        let base = |key: &str| {
            labels
                .get(key)
                .or_else(|| manifest.annotations.get(key))
                .cloned()
        };
        let env_ports: BTreeSet<u16> = config
            .config
            .env
            .iter()
            .flatten()
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| k.ends_with("_PORT"))
            .filter_map(|(_, v)| v.parse().ok())
            .collect();
        let report = PlatformReport {
            platform: platform.oci().into(),
            digest: digest.into(),
            compressed_size: config_bytes.len() as u64 + layers.compressed,
            uncompressed_size: layers.uncompressed,
            base_name: base("org.opencontainers.image.base.name"),
            base_digest: base("org.opencontainers.image.base.digest"),
            layer_count: manifest.layers.len(),
            user,
            uid: uid.ok(),
            entrypoint,
            entrypoint_machine: elf.map(|e| elf::machine_name(e.machine)),
            entrypoint_static: elf.map(|e| !e.has_interp),
            file_count: contents.file_count,
            shells: contents.shells.into_iter().collect(),
            package_managers: contents.package_managers.into_iter().collect(),
            setuid_files: contents.setuid.into_iter().collect(),
            secret_files: contents.secrets.into_iter().collect(),
            labels_missing,
            env_ports: env_ports.iter().copied().collect(),
            findings,
        };
        let files = contents
            .merged
            .iter()
            .filter(|(_, e)| e.kind != Kind::Dir)
            .map(|(p, _)| format!("/{p}"))
            .collect();
        Ok(PlatformFacts {
            report,
            files,
            env_ports,
            has_healthcheck: config.config.healthcheck.is_some(),
        })
    }

    /// Scans every layer; sizes, and each layer's digest against the config's `diff_ids`.
    fn layers(
        &mut self,
        source: &dyn ImageSource,
        repository: &str,
        manifest: &ManifestDoc,
        config: &ImageConfig,
        at: &Locator,
        findings: &mut Vec<Finding>,
    ) -> Result<Layers> {
        let mut out = Layers::default();
        for (i, layer) in manifest.layers.iter().enumerate() {
            let scan = self.layer(source, repository, &layer.digest, &layer.media_type)?;
            // The blob was verified against its digest; its size is what it occupies.
            out.compressed += layer.size;
            out.uncompressed += scan.uncompressed_size;
            match config.rootfs.diff_ids.get(i) {
                Some(d) if *d == scan.diff_id => {}
                other => findings.push(at.error(
                    Check::ImageSource,
                    &format!("rootfs.diff_ids[{i}]"),
                    format!(
                        "layer {} decompresses to {} but the config says {:?}",
                        layer.digest, scan.diff_id, other
                    ),
                )),
            }
            out.scans.push(scan);
        }
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            findings.push(at.error(
                Check::ImageSource,
                "rootfs.diff_ids",
                format!(
                    "{} diff_ids for {} layers",
                    config.rootfs.diff_ids.len(),
                    manifest.layers.len()
                ),
            ));
        }
        Ok(out)
    }
}

/// What one platform's image yields: its report, and what the compose checks need.
pub struct PlatformFacts {
    pub report: PlatformReport,
    /// Paths (absolute) in the merged filesystem.
    pub files: BTreeSet<String>,
    /// Ports announced through `*_PORT` variables of the config.
    pub env_ports: BTreeSet<u16>,
    pub has_healthcheck: bool,
}

/// Where a finding about one platform's image points.
struct Locator<'a> {
    file: String,
    service: &'a str,
}

impl Locator<'_> {
    fn error(&self, check: Check, key: &str, message: String) -> Finding {
        Finding::error(check, message)
            .file(self.file.clone())
            .service(self.service)
            .key(key)
    }
}

/// The layers of one image, scanned.
#[derive(Default)]
struct Layers {
    scans: Vec<std::rc::Rc<LayerScan>>,
    compressed: u64,
    uncompressed: u64,
}

/// Files in any layer (a file deleted later still ships in the image), and the merged tree.
struct Contents {
    shells: BTreeSet<String>,
    package_managers: BTreeSet<String>,
    setuid: BTreeSet<String>,
    secrets: BTreeSet<String>,
    file_count: usize,
    merged: BTreeMap<String, Entry>,
}

impl Contents {
    fn of(scans: &[std::rc::Rc<LayerScan>]) -> Contents {
        let mut c = Contents {
            shells: BTreeSet::new(),
            package_managers: BTreeSet::new(),
            setuid: BTreeSet::new(),
            secrets: BTreeSet::new(),
            file_count: 0,
            merged: BTreeMap::new(),
        };
        for scan in scans {
            c.secrets.extend(scan.secrets.iter().cloned());
            for (path, e) in &scan.entries {
                c.add(path, e);
            }
        }
        c
    }

    fn add(&mut self, path: &str, e: &Entry) {
        let base = path.rsplit('/').next().unwrap_or(path);
        if let Some(hidden) = base.strip_prefix(".wh.") {
            let dir = path[..path.len() - base.len()].trim_end_matches('/');
            if hidden == ".wh..opq" {
                remove_under(&mut self.merged, dir, false);
            } else {
                remove_under(&mut self.merged, &join(dir, hidden), true);
            }
            return;
        }
        if e.kind != Kind::Dir {
            self.file_count += 1;
            if SHELLS.contains(&base) {
                self.shells.insert(path.to_string());
            }
            if PACKAGE_MANAGERS.contains(&base) {
                self.package_managers.insert(path.to_string());
            }
            if SECRET_NAMES.contains(&base) || base.starts_with(".env.") {
                self.secrets.insert(path.to_string());
            }
        }
        if e.kind == Kind::File && e.mode & 0o6000 != 0 {
            self.setuid
                .insert(format!("{path} ({:o})", e.mode & 0o7777));
        }
        self.merged.insert(path.to_string(), e.clone());
    }

    fn findings(&self, at: &Locator, findings: &mut Vec<Finding>) {
        for (check, list, what) in [
            (Check::Distroless, &self.shells, "shell"),
            (Check::Distroless, &self.package_managers, "package manager"),
            (Check::Distroless, &self.setuid, "setuid/setgid file"),
            (
                Check::SecretFile,
                &self.secrets,
                "file that looks like a secret",
            ),
        ] {
            for p in list {
                findings.push(at.error(check, p, format!("{what} in a layer: {p}")));
            }
        }
    }
}

/// The entrypoint: present, a regular executable, an ELF for the platform's machine, static.
fn check_entrypoint(
    entrypoint: &[String],
    fs: &Fs,
    platform: Platform,
    at: &Locator,
    findings: &mut Vec<Finding>,
) -> Option<elf::ElfInfo> {
    let Some(path) = entrypoint.first() else {
        findings.push(at.error(
            Check::Entrypoint,
            "config.Entrypoint",
            "no entrypoint".into(),
        ));
        return None;
    };
    let (real, entry) = match fs.resolve(path) {
        Ok(found) => found,
        Err(e) => {
            findings.push(at.error(Check::Entrypoint, path, format!("{e:#}")));
            return None;
        }
    };
    if entry.kind != Kind::File || entry.mode & 0o111 == 0 {
        findings.push(at.error(
            Check::Entrypoint,
            path,
            format!("{real} is not an executable regular file"),
        ));
    }
    let info = match elf::parse(entry.head.as_deref()?) {
        Ok(info) => info,
        Err(e) => {
            findings.push(at.error(Check::Entrypoint, path, format!("{real}: {e}")));
            return None;
        }
    };
    if info.machine != platform.elf_machine() {
        findings.push(at.error(
            Check::Entrypoint,
            path,
            format!(
                "{real} is an ELF for {}, the {platform} image needs {}",
                elf::machine_name(info.machine),
                elf::machine_name(platform.elf_machine())
            ),
        ));
    }
    if info.has_interp {
        findings.push(at.error(
            Check::Entrypoint,
            path,
            format!("{real} is dynamically linked (PT_INTERP)"),
        ));
    }
    Some(info)
}

/// Decompresses (gzip or plain tar) and lists one layer.
pub fn scan_layer(blob: &[u8], media_type: &str) -> Result<LayerScan> {
    let tar_bytes = if blob.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .context("gzip")?;
        out
    } else if media_type.ends_with("zstd") {
        bail!("zstd layers are not supported by the validator");
    } else {
        blob.to_vec()
    };
    let mut scan = LayerScan {
        uncompressed_size: tar_bytes.len() as u64,
        diff_id: crate::source::sha256_digest(&tar_bytes),
        ..LayerScan::default()
    };
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    for entry in archive.entries().context("tar")? {
        let mut entry = entry.context("tar")?;
        let path = entry
            .path()
            .context("tar")?
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0);
        let size = header.size().unwrap_or(0);
        let link = || {
            header
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().to_string())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(link()),
            tar::EntryType::Link => Kind::Hardlink(
                link()
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .to_string(),
            ),
            _ => Kind::Other,
        };
        let mut head = None;
        if kind == Kind::File {
            let wants_all = path == "etc/passwd" || size <= SCAN_LIMIT;
            if wants_all {
                let mut content = Vec::new();
                entry
                    .read_to_end(&mut content)
                    .with_context(|| format!("tar: {path}"))?;
                if looks_like_private_key(&content) {
                    scan.secrets.push(path.clone());
                }
                if path == "etc/passwd" || mode & 0o111 != 0 {
                    content.truncate(if path == "etc/passwd" {
                        content.len()
                    } else {
                        HEAD
                    });
                    head = Some(content);
                }
            } else if mode & 0o111 != 0 {
                let mut content = vec![0u8; HEAD.min(size as usize)];
                entry
                    .read_exact(&mut content)
                    .with_context(|| format!("tar: {path}"))?;
                head = Some(content);
            }
        }
        scan.entries.push((path, Entry { kind, mode, head }));
    }
    Ok(scan)
}

fn looks_like_private_key(content: &[u8]) -> bool {
    let needle = b"PRIVATE KEY-----";
    content.windows(needle.len()).any(|w| w == needle)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn remove_under(map: &mut BTreeMap<String, Entry>, path: &str, including_self: bool) {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let doomed: Vec<String> = map
        .keys()
        .filter(|k| k.starts_with(&prefix) || (including_self && k.as_str() == path))
        .cloned()
        .collect();
    for k in doomed {
        map.remove(&k);
    }
}

/// The merged filesystem of an image.
struct Fs<'a> {
    map: &'a BTreeMap<String, Entry>,
}

impl Fs<'_> {
    /// Follows symlinks (in every component) and hard links to the entry a path names.
    fn resolve(&self, path: &str) -> Result<(String, &Entry)> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .rev()
            .collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => current.push(c),
            }
            let here = current.join("/");
            let Some(entry) = self.map.get(&here) else {
                bail!("/{here} does not exist in the image");
            };
            let target = match &entry.kind {
                Kind::Symlink(t) => t.clone(),
                Kind::Hardlink(t) if pending.is_empty() => {
                    let Some(e) = self.map.get(t) else {
                        bail!("/{here} is a hard link to missing /{t}");
                    };
                    return Ok((format!("/{t}"), e));
                }
                _ => {
                    if pending.is_empty() {
                        return Ok((format!("/{here}"), entry));
                    }
                    continue;
                }
            };
            hops += 1;
            if hops > 40 {
                bail!("{path}: too many levels of symbolic links");
            }
            current.pop();
            if target.starts_with('/') {
                current.clear();
            }
            for t in target.split('/').filter(|c| !c.is_empty()).rev() {
                pending.push(t.to_string());
            }
        }
        Err(anyhow!("{path}: names the root directory"))
    }
}

fn resolve_uid(user: &str, fs: &Fs) -> Result<u32> {
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() {
        return Ok(0); // no USER: Docker runs the process as root
    }
    if let Ok(uid) = name.parse::<u32>() {
        return Ok(uid);
    }
    let passwd = fs
        .map
        .get("etc/passwd")
        .and_then(|e| e.head.as_ref())
        .with_context(|| format!("User {user:?} is a name but the image has no /etc/passwd"))?;
    String::from_utf8_lossy(passwd)
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[0] == name)
        .and_then(|f| f[2].parse().ok())
        .with_context(|| format!("User {user:?} is not in the image's /etc/passwd"))
}
