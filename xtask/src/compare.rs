//! `cargo xtask compare-images DIR_A DIR_B`: are the images of two OCI layouts the same images?
//! (ci.yml builds with `--engine buildx` and with `--engine oci` and compares them with this.)

use anyhow::{bail, Result};
use lucid_image::compare::{compare_layouts, why};
use lucid_image::Layout;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Compare the images of two OCI image layouts, tag by tag (e.g. a buildx build and an oci build).
///
/// Per tag and platform: the same files (paths, kinds, modes, owners, contents) and the same
/// config facts (user, entrypoint, command, env, working dir, labels, ports, platform), else
/// exit 1. Identical index digests are reported as such; any other byte-level difference must be
/// one of the expected ones, listed with why.
#[derive(clap::Args)]
pub struct CompareImages {
    /// An OCI image layout (e.g. target/lucid/oci of a buildx build).
    pub a: PathBuf,
    /// Another one (e.g. of an oci-engine build of the same commit).
    pub b: PathBuf,
}

impl CompareImages {
    pub fn run(self) -> Result<()> {
        let a = Layout::open_existing(&self.a)?;
        let b = Layout::open_existing(&self.b)?;
        let comparisons = compare_layouts(&a, &b)?;
        let mut expected = BTreeSet::new();
        let (mut identical, mut different) = (0, 0);
        for c in &comparisons {
            if !c.problems.is_empty() {
                different += 1;
                println!("{}  DIFFERENT", c.ref_name);
                for p in &c.problems {
                    println!("    {p}");
                }
            } else if c.identical {
                identical += 1;
                println!("{}  identical ({})", c.ref_name, c.platforms.join(", "));
            } else {
                let whats: Vec<&str> = c.expected.iter().copied().collect();
                println!(
                    "{}  same files and config on {}; bytes differ in: {}",
                    c.ref_name,
                    c.platforms.join(", "),
                    whats.join(", ")
                );
                expected.extend(whats);
            }
        }
        if !expected.is_empty() {
            println!("\nexpected differences:");
            for what in &expected {
                println!("  {what}: {}", why(what));
            }
        }
        let equivalent = comparisons.len() - identical - different;
        println!(
            "\n{} images: {identical} identical, {equivalent} equivalent with expected differences, {different} different",
            comparisons.len()
        );
        if different > 0 || comparisons.is_empty() {
            bail!(
                "{} and {} do not hold the same images",
                self.a.display(),
                self.b.display()
            );
        }
        Ok(())
    }
}
