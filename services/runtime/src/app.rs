//! What a service is to the runtime: the [`App`] trait, and [`crate::main!`], its `fn main`.

use crate::config::Env;
use crate::context::Context;
use crate::routes::Routes;

/// A Lucid service: how it reads its configuration, how it starts, which requests it answers.
pub trait App: Sized + Send + Sync + 'static {
    /// The parsed configuration. Parsing must not have side effects: `--help` runs it to list the
    /// variables the service reads.
    type Config;

    /// Largest request body the service accepts (bytes); larger bodies get 413.
    const MAX_BODY_BYTES: u64 = 1 << 20;

    /// What the service sends to each of its upstreams (the catalog's `upstreams`), so that limits
    /// agree along a call chain: a request an upstream would refuse for its size must be refused
    /// here first, with a 4xx naming the limit. lucid-e2e's `limits` test walks every catalog edge
    /// with this and fails for an edge that is missing or whose bound exceeds the upstream's
    /// `MAX_BODY_BYTES`.
    const SENDS: &'static [(&'static str, Sends)] = &[];

    /// Reads the service's variables. Problems are recorded in `env`, not returned one by one, so
    /// that a misconfigured container reports all of them at once.
    fn config(env: &mut Env) -> Self::Config;

    /// Opens volumes, spawns listeners, connects to nothing that may be down (that is `/ready`'s job).
    fn start(config: Self::Config, ctx: &Context) -> Result<Self, String>;

    /// Declares every route of the service's API, once; the runtime answers 404 for a path no
    /// route has and 405 (with `Allow`) for a method a path does not have. `/health` and
    /// `/ready` are the runtime's own.
    fn routes(routes: &mut Routes<Self>);

    /// Extra readiness condition beyond "every configured upstream accepts TCP connections".
    /// Runs beside the request workers, so it answers even when they are all busy; it should
    /// still be quick (a bounded TCP connect, a flag).
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The request bodies a service sends to one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sends {
    /// Only requests without a body (reads, commands named by the path).
    NoBody,
    /// The client's body, or one no larger: bounded by the service's own `MAX_BODY_BYTES`.
    ClientBody,
    /// Bodies it builds and checks against this many bytes before sending (413 naming the limit
    /// otherwise), e.g. with [`crate::client::fits`].
    AtMost(u64),
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
