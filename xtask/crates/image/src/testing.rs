//! Test helpers (feature `testing`): lucid-registry's (a real registry per test, a token server,
//! a CA) and reading what `docker save` gives, for the tests that compare our images with
//! BuildKit's.

pub use lucid_registry::testing::*;

use std::collections::HashMap;
use std::io::Read;
use std::process::Command;

/// One image as `docker save` writes it: its config and its layers (uncompressed tars), in order.
pub struct Saved {
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
}

/// `docker save` of `tag` (the Debian client, `/usr/bin/docker`), read into memory.
pub fn docker_save(tag: &str) -> Saved {
    let out = Command::new("/usr/bin/docker")
        .args(["save", tag])
        .output()
        .expect("cannot run /usr/bin/docker");
    assert_success(&out);
    let mut files = HashMap::new();
    let mut archive = tar::Archive::new(&out.stdout[..]);
    for entry in archive.entries().expect("docker save wrote no tar") {
        let mut entry = entry.expect("a broken entry in docker save's tar");
        let path = entry.path().unwrap().to_string_lossy().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(path, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let file = |name: &serde_json::Value| files[name.as_str().unwrap()].clone();
    Saved {
        config: file(&manifest[0]["Config"]),
        layers: manifest[0]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(file)
            .collect(),
    }
}
