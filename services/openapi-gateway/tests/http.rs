//! openapi-gateway routing to real services spawned in-process (api-server, openapi-server), to a
//! closed port and to a silent server; CORS preflights and headers.

use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};
use std::net::TcpListener;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The runtime client does not expose reply headers; ureq is used directly for CORS checks.
fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut resp = agent.run(builder.body(()).unwrap()).unwrap();
    Reply {
        status: resp.status().as_u16(),
        headers: resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: resp.body_mut().read_to_vec().unwrap(),
    }
}

struct Stack {
    api: lucid_runtime::RunningServer,
    docs: lucid_runtime::RunningServer,
    gateway: lucid_runtime::RunningServer,
    _silent: TcpListener,
}

fn stack(tag: &str) -> Stack {
    let dir = temp_dir(&format!("openapi-gateway-{tag}"));
    let api = lucid_runtime::spawn::<api_server::Service>(&[("API_SERVER_DATA_DIR", dir.as_str())])
        .unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let catalog = format!(
        "api-server={},tor-proxy=http://{closed},merkle-builder=http://{},openapi-gateway=http://127.0.0.1:1",
        api.url(),
        silent.local_addr().unwrap()
    );
    let docs =
        lucid_runtime::spawn::<openapi_server::Service>(&[("LUCID_CATALOG", &catalog)]).unwrap();
    let gateway = lucid_runtime::spawn::<openapi_gateway::Service>(&[
        ("LUCID_CATALOG", &catalog),
        ("LUCID_URL_OPENAPI_SERVER", &docs.url()),
        (
            "OPENAPI_GATEWAY_ALLOWED_ORIGINS",
            "https://admin.lucid.local",
        ),
        ("OPENAPI_GATEWAY_TIMEOUT_MS", "400"),
    ])
    .unwrap();
    Stack {
        api,
        docs,
        gateway,
        _silent: silent,
    }
}

impl Stack {
    fn stop(self) {
        self.gateway.stop();
        self.docs.stop();
        self.api.stop();
    }
}

#[test]
fn routes_by_prefix_and_strips_it() {
    let s = stack("route");
    let (c, url) = (Client::default(), s.gateway.url());
    let created = c
        .post_json(
            &format!("{url}/api/api-server/sessions"),
            &json!({ "owner": "alice", "id": "s1" }),
        )
        .unwrap();
    assert_eq!(created.status, 201);
    let listed: Value = c
        .get(&format!("{url}/api/api-server/sessions?owner=alice"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["sessions"][0]["id"], "s1");
    let health: Value = c
        .get(&format!("{url}/api/api-server/health"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    // The upstream's own 404 comes back, not the gateway's.
    let missing = c
        .get(&format!("{url}/api/api-server/sessions/nope"))
        .unwrap();
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("no session nope"));

    let doc: Value = c
        .get(&format!("{url}/openapi.json"))
        .unwrap()
        .json()
        .unwrap();
    assert!(doc["paths"]["/api/merkle-builder/health"].is_object());
    let routed_doc = c.get(&format!("{url}/api/openapi-server/docs"));
    assert_eq!(
        routed_doc.unwrap().status,
        404,
        "openapi-server is not in this catalog"
    );
    let index: Value = c.get(&format!("{url}/api")).unwrap().json().unwrap();
    assert_eq!(
        index["services"],
        json!(["api-server", "tor-proxy", "merkle-builder"])
    );
    s.stop();
}

#[test]
fn unknown_prefixes_are_404_and_upstream_failures_502_504() {
    let s = stack("errors");
    let url = s.gateway.url();
    for (path, status) in [
        ("/api/nope/health", 404),
        ("/api/openapi-gateway/health", 404),
        ("/elsewhere", 404),
        // An empty segment names no service: not the service list.
        ("/api//anything", 404),
        ("/api//", 404),
        ("/api/api-server//sessions", 404),
        ("/api/tor-proxy/status", 502),
        ("/api/merkle-builder/health", 504),
    ] {
        let r = send("GET", &format!("{url}{path}"), &[]);
        assert_eq!(r.status, status, "{path}");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["error"].is_string(), "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    }
    s.stop();
}

#[test]
fn cors_preflight_and_reply_headers_follow_the_allowed_origins() {
    let s = stack("cors");
    let url = format!("{}/api/api-server/sessions", s.gateway.url());
    let ok = send(
        "OPTIONS",
        &url,
        &[
            ("Origin", "https://admin.lucid.local"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
    );
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://admin.lucid.local")
    );
    assert_eq!(
        ok.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert!(ok
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));

    let denied = send(
        "OPTIONS",
        &url,
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
    );
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("access-control-allow-origin"), None);

    let get = send("GET", &url, &[("Origin", "https://admin.lucid.local")]);
    assert_eq!(get.status, 200);
    assert_eq!(
        get.header("access-control-allow-origin"),
        Some("https://admin.lucid.local")
    );
    let other = send("GET", &url, &[("Origin", "https://evil.example")]);
    assert_eq!(other.header("access-control-allow-origin"), None);
    s.stop();
}

#[test]
fn bad_origins_are_a_configuration_error() {
    let err = lucid_runtime::spawn::<openapi_gateway::Service>(&[(
        "OPENAPI_GATEWAY_ALLOWED_ORIGINS",
        "admin.lucid.local",
    )])
    .err()
    .unwrap();
    assert!(err.contains("OPENAPI_GATEWAY_ALLOWED_ORIGINS"), "{err}");
}

#[test]
fn a_services_refusal_for_size_comes_back_as_that_4xx() {
    let s = stack("413");
    // api-server takes 64 KiB; the gateway passes its 413 on, never a 5xx.
    let r = Client::default()
        .post_bytes(
            &format!("{}/api/api-server/sessions", s.gateway.url()),
            "application/json",
            &vec![b' '; 100 << 10],
        )
        .unwrap();
    assert_eq!(r.status, 413);
    assert!(r.json_body()["error"].as_str().unwrap().contains("65536"));
    assert_eq!(
        send("DELETE", &format!("{}/api", s.gateway.url()), &[]).header("allow"),
        Some("GET, OPTIONS")
    );
    s.stop();
}
