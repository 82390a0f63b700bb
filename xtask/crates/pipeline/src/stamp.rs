//! What a build is stamped with: its version, the git revision it was built from, and the time
//! every file and `created` field carries (SOURCE_DATE_EPOCH), so that the same sources give the
//! same digests.

use crate::context::Context;
use anyhow::{Context as _, Result};
use lucid_catalog::Workspace;
use lucid_image::{Base, BuildInfo};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq)]
pub struct BuildStamp {
    /// `0.1.0` for a release; `0.1.0-<git short sha>` for a development build.
    pub version: String,
    /// The full commit, or `unknown` outside git.
    pub revision: String,
    /// SOURCE_DATE_EPOCH when set, else the last commit's time.
    pub epoch: u64,
}

impl BuildStamp {
    pub fn of(ctx: &Context, ws: &Workspace, release: bool) -> Result<BuildStamp> {
        let sha = git(ctx, &["rev-parse", "--short=7", "HEAD"]);
        let version = match (&sha, release) {
            (Some(sha), false) => format!("{}-{sha}", ws.version),
            _ => ws.version.clone(),
        };
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))?,
            Err(_) => git(ctx, &["log", "-1", "--format=%ct"])
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
        };
        Ok(BuildStamp {
            version,
            revision: git(ctx, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
            epoch,
        })
    }

    /// The facts of this build on `base`, as the image engines take them.
    pub fn build_info(&self, ws: &Workspace, base: &Base) -> BuildInfo {
        BuildInfo {
            version: self.version.clone(),
            revision: self.revision.clone(),
            source: ws.settings.source.clone(),
            epoch: self.epoch,
            base_name: base.name.clone(),
            base_digest: base.digest.clone(),
        }
    }
}

/// `git <args>` in the workspace; None outside git or on failure.
pub fn git(ctx: &Context, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(&ctx.root)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
