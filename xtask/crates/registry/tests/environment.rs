//! The client as the CLI builds it (`Registry::new`), from this process's environment: the
//! Docker config of `DOCKER_CONFIG` (`auths`, `credHelpers`, `credsStore` helpers found on PATH)
//! and the trust of `SSL_CERT_FILE`. One test in its own binary: it sets those variables.

use base64::Engine as _;
use lucid_registry::testing::{TestCa, TestRegistry, TokenServer};
use lucid_registry::{credentials_for, Registry, Scheme};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A `docker-credential-<name>` that answers `user`/`secret` for any server.
fn helper(dir: &Path, name: &str, user: &str, secret: &str) {
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nread server\necho \"{{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"{user}\\\",\\\"Secret\\\":\\\"{secret}\\\"}}\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn credentials_and_trust_come_from_the_docker_config_and_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"), "lucid test CA");
    let tokens = TokenServer::start(&ca, "carol", "from-the-store-5");
    let registry = TestRegistry::start_secure(&dir.path().join("registry"), &ca, &tokens);
    let host = registry.host();

    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let config = serde_json::json!({
        "auths": {"127.0.0.1:5999": {"auth": auth}},
        "credHelpers": {"registry.example": "lucidtest"},
        "credsStore": "lucidstore",
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    helper(dir.path(), "lucidtest", "bob", "t0ken");
    helper(dir.path(), "lucidstore", "carol", "from-the-store-5");
    std::env::set_var("DOCKER_CONFIG", dir.path());
    let path = std::env::var("PATH").unwrap();
    std::env::set_var("PATH", format!("{}:{path}", dir.path().display()));
    std::env::set_var("SSL_CERT_FILE", ca.ca_file());
    std::env::remove_var("SSL_CERT_DIR");

    let who = |host: &str| {
        credentials_for(host)
            .unwrap()
            .map(|c| (c.username, c.secret))
    };
    assert_eq!(
        who("registry.example"),
        Some(("bob".into(), "t0ken".into()))
    );
    // credsStore answers for every other host, before `auths`.
    assert_eq!(
        who(&host),
        Some(("carol".into(), "from-the-store-5".into()))
    );
    assert_eq!(
        who("127.0.0.1:5999"),
        Some(("carol".into(), "from-the-store-5".into()))
    );

    let client = Registry::new(&host).unwrap();
    let connection = client.connect().unwrap();
    assert!(matches!(connection.scheme, Scheme::Bearer { .. }));
    let trust = connection.tls.unwrap();
    assert!(
        trust.starts_with("SSL_CERT_FILE=") && trust.contains("(1 CA)"),
        "{trust}"
    );
    assert_eq!(client.tags("pickme/lucid").unwrap(), Vec::<String>::new());
    assert_eq!(tokens.issued()[0].user, "carol");
    assert_eq!(tokens.issued()[0].scopes, ["repository:pickme/lucid:pull"]);

    // Without the store, `auths` answers.
    let config = serde_json::json!({"auths": {"127.0.0.1:5999": {"auth": auth}}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    assert_eq!(
        who("127.0.0.1:5999"),
        Some(("alice".into(), "s3cret".into()))
    );
    assert_eq!(who("elsewhere:1"), None);
}
