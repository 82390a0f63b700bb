//! Pushes against a real distribution registry (`/usr/bin/docker-registry`), started per test on
//! a free loopback port with temporary storage, and stopped at the end: open, with htpasswd,
//! and as Docker Hub runs it (token authentication over TLS, a test CA and token server).

mod common;

use lucid_catalog::ImageRef;
use lucid_image::push::{self, PushEvent};
use lucid_image::registry::{Config, Credentials, Registry, Retry};
use lucid_image::testing::{assert_success, TestCa, TestRegistry, TokenPolicy, TokenServer};
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

/// A client of `host` that gives up quickly, trusting the CAs of `certs_d` (Docker's layout).
fn client_trusting(
    host: &str,
    credentials: Option<Credentials>,
    certs_d: std::path::PathBuf,
) -> Registry {
    let config = Config {
        credentials,
        certs_d,
        retry: Retry {
            attempts: 2,
            first_delay: Duration::from_millis(50),
        },
    };
    Registry::configured(host, config).unwrap()
}

fn client(host: &str, credentials: Option<Credentials>) -> Registry {
    client_trusting(host, credentials, Config::default().certs_d)
}

fn credentials(user: &str, secret: &str) -> Credentials {
    Credentials {
        username: user.into(),
        secret: secret.into(),
        origin: "test".into(),
    }
}

#[test]
fn pushes_a_multi_platform_index_that_skopeo_reads() {
    let f = fixture();
    let reg = TestRegistry::start(f.dir.path(), None);
    let client = client(&reg.host(), None);
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
    let client = client(&reg.host(), None);
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
    let client = client(&reg.host(), None);
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
    let wrong = credentials("lucid", "wrong-secret-9f3k");
    let refused = client(&reg.host(), Some(wrong));
    let err = format!(
        "{:#}",
        push::push_image(&refused, &f.layout, &image, &versioned, &mut |_| {}).unwrap_err()
    );
    assert!(
        err.contains("refused the credentials") && err.contains("lucid"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-secret-9f3k"),
        "the secret leaked: {err}"
    );
    let anonymous = client(&reg.host(), None);
    let err = format!(
        "{:#}",
        push::push_image(&anonymous, &f.layout, &image, &versioned, &mut |_| {}).unwrap_err()
    );
    assert!(err.contains("requires authentication"), "{err}");
    let right = credentials("lucid", "right-password-1");
    let accepted = client(&reg.host(), Some(right));
    push::push_image(&accepted, &f.layout, &image, &versioned, &mut |_| {}).unwrap();
}

#[test]
fn moving_tag_follows_only_an_explicit_call() {
    let f = fixture();
    let reg = TestRegistry::start(f.dir.path(), None);
    let client = client(&reg.host(), None);
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

/// Docker Hub's set-up on loopback: a test CA, its token server, the registry behind both.
struct Secure {
    ca: TestCa,
    tokens: TokenServer,
    registry: TestRegistry,
}

const TOKEN_USER: &str = "lucid";
const TOKEN_PASSWORD: &str = "token-pass-7c1";

impl Secure {
    fn start(dir: &std::path::Path) -> Secure {
        let ca = TestCa::new(&dir.join("ca"), "lucid test CA");
        let tokens = TokenServer::start(&ca, TOKEN_USER, TOKEN_PASSWORD);
        let registry = TestRegistry::start_secure(&dir.join("registry"), &ca, &tokens);
        Secure {
            ca,
            tokens,
            registry,
        }
    }

    fn client(&self, secret: &str) -> Registry {
        let host = self.registry.host();
        client_trusting(
            &host,
            Some(credentials(TOKEN_USER, secret)),
            self.ca.certs_d(&host),
        )
    }

    /// Nothing of `repository` is visible: no manifest, no tag (blobs may have landed).
    fn assert_nothing_published(&self, repository: &str) {
        assert!(
            self.registry.stored_manifests(repository).is_empty()
                && self.registry.stored_tags(repository).is_empty(),
            "a manifest or tag was stored: {:?} {:?}",
            self.registry.stored_manifests(repository),
            self.registry.stored_tags(repository)
        );
    }
}

#[test]
fn pushes_through_token_auth_over_tls_renewing_the_token_mid_push() {
    let f = fixture();
    let s = Secure::start(f.dir.path());
    s.tokens.set_policy(TokenPolicy::lasting(2));
    let client = s.client(TOKEN_PASSWORD);
    let image = f.image("tor-proxy");
    let (versioned, _) = f.refs("tor-proxy", &s.registry.host());
    let mut waited = false;
    let outcome = push::push_image(&client, &f.layout, &image, &versioned, &mut |e| {
        if matches!(e, PushEvent::BlobUploaded { .. }) && !waited {
            // The token expires between two blobs.
            waited = true;
            std::thread::sleep(Duration::from_millis(2100));
        }
    })
    .unwrap();
    assert_eq!(outcome.digest, image.digest);
    assert_eq!(outcome.uploaded_blobs, 5);
    let stats = client.auth_stats();
    assert!(
        stats.renewals >= 1 && stats.token_fetches == stats.renewals + 1,
        "{stats:?}"
    );
    let scopes: Vec<Vec<String>> = s.tokens.issued().into_iter().map(|t| t.scopes).collect();
    assert!(
        scopes
            .iter()
            .all(|s| s == &["repository:pickme/lucid:pull,push"]),
        "{scopes:?}"
    );
    let tag = versioned.tag.clone().unwrap();
    assert_eq!(
        s.registry.stored_tags(&versioned.repository),
        std::slice::from_ref(&tag)
    );
    let reader = s.client(TOKEN_PASSWORD);
    assert_eq!(
        reader.manifest_digest(&versioned.repository, &tag).unwrap(),
        Some(image.digest.clone())
    );
}

#[test]
fn a_token_that_cannot_be_renewed_mid_push_leaves_no_manifest_and_no_tag() {
    let f = fixture();
    let s = Secure::start(f.dir.path());
    s.tokens.set_policy(TokenPolicy::lasting(2));
    let client = s.client(TOKEN_PASSWORD);
    let image = f.image("api-gateway");
    let (versioned, _) = f.refs("api-gateway", &s.registry.host());
    let mut landed = 0;
    let err = push::push_image(&client, &f.layout, &image, &versioned, &mut |e| {
        if matches!(e, PushEvent::BlobUploaded { .. }) {
            landed += 1;
            // The credentials are revoked, then the token expires.
            s.tokens.set_policy(TokenPolicy::refusing());
            std::thread::sleep(Duration::from_millis(2100));
        }
    })
    .unwrap_err();
    let err = format!("{err:#}");
    assert_eq!(landed, 1, "the push stopped at the first blob after expiry");
    assert!(
        err.contains("expired and could not be renewed")
            && err.contains("refused the credentials")
            && err.contains(&s.registry.host()),
        "{err}"
    );
    s.assert_nothing_published(&versioned.repository);
}

#[test]
fn wrong_credentials_and_an_untrusted_certificate_stop_the_push_before_any_blob() {
    let f = fixture();
    let s = Secure::start(f.dir.path());
    let image = f.image("merkle-builder");
    let (versioned, _) = f.refs("merkle-builder", &s.registry.host());
    let mut sent = 0;
    let wrong = s.client("wrong-secret-9f3k");
    let err = format!(
        "{:#}",
        push::push_image(&wrong, &f.layout, &image, &versioned, &mut |_| sent += 1).unwrap_err()
    );
    assert!(
        err.contains("refused the credentials") && !err.contains("wrong-secret-9f3k"),
        "{err}"
    );
    let untrusting = client(
        &s.registry.host(),
        Some(credentials(TOKEN_USER, TOKEN_PASSWORD)),
    );
    let err = format!(
        "{:#}",
        push::push_image(&untrusting, &f.layout, &image, &versioned, &mut |_| sent +=
            1)
        .unwrap_err()
    );
    assert!(
        err.contains("is not trusted") && err.contains("ca.crt"),
        "{err}"
    );
    assert_eq!(sent, 0, "no blob went out");
    s.assert_nothing_published(&versioned.repository);
}
