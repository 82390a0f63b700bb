//! Reading images through a registry's HTTP API gives the same measurements as the layout:
//! a real distribution registry (Debian `docker-registry`) on a free port, filled with skopeo.

mod common;

use common::*;
use lucid_catalog::Platform;
use lucid_validate::image::Inspector;
use lucid_validate::source::{ImageSource, OciLayout, Registry};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The registry process, stopped when the test ends (also on failure).
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(dir: &std::path::Path) -> (Serve, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry) must be installed");
    let serve = Serve(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (serve, host)
}

#[test]
fn registry_and_layout_give_the_same_measurements() {
    let dir = scratch("registry");
    let spec = Spec::new("api-server", 8081);
    let layout = write_layout(&dir, std::slice::from_ref(&spec));
    let (_serve, host) = start_registry(&dir);
    let tag = format!("api-server-{VERSION}");
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{host}/{REPOSITORY}:{tag}"))
        .status()
        .unwrap();
    assert!(status.success());

    let registry = Registry::new(&host);
    assert_eq!(registry.tags(REPOSITORY).unwrap(), vec![tag.clone()]);
    let from_layout = Inspector::default().inspect(
        &OciLayout::open(&layout).unwrap(),
        "api-server",
        REPOSITORY,
        &tag,
        &Platform::ALL,
    );
    let from_registry =
        Inspector::default().inspect(&registry, "api-server", REPOSITORY, &tag, &Platform::ALL);
    assert!(
        from_registry.findings.is_empty(),
        "{:?}",
        from_registry.findings
    );
    assert_eq!(
        from_registry.index_digest, from_layout.index_digest,
        "index digest"
    );
    assert_eq!(
        from_registry.platforms, from_layout.platforms,
        "per-platform facts"
    );
    assert_eq!(from_registry.platforms.len(), 2);
}

#[test]
fn unknown_tag_in_registry_is_a_finding() {
    let dir = scratch("registry-empty");
    let (_serve, host) = start_registry(&dir);
    let i = Inspector::default().inspect(
        &Registry::new(&host),
        "api-server",
        REPOSITORY,
        "api-server-0.1.0",
        &Platform::ALL,
    );
    assert!(i.built.is_none());
    assert!(
        i.findings[0].message.contains("HTTP 404"),
        "{:?}",
        i.findings
    );
}
