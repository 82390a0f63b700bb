//! Where `verify` reads images: the validator's sources, an OCI layout or a registry through the
//! one registry client (`lucid_registry`: HTTPS, Docker credentials, Bearer tokens), every byte
//! checked against its digest.

use anyhow::{bail, Result};
use lucid_validate::source::{ImageSource, OciLayout};
use std::path::Path;

/// The source of `--registry HOST` or `--oci DIR`.
pub fn open(registry: Option<&str>, oci: Option<&Path>) -> Result<Box<dyn ImageSource>> {
    match (registry, oci) {
        (Some(host), None) => Ok(Box::new(lucid_image::Registry::new(host)?)),
        (None, Some(dir)) => Ok(Box::new(OciLayout::open(dir)?)),
        _ => bail!("give exactly one of --registry HOST and --oci DIR"),
    }
}
