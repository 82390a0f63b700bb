//! Image stage: the distroless base from pinned Debian packages, daemonless OCI image assembly,
//! the buildx (Dockerfile + bake) definition, and the push of an image through the registry
//! client ([`lucid_registry`], re-exported as [`registry`]).
//!
//! Shape (after ko): *build* writes every image into one OCI image layout (the local blob store,
//! `target/lucid/oci/`); *publish* copies an image from that layout to a registry. Both engines
//! take their image facts (user, entrypoint, env, ports, labels) from [`facts::ImageFacts`], so
//! they cannot drift apart.

pub mod base;
pub mod base_ref;
pub mod compare;
pub mod deb;
pub mod docker;
pub mod facts;
pub mod image;
pub mod json;
pub mod layer;
pub mod layout;
pub mod push;
pub mod rootfs;

pub use lucid_registry as registry;
#[cfg(feature = "testing")]
pub mod testing;

pub use base::Base;
pub use facts::{BuildInfo, ImageFacts};
pub use image::{BuiltImage, PlatformBuilt};
pub use layout::Layout;
pub use registry::Registry;

pub use lucid_registry::sha256_digest;

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
