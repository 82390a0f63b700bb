//! The HTTP server of every service.
//!
//! One thread runs a small tokio runtime that owns every connection: hyper parses HTTP/1.1 and
//! enforces the header deadline (also the idle keep-alive timeout); the runtime adds the body
//! and send deadlines, the connection cap, and answers `/health` and `/ready` itself. Requests
//! for the service reach `LUCID_WORKERS` worker threads only once they are whole, so neither a
//! slow client nor a slow handler can keep `/health` from answering, and an idle connection
//! costs a few KiB, not a thread. Why this and not a hardened tiny_http: measured, see
//! `docs/runtime-server.md`.

mod builtin;
mod config;
mod conn;
mod deadline;
mod stats;
mod workers;

pub use builtin::instance_name;
pub use config::BaseConfig;
pub use stats::View as ConnectionStats;

use crate::app::App;
use crate::context::Context;
use crate::log;
use crate::routes::Routes;
use builtin::Identity;
use conn::Shared;
use serde_json::json;
use stats::{Event, Stats};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use workers::Workers;

/// How often the accept loop looks at the shutdown flag; bounds the time SIGTERM takes.
const POLL: Duration = Duration::from_millis(100);

/// Connections from 127.0.0.1 allowed beyond `LUCID_MAX_CONNECTIONS`: the `healthcheck`
/// subcommand runs inside the container and must get through when remote clients fill the cap.
const LOOPBACK_RESERVE: usize = 8;

/// After SIGTERM: how long requests in progress may take to finish (the compose grace is 10 s).
const DRAIN: Duration = Duration::from_secs(5);

/// A server started by [`serve`]: stop it, or wait for a signal to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    io: JoinHandle<()>,
    workers: Workers,
}

impl RunningServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Stops accepting, lets requests in progress finish (within a bound), and waits.
    pub fn stop(self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.wait();
    }

    /// Waits until the shutdown flag is set (by a signal or [`RunningServer::stop`]) and the
    /// server has drained.
    pub fn wait(self) {
        let _ = self.io.join();
        self.workers.join(Instant::now() + DRAIN);
    }
}

/// Starts serving `app` on `base.bind:base.port` (port 0 picks a free one).
pub fn serve<A: App>(
    app: A,
    base: &BaseConfig,
    upstreams: Vec<(String, String)>,
    ctx: &Context,
) -> Result<RunningServer, String> {
    let mut routes = Routes::default();
    A::routes(&mut routes);
    if !routes.errors().is_empty() {
        return Err(routes.errors().join("; "));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // `/ready` runs the service's own check here, beside the workers.
        .max_blocking_threads(4)
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    let listener = {
        // Registering the socket with the runtime's reactor needs its context.
        let _entered = runtime.enter();
        listen(SocketAddr::new(base.bind, base.port))?
    };
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}:{}: {e}", base.bind, base.port))?;

    let app = Arc::new(app);
    let handler: workers::Handler = {
        let app = app.clone();
        Arc::new(move |mut req| routes.dispatch(&app, &mut req))
    };
    let (workers, queue) = Workers::start(base.workers, handler, ctx.shutdown_flag())?;
    let shared = Arc::new(Shared {
        base: base.clone(),
        identity: Identity {
            service: ctx.service.clone(),
            version: ctx.version.clone(),
            instance: instance_name(),
            image_digest: base.image_digest.clone(),
            started_at: crate::ids::now_unix(),
        },
        upstreams,
        ready: Arc::new(move || app.ready()),
        queue,
        stats: Arc::new(Stats::default()),
    });
    let shutdown = ctx.shutdown_flag();
    let flag = shutdown.clone();
    let io = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || runtime.block_on(accept(listener, shared, flag)))
        .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
    Ok(RunningServer {
        addr,
        shutdown,
        io,
        workers,
    })
}

/// Connections the kernel completes and queues before the server accepts them: a burst of
/// clients waits there instead of having its SYNs dropped (and retried a second later).
const BACKLOG: u32 = 1024;

fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let failed = |e: std::io::Error| format!("cannot listen on {addr}: {e}");
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(failed)?;
    // As std's TcpListener does: a restarted service can bind while old connections linger.
    socket.set_reuseaddr(true).map_err(failed)?;
    socket.bind(addr).map_err(failed)?;
    socket.listen(BACKLOG).map_err(failed)
}

/// Accepts connections until the shutdown flag is set, then drains.
async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>, shutdown: Arc<AtomicBool>) {
    let slots = Arc::new(Semaphore::new(shared.base.max_connections));
    let reserve = Arc::new(Semaphore::new(LOOPBACK_RESERVE));
    while !shutdown.load(Ordering::SeqCst) {
        let (stream, peer) = match tokio::time::timeout(POLL, listener.accept()).await {
            Err(_) => continue,
            Ok(Ok(accepted)) => accepted,
            // Out of file descriptors, a connection reset before accept…: keep serving.
            Ok(Err(e)) => {
                log::warn("accept failed", json!({ "error": e.to_string() }));
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let slot = slots.clone().try_acquire_owned().or_else(|e| {
            if is_loopback(peer.ip()) {
                reserve.clone().try_acquire_owned()
            } else {
                Err(e)
            }
        });
        match slot {
            Ok(slot) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    conn::serve(stream, peer, shared).await;
                    drop(slot);
                });
            }
            Err(_) => {
                shared.stats.count(Event::Refused);
                tokio::spawn(refuse(stream, shared.base.max_connections));
            }
        }
    }
    drop(listener);
    // Requests already handed to the workers get their answers out before the runtime ends.
    let deadline = Instant::now() + DRAIN;
    while shared.queue.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The clear refusal over the connection cap: a 503 naming the limit, then close.
async fn refuse(stream: tokio::net::TcpStream, limit: usize) {
    let body = json!({
        "error": format!("too many connections: this service serves {limit} at once (LUCID_MAX_CONNECTIONS); retry later")
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let send = async {
        let mut sent = 0;
        while sent < answer.len() {
            if stream.writable().await.is_err() {
                return;
            }
            match stream.try_write(&answer.as_bytes()[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
        // Read what the client sent, briefly, so that closing does not reset the connection
        // before it has read the answer.
        let mut buf = [0u8; 4096];
        if stream.readable().await.is_ok() {
            let _ = stream.try_read(&mut buf);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
}
