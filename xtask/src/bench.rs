//! `cargo xtask bench`: measurements that belong in reports, not in timed tests.

use anyhow::Result;
use lucid_pipeline::{bench, Context};

/// Measure build times, image engines and sizes, or session pipeline throughput; the results
/// are printed and written as JSON under target/lucid/bench/.
#[derive(clap::Args)]
pub struct Bench {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Cold and warm `cargo xtask build` times for both platforms, and every arm64 binary's size.
    Build {
        /// Warm (incremental) repetitions; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// The oci engine against BuildKit for all images, and the stack's compressed size.
    Images,
    /// Chunk + encrypt + Merkle throughput in MiB/s, natively and for aarch64 under qemu.
    Pipeline,
}

impl Bench {
    pub fn run(self, ctx: &Context) -> Result<()> {
        let measured = match self.what {
            What::Build { repeat } => bench::build(ctx, repeat)?,
            What::Images => bench::images(ctx)?,
            What::Pipeline => bench::pipeline(ctx)?,
        };
        println!("{measured}");
        Ok(())
    }
}
