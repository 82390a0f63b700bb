//! The Lucid release pipeline as a library; `cargo xtask` is a thin CLI over it.
//!
//! One release, top to bottom: the catalog (`lucid_catalog`) → [`compile`] (static musl
//! binaries) → [`images`] (distroless multi-platform images in an OCI layout) → [`publish`]
//! (pushes, then moving tags) → compose files pinned to the pushed digests (`lucid_compose`) →
//! validation (`lucid_validate`) → [`release`], which plans all of it first and then executes
//! the plan. Stages pass plain data forward: a plan, the binaries, the built images, the pushes.
//!
//! The library never prints. Work is done in a [`Context`] (the workspace, where outputs go,
//! which Docker config to use) that receives progress as [`Event`]s: the CLI draws bars from
//! them, tests collect them.

pub mod bench;
pub mod compile;
mod context;
pub mod display;
pub mod images;
pub mod preflight;
pub mod publish;
pub mod release;
pub mod stamp;
pub mod validate;

pub use context::{Context, Event, Task};
