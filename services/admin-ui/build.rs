//! Reads the catalog layer of every service crate beside this one (`../*/Cargo.toml`,
//! `[package.metadata.lucid] layer`) into `$OUT_DIR/layers.rs`: the page groups services by layer,
//! including those that are down and cannot say it themselves.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The whole directory: a new service crate changes the table.
    println!("cargo:rerun-if-changed={}", services.display());
    let mut layers: Vec<(String, i64)> = Vec::new();
    let entries =
        std::fs::read_dir(&services).unwrap_or_else(|e| panic!("{}: {e}", services.display()));
    for entry in entries.filter_map(Result::ok) {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let package = &doc["package"];
        let name = package["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: package.name is not a string", manifest.display()));
        let layer = package
            .get("metadata")
            .and_then(|m| m.get("lucid"))
            .and_then(|l| l.get("layer"));
        match layer {
            None => {} // a support crate
            Some(l) => {
                let l = l
                    .as_integer()
                    .filter(|l| (0..=2).contains(l))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: [package.metadata.lucid] layer must be 0, 1 or 2",
                            manifest.display()
                        )
                    });
                layers.push((name.to_string(), l));
            }
        }
    }
    layers.sort();
    let mut out = String::from(
        "/// `(service, layer)` of every service crate.\npub const LAYERS: &[(&str, u8)] = &[\n",
    );
    for (name, layer) in &layers {
        let _ = writeln!(out, "    ({name:?}, {layer}),");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("layers.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}
