//! Pushes against a real distribution registry (`/usr/bin/docker-registry`), started per test on
//! a free loopback port with temporary storage, and stopped at the end.

mod common;

use lucid_catalog::ImageRef;
use lucid_image::push::{self, PushEvent};
use lucid_image::registry::{Credentials, Registry, Retry};
use lucid_image::testing::{assert_success, TestRegistry};
use lucid_image::Layout;
use std::process::Command;
use std::time::Duration;

struct Fixture {
    dir: tempfile::TempDir,
    layout: Layout,
    ws: lucid_catalog::Workspace,
    base: lucid_image::Base,
    info: lucid_image::BuildInfo,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::open(&dir.path().join("oci")).unwrap();
    let base = common::base(&layout);
    let info = common::build_info(&base);
    Fixture {
        ws: common::workspace(),
        dir,
        layout,
        base,
        info,
    }
}

impl Fixture {
    fn image(&self, service: &str) -> lucid_image::BuiltImage {
        common::build(
            &self.layout,
            self.dir.path(),
            &self.ws,
            service,
            &self.info,
            &self.base,
        )
    }

    fn refs(&self, service: &str, host: &str) -> (ImageRef, ImageRef) {
        self.ws
            .image_refs(service, &self.info.version, host)
            .unwrap()
    }
}

fn quick(mut r: Registry) -> Registry {
    r.retry = Retry {
        attempts: 2,
        first_delay: Duration::from_millis(50),
    };
    r
}

#[test]
fn pushes_a_multi_platform_index_that_skopeo_reads() {
    let f = fixture();
    let reg = TestRegistry::start(f.dir.path(), None);
    let client = Registry::with_credentials(&reg.host(), None);
    let image = f.image("tor-proxy");
    let (versioned, _) = f.refs("tor-proxy", &reg.host());
    let outcome = push::push_image(&client, &f.layout, &image, &versioned, &mut |_| {}).unwrap();
    assert!(!outcome.unchanged);
    assert_eq!(outcome.digest, image.digest);
    assert_eq!(
        outcome.uploaded_blobs, 5,
        "base + 2 service layers + 2 configs"
    );
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{versioned}"),
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["arm64", "amd64"]);
}

#[test]
fn re_push_is_unchanged_and_shared_blobs_are_skipped() {
    let f = fixture();
    let reg = TestRegistry::start(f.dir.path(), None);
    let client = Registry::with_credentials(&reg.host(), None);
    let a = f.image("api-server");
    let (ref_a, _) = f.refs("api-server", &reg.host());
    push::push_image(&client, &f.layout, &a, &ref_a, &mut |_| {}).unwrap();
    let again = push::push_image(&client, &f.layout, &a, &ref_a, &mut |_| {
        panic!("nothing to send")
    })
    .unwrap();
    assert!(again.unchanged);
    let b = f.image("api-gateway");
    let (ref_b, _) = f.refs("api-gateway", &reg.host());
    let mut skipped = Vec::new();
    let outcome = push::push_image(&client, &f.layout, &b, &ref_b, &mut |e| {
        if let PushEvent::BlobSkipped { digest, .. } = e {
            skipped.push(digest.clone());
        }
    })
    .unwrap();
    assert_eq!(
        skipped,
        std::slice::from_ref(&f.base.digest),
        "the base layer is already there"
    );
    assert_eq!(outcome.uploaded_blobs, 4);
}

#[test]
fn registry_stopped_mid_push_gives_a_clear_error_and_the_rerun_resumes() {
    let f = fixture();
    let mut reg = TestRegistry::start(f.dir.path(), None);
    let client = quick(Registry::with_credentials(&reg.host(), None));
    let image = f.image("session-chunker");
    let (versioned, _) = f.refs("session-chunker", &reg.host());
    let mut landed = Vec::new();
    let err = push::push_image(&client, &f.layout, &image, &versioned, &mut |e| {
        if let PushEvent::BlobUploaded { digest, .. } = e {
            landed.push(digest.clone());
            reg.stop();
        }
    })
    .unwrap_err();
    let err = format!("{err:#}");
    assert_eq!(landed.len(), 1);
    assert!(
        err.contains("unreachable") && err.contains(&reg.host()) && err.contains("rerun resumes"),
        "{err}"
    );
    reg.restart();
    let mut skipped = Vec::new();
    let outcome = push::push_image(&client, &f.layout, &image, &versioned, &mut |e| {
        if let PushEvent::BlobSkipped { digest, .. } = e {
            skipped.push(digest.clone());
        }
    })
    .unwrap();
    assert_eq!(
        skipped, landed,
        "the blob that landed before the stop is not uploaded again"
    );
    assert_eq!(outcome.digest, image.digest);
}

#[test]
fn refused_credentials_give_a_clear_error_without_the_secret() {
    let f = fixture();
    let reg = TestRegistry::start(f.dir.path(), Some(("lucid", "right-password-1")));
    let image = f.image("merkle-builder");
    let (versioned, _) = f.refs("merkle-builder", &reg.host());
    let wrong = Credentials {
        username: "lucid".into(),
        secret: "wrong-secret-9f3k".into(),
        origin: "test".into(),
    };
    let client = quick(Registry::with_credentials(&reg.host(), Some(wrong)));
    let err = format!(
        "{:#}",
        push::push_image(&client, &f.layout, &image, &versioned, &mut |_| {}).unwrap_err()
    );
    assert!(
        err.contains("refused the credentials") && err.contains("lucid"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-secret-9f3k"),
        "the secret leaked: {err}"
    );
    let anonymous = quick(Registry::with_credentials(&reg.host(), None));
    let err = format!(
        "{:#}",
        push::push_image(&anonymous, &f.layout, &image, &versioned, &mut |_| {}).unwrap_err()
    );
    assert!(err.contains("requires authentication"), "{err}");
    let right = Credentials {
        username: "lucid".into(),
        secret: "right-password-1".into(),
        origin: "test".into(),
    };
    let client = Registry::with_credentials(&reg.host(), Some(right));
    push::push_image(&client, &f.layout, &image, &versioned, &mut |_| {}).unwrap();
}

#[test]
fn moving_tag_follows_only_an_explicit_call() {
    let f = fixture();
    let reg = TestRegistry::start(f.dir.path(), None);
    let client = Registry::with_credentials(&reg.host(), None);
    let image = f.image("admin-ui");
    let (versioned, moving) = f.refs("admin-ui", &reg.host());
    push::push_image(&client, &f.layout, &image, &versioned, &mut |_| {}).unwrap();
    let tag = moving.tag.clone().unwrap();
    assert_eq!(
        client.manifest_digest(&moving.repository, &tag).unwrap(),
        None,
        "a push leaves the moving tag alone"
    );
    let digest = push::tag_moving(&client, &versioned, &moving).unwrap();
    assert_eq!(digest, image.digest);
    assert_eq!(
        client.manifest_digest(&moving.repository, &tag).unwrap(),
        Some(image.digest.clone())
    );
}

#[test]
fn reads_credentials_from_docker_config_and_credential_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let auth = base64_encode("alice:s3cret");
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"127.0.0.1:5999":{{"auth":"{auth}"}}}},"credHelpers":{{"registry.example":"lucidtest"}}}}"#),
    )
    .unwrap();
    let helper = dir.path().join("docker-credential-lucidtest");
    std::fs::write(&helper, "#!/bin/sh\nread server\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"bob\\\",\\\"Secret\\\":\\\"t0ken\\\"}\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::env::set_var("DOCKER_CONFIG", dir.path());
    std::env::set_var(
        "PATH",
        format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap()
        ),
    );
    let c = lucid_image::registry::credentials_for("127.0.0.1:5999")
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.username.as_str(), c.secret.as_str()),
        ("alice", "s3cret")
    );
    let c = lucid_image::registry::credentials_for("registry.example")
        .unwrap()
        .unwrap();
    assert_eq!((c.username.as_str(), c.secret.as_str()), ("bob", "t0ken"));
    assert!(lucid_image::registry::credentials_for("elsewhere:1")
        .unwrap()
        .is_none());
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
