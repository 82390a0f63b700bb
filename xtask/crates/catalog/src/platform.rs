//! The target platforms of the images and their names in each tool (OCI, Rust, ELF).

use anyhow::{anyhow, bail, Result};
use std::fmt;

/// A target platform of the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    LinuxArm64,
    LinuxAmd64,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::LinuxArm64, Platform::LinuxAmd64];

    pub fn parse(s: &str) -> Result<Platform> {
        match s.trim() {
            "linux/arm64" | "linux/arm64/v8" => Ok(Platform::LinuxArm64),
            "linux/amd64" => Ok(Platform::LinuxAmd64),
            other => Err(anyhow!(
                "unknown platform {other:?} (known: linux/arm64, linux/amd64)"
            )),
        }
    }

    /// `linux/arm64`: the OCI/Docker name.
    pub fn oci(self) -> &'static str {
        match self {
            Platform::LinuxArm64 => "linux/arm64",
            Platform::LinuxAmd64 => "linux/amd64",
        }
    }

    /// `arm64` | `amd64`: OCI architecture, and the directory name under `target/lucid/bin/`.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::LinuxArm64 => "arm64",
            Platform::LinuxAmd64 => "amd64",
        }
    }

    /// The Rust target: static musl binaries.
    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::LinuxArm64 => "aarch64-unknown-linux-musl",
            Platform::LinuxAmd64 => "x86_64-unknown-linux-musl",
        }
    }

    /// `e_machine` of the ELF header of a binary for this platform.
    pub fn elf_machine(self) -> u16 {
        match self {
            Platform::LinuxArm64 => 183, // EM_AARCH64
            Platform::LinuxAmd64 => 62,  // EM_X86_64
        }
    }

    /// The platform of the machine running the pipeline, if it is one of ours.
    pub fn host() -> Option<Platform> {
        match std::env::consts::ARCH {
            "aarch64" => Some(Platform::LinuxArm64),
            "x86_64" => Some(Platform::LinuxAmd64),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci())
    }
}

/// Parses `linux/arm64,linux/amd64`.
pub fn parse_platforms(list: &str) -> Result<Vec<Platform>> {
    let mut out = Vec::new();
    for p in list.split(',').filter(|s| !s.trim().is_empty()) {
        let p = Platform::parse(p)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        bail!("no platform given");
    }
    Ok(out)
}
