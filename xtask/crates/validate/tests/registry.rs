//! Reading images through a registry's HTTP API gives the same measurements as the layout:
//! a real distribution registry (Debian `docker-registry`) on a free port, filled with skopeo;
//! open, and with token authentication over TLS as Docker Hub runs it.

mod common;

use common::*;
use lucid_catalog::Platform;
use lucid_registry::testing::{TestCa, TestRegistry, TokenServer};
use lucid_registry::{Config, Credentials, Registry};
use lucid_validate::image::Inspector;
use lucid_validate::source::OciLayout;
use std::path::Path;
use std::process::Command;

/// Copies the image tagged `tag` from the layout to `host` with skopeo (an independent client).
fn skopeo_copy(layout: &Path, host: &str, tag: &str, auth: &[&str]) {
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--all"])
        .args(auth)
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{host}/{REPOSITORY}:{tag}"))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Reading from `registry` and from `layout` measures the same image.
fn assert_same_measurements(registry: &Registry, layout: &Path, tag: &str) {
    assert_eq!(registry.tags(REPOSITORY).unwrap(), vec![tag.to_string()]);
    let from_layout = Inspector::default().inspect(
        &OciLayout::open(layout).unwrap(),
        "api-server",
        REPOSITORY,
        tag,
        &Platform::ALL,
    );
    let from_registry =
        Inspector::default().inspect(registry, "api-server", REPOSITORY, tag, &Platform::ALL);
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
fn registry_and_layout_give_the_same_measurements() {
    let dir = scratch("registry");
    let spec = Spec::new("api-server", 8081);
    let layout = write_layout(&dir, std::slice::from_ref(&spec));
    let registry = TestRegistry::start(&dir.join("registry"), None);
    let tag = format!("api-server-{VERSION}");
    skopeo_copy(
        &layout,
        &registry.host(),
        &tag,
        &["--dest-tls-verify=false"],
    );
    let client = Registry::configured(&registry.host(), Config::default()).unwrap();
    assert_same_measurements(&client, &layout, &tag);
}

#[test]
fn reads_through_token_auth_over_tls_as_from_docker_hub() {
    let dir = scratch("registry-token-tls");
    let spec = Spec::new("api-server", 8081);
    let layout = write_layout(&dir, std::slice::from_ref(&spec));
    let ca = TestCa::new(&dir.join("ca"), "lucid test CA");
    let tokens = TokenServer::start(&ca, "reader", "read-pass-3");
    let registry = TestRegistry::start_secure(&dir.join("registry"), &ca, &tokens);
    let host = registry.host();
    let certs_d = ca.certs_d(&host);
    let tag = format!("api-server-{VERSION}");
    let cert_dir = certs_d.join(&host).display().to_string();
    skopeo_copy(
        &layout,
        &host,
        &tag,
        &[
            "--dest-cert-dir",
            &cert_dir,
            "--dest-creds",
            "reader:read-pass-3",
        ],
    );
    let pushed_tokens = tokens.issued().len();
    let config = Config {
        credentials: Some(Credentials {
            username: "reader".into(),
            secret: "read-pass-3".into(),
            origin: "the test".into(),
        }),
        certs_d,
        ..Config::default()
    };
    let client = Registry::configured(&host, config).unwrap();
    assert_same_measurements(&client, &layout, &tag);
    let read_scopes: Vec<Vec<String>> = tokens.issued()[pushed_tokens..]
        .iter()
        .map(|t| t.scopes.clone())
        .collect();
    assert_eq!(
        read_scopes,
        [["repository:pickme/lucid:pull"]],
        "the validator reads with one pull token"
    );

    // Without the CA, the source says why it could not read anything.
    let untrusting = Registry::configured(&host, Config::default()).unwrap();
    let i =
        Inspector::default().inspect(&untrusting, "api-server", REPOSITORY, &tag, &Platform::ALL);
    assert!(i.built.is_none());
    assert!(
        i.findings[0].message.contains("is not trusted"),
        "{:?}",
        i.findings
    );
}

#[test]
fn unknown_tag_in_registry_is_a_finding() {
    let dir = scratch("registry-empty");
    let registry = TestRegistry::start(&dir.join("registry"), None);
    let i = Inspector::default().inspect(
        &Registry::configured(&registry.host(), Config::default()).unwrap(),
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
