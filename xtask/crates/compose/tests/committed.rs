//! The committed compose files are what the generator makes from the catalog of this repository.
//!
//! As in rust-analyzer's generated-file tests: outside CI a stale file is rewritten (so that the
//! fix is to commit it), and the test fails either way with the diff.

use lucid_catalog::Workspace;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

#[test]
fn committed_compose_files_are_up_to_date() {
    let root = root();
    let ws = Workspace::load(&root).expect("the repository's catalog is valid");
    let release = lucid_compose::read_release_manifest(&root).unwrap();
    let generated = lucid_compose::generate(&ws, release.as_ref()).unwrap();
    let stale = lucid_compose::check(&root, &generated);
    if stale.is_empty() {
        return;
    }
    let diffs: String = stale.iter().map(|s| s.diff.as_str()).collect();
    if std::env::var_os("CI").is_none() {
        let written = lucid_compose::write(&root, &generated).unwrap();
        panic!("{diffs}\nstale compose files, now regenerated: {written:?}; commit them");
    }
    panic!("{diffs}\nstale compose files; run `cargo xtask compose` and commit");
}
