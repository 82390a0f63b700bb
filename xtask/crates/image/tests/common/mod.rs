//! Shared by the integration tests: the real workspace, its base, and images built from
//! stand-in binaries (the image stage only moves bytes; the compile stage has its own tests).
#![allow(dead_code)]

use lucid_catalog::{Platform, Workspace};
use lucid_image::image::{self, ImageInput};
use lucid_image::{Base, BuildInfo, BuiltImage, ImageFacts, Layout};
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

pub fn workspace() -> Workspace {
    Workspace::load(&root()).expect("workspace metadata")
}

/// The tests' download cache (Debian packages, base records): under cargo's target directory,
/// never the workspace's target/lucid, which belongs to the user's own builds.
pub fn cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("lucid-cache")
}

/// The base of images/base.lock.toml, stored in `layout` (packages in the tests' cache).
pub fn base(layout: &Layout) -> Base {
    let lock = lucid_image::deb::Lock::read(&root().join("images/base.lock.toml")).unwrap();
    Base::prepare(&lock, layout, &cache()).expect("base from the lock")
}

pub fn build_info(base: &Base) -> BuildInfo {
    BuildInfo {
        version: "0.1.0-test".into(),
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        source: "https://github.com/pickme/lucid".into(),
        epoch: 1_700_000_000,
        base_name: base.name.clone(),
        base_digest: base.digest.clone(),
    }
}

/// Writes stand-in binaries `<dir>/bin/<arch>/<service>` (distinct per platform and service).
pub fn fake_binaries(
    dir: &Path,
    service: &str,
    platforms: &[Platform],
) -> Vec<(Platform, PathBuf)> {
    platforms
        .iter()
        .map(|p| {
            let path = dir.join("bin").join(p.arch()).join(service);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut bytes = format!("\x7fELF stand-in for {service} on {p}\n").into_bytes();
            bytes.extend((0..20_000u32).map(|i| (i * 7 % 251) as u8));
            std::fs::write(&path, bytes).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            (*p, path)
        })
        .collect()
}

/// Builds the image of `service` (stand-in binaries under `dir`) into `layout`.
pub fn build(
    layout: &Layout,
    dir: &Path,
    ws: &Workspace,
    service: &str,
    build: &BuildInfo,
    base: &Base,
) -> BuiltImage {
    let facts = ImageFacts::of(ws.service(service).unwrap());
    let input = ImageInput {
        facts: &facts,
        build,
        base,
        binaries: fake_binaries(dir, service, &Platform::ALL),
        ref_name: format!("{service}-{}", build.version),
    };
    image::build(layout, &dir.join("cache"), &input, &mut |_| {}).unwrap()
}
