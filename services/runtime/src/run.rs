//! The process around a service: arguments, configuration, signals, the `healthcheck`
//! subcommand; and [`spawn`], the same service in-process for tests.

use crate::app::App;
use crate::client::Client;
use crate::config::Env;
use crate::context::Context;
use crate::log;
use crate::server::{serve, BaseConfig, RunningServer};
use serde_json::json;
use std::process::exit;
use std::time::Duration;

/// Longest wait of the `healthcheck` subcommand: under the compose health check's 3 s, so that it
/// reports why instead of being killed.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

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
    let ctx = Context::new("test", env!("CARGO_PKG_VERSION"));
    let app = A::start(config, &ctx)?;
    serve(app, &base, env.upstreams().to_vec(), &ctx)
}

/// Probes `http://127.0.0.1:$LUCID_HTTP_PORT/health`; the exit code of the `healthcheck` subcommand.
pub fn healthcheck(port: u16) -> i32 {
    let url = format!("http://127.0.0.1:{port}/health");
    match Client::new(HEALTHCHECK_TIMEOUT).get(&url) {
        Ok(reply) if reply.status == 200 => 0,
        Ok(reply) => {
            eprintln!("unhealthy: {url} answered HTTP {}", reply.status);
            1
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            1
        }
    }
}

fn print_help<A: App>(name: &str, about: &str, version: &str) {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut env = Env::from_vars(Vec::<(String, String)>::new());
    BaseConfig::read(&mut env, A::MAX_BODY_BYTES);
    let _ = A::config(&mut env);
    let _ = writeln!(text, "{name} {version}\n{about}\n");
    let _ = writeln!(
        text,
        "USAGE:\n    {name}                 serve (configuration from the environment)"
    );
    let _ = writeln!(text, "    {name} healthcheck     probe this service's own /health on 127.0.0.1; exit 0 healthy, 1 not");
    let _ = writeln!(text, "    {name} --help | --version\n");
    let _ = writeln!(text, "HTTP: GET /health (liveness), GET /ready (dependencies reachable), and the service's API.\n");
    let _ = writeln!(text, "ENVIRONMENT:");
    for d in env.docs() {
        let default = d
            .default
            .as_deref()
            .map(|v| format!(" [default: {v}]"))
            .unwrap_or_default();
        let _ = writeln!(text, "    {:<32} {}{}", d.name, d.doc, default);
    }
    let _ = writeln!(
        text,
        "\nExit codes: 0 clean shutdown, 1 start-up failure, 2 bad configuration or arguments."
    );
    // A closed pipe (`--help | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
}

/// The `main` of every service (see [`crate::main!`]).
pub fn run<A: App>(name: &str, about: &str, version: &str) -> ! {
    log::init(name);
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("healthcheck") => {
            let mut env = Env::from_process();
            let base = BaseConfig::read(&mut env, A::MAX_BODY_BYTES);
            exit(healthcheck(base.port))
        }
        Some("-h" | "--help" | "help") => {
            print_help::<A>(name, about, version);
            exit(0)
        }
        Some("-V" | "--version") => {
            println!("{name} {version}");
            exit(0)
        }
        Some(other) => {
            eprintln!("{name}: unknown argument {other:?}\nRun '{name} --help' for usage.");
            exit(2)
        }
    }

    std::panic::set_hook(Box::new(|info| {
        log::error("panic", json!({ "detail": info.to_string() }))
    }));
    let mut env = Env::from_process();
    let base = BaseConfig::read(&mut env, A::MAX_BODY_BYTES);
    let config = A::config(&mut env);
    if !env.errors().is_empty() {
        for e in env.errors() {
            eprintln!("{name}: configuration error: {e}");
        }
        log::error("invalid configuration", json!({ "errors": env.errors() }));
        exit(2)
    }

    let ctx = Context::new(name, version);
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, ctx.shutdown_flag()) {
            log::error(
                "cannot install signal handler",
                json!({ "error": e.to_string() }),
            );
            exit(1)
        }
    }
    let app = match A::start(config, &ctx) {
        Ok(app) => app,
        Err(e) => {
            log::error("start-up failed", json!({ "error": e }));
            exit(1)
        }
    };
    match serve(app, &base, env.upstreams().to_vec(), &ctx) {
        Ok(server) => {
            log::info(
                "listening",
                json!({ "addr": server.addr.to_string(), "version": version }),
            );
            server.wait();
            log::info("stopped", json!({ "reason": "signal" }));
            exit(0)
        }
        Err(e) => {
            log::error("start-up failed", json!({ "error": e }));
            exit(1)
        }
    }
}
