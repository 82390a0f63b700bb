//! `cargo xtask base`: the Debian packages of the distroless base.

use anyhow::{bail, Context as _, Result};
use lucid_catalog::BaseSource;
use lucid_image::deb::{self, Lock};
use lucid_image::Layout;
use lucid_pipeline::display::{human_bytes, table};
use lucid_pipeline::images::prepare_base;
use lucid_pipeline::Context;

/// Show or refresh the pinned Debian packages of the distroless base (images/base.lock.toml).
#[derive(clap::Args)]
pub struct Base {
    /// Look up the newest versions in the lock's archives and rewrite the lock.
    #[arg(long)]
    pub update: bool,
    /// With --update: show the changes, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl Base {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let ws = ctx.workspace()?;
        let BaseSource::Lock(rel) = &ws.settings.base else {
            bail!(
                "[workspace.metadata.lucid.base] uses a reference, not a lock: nothing to update"
            );
        };
        let path = ctx.root.join(rel);
        let lock = Lock::read(&path)?;
        let shown = if self.update {
            let new = deb::update(&lock)?;
            for (old, new) in lock.packages.iter().zip(&new.packages) {
                if old.version != new.version || old.sha256 != new.sha256 {
                    println!("{}: {} → {}", old.name, old.version, new.version);
                }
            }
            if new == lock {
                println!("{}: up to date", rel.display());
            } else if self.dry_run {
                println!("(dry run: {} not written)", rel.display());
            } else {
                std::fs::write(&path, new.render()).with_context(|| path.display().to_string())?;
                println!("wrote {}", rel.display());
            }
            new
        } else {
            lock
        };
        let rows: Vec<Vec<String>> = shown
            .packages
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.architecture.clone(),
                    human_bytes(p.size),
                    p.sha256[..16].to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            table(&["package", "version", "arch", "size", "sha256"], &rows)
        );
        if !self.update {
            let layout = Layout::open(&ctx.oci_layout())?;
            let base = prepare_base(ctx, &ws, None, &ws.settings.platforms, &layout)?;
            println!(
                "base {}: layer {} ({} compressed, {} uncompressed)",
                base.name,
                base.digest,
                human_bytes(base.size),
                human_bytes(base.uncompressed_size)
            );
        }
        Ok(())
    }
}
