//! Real parts for the supply-chain tests: the real workspace and its base, the real crate lists
//! from cargo metadata, images built by the oci engine, pushed to a real registry.
#![allow(dead_code)]

use lucid_attest::crates::ServiceCrates;
use lucid_attest::evidence::Evidence;
use lucid_attest::provenance::{BaseInput, BuildFacts, Toolchain};
use lucid_catalog::{ImageRef, Platform, Workspace};
use lucid_image::image::{self, ImageInput};
use lucid_image::{Base, BuildInfo, BuiltImage, ImageFacts, Layout};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
pub const OTHER_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

/// The base of images/base.lock.toml in `layout` (packages cached in target/lucid/cache).
pub fn base(layout: &Layout) -> Base {
    let lock = lucid_image::deb::Lock::read(&root().join("images/base.lock.toml")).unwrap();
    Base::prepare(&lock, layout, &root().join("target/lucid/cache")).expect("base from the lock")
}

pub fn build_facts(base: &Base, commit: &str) -> BuildFacts {
    let root = root();
    BuildFacts {
        source: "https://github.com/pickme/lucid".into(),
        commit: commit.into(),
        command: "cargo xtask build-images".into(),
        platforms: Platform::ALL.iter().map(|p| p.oci().to_string()).collect(),
        builder: "cargo".into(),
        engine: "oci".into(),
        epoch: 1_700_000_000,
        base: BaseInput {
            name: base.name.clone(),
            digest: base.digest.clone(),
            lock: Some((
                "images/base.lock.toml".into(),
                lucid_attest::provenance::file_sha256(&root.join("images/base.lock.toml")).unwrap(),
            )),
        },
        cargo_lock_sha256: lucid_attest::provenance::file_sha256(&root.join("Cargo.lock")).unwrap(),
        toolchain: Toolchain::read(&root.join("rust-toolchain.toml")).unwrap(),
    }
}

/// The evidence of a build of `services` at `commit` (real cargo metadata, real Debian packages).
pub fn evidence(base: &Base, services: &[&str], commit: &str) -> Evidence {
    let lock = lucid_image::deb::Lock::read(&root().join("images/base.lock.toml")).unwrap();
    let debian =
        lucid_attest::debian::packages(&lock, &root().join("target/lucid/cache/deb")).unwrap();
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    Evidence::gather(
        &root(),
        &lucid_catalog::Workspace::load(&root()).unwrap().manifests,
        &services,
        &Platform::ALL,
        debian,
        build_facts(base, commit),
        "pickme/lucid",
    )
    .unwrap()
}

/// A static ELF stand-in for a service binary carrying a `.dep-v0` section in cargo-auditable's
/// format (zlib JSON) that lists `crates` as cargo-auditable would.
pub fn auditable_elf(
    platform: Platform,
    service: &str,
    version: &str,
    crates: &ServiceCrates,
) -> Vec<u8> {
    let mut packages = vec![serde_json::json!({
        "name": service, "version": version, "source": "local", "root": true,
    })];
    for (c, kind) in crates
        .linked
        .iter()
        .map(|c| (c, None))
        .chain(crates.build.iter().map(|c| (c, Some("build"))))
    {
        let mut p =
            serde_json::json!({"name": c.name, "version": c.version, "source": "crates.io"});
        if let Some(k) = kind {
            p["kind"] = k.into();
        }
        packages.push(p);
    }
    let json =
        serde_json::to_vec(&serde_json::json!({ "packages": packages, "format": 1 })).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &json).unwrap();
    elf_with_section(platform.elf_machine(), ".dep-v0", &z.finish().unwrap())
}

/// An ELF64 little-endian executable with no program headers and the sections NULL,
/// `name` (holding `data`) and `.shstrtab`.
pub fn elf_with_section(machine: u16, name: &str, data: &[u8]) -> Vec<u8> {
    let names = format!("\0{name}\0.shstrtab\0");
    let data_at = 64;
    let names_at = data_at + data.len();
    let shoff = (names_at + names.len()).div_ceil(8) * 8;
    let mut b = vec![0u8; shoff + 3 * 64];
    b[..4].copy_from_slice(b"\x7fELF");
    (b[4], b[5], b[6]) = (2, 1, 1);
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[58..60].copy_from_slice(&64u16.to_le_bytes());
    b[60..62].copy_from_slice(&3u16.to_le_bytes());
    b[62..64].copy_from_slice(&2u16.to_le_bytes());
    b[data_at..names_at].copy_from_slice(data);
    b[names_at..names_at + names.len()].copy_from_slice(names.as_bytes());
    let mut header = |i: usize, name_at: u32, offset: usize, size: usize| {
        let h = shoff + i * 64;
        b[h..h + 4].copy_from_slice(&name_at.to_le_bytes());
        b[h + 4..h + 8].copy_from_slice(&1u32.to_le_bytes()); // SHT_PROGBITS
        b[h + 24..h + 32].copy_from_slice(&(offset as u64).to_le_bytes());
        b[h + 32..h + 40].copy_from_slice(&(size as u64).to_le_bytes());
    };
    header(1, 1, data_at, data.len());
    header(2, name.len() as u32 + 2, names_at, names.len());
    b
}

/// One build: a layout with the base, the evidence, and the images built in it.
pub struct Build {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
    pub ws: Workspace,
    pub base: Base,
    pub info: BuildInfo,
}

impl Build {
    pub fn new() -> Build {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open(&dir.path().join("oci")).unwrap();
        let base = base(&layout);
        let info = BuildInfo {
            version: "0.1.0-test".into(),
            revision: COMMIT.into(),
            source: "https://github.com/pickme/lucid".into(),
            epoch: 1_700_000_000,
            base_name: base.name.clone(),
            base_digest: base.digest.clone(),
        };
        Build {
            ws: Workspace::load(&root()).unwrap(),
            dir,
            layout,
            base,
            info,
        }
    }

    pub fn tag(&self, service: &str) -> String {
        format!("{service}-{}", self.info.version)
    }

    /// The image of `service` with the attestations of `evidence`, built by the oci engine
    /// from stand-in binaries that embed the service's real crate lists.
    pub fn image(&self, service: &str, evidence: &Evidence) -> BuiltImage {
        let facts = ImageFacts::of(self.ws.service(service).unwrap());
        let s = &evidence.services().unwrap()[service];
        let binaries: Vec<(Platform, PathBuf)> = Platform::ALL
            .iter()
            .map(|p| {
                let path = self.dir.path().join("bin").join(p.arch()).join(service);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                let elf = auditable_elf(*p, service, &s.crate_version, &s.crates[p.oci()]);
                std::fs::write(&path, elf).unwrap();
                (*p, path)
            })
            .collect();
        let tag = self.tag(service);
        let extras = evidence.for_image(service, &tag, &self.info.version, binaries.clone());
        let input = ImageInput {
            facts: &facts,
            build: &self.info,
            base: &self.base,
            binaries,
            ref_name: tag.clone(),
        };
        image::build_with(
            &self.layout,
            &self.dir.path().join("cache"),
            &input,
            Some(&extras),
            &mut |_| {},
        )
        .unwrap()
    }

    pub fn reference(&self, host: &str, service: &str) -> ImageRef {
        ImageRef::parse(&format!("{host}/pickme/lucid:{}", self.tag(service))).unwrap()
    }
}

/// `pyspdxtools` (PyPI spdx-tools): on PATH, or in the venv `.ci/run` makes.
pub fn pyspdxtools() -> PathBuf {
    if let Ok(p) = which("pyspdxtools") {
        return p;
    }
    let state = std::env::var("LUCID_CI_STATE").unwrap_or_else(|_| "/tmp/lucid-ci".into());
    let p = Path::new(&state).join("venv/bin/pyspdxtools");
    assert!(
        p.is_file(),
        "pyspdxtools not found: `pip install spdx-tools` (.ci/run installs it into {state}/venv)"
    );
    p
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

/// Runs `command`, failing the test with its output unless it succeeds; returns stdout.
pub fn run(command: &mut Command) -> Vec<u8> {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The digest of `image`'s `platform` manifest.
pub fn platform_digest(image: &BuiltImage, platform: Platform) -> String {
    image
        .platforms
        .iter()
        .find(|p| p.platform == platform.oci())
        .expect("the image has the platform")
        .digest
        .clone()
}
