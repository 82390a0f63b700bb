//! Real parts for the end-to-end tests of the deployment files (feature `testing`, on only
//! through `[dev-dependencies]`): the compose e2e test here and the Swarm e2e test of the xtask
//! share them.

use anyhow::{bail, Context, Result};
use lucid_catalog::Workspace;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian 20.10 client (the one on PATH may be newer than the engine).
pub const DOCKER: &str = "/usr/bin/docker";

/// uid/gid of the Lucid services, owner of their data directories.
pub const NONROOT: u32 = crate::container::NONROOT.uid;

/// Runs `cmd`; its stdout, or an error with both outputs.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// What a deployment reads from the host: the data root and the secrets directory.
pub struct HostFiles {
    /// `LUCID_DATA_ROOT`: one directory per volume of the catalog, owned by uid 65532.
    pub data: PathBuf,
    /// `LUCID_SECRETS_DIR`: one file per secret of the catalog, random, mode 0444.
    pub secrets: PathBuf,
}

impl HostFiles {
    /// `LUCID_DATA_ROOT` and `LUCID_SECRETS_DIR` for the deploying command.
    pub fn env(&self) -> Vec<(String, PathBuf)> {
        vec![
            ("LUCID_DATA_ROOT".into(), self.data.clone()),
            ("LUCID_SECRETS_DIR".into(), self.secrets.clone()),
        ]
    }
}

/// Creates the data directories and secret files of every service (and MongoDB) under `dir`.
/// The data directories belong to uid 65532 (the stand-in for MongoDB runs as that user too).
pub fn host_files(ws: &Workspace, dir: &Path) -> Result<HostFiles> {
    let data = dir.join("data");
    std::fs::create_dir(&data).with_context(|| data.display().to_string())?;
    let volumes = ws
        .services
        .iter()
        .flat_map(|s| s.volumes.iter())
        .chain(&ws.settings.mongodb.volumes);
    for v in volumes {
        let d = data.join(&v.name);
        std::fs::create_dir(&d).with_context(|| d.display().to_string())?;
        std::os::unix::fs::chown(&d, Some(NONROOT), Some(NONROOT))
            .with_context(|| format!("chown {} (the tests run as root in CI)", d.display()))?;
    }
    let secrets = dir.join("secrets");
    std::fs::create_dir(&secrets).with_context(|| secrets.display().to_string())?;
    let names = ws
        .services
        .iter()
        .flat_map(|s| s.secrets.iter())
        .chain(&ws.settings.mongodb.secrets);
    for name in names {
        let f = secrets.join(name);
        let value = ws.settings.throwaway_secret(name)?;
        std::fs::write(&f, value + "\n").with_context(|| f.display().to_string())?;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444))?;
    }
    Ok(HostFiles { data, secrets })
}
