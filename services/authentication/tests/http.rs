//! HTTP-level tests: the service started in-process on a free port, driven through its API.

use authentication::Service;
use ed25519_dalek::{Signer, SigningKey};
use lucid_runtime::client::{Client, Reply};
use lucid_runtime::ids::to_hex;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};

const SERVICE_SEED: [u8; 32] = [3; 32];

fn start(tag: &str, admin: &SigningKey) -> lucid_runtime::RunningServer {
    let dir = temp_dir(&format!("lucid-auth-http-{tag}"));
    let key = format!("ed25519:{}", to_hex(&SERVICE_SEED));
    let admin_public = to_hex(admin.verifying_key().as_bytes());
    lucid_runtime::spawn::<Service>(&[
        ("AUTH_DATA_DIR", dir.as_str()),
        ("JWT_SIGNING_KEY", &key),
        ("AUTH_ADMIN_PUBLIC_KEY", &admin_public),
    ])
    .unwrap()
}

/// Challenge, sign, login: the whole client side of the protocol.
fn login(client: &Client, url: &str, user: &str, key: &SigningKey) -> Value {
    let c = client
        .post_json(&format!("{url}/challenges"), &json!({ "user_id": user }))
        .unwrap();
    assert_eq!(c.status, 201, "{:?}", c.json_body());
    let c = c.json_body();
    let sig = key.sign(c["message"].as_str().unwrap().as_bytes());
    let reply = client
        .post_json(
            &format!("{url}/login"),
            &json!({ "challenge_id": c["challenge_id"], "signature": to_hex(&sig.to_bytes()) }),
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json_body());
    reply.json_body()
}

fn register(
    client: &Client,
    url: &str,
    user: &str,
    key: &SigningKey,
    role: &str,
    bearer: Option<&str>,
) -> Reply {
    let payload = json!({
        "user_id": user,
        "public_key": to_hex(key.verifying_key().as_bytes()),
        "role": role,
    });
    let headers: Vec<(String, String)> = bearer
        .map(|t| vec![("authorization".to_string(), format!("Bearer {t}"))])
        .unwrap_or_default();
    let mut headers = headers;
    headers.push(("content-type".into(), "application/json".into()));
    client
        .request(
            "POST",
            &format!("{url}/users"),
            &headers,
            payload.to_string().as_bytes(),
        )
        .unwrap()
}

#[test]
fn challenge_login_verify_refresh_over_http() {
    let admin = SigningKey::from_bytes(&[1; 32]);
    let worker = SigningKey::from_bytes(&[2; 32]);
    let server = start("flow", &admin);
    let url = server.url();
    let client = Client::default();

    // Privileged roles need an admin token; plain users register themselves.
    assert_eq!(
        register(&client, &url, "worker-1", &worker, "node_worker", None).status,
        401
    );
    let admin_tokens = login(&client, &url, "admin", &admin);
    let admin_token = admin_tokens["access_token"].as_str().unwrap();
    assert_eq!(
        register(
            &client,
            &url,
            "worker-1",
            &worker,
            "node_worker",
            Some(admin_token)
        )
        .status,
        201
    );
    assert_eq!(
        register(
            &client,
            &url,
            "worker-1",
            &worker,
            "node_worker",
            Some(admin_token)
        )
        .status,
        409
    );
    let bob = SigningKey::from_bytes(&[4; 32]);
    assert_eq!(
        register(&client, &url, "bob", &bob, "user", None).status,
        201
    );
    let bob_token = login(&client, &url, "bob", &bob)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        register(&client, &url, "eve", &bob, "admin", Some(&bob_token)).status,
        403
    );

    let tokens = login(&client, &url, "worker-1", &worker);
    let verified = client
        .post_json(
            &format!("{url}/verify"),
            &json!({ "token": tokens["access_token"], "roles": ["node_worker"] }),
        )
        .unwrap();
    assert_eq!(verified.status, 200);
    assert_eq!(verified.json_body()["claims"]["role"], "node_worker");
    assert_eq!(verified.json_body()["claims"]["sub"], "worker-1");
    let wrong_role = client
        .post_json(
            &format!("{url}/verify"),
            &json!({ "token": tokens["access_token"], "roles": ["admin"] }),
        )
        .unwrap();
    assert_eq!(wrong_role.status, 403);

    let refreshed = client
        .post_json(
            &format!("{url}/refresh"),
            &json!({ "refresh_token": tokens["refresh_token"] }),
        )
        .unwrap();
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.json_body());
    let replayed = client
        .post_json(
            &format!("{url}/refresh"),
            &json!({ "refresh_token": tokens["refresh_token"] }),
        )
        .unwrap();
    assert_eq!(replayed.status, 401);

    // The published key verifies the service's tokens (how other services can check them).
    let keys = client.get(&format!("{url}/keys")).unwrap().json_body();
    assert_eq!(keys["alg"], "EdDSA");
    assert_eq!(
        keys["public_key"],
        to_hex(
            SigningKey::from_bytes(&SERVICE_SEED)
                .verifying_key()
                .as_bytes()
        )
    );
    server.stop();
}

#[test]
fn replayed_login_and_tampered_token_are_refused_over_http() {
    let admin = SigningKey::from_bytes(&[1; 32]);
    let server = start("replay", &admin);
    let url = server.url();
    let client = Client::default();
    let c = client
        .post_json(&format!("{url}/challenges"), &json!({ "user_id": "admin" }))
        .unwrap()
        .json_body();
    let sig = to_hex(
        &admin
            .sign(c["message"].as_str().unwrap().as_bytes())
            .to_bytes(),
    );
    let attempt = json!({ "challenge_id": c["challenge_id"], "signature": sig });
    assert_eq!(
        client
            .post_json(&format!("{url}/login"), &attempt)
            .unwrap()
            .status,
        200
    );
    let replay = client.post_json(&format!("{url}/login"), &attempt).unwrap();
    assert_eq!(replay.status, 401);
    assert!(replay.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("already used"));

    let token = login(&client, &url, "admin", &admin)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tampered = token.into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let reply = client
        .post_json(
            &format!("{url}/verify"),
            &json!({ "token": String::from_utf8(tampered).unwrap() }),
        )
        .unwrap();
    assert_eq!(reply.status, 401);
    server.stop();
}

#[test]
fn bad_requests_get_json_errors() {
    let admin = SigningKey::from_bytes(&[1; 32]);
    let server = start("bad", &admin);
    let url = server.url();
    let client = Client::default();
    let post = |path: &str, body: &[u8]| {
        client
            .post_bytes(&format!("{url}{path}"), "application/json", body)
            .unwrap()
    };
    for (path, payload, status) in [
        ("/users", &b"{not json"[..], 400),
        (
            "/users",
            br#"{"user_id":"x","public_key":"00","role":"root"}"#,
            400,
        ),
        ("/challenges", br#"{"user_id":"nobody"}"#, 404),
        ("/challenges", br#"{"user_id":"admin","extra":1}"#, 400),
        (
            "/login",
            br#"{"challenge_id":"nope","signature":"00"}"#,
            401,
        ),
        ("/verify", br#"{"token":"a.b.c"}"#, 401),
    ] {
        let reply = post(path, payload);
        assert_eq!(
            reply.status,
            status,
            "{path} {}",
            String::from_utf8_lossy(payload)
        );
        assert!(reply.json_body()["error"].is_string());
    }
    assert_eq!(post("/users", &vec![b' '; 64 << 10]).status, 413);
    assert_eq!(
        client.get(&format!("{url}/users/nobody")).unwrap().status,
        404
    );
    assert_eq!(client.get(&format!("{url}/login")).unwrap().status, 405);
    server.stop();
}

#[test]
fn missing_or_weak_signing_key_is_a_configuration_error() {
    let dir = temp_dir("lucid-auth-http-config");
    let err = lucid_runtime::spawn::<Service>(&[("AUTH_DATA_DIR", dir.as_str())])
        .err()
        .unwrap();
    assert!(err.contains("JWT_SIGNING_KEY"), "{err}");
    let err = lucid_runtime::spawn::<Service>(&[
        ("AUTH_DATA_DIR", dir.as_str()),
        ("JWT_SIGNING_KEY", "short"),
    ])
    .err()
    .unwrap();
    assert!(err.contains("at least 32 bytes"), "{err}");
    let ok = lucid_runtime::spawn::<Service>(&[
        ("AUTH_DATA_DIR", dir.as_str()),
        ("JWT_SIGNING_KEY", "an-hs256-secret-of-at-least-32-bytes"),
    ])
    .unwrap();
    let keys: Value = Client::default()
        .get(&format!("{}/keys", ok.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(keys["alg"], "HS256");
    assert!(keys["public_key"].is_null());
    ok.stop();
}

#[test]
fn verify_refuses_refresh_tokens() {
    let admin = SigningKey::from_bytes(&[1; 32]);
    let server = start("verify-typ", &admin);
    let url = server.url();
    let client = Client::default();
    let tokens = login(&client, &url, "admin", &admin);
    let refused = client
        .post_json(
            &format!("{url}/verify"),
            &json!({ "token": tokens["refresh_token"] }),
        )
        .unwrap();
    assert_eq!(refused.status, 401, "{:?}", refused.json_body());
    let why = refused.json_body()["error"].as_str().unwrap().to_string();
    assert!(
        why.contains("access token") && why.contains("refresh"),
        "the refusal says why: {why}"
    );
    assert_eq!(refused.json_body()["valid"], serde_json::Value::Null);
    let accepted = client
        .post_json(
            &format!("{url}/verify"),
            &json!({ "token": tokens["access_token"] }),
        )
        .unwrap();
    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.json_body()["claims"]["typ"], "access");
    server.stop();
}
