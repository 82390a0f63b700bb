//! The demo service (`lucid-runtime-demo`) as a real process, for the runtime's process tests.

#![allow(dead_code)] // each test file uses its own part

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DEMO: &str = env!("CARGO_BIN_EXE_lucid-runtime-demo");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn demo(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(DEMO);
    cmd.env_clear().envs(vars.iter().copied());
    cmd
}

pub struct Running {
    pub child: Child,
    pub port: u16,
}

impl Running {
    pub fn start(extra: &[(&str, &str)]) -> Running {
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

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn healthcheck(&self) -> Output {
        demo(&[("LUCID_HTTP_PORT", &self.port.to_string())])
            .arg("healthcheck")
            .output()
            .unwrap()
    }

    /// Sends SIGTERM and returns the exit status and how long the process took to exit.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Duration) {
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
