//! `cargo xtask compose`: regenerates the compose files under compose/ (stage 4).
//!
//! Everything comes from the catalog (lucid_compose does the work); this module only reads the
//! inputs, writes or checks, and prints the summary.

use anyhow::{bail, Result};
use lucid_compose::{budget, Generated};
use lucid_pipeline::display::table;
use lucid_pipeline::Context;

/// Regenerate compose/*.yaml from the services' [package.metadata.lucid].
///
/// Writes docker-compose.yaml (everything), lucid-dev.yaml (layer 0 + MongoDB) and one
/// lucid-layer<N>-complete.yaml per higher layer (deployed together with lucid-dev.yaml).
/// Images are pinned by digest when images/release-manifest.json exists, else the versioned tags.
/// Refuses files that exceed the device budget or fail the Compose schema.
#[derive(clap::Args)]
pub struct Compose {
    /// Write nothing; exit 1 and print a diff when a committed file differs from what would be
    /// generated (CI runs this).
    #[arg(long)]
    pub check: bool,
    /// Write nothing; print the diff of what would change, exit 0.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
}

impl Compose {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let ws = ctx.workspace()?;
        let release = lucid_compose::read_release_manifest(&ctx.root)?;
        let generated = lucid_compose::generate(&ws, release.as_ref())?;
        let stale = lucid_compose::check(&ctx.root, &generated);
        if self.check || self.dry_run {
            for s in &stale {
                print!("{}", s.diff);
            }
        }
        let changed: Vec<String> = if self.check || self.dry_run {
            stale.iter().map(|s| s.path.clone()).collect()
        } else {
            lucid_compose::write(&ctx.root, &generated)?
        };
        summary(&ws, &generated, &changed, self.check || self.dry_run);
        if self.check && !stale.is_empty() {
            bail!(
                "{} compose file(s) differ from what `cargo xtask compose` generates (diff above): {}; regenerate with `cargo xtask compose` and commit",
                stale.len(),
                changed.join(", ")
            );
        }
        Ok(())
    }
}

fn summary(ws: &lucid_catalog::Workspace, g: &Generated, changed: &[String], read_only: bool) {
    let device = &ws.settings.device;
    let rows: Vec<Vec<String>> = g
        .files
        .iter()
        .map(|f| {
            let path = format!("{}/{}", lucid_compose::COMPOSE_DIR, f.name());
            let state = match (changed.contains(&path), read_only) {
                (true, true) => "differs",
                (true, false) => "written",
                (false, _) => "up to date",
            };
            vec![
                path,
                f.containers.to_string(),
                format!("{} MiB", f.usage.memory >> 20),
                format!("{:.2}", f.usage.cpu_reservation),
                state.to_string(),
            ]
        })
        .collect();
    eprintln!(
        "\n{}",
        table(
            &[
                "file",
                "containers",
                "memory limits",
                "CPU reserved",
                "state"
            ],
            &rows
        )
    );
    eprintln!(
        "budget ({}): {} memory, {:.2} CPUs reserved; images: {}",
        device.name,
        budget::mib(device.budget_memory()),
        device.budget_cpus(),
        g.source
    );
}
