//! A real distribution registry (`/usr/bin/docker-registry`) per test: a free loopback port,
//! temporary storage, optional htpasswd auth; stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRegistry {
    child: Option<Child>,
    port: u16,
    config: PathBuf,
}

impl TestRegistry {
    pub fn start(dir: &Path, htpasswd: Option<(&str, &str)>) -> TestRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
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
            config: path,
        };
        r.restart();
        r
    }

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
