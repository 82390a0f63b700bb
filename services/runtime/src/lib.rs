//! The shared runtime of every Lucid service.
//!
//! A service is a type implementing [`App`]; its `main` is `lucid_runtime::main!(MyApp);`.
//! The runtime owns everything the 27 services have in common, so that their crates hold only
//! their domain code:
//! - configuration from environment variables, validated before anything starts
//!   (bad value: every problem listed, exit code 2);
//! - an HTTP server with `GET /health` (liveness) and `GET /ready` (dependencies reachable);
//! - the `healthcheck` subcommand, because distroless images have no shell and no curl;
//! - JSON logs on stderr, graceful shutdown on SIGTERM/SIGINT;
//! - a small HTTP client for calling other services, and crash-safe file writes.

pub mod client;
pub mod config;
pub mod forward;
pub mod http;
pub mod ident;
pub mod ids;
pub mod log;
pub mod probe;
pub mod server;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::Env;
pub use http::{Request, Response};
pub use server::{run, serve, BaseConfig, Context, RunningServer};

/// A Lucid service: how it reads its configuration, how it starts, how it answers requests.
pub trait App: Sized + Send + Sync + 'static {
    /// The parsed configuration. Parsing must not have side effects: `--help` runs it to list the
    /// variables the service reads.
    type Config;

    /// Largest request body the service accepts (bytes); larger bodies get 413.
    const MAX_BODY_BYTES: u64 = 1 << 20;

    /// Reads the service's variables. Problems are recorded in `env`, not returned one by one, so
    /// that a misconfigured container reports all of them at once.
    fn config(env: &mut Env) -> Self::Config;

    /// Opens volumes, spawns listeners, connects to nothing that may be down (that is `/ready`'s job).
    fn start(config: Self::Config, ctx: &Context) -> Result<Self, String>;

    /// Answers every request except `/health` and `/ready`.
    fn handle(&self, req: &Request) -> Response;

    /// Extra readiness condition beyond "every configured upstream accepts TCP connections".
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// `fn main` of a service: name, description and version come from its Cargo.toml.
#[macro_export]
macro_rules! main {
    ($app:ty) => {
        fn main() {
            $crate::run::<$app>(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_DESCRIPTION"),
                env!("CARGO_PKG_VERSION"),
            )
        }
    };
}

/// Starts `app` in-process on 127.0.0.1 with a free port, configured from `vars` only: the
/// HTTP-level tests of every service use this.
pub fn spawn<A: App>(vars: &[(&str, &str)]) -> Result<RunningServer, String> {
    spawn_on::<A>(0, vars)
}

/// Like [`spawn`], on a chosen port: tests that bring a service up after its clients use this.
pub fn spawn_on<A: App>(port: u16, vars: &[(&str, &str)]) -> Result<RunningServer, String> {
    let mut env = Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut base = BaseConfig::read(&mut env, A::MAX_BODY_BYTES);
    base.port = port;
    base.bind = std::net::IpAddr::from([127, 0, 0, 1]);
    let config = A::config(&mut env);
    if !env.errors().is_empty() {
        return Err(env.errors().join("; "));
    }
    let ctx = Context::new("test");
    let app = A::start(config, &ctx)?;
    serve(app, &base, env.upstreams().to_vec(), &ctx)
}
