//! Real parts for the integration tests of this crate and of the xtask (feature `testing`, on
//! only through their `[dev-dependencies]`): a distribution registry (`/usr/bin/docker-registry`)
//! per test, on a free loopback port with temporary storage and optional htpasswd auth.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails the test with the command's stderr unless it succeeded.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/usr/bin/docker-registry serve` on a free port (manifest deletion enabled, as in CI's
/// registry); stopped when dropped.
pub struct TestRegistry {
    child: Option<Child>,
    pub port: u16,
    pub storage: PathBuf,
    config: PathBuf,
}

impl TestRegistry {
    /// A registry with its storage, config and htpasswd under `dir`.
    pub fn start(dir: &Path, htpasswd: Option<(&str, &str)>) -> TestRegistry {
        TestRegistry::start_on(dir, &dir.join("storage"), htpasswd)
    }

    /// A registry over `storage` (kept: copy a snapshot there to start from it), with
    /// htpasswd auth for `user:password` when given; its config lives in `dir`.
    pub fn start_on(dir: &Path, storage: &Path, htpasswd: Option<(&str, &str)>) -> TestRegistry {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::create_dir_all(storage).unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((user, password)) = htpasswd {
            let line = format!("{user}:{}\n", bcrypt::hash(password, 5).unwrap());
            std::fs::write(dir.join("htpasswd"), line).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: lucid-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        let path = dir.join("config.yml");
        std::fs::write(&path, config).unwrap();
        let mut r = TestRegistry {
            child: None,
            port,
            storage: storage.to_path_buf(),
            config: path,
        };
        r.restart();
        r
    }

    /// Starts the (stopped) registry again, on the same port and storage.
    pub fn restart(&mut self) {
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/docker-registry (Debian docker-registry) is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
