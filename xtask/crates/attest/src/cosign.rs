//! cosign-compatible image signatures (sigstore/cosign `specs/SIGNATURE_SPEC.md`).
//!
//! The signed payload is the "simple signing" JSON naming the repository and the image (index)
//! digest; the signature is ECDSA P-256 over SHA-256 of the payload bytes. Both are stored as an
//! OCI image manifest under the tag `sha256-<hex>.sig` in the image's repository: one layer per
//! signature, the payload as the blob (media type `application/vnd.dev.cosign.simplesigning.v1+json`),
//! the base64 DER signature in the layer annotation `dev.cosignproject.cosign/signature`.
//! `cosign verify --key cosign.pub --insecure-ignore-tlog=true <image>` accepts what this
//! writes (no transparency-log entry is made: nothing here talks to Rekor).

use crate::keys::{PublicKey, SigningKey};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use lucid_catalog::ImageRef;
use lucid_image::{sha256_digest, Registry};
use lucid_validate::source::ImageSource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign signature payload.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// go-containerregistry's zero time, which cosign's signature images carry.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The simple-signing payload; field order is Go's (encoding/json writes struct order).
#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    pub critical: Critical,
    pub optional: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// One signature: the payload blob and the DER signature over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// `sha256:<hex>` → `sha256-<hex>.sig`: where cosign looks for the signatures of a digest.
pub fn signature_tag(digest: &str) -> Result<String> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64)
        .with_context(|| format!("{digest:?} is not a sha256 digest"))?;
    Ok(format!("sha256-{hex}.sig"))
}

/// The repository as cosign names it in the payload (go-containerregistry's
/// `Repository.Name()`): Docker Hub is `index.docker.io`, single names live under `library/`.
pub fn docker_reference(image: &ImageRef) -> String {
    if image.registry == lucid_catalog::reference::DEFAULT_REGISTRY {
        let repo = if image.repository.contains('/') {
            image.repository.clone()
        } else {
            format!("library/{}", image.repository)
        };
        format!("index.docker.io/{repo}")
    } else {
        format!("{}/{}", image.registry, image.repository)
    }
}

/// The payload bytes for `digest` in `docker_reference`, as `cosign sign` writes them.
pub fn payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    let p = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.into(),
            },
            image: Image {
                docker_manifest_digest: digest.into(),
            },
            kind: SIGNATURE_TYPE.into(),
        },
        optional: None,
    };
    serde_json::to_vec(&p).expect("plain strings serialise")
}

/// Signs `digest` as an image of `docker_reference`.
pub fn sign(key: &SigningKey, docker_reference: &str, digest: &str) -> Signature {
    let payload = payload(docker_reference, digest);
    Signature {
        signature: key.sign(&payload),
        payload,
    }
}

/// The signature image: manifest, config and one payload blob per signature.
pub struct SignatureImage {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub payloads: Vec<Vec<u8>>,
}

/// The image that holds `signatures` (cosign's layout: OCI manifest, empty config naming the
/// payloads as uncompressed layers).
pub fn signature_image(signatures: &[Signature]) -> SignatureImage {
    let digests: Vec<String> = signatures
        .iter()
        .map(|s| sha256_digest(&s.payload))
        .collect();
    let config = serde_json::json!({
        "architecture": "",
        "created": ZERO_TIME,
        "history": digests.iter().map(|_| serde_json::json!({"created": ZERO_TIME})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": digests},
        "config": {},
    });
    let config = serde_json::to_vec(&config).expect("json");
    let layers: Vec<serde_json::Value> = signatures
        .iter()
        .zip(&digests)
        .map(|(s, d)| {
            serde_json::json!({
                "mediaType": SIMPLE_SIGNING,
                "size": s.payload.len(),
                "digest": d,
                "annotations": {SIGNATURE_ANNOTATION: b64().encode(&s.signature)},
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": config.len(), "digest": sha256_digest(&config)},
        "layers": layers,
    });
    SignatureImage {
        manifest: serde_json::to_vec(&manifest).expect("json"),
        config,
        payloads: signatures.iter().map(|s| s.payload.clone()).collect(),
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

/// The signatures of a signature manifest; `blob` fetches (and checks) a payload by digest.
pub fn parse_signatures(
    manifest: &[u8],
    blob: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<Vec<Signature>> {
    let m: Manifest = serde_json::from_slice(manifest).context("signature manifest")?;
    let mut out = Vec::new();
    for layer in m.layers.iter().filter(|l| l.media_type == SIMPLE_SIGNING) {
        let encoded = layer
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .with_context(|| format!("layer {} has no {SIGNATURE_ANNOTATION}", layer.digest))?;
        let signature = b64()
            .decode(encoded)
            .map_err(|_| anyhow!("layer {}: the signature is not base64", layer.digest))?;
        out.push(Signature {
            payload: blob(&layer.digest)?,
            signature,
        });
    }
    Ok(out)
}

/// The signatures stored for `digest` in `repository` of `source`; an error when there is no
/// signature tag (the message says which tag was looked for).
pub fn read_signatures(
    source: &dyn ImageSource,
    repository: &str,
    digest: &str,
) -> Result<Vec<Signature>> {
    let tag = signature_tag(digest)?;
    let sig_digest = source
        .resolve(repository, &tag)
        .map_err(|e| anyhow!("unsigned: no signature tag {tag} ({e:#})"))?;
    let manifest = source.manifest(repository, &sig_digest)?;
    parse_signatures(&manifest, &mut |d| source.blob(repository, d))
        .with_context(|| format!("{repository}:{tag}"))
}

/// Accepts when one of `signatures` verifies under `key` and its payload names `digest` and
/// `docker_reference`; otherwise says why the closest candidate failed.
pub fn verify(
    signatures: &[Signature],
    key: &PublicKey,
    digest: &str,
    docker_reference: &str,
) -> Result<()> {
    if signatures.is_empty() {
        bail!("the signature image holds no {SIMPLE_SIGNING} layer");
    }
    let mut why = Vec::new();
    for s in signatures {
        match verify_one(s, key, digest, docker_reference) {
            Ok(()) => return Ok(()),
            Err(e) => why.push(format!("{e:#}")),
        }
    }
    why.dedup();
    bail!("{}", why.join("; "))
}

fn verify_one(s: &Signature, key: &PublicKey, digest: &str, docker_reference: &str) -> Result<()> {
    key.verify(&s.payload, &s.signature)
        .with_context(|| format!("key {}", key.fingerprint()))?;
    let p: Payload =
        serde_json::from_slice(&s.payload).context("the payload is not simple-signing JSON")?;
    if p.critical.kind != SIGNATURE_TYPE {
        bail!("payload type {:?}, not {SIGNATURE_TYPE:?}", p.critical.kind);
    }
    if p.critical.image.docker_manifest_digest != digest {
        bail!(
            "the payload signs {}, not this image's {digest}",
            p.critical.image.docker_manifest_digest
        );
    }
    if p.critical.identity.docker_reference != docker_reference {
        bail!(
            "the payload names {}, not {docker_reference}",
            p.critical.identity.docker_reference
        );
    }
    Ok(())
}

/// What signing one image did.
#[derive(Debug, Clone, PartialEq)]
pub struct SignOutcome {
    pub tag: String,
    /// The tag already held this signature (a resumed release).
    pub unchanged: bool,
    pub manifest_digest: String,
}

/// Signs the pushed index `digest` of `image`'s repository and stores the signature under
/// `sha256-<hex>.sig` beside it. Signatures the tag already holds are kept (cosign appends);
/// our own signature is deterministic, so a rerun finds it there and changes nothing.
pub fn sign_pushed(
    registry: &Registry,
    image: &ImageRef,
    digest: &str,
    key: &SigningKey,
) -> Result<SignOutcome> {
    let repo = &image.repository;
    let tag = signature_tag(digest)?;
    let ours = sign(key, &docker_reference(image), digest);
    let mut signatures = match registry.manifest_digest(repo, &tag)? {
        Some(_) => {
            let bytes = registry.get_manifest(repo, &tag)?.bytes;
            parse_signatures(&bytes, &mut |d| registry.get_blob(repo, d))
                .with_context(|| format!("{}:{tag}", image.name()))?
        }
        None => Vec::new(),
    };
    if signatures.contains(&ours) {
        let manifest_digest = registry.manifest_digest(repo, &tag)?.unwrap_or_default();
        return Ok(SignOutcome {
            tag,
            unchanged: true,
            manifest_digest,
        });
    }
    signatures.push(ours);
    let sig_image = signature_image(&signatures);
    for blob in sig_image.payloads.iter().chain([&sig_image.config]) {
        let d = sha256_digest(blob);
        if !registry.has_blob(repo, &d)? {
            registry.upload_blob(repo, &d, blob)?;
        }
    }
    let manifest_digest = registry.put_manifest(repo, &tag, OCI_MANIFEST, &sig_image.manifest)?;
    Ok(SignOutcome {
        tag,
        unchanged: false,
        manifest_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn payload_is_byte_for_byte_cosigns() {
        let text = String::from_utf8(payload("index.docker.io/pickme/lucid", DIGEST)).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"index.docker.io/pickme/lucid"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
    }

    #[test]
    fn names_repositories_as_go_containerregistry_does() {
        let hub = ImageRef::parse("pickme/lucid:tor-proxy-0.1.0").unwrap();
        assert_eq!(docker_reference(&hub), "index.docker.io/pickme/lucid");
        let local = ImageRef::parse("127.0.0.1:5000/pickme/lucid:x").unwrap();
        assert_eq!(docker_reference(&local), "127.0.0.1:5000/pickme/lucid");
        assert_eq!(
            signature_tag(DIGEST).unwrap(),
            format!("sha256-{}.sig", &DIGEST[7..])
        );
        assert!(signature_tag("sha256:short").is_err());
    }

    #[test]
    fn signature_manifest_round_trips_and_verifies() {
        let key = SigningKey::generate();
        let s = sign(&key, "r/x", DIGEST);
        let image = signature_image(std::slice::from_ref(&s));
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], SIMPLE_SIGNING);
        assert_eq!(manifest["config"]["digest"], sha256_digest(&image.config));
        let back =
            parse_signatures(&image.manifest, &mut |_| Ok(image.payloads[0].clone())).unwrap();
        assert_eq!(back, vec![s.clone()]);
        verify(&back, &key.public(), DIGEST, "r/x").unwrap();
    }

    #[test]
    fn verify_says_why_a_signature_is_refused() {
        let key = SigningKey::generate();
        let s = sign(&key, "r/x", DIGEST);
        let other = DIGEST.replace("0123", "4567");
        let err = format!(
            "{:#}",
            verify(std::slice::from_ref(&s), &key.public(), &other, "r/x").unwrap_err()
        );
        assert!(err.contains("signs sha256:0123"), "{err}");
        let err = format!(
            "{:#}",
            verify(std::slice::from_ref(&s), &key.public(), DIGEST, "r/y").unwrap_err()
        );
        assert!(err.contains("names r/x"), "{err}");
        let stranger = SigningKey::generate().public();
        let err = format!(
            "{:#}",
            verify(std::slice::from_ref(&s), &stranger, DIGEST, "r/x").unwrap_err()
        );
        assert!(err.contains("does not match"), "{err}");
        let mut tampered = s;
        tampered.payload[20] ^= 1;
        assert!(verify(&[tampered], &key.public(), DIGEST, "r/x").is_err());
    }
}
