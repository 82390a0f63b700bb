//! The distroless base assembled from images/base.lock.toml (downloads from deb.debian.org on
//! first use, then the tests' cache).

mod common;

use lucid_image::deb::Lock;
use lucid_image::rootfs::{apply_layer, forbidden_paths, Tree};
use lucid_image::Base;

fn base_tree() -> (Tree, lucid_image::layer::Layer) {
    let lock = Lock::read(&common::root().join("images/base.lock.toml")).unwrap();
    let layer = Base::layer(&lock, &common::cache().join("deb")).unwrap();
    let mut tree = Tree::new();
    apply_layer(&mut tree, &layer.gzip).unwrap();
    (tree, layer)
}

#[test]
fn base_holds_the_distroless_static_content() {
    let (tree, _) = base_tree();
    let bundle = &tree["etc/ssl/certs/ca-certificates.crt"];
    assert_eq!((bundle.kind, bundle.mode, bundle.uid), ("file", 0o644, 0));
    for path in [
        "etc/services",
        "etc/protocols",
        "usr/share/zoneinfo/Europe/Paris",
        "usr/share/zoneinfo/UTC",
        "etc/passwd",
        "etc/group",
    ] {
        assert!(tree.contains_key(path), "{path} missing");
    }
    assert_eq!(tree["tmp"].mode, 0o1777);
    let home = &tree["home/nonroot"];
    assert_eq!((home.kind, home.uid, home.gid), ("dir", 65532, 65532));
    // Everything else is root's.
    for (path, node) in &tree {
        if path != "home/nonroot" {
            assert_eq!((node.uid, node.gid), (0, 0), "{path}");
        }
    }
}

#[test]
fn base_has_no_shell_package_manager_docs_or_scripts() {
    let (tree, _) = base_tree();
    assert_eq!(forbidden_paths(&tree), Vec::<String>::new());
    for path in tree.keys() {
        assert!(
            !path.starts_with("usr/sbin")
                && !path.starts_with("bin")
                && !path.starts_with("var/lib/dpkg"),
            "{path}"
        );
        assert!(!path.starts_with("usr/share/man"), "{path}");
        if let Some(doc) = path.strip_prefix("usr/share/doc/") {
            assert!(
                !doc.contains('/') || doc.ends_with("/copyright"),
                "{path}: only copyright notices are kept"
            );
        }
    }
}

#[test]
fn passwd_and_group_define_root_and_nonroot() {
    let lock = Lock::read(&common::root().join("images/base.lock.toml")).unwrap();
    let layer = Base::layer(&lock, &common::cache().join("deb")).unwrap();
    let mut archive = tar::Archive::new(&layer.tar[..]);
    let mut passwd = String::new();
    let mut group = String::new();
    let mut bundle = String::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().to_string();
        let target = match path.as_str() {
            "etc/passwd" => &mut passwd,
            "etc/group" => &mut group,
            "etc/ssl/certs/ca-certificates.crt" => &mut bundle,
            _ => continue,
        };
        std::io::Read::read_to_string(&mut e, target).unwrap();
    }
    assert!(passwd.lines().any(|l| l.starts_with("root:x:0:0:")));
    assert!(passwd
        .lines()
        .any(|l| l.starts_with("nonroot:x:65532:65532:") && l.contains(":/home/nonroot:")));
    assert!(group.lines().any(|l| l == "nonroot:x:65532:"));
    let certs = bundle.matches("-----BEGIN CERTIFICATE-----").count();
    assert!(certs > 100, "only {certs} certificates in the bundle");
}

#[test]
fn base_layer_is_reproducible() {
    let (_, a) = base_tree();
    let (_, b) = base_tree();
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.diff_id, b.diff_id);
}

#[test]
fn refuses_a_package_whose_sha256_differs_from_the_lock() {
    let mut lock = Lock::read(&common::root().join("images/base.lock.toml")).unwrap();
    lock.packages.retain(|p| p.name == "netbase");
    lock.packages[0].sha256 = "0".repeat(64);
    let dir = tempfile::tempdir().unwrap();
    let err = format!("{:#}", Base::layer(&lock, dir.path()).unwrap_err());
    assert!(
        err.contains("sha256 mismatch") && err.contains("netbase"),
        "{err}"
    );
}
