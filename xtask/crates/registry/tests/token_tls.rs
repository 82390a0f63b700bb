//! Docker Hub's flow against real parts: the distribution registry (Debian `docker-registry`)
//! with token authentication over TLS (a certificate of a test CA), the test's token server,
//! and this client. Each test starts its own CA, token server and registry on free ports.

use lucid_registry::testing::{TestCa, TestRegistry, TokenPolicy, TokenServer};
use lucid_registry::{AuthStats, Config, Credentials, Registry, Retry, Scheme, Scope};
use std::time::{Duration, Instant};

const USER: &str = "lucid";
const PASSWORD: &str = "token-pass-7c1";
const REPO: &str = "pickme/lucid";

struct Secure {
    _dir: tempfile::TempDir,
    ca: TestCa,
    tokens: TokenServer,
    registry: TestRegistry,
}

fn secure() -> Secure {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"), "lucid test CA");
    let tokens = TokenServer::start(&ca, USER, PASSWORD);
    let registry = TestRegistry::start_secure(&dir.path().join("registry"), &ca, &tokens);
    Secure {
        _dir: dir,
        ca,
        tokens,
        registry,
    }
}

fn credentials(password: &str) -> Credentials {
    Credentials {
        username: USER.into(),
        secret: password.into(),
        origin: "the test".into(),
    }
}

impl Secure {
    /// A client that trusts the test CA through Docker's certs.d layout.
    fn client(&self, credentials: Option<Credentials>) -> Registry {
        let host = self.registry.host();
        let config = Config {
            credentials,
            certs_d: self.ca.certs_d(&host),
            retry: Retry {
                attempts: 2,
                first_delay: Duration::from_millis(50),
            },
        };
        Registry::configured(&host, config).unwrap()
    }

    fn scopes_issued(&self) -> Vec<Vec<String>> {
        self.tokens.issued().into_iter().map(|t| t.scopes).collect()
    }
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a one-layer image blob by blob, then its manifest under `tag`; `between` runs after
/// the first blob (to let a token expire mid-push).
fn push_small_image(r: &Registry, tag: &str, between: impl FnOnce()) -> anyhow::Result<String> {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = format!("layer of {tag}").into_bytes();
    r.authorize(&[Scope::push(REPO)])?;
    let mut between = Some(between);
    let mut descriptors = Vec::new();
    for (bytes, media_type) in [
        (&config[..], "application/vnd.oci.image.config.v1+json"),
        (&layer[..], "application/vnd.oci.image.layer.v1.tar+gzip"),
    ] {
        let digest = lucid_registry::sha256_digest(bytes);
        if !r.has_blob(REPO, &digest)? {
            r.upload_blob(REPO, &digest, bytes)?;
        }
        if let Some(f) = between.take() {
            f();
        }
        descriptors.push(
            serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}),
        );
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptors[0],
        "layers": [descriptors[1]],
    });
    r.put_manifest(REPO, tag, MANIFEST, manifest.to_string().as_bytes())
}

#[test]
fn pushes_and_reads_back_with_one_token_for_exactly_the_scope_asked() {
    let s = secure();
    let client = s.client(Some(credentials(PASSWORD)));
    let connection = client.connect().unwrap();
    assert_eq!(
        connection.scheme,
        Scheme::Bearer {
            realm: s.tokens.realm(),
            service: Some("lucid-test-registry".into())
        }
    );
    assert!(connection.base_url.starts_with("https://"), "{connection}");
    let trust = connection.tls.clone().unwrap();
    assert!(
        trust.contains("certs.d") && trust.contains("ca.crt"),
        "{trust}"
    );

    let digest = push_small_image(&client, "api-server-1", || {}).unwrap();
    let manifest = client.get_manifest(REPO, "api-server-1").unwrap();
    assert_eq!(lucid_registry::sha256_digest(&manifest.bytes), digest);
    assert_eq!(client.tags(REPO).unwrap(), ["api-server-1"]);
    assert_eq!(
        s.scopes_issued(),
        [["repository:pickme/lucid:pull,push"]],
        "one token, for pull and push of the one repository"
    );
    assert_eq!(
        client.auth_stats(),
        AuthStats {
            token_fetches: 1,
            renewals: 0
        }
    );

    // A reader asks for pull only.
    let reader = s.client(Some(credentials(PASSWORD)));
    assert_eq!(reader.tags(REPO).unwrap(), ["api-server-1"]);
    assert_eq!(
        s.scopes_issued().last().unwrap(),
        &["repository:pickme/lucid:pull"]
    );
    assert_eq!(s.registry.stored_tags(REPO), ["api-server-1"]);
}

#[test]
fn renews_a_token_that_expires_mid_push() {
    let s = secure();
    s.tokens.set_policy(TokenPolicy::lasting(2));
    let client = s.client(Some(credentials(PASSWORD)));
    let digest = push_small_image(&client, "session-chunker-1", || {
        std::thread::sleep(Duration::from_millis(2100))
    })
    .unwrap();
    assert_eq!(
        client.auth_stats(),
        AuthStats {
            token_fetches: 2,
            renewals: 1
        },
        "the token expired after the first blob and was fetched again"
    );
    assert_eq!(s.scopes_issued().len(), 2);
    assert_eq!(
        s.registry.stored_manifests(REPO),
        [digest.trim_start_matches("sha256:")]
    );
}

#[test]
fn fetches_a_new_token_once_when_the_registry_refuses_one_mid_push() {
    let s = secure();
    // The first token: the registry stops accepting it after 2 s, the client thinks it lasts
    // 5 minutes. Then the server goes back to good tokens.
    s.tokens
        .set_policy(TokenPolicy::refused_by_the_registry_after(2));
    let client = s.client(Some(credentials(PASSWORD)));
    client.authorize(&[Scope::push(REPO)]).unwrap();
    s.tokens.set_policy(TokenPolicy::default());
    push_small_image(&client, "merkle-builder-1", || {
        std::thread::sleep(Duration::from_millis(3000))
    })
    .unwrap();
    assert_eq!(
        client.auth_stats(),
        AuthStats {
            token_fetches: 2,
            renewals: 1
        },
        "the 401 after the first blob made the client fetch once more"
    );
    assert_eq!(s.registry.stored_tags(REPO), ["merkle-builder-1"]);
}

#[test]
fn wrong_credentials_are_a_clear_error_without_the_secret_and_nothing_is_stored() {
    let s = secure();
    let client = s.client(Some(credentials("wrong-secret-9f3k")));
    let err = format!(
        "{:#}",
        push_small_image(&client, "tor-proxy-1", || {}).unwrap_err()
    );
    assert!(
        err.contains("refused the credentials")
            && err.contains("\"lucid\"")
            && err.contains(&s.tokens.realm())
            && err.contains(&format!("docker login {}", s.registry.host())),
        "{err}"
    );
    assert!(
        !err.contains("wrong-secret-9f3k"),
        "the secret leaked: {err}"
    );
    assert_eq!(s.tokens.refusals(), 1, "refused once, not retried");

    let anonymous = s.client(None);
    let err = format!("{:#}", anonymous.tags(REPO).unwrap_err());
    assert!(
        err.contains("requires authentication") && err.contains("docker login"),
        "{err}"
    );
    assert!(s.registry.stored_manifests(REPO).is_empty());
}

#[test]
fn a_token_that_expires_and_cannot_be_renewed_stops_the_push_before_the_manifest() {
    let s = secure();
    s.tokens.set_policy(TokenPolicy::lasting(2));
    let client = s.client(Some(credentials(PASSWORD)));
    let err = push_small_image(&client, "admin-ui-1", || {
        // Revoked while the push runs; the token then expires.
        s.tokens.set_policy(TokenPolicy::refusing());
        std::thread::sleep(Duration::from_millis(2100));
    })
    .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("expired and could not be renewed")
            && err.contains("refused the credentials")
            && err.contains(&s.registry.host()),
        "{err}"
    );
    assert!(
        s.registry.stored_manifests(REPO).is_empty() && s.registry.stored_tags(REPO).is_empty(),
        "no manifest and no tag after a failed blob"
    );
}

#[test]
fn a_registry_that_refuses_fresh_tokens_is_a_clear_error_after_one_renewal() {
    let s = secure();
    // Every token is already past its exp (and the registry's leeway) when issued.
    s.tokens
        .set_policy(TokenPolicy::refused_by_the_registry_after(-5));
    let client = s.client(Some(credentials(PASSWORD)));
    let err = format!(
        "{:#}",
        push_small_image(&client, "api-gateway-1", || {}).unwrap_err()
    );
    assert!(
        err.contains("refused a freshly issued token") && err.contains("invalid or expired"),
        "{err}"
    );
    assert_eq!(
        s.tokens.issued().len(),
        2,
        "the first token and one renewal, no more"
    );
    assert!(s.registry.stored_manifests(REPO).is_empty());
}

#[test]
fn an_untrusted_certificate_is_a_clear_error_at_once() {
    let s = secure();
    let host = s.registry.host();
    let empty = tempfile::tempdir().unwrap();
    let config = Config {
        credentials: Some(credentials(PASSWORD)),
        certs_d: empty.path().to_path_buf(),
        retry: Retry::default(),
    };
    let client = Registry::configured(&host, config).unwrap();
    let started = Instant::now();
    let err = format!("{:#}", client.tags(REPO).unwrap_err());
    assert!(
        err.contains("not trusted")
            && err.contains(&host)
            && err.contains(&format!("{}/{host}/ca.crt", empty.path().display()))
            && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a certificate problem is not retried"
    );
    assert!(s.tokens.issued().is_empty() && s.registry.stored_manifests(REPO).is_empty());

    // A CA that is not the registry's is no better.
    let other = TestCa::new(&empty.path().join("other"), "another CA");
    let config = Config {
        credentials: Some(credentials(PASSWORD)),
        certs_d: other.certs_d(&host),
        retry: Retry::default(),
    };
    let err = format!(
        "{:#}",
        Registry::configured(&host, config)
            .unwrap()
            .connect()
            .unwrap_err()
    );
    assert!(err.contains("not trusted"), "{err}");
}

#[test]
fn a_plain_http_loopback_registry_is_still_spoken_to_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(dir.path(), None);
    let client = Registry::configured(&registry.host(), Config::default()).unwrap();
    let connection = client.connect().unwrap();
    assert_eq!(connection.base_url, format!("http://{}", registry.host()));
    assert_eq!(connection.scheme, Scheme::Anonymous);
    assert!(connection.tls.is_none());
}
