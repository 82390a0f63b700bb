//! The runtime as users meet it: a real service process, its configuration errors, its HTTP
//! endpoints, its `healthcheck` subcommand and its reaction to SIGTERM.

use lucid_runtime::client::Client;
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEMO: &str = env!("CARGO_BIN_EXE_lucid-runtime-demo");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn demo(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(DEMO);
    cmd.env_clear().envs(vars.iter().copied());
    cmd
}

struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn start(extra: &[(&str, &str)]) -> Running {
        let port = free_port();
        let port_s = port.to_string();
        let mut vars = vec![
            ("LUCID_HTTP_PORT", port_s.as_str()),
            ("LUCID_BIND", "127.0.0.1"),
        ];
        vars.extend_from_slice(extra);
        let child = demo(&vars)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "demo did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        Running { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn healthcheck(&self) -> Output {
        demo(&[("LUCID_HTTP_PORT", &self.port.to_string())])
            .arg("healthcheck")
            .output()
            .unwrap()
    }

    /// Sends SIGTERM and returns the exit status and how long the process took to exit.
    fn terminate(mut self) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no exit 10 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bad_configuration_exits_2_and_names_every_variable() {
    let out = demo(&[
        ("LUCID_HTTP_PORT", "eighty"),
        ("LUCID_WORKERS", "0"),
        ("LUCID_URL_DEMO_UPSTREAM", "ftp://x"),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "LUCID_HTTP_PORT",
        "LUCID_WORKERS",
        "LUCID_URL_DEMO_UPSTREAM",
    ] {
        assert!(stderr.contains(var), "{var} not named in: {stderr}");
    }
}

#[test]
fn unknown_argument_exits_2_and_help_lists_variables() {
    let out = demo(&[]).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let help = demo(&[]).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "healthcheck",
        "LUCID_HTTP_PORT",
        "DEMO_GREETING",
        "LUCID_URL_DEMO_UPSTREAM",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}: {text}");
    }
}

#[test]
fn health_ready_api_and_errors_over_http() {
    let dead = free_port().to_string();
    let upstream = format!("http://127.0.0.1:{dead}");
    let svc = Running::start(&[
        ("DEMO_GREETING", "hi"),
        ("LUCID_URL_DEMO_UPSTREAM", &upstream),
    ]);
    let client = Client::default();

    let health = client.get(&svc.url("/health")).unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json::<serde_json::Value>().unwrap()["status"], "ok");

    // The upstream is down: alive but not ready, and /ready says which dependency.
    let ready = client.get(&svc.url("/ready")).unwrap();
    assert_eq!(ready.status, 503);
    assert!(String::from_utf8_lossy(&ready.body).contains("demo-upstream"));

    assert_eq!(
        client
            .get(&svc.url("/"))
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()["greeting"],
        "hi"
    );
    assert_eq!(
        client
            .post_bytes(&svc.url("/echo"), "text/plain", b"abc")
            .unwrap()
            .body,
        b"abc"
    );
    assert_eq!(
        client
            .post_bytes(&svc.url("/echo"), "text/plain", &[0u8; 2048])
            .unwrap()
            .status,
        413
    );
    let panicked = client.get(&svc.url("/panic")).unwrap();
    assert_eq!(panicked.status, 500);
    // The worker survived the panic.
    assert_eq!(client.get(&svc.url("/health")).unwrap().status, 200);
}

#[test]
fn health_names_the_instance_answering() {
    let named = Running::start(&[("HOSTNAME", "replica-7")]);
    let health = Client::default().get(&named.url("/health")).unwrap();
    let body = health.json::<serde_json::Value>().unwrap();
    assert_eq!(body["instance"], "replica-7", "{body}");

    // Without HOSTNAME (the demo runs with a cleared environment): the host's /etc/hostname.
    let Ok(hostname) = std::fs::read_to_string("/etc/hostname") else {
        return;
    };
    let unnamed = Running::start(&[]);
    let health = Client::default().get(&unnamed.url("/health")).unwrap();
    let body = health.json::<serde_json::Value>().unwrap();
    assert_eq!(body["instance"], hostname.trim(), "{body}");
}

#[test]
fn ready_once_upstream_listens() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", upstream.local_addr().unwrap().port());
    let svc = Running::start(&[("LUCID_URL_DEMO_UPSTREAM", &url)]);
    assert_eq!(
        Client::default().get(&svc.url("/ready")).unwrap().status,
        200
    );
}

#[test]
fn healthcheck_subcommand_against_live_and_dead_server() {
    let svc = Running::start(&[]);
    let live = svc.healthcheck();
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let port = svc.port;
    let (status, _) = svc.terminate();
    assert!(status.success());
    let dead = demo(&[("LUCID_HTTP_PORT", &port.to_string())])
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(dead.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dead.stderr).contains("unhealthy"));
}

#[test]
fn sigterm_stops_cleanly_within_the_grace_period() {
    let svc = Running::start(&[]);
    let (status, took) = svc.terminate();
    assert_eq!(status.code(), Some(0));
    // The compose files give 10 s (stop_grace_period) before SIGKILL; the runtime polls its flag
    // every 100 ms, so half the grace period leaves room for a loaded machine and still fails
    // a server that ignores SIGTERM.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn logs_are_json_lines() {
    let mut svc = Running::start(&[]);
    let stderr = svc.child.stderr.take().unwrap();
    let (status, _) = svc.terminate();
    assert!(status.success());
    let text = std::io::read_to_string(stderr).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert!(lines.iter().any(|l| l["msg"] == "listening"));
    assert!(lines.iter().any(|l| l["msg"] == "stopped"));
    assert!(lines
        .iter()
        .all(|l| l["service"] == "lucid-runtime" && l["ts"].is_number()));
}
