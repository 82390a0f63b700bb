//! The shared runtime of every Lucid service.
//!
//! A service is a type implementing [`App`]; its `main` is `lucid_runtime::main!(MyApp);`.
//! The runtime owns everything the 27 services have in common, so that their crates hold only
//! their domain code:
//! - configuration from environment variables, validated before anything starts
//!   (bad value: every problem listed, exit code 2);
//! - an HTTP server with `GET /health` (liveness, and who answers: service, version, instance,
//!   image digest) and `GET /ready` (dependencies reachable), that slow or hostile clients cannot
//!   starve (deadlines, a connection cap, `/health` never waits for a handler);
//! - routing: each service declares its routes once; 404 and 405 (with `Allow`) are the runtime's;
//! - the `healthcheck` subcommand, because distroless images have no shell and no curl;
//! - JSON logs on stderr, graceful shutdown on SIGTERM/SIGINT;
//! - a small HTTP client for calling other services, and crash-safe file writes.
//!
//! Modules depend on each other in one direction: `run` → `server` → `app` → `routes`,
//! `context`, `config` → `http`, `client`; this file only declares them.

pub mod app;
pub mod client;
pub mod config;
pub mod context;
pub mod forward;
pub mod http;
pub mod ident;
pub mod ids;
pub mod log;
pub mod probe;
pub mod routes;
pub mod run;
pub mod server;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use app::{App, Sends};
pub use config::Env;
pub use context::Context;
pub use http::{Request, Response};
pub use routes::Routes;
pub use run::{run, spawn, spawn_on};
pub use server::{serve, BaseConfig, RunningServer};
