//! Supply-chain evidence for the images: what is inside (an SPDX 2.3 SBOM per platform image),
//! how it was built (SLSA v1 provenance), both attached to the image index the way BuildKit
//! attaches them, and who built it (cosign-compatible signatures over the index digest).
//!
//! - [`keys`]: ECDSA P-256 keys: PKCS#8 / SEC1 PEM, cosign's encrypted key format, key generation;
//! - [`cosign`]: the simple-signing payload, the `sha256-<hex>.sig` signature image, sign and verify;
//! - [`crates`]: the crates linked into a service binary for a target (cargo metadata's resolve);
//! - [`debian`]: the Debian packages of the base (lock file + each package's copyright file);
//! - [`sbom`]: the SPDX document of one platform image;
//! - [`provenance`]: the SLSA provenance statement of one platform image;
//! - [`attestation`]: in-toto statements and the attestation manifests of an image index;
//! - [`evidence`]: the facts of one build, gathered once, made into each image's attestations;
//! - [`auditable`]: the crate list cargo-auditable embedded in a binary (`.dep-v0`);
//! - [`verify`]: every check of `cargo xtask verify`, over an OCI layout or a registry.

pub mod attestation;
pub mod auditable;
pub mod cosign;
pub mod crates;
pub mod debian;
pub mod evidence;
pub mod keys;
pub mod provenance;
pub mod sbom;
pub mod source;
pub mod verify;

pub use keys::{PublicKey, SigningKey};
