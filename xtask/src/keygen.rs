//! `cargo xtask keygen`: a cosign-compatible signing key pair.

use anyhow::{bail, Context as _, Result};
use lucid_attest::keys::{self, PASSWORD_VAR};
use lucid_pipeline::Context;
use std::path::{Path, PathBuf};

/// Write a cosign-compatible ECDSA P-256 key pair: cosign.key (cosign's encrypted format,
/// password from COSIGN_PASSWORD; empty means none, as for cosign) and cosign.pub.
///
/// The private key never goes into the work tree: the default directory is
/// ~/.config/lucid/keys, and a --out inside the work tree is refused. For the release workflow,
/// store cosign.key and the password as the repository secrets COSIGN_PRIVATE_KEY and
/// COSIGN_PASSWORD; publish cosign.pub for `cosign verify --key cosign.pub` and
/// `cargo xtask verify --key cosign.pub`.
#[derive(clap::Args)]
pub struct Keygen {
    /// Directory to write cosign.key and cosign.pub into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl Keygen {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let dir = match self.out {
            Some(d) => d,
            None => default_dir()?,
        };
        refuse_work_tree(&ctx.root, &dir)?;
        let password = std::env::var(PASSWORD_VAR).map_err(|_| {
            anyhow::anyhow!(
                "set {PASSWORD_VAR} to the password that encrypts cosign.key (empty for none, as cosign allows)"
            )
        })?;
        let public = keys::generate_pair(&dir, &password)?;
        println!(
            "wrote {0}/cosign.key (private, 0600) and {0}/cosign.pub",
            dir.display()
        );
        println!("public key {}", public.fingerprint());
        println!(
            "release: cargo xtask release --signing-key {}/cosign.key (with {PASSWORD_VAR} set)",
            dir.display()
        );
        Ok(())
    }
}

fn default_dir() -> Result<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("neither XDG_CONFIG_HOME nor HOME is set: pass --out DIR")?;
    Ok(config.join("lucid").join("keys"))
}

/// A key in the work tree is one `git add -A` away from being published.
fn refuse_work_tree(root: &Path, dir: &Path) -> Result<()> {
    let absolute = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        // The nearest existing ancestor, resolved (the directory itself may not exist yet).
        let mut existing = p.as_path();
        while !existing.exists() {
            existing = existing.parent().unwrap_or(Path::new("/"));
        }
        let rest = p.strip_prefix(existing).unwrap_or(Path::new(""));
        existing
            .canonicalize()
            .unwrap_or_else(|_| existing.to_path_buf())
            .join(rest)
    };
    if absolute(dir).starts_with(absolute(root)) {
        bail!(
            "{} is inside the work tree {}: a private key must not live where it can be committed; choose a directory outside it",
            dir.display(),
            root.display()
        );
    }
    Ok(())
}
