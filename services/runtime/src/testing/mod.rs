//! Helpers shared by the tests of every service (feature `testing`, enabled from
//! `[dev-dependencies]` and by the lucid-e2e support crate, never in a service binary): scratch
//! directories, free ports, stub HTTP and TCP echo servers, generated recordings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod attack;

/// This process's scratch root, `<tmp>/lucid-tests-<pid>`: every [`temp_dir`] lives in it.
static SCRATCH_ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Removes the scratch root; registered with atexit(3), so it runs when the test binary ends,
/// whether its tests passed or failed, and repeated runs leave nothing behind in /tmp.
extern "C" fn remove_scratch_root() {
    if let Some(root) = SCRATCH_ROOT.get() {
        let _ = std::fs::remove_dir_all(root);
    }
}

fn scratch_root() -> &'static Path {
    SCRATCH_ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("lucid-tests-{}", std::process::id()));
        // A recycled pid's leftovers (a killed run) are not this process's data.
        let _ = std::fs::remove_dir_all(&root);
        // SAFETY: registers a plain function; atexit has no other precondition.
        unsafe { libc::atexit(remove_scratch_root) };
        root
    })
}

/// A scratch directory path `<tmp>/lucid-tests-<pid>/<name>`, ready to be a `*_DATA_DIR` value,
/// removed with the rest of this process's scratch root when the process exits. Whatever was
/// there is removed; the directory itself is not created, because services create their data
/// directories at start and tests should see them do it.
pub fn temp_dir(name: &str) -> String {
    let dir = scratch_root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir.to_string_lossy().into_owned()
}

/// Deterministic test data that compresses roughly like raw screen frames: long runs of slowly
/// changing bytes with a quarter of noise (xorshift). The same `seed` gives the same bytes.
pub fn recording(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 64 < 48 {
                (i / 4096) as u8 ^ (seed as u8)
            } else {
                x as u8
            }
        })
        .collect()
}

/// Asserts that `reply` has `status`; when it has not, the failure shows the body, which says why.
#[track_caller]
pub fn assert_status(reply: &crate::client::Reply, status: u16) {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// The URL of a server on 127.0.0.1 that answers every request with `status_line`
/// (e.g. `"500 Internal Server Error"`) and the body `{}`, for probing failing services.
pub fn http_stub(status_line: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a stub server");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("stub server has no address")
    );
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            // The whole request head first: closing with unread bytes would reset the connection
            // and could lose the answer.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status_line}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
        }
    });
    url
}

/// A TCP echo server on `addr` (port 0 picks one): every connection gets back what it sends.
pub fn tcp_echo(addr: &str) -> SocketAddr {
    let listener = TcpListener::bind(addr).expect("cannot bind the echo server");
    let local = listener.local_addr().expect("echo server has no address");
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    local
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_removes_what_an_earlier_run_left() {
        let first = temp_dir("lucid-testing-leftover");
        std::fs::create_dir_all(&first).unwrap();
        std::fs::write(format!("{first}/old"), b"x").unwrap();
        let again = temp_dir("lucid-testing-leftover");
        assert_eq!(first, again);
        assert!(!std::path::Path::new(&again).exists());
    }

    /// Run as a child of the test below (same binary, this test only): makes a scratch
    /// directory with a file in it, prints its path and exits.
    const CHILD: &str = "LUCID_TESTING_SCRATCH_CHILD";

    #[test]
    fn scratch_directories_are_gone_when_the_test_process_exits() {
        if std::env::var_os(CHILD).is_some() {
            let dir = temp_dir("lucid-testing-child");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/data"), b"x").unwrap();
            println!("scratch={dir}");
            return;
        }
        let name = "testing::tests::scratch_directories_are_gone_when_the_test_process_exits";
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "{stdout}");
        let dir = stdout
            .lines()
            .find_map(|l| l.split_once("scratch=").map(|(_, dir)| dir.trim()))
            .unwrap_or_else(|| panic!("the child printed no scratch directory: {stdout}"));
        let root = Path::new(dir).parent().unwrap();
        assert!(
            root.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lucid-tests-"),
            "{dir}"
        );
        assert_ne!(root, scratch_root(), "the child has a root of its own");
        assert!(!root.exists(), "{} is still there", root.display());
    }

    #[test]
    fn tcp_echo_sends_back_what_it_receives() {
        let addr = tcp_echo("127.0.0.1:0");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
    }

    #[test]
    fn http_stub_answers_with_its_status() {
        let url = http_stub("503 Service Unavailable");
        let reply = crate::client::Client::default()
            .get(&format!("{url}/health"))
            .unwrap();
        assert_eq!(reply.status, 503);
    }
}
