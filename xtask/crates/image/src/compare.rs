//! Are two builds of the same images the same image? What the engines must agree on, per
//! platform: the root file system (paths, kinds, modes, owners, contents) and the config facts
//! (user, entrypoint, command, env, working dir, labels, ports, platform). Where their bytes may
//! still differ is listed in [`EXPECTED`], with why; any other difference is a problem.
//!
//! Used by the engine-equivalence test (BuildKit against the oci engine) and by
//! `cargo xtask compare-images` (a buildx build against an oci build, on GitHub's runners).

use crate::layout::{Layout, REF_NAME};
use crate::rootfs::{apply_layer, Node, Tree};
use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// The config fields (under `config`) that are facts of the image, compared by [`config_facts`].
const FACT_KEYS: [&str; 7] = [
    "User",
    "Entrypoint",
    "Cmd",
    "Env",
    "WorkingDir",
    "Labels",
    "ExposedPorts",
];

/// The fields of an image config both engines must agree on, in a comparable shape.
pub fn config_facts(config: &Value) -> Value {
    let c = &config["config"];
    let mut ports: Vec<String> = c["ExposedPorts"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    ports.sort();
    json!({
        "User": c["User"],
        "Entrypoint": c["Entrypoint"],
        "Cmd": c["Cmd"].as_array().cloned().unwrap_or_default(),
        "Env": c["Env"],
        "WorkingDir": c["WorkingDir"],
        "Labels": c["Labels"],
        "ExposedPorts": ports,
        "architecture": config["architecture"],
        "os": config["os"],
    })
}

/// A byte-level difference two engines may have for the same image, and why.
pub struct Expected {
    /// What differs: `layers`, `config.<field>`.
    pub what: &'static str,
    pub why: &'static str,
}

/// The differences expected between a buildx (BuildKit) build and an oci-engine build of the
/// same images. Index and manifest digests differ as a consequence of these, never otherwise.
pub const EXPECTED: &[Expected] = &[
    Expected {
        what: "layers",
        why: "same files, other bytes: each engine writes its own tar headers (PAX records, \
              user and group names, mtimes) and gzip stream, and BuildKit may add an empty layer",
    },
    Expected {
        what: "config.rootfs",
        why: "the diff_ids are the digests of the layers' tar streams, which differ as above",
    },
    Expected {
        what: "config.history",
        why: "each engine records its own build steps (BuildKit: one entry per Dockerfile \
              instruction)",
    },
    Expected {
        what: "annotations",
        why: "the oci engine repeats the image's labels as OCI annotations on the index and on \
              each manifest; the bake asks BuildKit for none (the labels are compared facts)",
    },
    Expected {
        what: "config.created",
        why: "BuildKit stamps the build time (no SOURCE_DATE_EPOCH reaches it); the \
              org.opencontainers.image.created label, a compared fact, holds SOURCE_DATE_EPOCH",
    },
];

/// One platform image of an index, read from a layout.
pub struct PlatformImage {
    /// `linux/arm64`.
    pub platform: String,
    pub manifest: Value,
    pub config: Value,
    pub layers: Vec<String>,
    /// The layers applied in order.
    pub tree: Tree,
}

/// The platform images of the index `index_digest` in `layout`.
pub fn read_image(layout: &Layout, index_digest: &str) -> Result<Vec<PlatformImage>> {
    let index = read_json(layout, index_digest)?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|entry| {
            let platform = format!(
                "{}/{}",
                entry["platform"]["os"].as_str().unwrap_or("?"),
                entry["platform"]["architecture"].as_str().unwrap_or("?")
            );
            read_platform(layout, platform, digest_of(entry)?)
                .with_context(|| format!("index {index_digest}"))
        })
        .collect()
}

fn read_platform(layout: &Layout, platform: String, digest: &str) -> Result<PlatformImage> {
    let manifest = read_json(layout, digest)?;
    let config = read_json(layout, digest_of(&manifest["config"])?)?;
    let mut layers = Vec::new();
    let mut tree = Tree::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let d = digest_of(&l)?;
        apply_layer(&mut tree, &layout.read_blob(d)?).with_context(|| format!("layer {d}"))?;
        layers.push(d.to_string());
    }
    Ok(PlatformImage {
        platform,
        manifest,
        config,
        layers,
        tree,
    })
}

fn digest_of(descriptor: &Value) -> Result<&str> {
    descriptor["digest"]
        .as_str()
        .context("a descriptor without digest")
}

fn read_json(layout: &Layout, digest: &str) -> Result<Value> {
    serde_json::from_slice(&layout.read_blob(digest)?).with_context(|| format!("{digest}: JSON"))
}

/// Paths whose node differs between two file systems, or that only one has: `path: a ≠ b`.
pub fn tree_differences(a: &Tree, b: &Tree) -> Vec<String> {
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| format!("/{p}: {} ≠ {}", node(a.get(p)), node(b.get(p))))
        .collect()
}

/// `file 0755 0:0 sha256:…`, or `absent`.
fn node(n: Option<&Node>) -> String {
    match n {
        Some(n) => format!(
            "{} {:04o} {}:{} {}",
            n.kind, n.mode, n.uid, n.gid, n.content
        ),
        None => "absent".into(),
    }
}

/// What comparing one image of two layouts found.
#[derive(Debug, Default)]
pub struct Comparison {
    /// The tag (`org.opencontainers.image.ref.name`).
    pub ref_name: String,
    /// Same index digest: byte for byte the same image.
    pub identical: bool,
    /// The platforms compared.
    pub platforms: Vec<String>,
    /// Byte-level differences of [`EXPECTED`] (its `what`).
    pub expected: BTreeSet<&'static str>,
    /// Anything else: the engines do not agree.
    pub problems: Vec<String>,
}

/// Compares every image of `a` with the image of the same tag in `b` (and reports the tags
/// only `b` has).
pub fn compare_layouts(a: &Layout, b: &Layout) -> Result<Vec<Comparison>> {
    let tags_a = tags(a)?;
    let tags_b = tags(b)?;
    let mut out = Vec::new();
    for (tag, digest_a) in &tags_a {
        let Some((_, digest_b)) = tags_b.iter().find(|(t, _)| t == tag) else {
            out.push(problem(tag, format!("missing from {}", b.root().display())));
            continue;
        };
        out.push(compare_image(a, digest_a, b, digest_b, tag)?);
    }
    for (tag, _) in tags_b
        .iter()
        .filter(|(t, _)| !tags_a.iter().any(|(x, _)| x == t))
    {
        out.push(problem(tag, format!("missing from {}", a.root().display())));
    }
    Ok(out)
}

fn problem(tag: &str, message: String) -> Comparison {
    Comparison {
        ref_name: tag.into(),
        problems: vec![message],
        ..Comparison::default()
    }
}

/// Tag → index digest, from `index.json`.
fn tags(layout: &Layout) -> Result<Vec<(String, String)>> {
    Ok(layout
        .entries()?
        .into_iter()
        .filter_map(|d| {
            let tag = d.annotations().as_ref()?.get(REF_NAME)?.clone();
            Some((tag, d.digest().to_string()))
        })
        .collect())
}

/// One tag: identical, or the same files and facts per platform with only expected differences.
pub fn compare_image(
    a: &Layout,
    index_a: &str,
    b: &Layout,
    index_b: &str,
    tag: &str,
) -> Result<Comparison> {
    let mut c = Comparison {
        ref_name: tag.into(),
        identical: index_a == index_b,
        ..Comparison::default()
    };
    let images_a = read_image(a, index_a)?;
    let images_b = read_image(b, index_b)?;
    c.platforms = images_a.iter().map(|p| p.platform.clone()).collect();
    let platforms_b: Vec<String> = images_b.iter().map(|p| p.platform.clone()).collect();
    if c.platforms != platforms_b {
        c.problems.push(format!(
            "platforms differ: {:?} ≠ {:?}",
            c.platforms, platforms_b
        ));
    }
    if c.identical {
        return Ok(c);
    }
    for pa in &images_a {
        if let Some(pb) = images_b.iter().find(|p| p.platform == pa.platform) {
            compare_platform(pa, pb, &mut c);
        }
    }
    let index_a = read_json(a, index_a)?;
    let index_b = read_json(b, index_b)?;
    if let Some(first) = images_a.first() {
        let labels = &first.config["config"]["Labels"];
        compare_annotations(&index_a, &index_b, labels, "index", &mut c);
    }
    differing_fields(
        &index_a,
        &index_b,
        "index",
        &["manifests", "annotations"],
        &mut c,
    );
    if index_entries(&index_a) != index_entries(&index_b) {
        c.problems.push(format!(
            "index entries differ: {:?} ≠ {:?}",
            index_entries(&index_a),
            index_entries(&index_b)
        ));
    }
    Ok(c)
}

fn compare_platform(a: &PlatformImage, b: &PlatformImage, c: &mut Comparison) {
    let p = &a.platform;
    let (facts_a, facts_b) = (config_facts(&a.config), config_facts(&b.config));
    for (key, value) in facts_a.as_object().into_iter().flatten() {
        if facts_b[key] != *value {
            c.problems
                .push(format!("{p}: config {key}: {value} ≠ {}", facts_b[key]));
        }
    }
    let files = tree_differences(&a.tree, &b.tree);
    if !files.is_empty() {
        let shown: Vec<&str> = files.iter().take(10).map(String::as_str).collect();
        c.problems.push(format!(
            "{p}: {} path(s) differ: {}{}",
            files.len(),
            shown.join("; "),
            if files.len() > shown.len() {
                "; …"
            } else {
                ""
            }
        ));
    }
    if a.layers != b.layers {
        c.expected.insert("layers");
    }
    differing_fields(
        &a.config,
        &b.config,
        "config",
        &["config", "architecture", "os"],
        c,
    );
    let (inner_a, inner_b) = (&a.config["config"], &b.config["config"]);
    differing_fields(inner_a, inner_b, "config.config", &FACT_KEYS, c);
    // Descriptors' digests and sizes follow from the blobs; their media types must agree.
    let media_types = |m: &Value| -> BTreeSet<String> {
        std::iter::once(&m["config"])
            .chain(m["layers"].as_array().into_iter().flatten())
            .map(|d| d["mediaType"].as_str().unwrap_or("").to_string())
            .collect()
    };
    if media_types(&a.manifest) != media_types(&b.manifest) {
        c.problems.push(format!(
            "{p}: blob media types differ: {:?} ≠ {:?}",
            media_types(&a.manifest),
            media_types(&b.manifest)
        ));
    }
    let labels = &a.config["config"]["Labels"];
    compare_annotations(
        &a.manifest,
        &b.manifest,
        labels,
        &format!("{p}: manifest"),
        c,
    );
    differing_fields(
        &a.manifest,
        &b.manifest,
        "manifest",
        &["config", "layers", "annotations"],
        c,
    );
}

/// Annotations that only one side has and that repeat the image's labels are expected (the
/// oci engine writes them, BuildKit does not); any other difference is a problem.
fn compare_annotations(a: &Value, b: &Value, labels: &Value, what: &str, c: &mut Comparison) {
    let (on_a, on_b) = (&a["annotations"], &b["annotations"]);
    if on_a == on_b {
        return;
    }
    let none = |x: &Value| x.as_object().is_none_or(|m| m.is_empty());
    let repeat_labels = |x: &Value| {
        x.as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| labels[k] == *v))
    };
    if (none(on_a) && repeat_labels(on_b)) || (none(on_b) && repeat_labels(on_a)) {
        c.expected.insert("annotations");
    } else {
        c.problems
            .push(format!("{what} annotations differ: {on_a} ≠ {on_b}"));
    }
}

/// An index's entries without what follows from the blobs (digest, size), in order.
fn index_entries(index: &Value) -> Vec<Value> {
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let mut d = d.clone();
            if let Some(o) = d.as_object_mut() {
                o.remove("digest");
                o.remove("size");
            }
            d
        })
        .collect()
}

/// Records every field of `a`/`b` (objects) outside `ignored` whose value differs as
/// `<prefix>.<field>`: expected when [`EXPECTED`] lists it, a problem otherwise.
fn differing_fields(a: &Value, b: &Value, prefix: &str, ignored: &[&str], c: &mut Comparison) {
    let empty = Map::new();
    let (ma, mb) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    for key in keys {
        if ignored.contains(&key.as_str()) || ma.get(key) == mb.get(key) {
            continue;
        }
        let what = format!("{prefix}.{key}");
        match EXPECTED.iter().find(|e| e.what == what) {
            Some(e) => {
                c.expected.insert(e.what);
            }
            None => c.problems.push(format!(
                "{what} differs: {} ≠ {}",
                ma.get(key).unwrap_or(&Value::Null),
                mb.get(key).unwrap_or(&Value::Null)
            )),
        }
    }
}

/// Why `what` (an [`EXPECTED`] entry) differs.
pub fn why(what: &str) -> &'static str {
    EXPECTED
        .iter()
        .find(|e| e.what == what)
        .map(|e| e.why)
        .unwrap_or("")
}
