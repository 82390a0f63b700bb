//! TCP plumbing shared by tor-proxy and tunnel-tools: a bounded accept loop (one thread per
//! connection) and a bidirectional relay with an idle timeout and byte counters.

use serde::Serialize;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Threads of a connection only hold a small buffer on the heap: a small stack keeps a few hundred
/// connections within the service's memory limit.
const STACK: usize = 128 << 10;
const BUFFER: usize = 16 << 10;
/// How often blocked relay reads look at the shutdown flag and the idle clock: often enough for
/// the stop grace period, rarely enough that idle connections cost no CPU on a Pi.
const TICK: Duration = Duration::from_secs(1);
/// How often the accept loop polls (accepting is non-blocking so that it sees the shutdown flag).
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Live counters, served by the HTTP status API.
#[derive(Debug, Default)]
pub struct Stats {
    pub active: AtomicUsize,
    pub total: AtomicU64,
    /// Turned away because `max_connections` were open.
    pub rejected: AtomicU64,
    /// Handled but not relayed (refused by policy, auth, or target unreachable).
    pub failed: AtomicU64,
    /// Client → target.
    pub bytes_up: AtomicU64,
    /// Target → client.
    pub bytes_down: AtomicU64,
}

/// A copy of [`Stats`] for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct StatsView {
    pub active: usize,
    pub total: u64,
    pub rejected: u64,
    pub failed: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl Stats {
    pub fn view(&self) -> StatsView {
        StatsView {
            active: self.active.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes_up: self.bytes_up.load(Ordering::Relaxed),
            bytes_down: self.bytes_down.load(Ordering::Relaxed),
        }
    }
}

/// Limits of the accept loop and of every relay.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// A relay with no traffic in either direction for this long is closed.
    pub idle_timeout: Duration,
}

/// Runs `handle` on a thread for every accepted connection until `stop` is set; connections beyond
/// `limits.max_connections` are closed at once. Returns the accept loop's thread.
pub fn serve<H>(
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    handle: H,
) -> io::Result<thread::JoinHandle<()>>
where
    H: Fn(TcpStream) + Send + Sync + 'static,
{
    // Non-blocking accept so that the loop notices the shutdown flag.
    listener.set_nonblocking(true)?;
    let handle = Arc::new(handle);
    thread::Builder::new()
        .name("tcp-accept".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(ACCEPT_POLL);
                        continue;
                    }
                    Err(e) => {
                        lucid_runtime::log::warn(
                            "accept failed",
                            serde_json::json!({ "error": e.to_string() }),
                        );
                        thread::sleep(TICK);
                        continue;
                    }
                };
                if stats.active.load(Ordering::SeqCst) >= limits.max_connections {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                }
                stats.active.fetch_add(1, Ordering::SeqCst);
                stats.total.fetch_add(1, Ordering::Relaxed);
                let guard = ActiveGuard(stats.clone());
                let handle = handle.clone();
                let spawned = thread::Builder::new()
                    .name("tcp-conn".into())
                    .stack_size(STACK)
                    .spawn(move || {
                        let _guard = guard;
                        if stream.set_nonblocking(false).is_ok() {
                            handle(stream);
                        }
                    });
                if let Err(e) = spawned {
                    lucid_runtime::log::warn(
                        "cannot spawn connection thread",
                        serde_json::json!({ "error": e.to_string() }),
                    );
                }
            }
        })
}

/// Decrements the active count when a connection's thread ends, however it ends.
struct ActiveGuard(Arc<Stats>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Copies bytes both ways between `client` and `server` until both sides closed, an error, the
/// idle timeout, or `stop`. Half-closes are passed on, so request/response protocols that signal
/// the end of a request with a FIN keep working.
pub fn relay(
    client: TcpStream,
    server: TcpStream,
    idle_timeout: Duration,
    stats: &Arc<Stats>,
    stop: &Arc<AtomicBool>,
) {
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    for s in [&client, &server] {
        let _ = s.set_read_timeout(Some(TICK));
        // A peer that stops reading must not pin the other pump in write_all forever.
        let _ = s.set_write_timeout(Some(idle_timeout));
    }
    let down = {
        let (stats, stop, last) = (stats.clone(), stop.clone(), last.clone());
        thread::Builder::new()
            .name("tcp-relay".into())
            .stack_size(STACK)
            .spawn(move || {
                pump(
                    server2,
                    client2,
                    &Pump {
                        counter: &stats.bytes_down,
                        stop: &stop,
                        last: &last,
                        start,
                        idle_timeout,
                    },
                )
            })
    };
    let Ok(down) = down else {
        return;
    };
    pump(
        client,
        server,
        &Pump {
            counter: &stats.bytes_up,
            stop,
            last: &last,
            start,
            idle_timeout,
        },
    );
    let _ = down.join();
}

struct Pump<'a> {
    counter: &'a AtomicU64,
    stop: &'a AtomicBool,
    /// Milliseconds since `start` of the last byte seen in either direction.
    last: &'a AtomicU64,
    start: Instant,
    idle_timeout: Duration,
}

/// One direction of a relay.
fn pump(mut from: TcpStream, mut to: TcpStream, p: &Pump) {
    let mut buf = vec![0u8; BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                // Peer finished sending: pass the FIN on, keep the other direction open.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                p.counter.fetch_add(n as u64, Ordering::Relaxed);
                p.last
                    .store(p.start.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let idle = p
                    .start
                    .elapsed()
                    .saturating_sub(Duration::from_millis(p.last.load(Ordering::Relaxed)));
                if p.stop.load(Ordering::SeqCst) || idle >= p.idle_timeout {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Error, idle or shutdown: end both directions so the other pump returns too.
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn relay_copies_both_ways_and_passes_half_close() {
        let (mut client, client_side) = pair();
        let (server_side, mut server) = pair();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let (stats, stop) = (stats.clone(), stop.clone());
            thread::spawn(move || {
                relay(
                    client_side,
                    server_side,
                    Duration::from_secs(5),
                    &stats,
                    &stop,
                )
            })
        };
        client.write_all(b"ping").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ping");
        server.write_all(b"pong!").unwrap();
        drop(server);
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"pong!");
        t.join().unwrap();
        assert_eq!(stats.view().bytes_up, 4);
        assert_eq!(stats.view().bytes_down, 5);
    }

    #[test]
    fn idle_relay_is_closed() {
        let (mut client, client_side) = pair();
        let (server_side, _server) = pair();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        relay(
            client_side,
            server_side,
            Duration::from_millis(300),
            &stats,
            &stop,
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn connections_beyond_the_limit_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let limits = Limits {
            max_connections: 1,
            idle_timeout: Duration::from_secs(5),
        };
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        let accept = serve(
            listener,
            limits,
            stats.clone(),
            stop.clone(),
            move |mut s| {
                let _ = s.write_all(b"hi");
                let _ = release_rx.lock().unwrap().recv();
            },
        )
        .unwrap();
        let mut first = TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 2];
        first.read_exact(&mut buf).unwrap();
        let mut second = TcpStream::connect(addr).unwrap();
        second
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = Vec::new();
        assert_eq!(second.read_to_end(&mut rest).unwrap_or(0), 0);
        assert_eq!(stats.view().rejected, 1);
        release_tx.send(()).unwrap();
        stop.store(true, Ordering::SeqCst);
        accept.join().unwrap();
    }
}
