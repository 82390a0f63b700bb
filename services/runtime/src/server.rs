//! The process around a service: arguments, configuration, HTTP workers, signals.

use crate::client::{self, Client};
use crate::config::Env;
use crate::http::{Request, Response};
use crate::{log, App};
use serde_json::json;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Variables every service reads, before its own.
#[derive(Debug, Clone)]
pub struct BaseConfig {
    pub port: u16,
    pub bind: IpAddr,
    pub workers: usize,
    pub max_body: u64,
}

impl BaseConfig {
    pub fn read(env: &mut Env, default_max_body: u64) -> Self {
        let port = env.parse(
            "LUCID_HTTP_PORT",
            8080u16,
            "port of the HTTP API, /health and /ready",
        );
        let bind = env.parse(
            "LUCID_BIND",
            IpAddr::from([0, 0, 0, 0]),
            "address the HTTP server binds to",
        );
        let workers = env.parse("LUCID_WORKERS", 4usize, "HTTP worker threads (1-64)");
        env.check(
            (1..=64).contains(&workers),
            format!("LUCID_WORKERS={workers}: must be between 1 and 64"),
        );
        let max_body = env.parse(
            "LUCID_MAX_BODY_BYTES",
            default_max_body,
            "largest accepted request body in bytes",
        );
        BaseConfig {
            port,
            bind,
            workers,
            max_body,
        }
    }
}

/// What a service gets at start: its name, the shutdown flag, a client for other services.
#[derive(Clone)]
pub struct Context {
    pub service: String,
    pub client: Client,
    shutdown: Arc<AtomicBool>,
}

impl Context {
    pub fn new(service: &str) -> Self {
        Context {
            service: service.into(),
            client: Client::default(),
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once SIGTERM/SIGINT arrived: background loops should finish their current item and return.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }
}

/// A server started by [`serve`]: stop it, or wait for a signal to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl RunningServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Asks the workers to stop after their current request, and waits for them.
    pub fn stop(self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.wait();
    }

    /// Waits until the shutdown flag is set (by a signal or [`RunningServer::stop`]) and every worker returned.
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// How often idle workers look at the shutdown flag; bounds the time SIGTERM takes.
const POLL: Duration = Duration::from_millis(100);

/// Starts the HTTP workers for `app` on `base.bind:base.port` (port 0 picks a free one).
pub fn serve<A: App>(
    app: A,
    base: &BaseConfig,
    upstreams: Vec<(String, String)>,
    ctx: &Context,
) -> Result<RunningServer, String> {
    let addr = SocketAddr::new(base.bind, base.port);
    let server =
        tiny_http::Server::http(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or("server has no IP address")?;
    let server = Arc::new(server);
    let shared = Arc::new(Shared {
        app,
        upstreams,
        max_body: base.max_body,
        service: ctx.service.clone(),
    });
    let workers = (0..base.workers)
        .map(|_| {
            let (server, shared, flag) = (server.clone(), shared.clone(), ctx.shutdown_flag());
            std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    match server.recv_timeout(POLL) {
                        Ok(Some(req)) => shared.answer(req),
                        Ok(None) => {}
                        Err(e) => {
                            log::warn("accept failed", json!({ "error": e.to_string() }));
                            std::thread::sleep(POLL);
                        }
                    }
                }
            })
        })
        .collect();
    Ok(RunningServer {
        addr,
        shutdown: ctx.shutdown_flag(),
        workers,
    })
}

struct Shared<A> {
    app: A,
    upstreams: Vec<(String, String)>,
    max_body: u64,
    service: String,
}

impl<A: App> Shared<A> {
    fn answer(&self, mut raw: tiny_http::Request) {
        let response = match self.read_request(&mut raw) {
            Ok(req) => self.dispatch(&req),
            Err(resp) => resp,
        };
        let mut out =
            tiny_http::Response::from_data(response.body).with_status_code(response.status);
        let content_type = ("Content-Type".to_string(), response.content_type);
        for (k, v) in std::iter::once(content_type).chain(response.headers) {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                out.add_header(h);
            }
        }
        let _ = raw.respond(out);
    }

    fn read_request(&self, raw: &mut tiny_http::Request) -> Result<Request, Response> {
        let too_large = || {
            Response::error(
                413,
                format!("request body larger than {} bytes", self.max_body),
            )
        };
        if raw.body_length().is_some_and(|n| n as u64 > self.max_body) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        raw.as_reader()
            .take(self.max_body + 1)
            .read_to_end(&mut body)
            .map_err(|e| Response::error(400, format!("cannot read body: {e}")))?;
        if body.len() as u64 > self.max_body {
            return Err(too_large());
        }
        let mut req = Request::new(raw.method().as_str(), raw.url());
        req.headers = raw
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        req.body = body;
        req.remote = raw.remote_addr().map(|a| a.to_string());
        Ok(req)
    }

    fn dispatch(&self, req: &Request) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/health") => Response::json(
                200,
                &json!({ "status": "ok", "service": self.service, "instance": instance() }),
            ),
            ("GET", "/ready") => self.readiness(),
            _ => match catch_unwind(AssertUnwindSafe(|| self.app.handle(req))) {
                Ok(resp) => resp,
                Err(_) => {
                    log::error(
                        "handler panicked",
                        json!({ "method": req.method, "path": req.path }),
                    );
                    Response::error(500, "internal error")
                }
            },
        }
    }

    fn readiness(&self) -> Response {
        let mut problems: Vec<String> = self
            .upstreams
            .iter()
            .filter_map(|(name, url)| {
                client::reachable(url, Duration::from_secs(1))
                    .err()
                    .map(|e| format!("{name}: {e}"))
            })
            .collect();
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| self.app.ready()))
            .unwrap_or_else(|_| Err("ready check panicked".into()))
        {
            problems.push(e);
        }
        if problems.is_empty() {
            Response::json(200, &json!({ "status": "ready", "service": self.service }))
        } else {
            Response::json(
                503,
                &json!({ "status": "not ready", "service": self.service, "problems": problems }),
            )
        }
    }
}

/// The name of this instance in `/health`, so that a client can tell replicas apart: the
/// hostname (`HOSTNAME`, else `/etc/hostname`), which is the container's id under Docker and
/// Swarm and the pod's name under Kubernetes.
fn instance() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let from_file = || std::fs::read_to_string("/etc/hostname").ok();
        std::env::var("HOSTNAME")
            .ok()
            .or_else(from_file)
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown".into())
    })
}

/// Probes `http://127.0.0.1:$LUCID_HTTP_PORT/health`; the exit code of the `healthcheck` subcommand.
pub fn healthcheck(port: u16) -> i32 {
    let url = format!("http://127.0.0.1:{port}/health");
    match Client::new(Duration::from_secs(3)).get(&url) {
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

    let ctx = Context::new(name);
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
