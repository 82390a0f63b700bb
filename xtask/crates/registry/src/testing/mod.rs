//! Real parts for the integration tests of the pipeline crates (feature `testing`, on only
//! through their `[dev-dependencies]`): a distribution registry (`/usr/bin/docker-registry`)
//! per test on a free loopback port with temporary storage, open, with htpasswd auth, or with
//! token auth over TLS ([`TestRegistry::start_secure`]) as Docker Hub runs it; the test CA and
//! the token server that go with the latter.

mod ca;
mod token_server;

pub use ca::TestCa;
pub use token_server::{IssuedToken, TokenPolicy, TokenServer};

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

/// `/usr/bin/docker-registry serve` on a free port; stopped when dropped.
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
        let auth = match htpasswd {
            Some((user, password)) => {
                let line = format!("{user}:{}\n", bcrypt::hash(password, 5).unwrap());
                std::fs::write(dir.join("htpasswd"), line).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: lucid-test\n    path: {}\n",
                    dir.join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        TestRegistry::launch(dir, storage, "", &auth)
    }

    /// Docker Hub's set-up: HTTPS with a certificate of `ca`, token authentication with tokens
    /// of `tokens` (`auth: token` with realm, service, issuer and the CA as `rootcertbundle`).
    pub fn start_secure(dir: &Path, ca: &TestCa, tokens: &TokenServer) -> TestRegistry {
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key) = ca.server_files(dir);
        let tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        );
        let auth = format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            tokens.realm(),
            token_server::SERVICE,
            token_server::ISSUER,
            ca.ca_file().display()
        );
        TestRegistry::launch(dir, &dir.join("storage"), &tls, &auth)
    }

    fn launch(dir: &Path, storage: &Path, http_extra: &str, auth: &str) -> TestRegistry {
        std::fs::create_dir_all(storage).unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{http_extra}{auth}",
            storage.display()
        );
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

    /// The tags stored for `repository`, read from the storage (independent of any client).
    pub fn stored_tags(&self, repository: &str) -> Vec<String> {
        self.stored_names(repository, "_manifests/tags")
    }

    /// The manifests (digests) stored for `repository`, read from the storage.
    pub fn stored_manifests(&self, repository: &str) -> Vec<String> {
        self.stored_names(repository, "_manifests/revisions/sha256")
    }

    fn stored_names(&self, repository: &str, under: &str) -> Vec<String> {
        let dir = self
            .storage
            .join("docker/registry/v2/repositories")
            .join(repository)
            .join(under);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
