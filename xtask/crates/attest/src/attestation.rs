//! in-toto statements and the attestation manifests of an image index, laid out as BuildKit
//! lays them out (so `docker buildx imagetools inspect --format '{{json .SBOM}}'`, Docker Scout
//! and the other tools that read BuildKit's attestations read ours):
//!
//! - per platform image, one manifest in the index with platform `unknown/unknown` and the
//!   annotations `vnd.docker.reference.type: attestation-manifest` and
//!   `vnd.docker.reference.digest: <the platform manifest's digest>`;
//! - its layers are in-toto statements (`application/vnd.in-toto+json`), each annotated
//!   `in-toto.io/predicate-type`; its config is the empty `unknown/unknown` image config.
//!
//! Everything is canonical JSON, so the same inputs give the same digests.

use anyhow::{Context, Result};
use lucid_image::json::canonical;
use lucid_image::Layout;
use oci_spec::image::{
    Arch, Descriptor, DescriptorBuilder, Digest, MediaType, Os, PlatformBuilder,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";
/// The predicate type of an SPDX 2.x document (BuildKit's `--sbom`).
pub const SPDX: &str = "https://spdx.dev/Document";
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// A statement as stored: its predicate type and canonical bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Attestation {
    pub predicate_type: String,
    pub bytes: Vec<u8>,
}

/// The statement of `predicate` about the platform manifest `digest` (`sha256:…`), named
/// `subject_name` (a purl of the image and platform, as BuildKit names its subjects).
pub fn statement<P: Serialize>(
    subject_name: &str,
    digest: &str,
    predicate_type: &str,
    predicate: P,
) -> Result<Attestation> {
    statement_of_canonical(
        subject_name,
        digest,
        predicate_type,
        &canonical(&predicate)?,
    )
}

/// [`statement`] of a predicate already in canonical bytes (made before the subject existed):
/// the same bytes, without serialising the predicate again.
pub fn statement_of_canonical(
    subject_name: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &[u8],
) -> Result<Attestation> {
    let hex = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("subject digest {digest:?} is not sha256"))?;
    let predicate: &RawValue = serde_json::from_slice(predicate).context("predicate")?;
    // Fields in sorted order at every level: this is the canonical form, written directly.
    #[derive(Serialize)]
    struct Sorted<'a> {
        #[serde(rename = "_type")]
        statement_type: &'a str,
        predicate: &'a RawValue,
        #[serde(rename = "predicateType")]
        predicate_type: &'a str,
        subject: [SortedSubject<'a>; 1],
    }
    #[derive(Serialize)]
    struct SortedSubject<'a> {
        digest: SortedDigest<'a>,
        name: &'a str,
    }
    #[derive(Serialize)]
    struct SortedDigest<'a> {
        sha256: &'a str,
    }
    let s = Sorted {
        statement_type: STATEMENT_TYPE,
        predicate,
        predicate_type,
        subject: [SortedSubject {
            digest: SortedDigest { sha256: hex },
            name: subject_name,
        }],
    };
    Ok(Attestation {
        predicate_type: predicate_type.into(),
        bytes: serde_json::to_vec(&s).context("statement")?,
    })
}

/// BuildKit's subject name: `pkg:docker/<repository>@<tag>?platform=<os>%2F<arch>`.
pub fn subject_name(repository: &str, tag: &str, platform: &str) -> String {
    format!(
        "pkg:docker/{repository}@{}?platform={}",
        lucid_catalog::url::query_value(tag),
        lucid_catalog::url::query_value(platform)
    )
}

fn descriptor(media_type: MediaType, digest: &str, size: usize) -> Result<Descriptor> {
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(Digest::from_str(digest).with_context(|| digest.to_string())?)
        .size(size as u64)
        .build()?)
}

/// Writes the attestation manifest of the platform manifest `platform_digest` (its layers
/// `attestations`, in order) into `layout`; returns its entry for the image index.
pub fn write_manifest(
    layout: &Layout,
    platform_digest: &str,
    attestations: &[Attestation],
) -> Result<Descriptor> {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for a in attestations {
        let digest = layout.put_blob(&a.bytes)?;
        let mut layer = descriptor(MediaType::Other(IN_TOTO.into()), &digest, a.bytes.len())?;
        layer.set_annotations(Some(HashMap::from([(
            PREDICATE_TYPE.to_string(),
            a.predicate_type.clone(),
        )])));
        layers.push(layer);
        diff_ids.push(digest);
    }
    let config = canonical(&serde_json::json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let config_digest = layout.put_blob(&config)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(MediaType::ImageConfig, &config_digest, config.len())?,
        "layers": layers,
    });
    let bytes = canonical(&manifest)?;
    let digest = layout.put_blob(&bytes)?;
    let mut entry = descriptor(MediaType::ImageManifest, &digest, bytes.len())?;
    entry.set_platform(Some(
        PlatformBuilder::default()
            .architecture(Arch::Other("unknown".into()))
            .os(Os::Other("unknown".into()))
            .build()?,
    ));
    entry.set_annotations(Some(HashMap::from([
        (REFERENCE_TYPE.to_string(), ATTESTATION_MANIFEST.to_string()),
        (REFERENCE_DIGEST.to_string(), platform_digest.to_string()),
    ])));
    Ok(entry)
}

/// True for an index entry that is an attestation manifest (ours or BuildKit's).
pub fn is_attestation(entry: &Descriptor) -> bool {
    entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|t| t == ATTESTATION_MANIFEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestation_manifest_refers_to_its_platform_image() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open(dir.path()).unwrap();
        let platform = layout.put_blob(b"{\"platform manifest\":1}").unwrap();
        let a = statement("s", &platform, SPDX, serde_json::json!({})).unwrap();
        let b = statement("s", &platform, SLSA_PROVENANCE, serde_json::json!({})).unwrap();
        let entry = write_manifest(&layout, &platform, &[a.clone(), b]).unwrap();
        assert!(is_attestation(&entry));
        let text = serde_json::to_string(&entry).unwrap();
        assert!(
            text.contains(r#""platform":{"architecture":"unknown","os":"unknown"}"#),
            "{text}"
        );
        assert!(text.contains(&format!(r#""vnd.docker.reference.digest":"{platform}""#)));
        let manifest: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(entry.digest().as_ref()).unwrap()).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], IN_TOTO);
        assert_eq!(manifest["layers"][0]["annotations"][PREDICATE_TYPE], SPDX);
        assert_eq!(
            manifest["layers"][1]["annotations"][PREDICATE_TYPE],
            SLSA_PROVENANCE
        );
        assert_eq!(
            layout
                .read_blob(manifest["layers"][0]["digest"].as_str().unwrap())
                .unwrap(),
            a.bytes
        );
    }

    #[test]
    fn statement_names_its_subject_by_digest() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let a = statement(
            &subject_name("pickme/lucid", "tor-proxy-0.1.0", "linux/arm64"),
            &d,
            SLSA_PROVENANCE,
            1,
        )
        .unwrap();
        let s: Statement<u8> = serde_json::from_slice(&a.bytes).unwrap();
        assert_eq!(s.subject[0].digest["sha256"], "ab".repeat(32));
        assert_eq!(
            s.subject[0].name,
            "pkg:docker/pickme/lucid@tor-proxy-0.1.0?platform=linux%2Farm64"
        );
        assert_eq!(s.statement_type, STATEMENT_TYPE);
    }

    #[test]
    fn statement_of_canonical_bytes_is_the_canonical_statement() {
        let d = format!("sha256:{}", "cd".repeat(32));
        let predicate = serde_json::json!({"b": [1, {"z": "é\"</", "a": null}], "a": 2.5});
        let expected = canonical(&Statement {
            statement_type: STATEMENT_TYPE.into(),
            subject: vec![Subject {
                name: "pkg:docker/x@y".into(),
                digest: BTreeMap::from([("sha256".to_string(), "cd".repeat(32))]),
            }],
            predicate_type: SPDX.into(),
            predicate: predicate.clone(),
        })
        .unwrap();
        let ours = statement("pkg:docker/x@y", &d, SPDX, predicate).unwrap();
        assert_eq!(
            String::from_utf8(ours.bytes).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
