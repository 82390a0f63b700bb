//! Slow and hostile clients, for the robustness tests of the server and the `/health` benchmark
//! (lucid-e2e's `health-bench`): stalled uploads, slow-loris header senders, idle connections,
//! an upstream that accepts and never answers, and a `/health` probe that measures its latency.
//! Everything talks to 127.0.0.1 over real sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections that announce a `length`-byte body on `POST path` and send one byte of it: a
/// server that reads bodies in its request workers is stuck on each until the client goes.
/// Connections the server refused (or closed at once) are left out.
pub fn stalled_uploads(addr: SocketAddr, n: usize, path: &str, length: u64) -> Vec<TcpStream> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: lucid\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    );
    (0..n)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(head.as_bytes()).ok()?;
            Some(s)
        })
        .collect()
}

/// `n` connections that never send a byte.
pub fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect()
}

/// True when the server closed `stream` (end of file or reset) within `within`; whatever it
/// sent before closing (e.g. a 408) is read and dropped.
pub fn closed_by_peer(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// Slow-loris clients: each sends a request line and then one header byte every `interval`,
/// never finishing its header. Counts the connections the server closed.
pub struct SlowLoris {
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
    opened: usize,
    sender: Option<JoinHandle<()>>,
}

impl SlowLoris {
    pub fn start(addr: SocketAddr, n: usize, interval: Duration) -> SlowLoris {
        let streams: Vec<TcpStream> = (0..n)
            .filter_map(|_| {
                let mut s = TcpStream::connect(addr).ok()?;
                s.write_all(b"GET / HTTP/1.1\r\nHost: lucid\r\nX-Slow: ")
                    .ok()?;
                s.set_nonblocking(true).ok()?;
                Some(s)
            })
            .collect();
        let opened = streams.len();
        let stop = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), closed.clone());
        let sender = std::thread::spawn(move || {
            let mut open: Vec<TcpStream> = streams;
            while !flag.load(Ordering::SeqCst) {
                open.retain_mut(|s| {
                    let mut buf = [0u8; 512];
                    let gone = match s.read(&mut buf) {
                        Ok(0) => true,
                        Ok(_) => false,
                        Err(e) => e.kind() != ErrorKind::WouldBlock,
                    } || s.write(b"a").is_err();
                    if gone {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    !gone
                });
                sleep_unless(&flag, interval);
            }
        });
        SlowLoris {
            stop,
            closed,
            opened,
            sender: Some(sender),
        }
    }

    /// Connections that were opened.
    pub fn opened(&self) -> usize {
        self.opened
    }

    /// Connections the server has closed so far.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for SlowLoris {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
    }
}

fn sleep_unless(flag: &AtomicBool, total: Duration) {
    let deadline = Instant::now() + total;
    while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20).min(total));
    }
}

/// An upstream that accepts connections, reads what they send and never answers: what a hung
/// TRON node or a wedged service looks like to its callers. Stops (and closes them) on drop.
pub struct HungUpstream {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl HungUpstream {
    pub fn start() -> HungUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind the hung upstream");
        let addr = listener.local_addr().expect("hung upstream has no address");
        listener
            .set_nonblocking(true)
            .expect("cannot make the hung upstream non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (flag, held) = (stop.clone(), accepted.clone());
        let acceptor = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => held.lock().unwrap_or_else(|p| p.into_inner()).push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HungUpstream {
            addr,
            stop,
            accepted,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl Drop for HungUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Requests sent in full on connections kept open while the server works on them (e.g. calls
/// that the service forwards to a [`HungUpstream`]).
pub fn pending_requests(addr: SocketAddr, n: usize, method: &str, path: &str) -> Vec<TcpStream> {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: lucid\r\nContent-Length: 0\r\n\r\n");
    (0..n)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(request.as_bytes()).ok()?;
            Some(s)
        })
        .collect()
}

/// `GET path` on a fresh connection: the status and how long the whole answer took, or why
/// there was none within `timeout`.
pub fn timed_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration), String> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    let left = |started: Instant| {
        timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {timeout:?}"))
    };
    s.set_write_timeout(Some(left(started)?))
        .and_then(|_| {
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: lucid\r\nConnection: close\r\n\r\n"
            )
        })
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        s.set_read_timeout(Some(left(started)?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no answer within {timeout:?}"))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset after the answer (the server closed first) still leaves the answer.
            Err(_) if !reply.is_empty() => break,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let status = std::str::from_utf8(&reply)
        .ok()
        .and_then(|text| text.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP answer: {:?}",
                String::from_utf8_lossy(&reply[..reply.len().min(80)])
            )
        })?;
    Ok((status, started.elapsed()))
}

/// Threads of process `pid` (entries of /proc/<pid>/task).
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident memory of process `pid` in KiB (VmRSS of /proc/<pid>/status), 0 when unknown.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_get_reads_the_status_of_a_stub() {
        let url = super::super::http_stub("503 Service Unavailable");
        let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        let (status, took) = timed_get(addr, "/health", Duration::from_secs(5)).unwrap();
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(5));
    }

    #[test]
    fn hung_upstream_accepts_and_never_answers() {
        let hung = HungUpstream::start();
        let err = timed_get(hung.addr, "/", Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("no answer"), "{err}");
        assert_eq!(hung.accepted(), 1);
    }

    #[test]
    fn this_process_has_threads_and_memory() {
        assert!(threads(std::process::id()) >= 1);
        assert!(rss_kib(std::process::id()) > 0);
    }
}
