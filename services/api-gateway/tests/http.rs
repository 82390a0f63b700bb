//! api-gateway in front of a real api-server (both in-process), and in front of upstreams that
//! fail: closed port, silent server, and a server that shows what it received.

use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

fn api_server(tag: &str) -> lucid_runtime::RunningServer {
    let dir = temp_dir(&format!("api-gateway-{tag}"));
    lucid_runtime::spawn::<api_server::Service>(&[("API_SERVER_DATA_DIR", dir.as_str())]).unwrap()
}

fn gateway(upstream: &str, extra: &[(&str, &str)]) -> lucid_runtime::RunningServer {
    let mut vars = vec![("LUCID_URL_API_SERVER", upstream)];
    vars.extend_from_slice(extra);
    lucid_runtime::spawn::<api_gateway::Service>(&vars).unwrap()
}

fn get_with_header(url: &str, name: &str, id: Option<&str>) -> (u16, Option<String>, Vec<u8>) {
    let headers: Vec<(String, String)> = id
        .map(|i| vec![("X-Request-Id".to_string(), i.to_string())])
        .unwrap_or_default();
    // The runtime client does not expose reply headers; ureq is used directly for them.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let mut resp = req.call().unwrap();
    let value = resp
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        resp.status().as_u16(),
        value,
        resp.body_mut().read_to_vec().unwrap(),
    )
}

#[test]
fn forwards_the_session_api_with_method_path_query_and_body() {
    let api = api_server("fwd");
    let gw = gateway(&api.url(), &[]);
    let (c, url) = (Client::default(), gw.url());

    let created = c
        .post_json(
            &format!("{url}/sessions"),
            &json!({ "owner": "alice", "id": "s1" }),
        )
        .unwrap();
    assert_eq!(created.status, 201);
    let moved = c
        .put_json(
            &format!("{url}/sessions/s1/status"),
            &json!({ "status": "recording" }),
        )
        .unwrap();
    assert_eq!(moved.json::<Value>().unwrap()["status"], "recording");
    let listed: Value = c
        .get(&format!("{url}/sessions?status=recording&owner=alice"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["sessions"][0]["id"], "s1");
    let none: Value = c
        .get(&format!("{url}/sessions?status=created"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(none["total"], 0);

    // api-server's own errors pass through unchanged.
    let missing = c.get(&format!("{url}/sessions/nope")).unwrap();
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("no session nope"));
    let bad = c
        .post_bytes(&format!("{url}/sessions"), "application/json", b"{oops")
        .unwrap();
    assert_eq!(bad.status, 400);

    // Request ids: kept when plain, minted otherwise, always returned.
    let (_, kept, _) = get_with_header(
        &format!("{url}/sessions/s1"),
        "x-request-id",
        Some("trace-1"),
    );
    assert_eq!(kept.as_deref(), Some("trace-1"));
    let (_, minted, _) = get_with_header(
        &format!("{url}/sessions/s1"),
        "x-request-id",
        Some("bad id!"),
    );
    assert_eq!(minted.unwrap().len(), 32);
    gw.stop();
    api.stop();
}

/// Answers every request with the request head it received, as text.
fn echo_head_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut out = stream;
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-upstream: yes\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
                head.len()
            );
        }
    });
    url
}

#[test]
fn request_id_and_forwarded_for_reach_the_upstream_and_reply_headers_come_back() {
    let upstream = echo_head_server();
    let gw = gateway(&upstream, &[]);
    let (status, extra, body) =
        get_with_header(&format!("{}/x/y?q=1", gw.url()), "x-upstream", Some("abc"));
    let head = String::from_utf8(body).unwrap().to_ascii_lowercase();
    assert_eq!(status, 200);
    assert_eq!(extra.as_deref(), Some("yes"));
    assert!(head.starts_with("get /x/y?q=1 http/1.1"), "{head}");
    assert!(head.contains("x-request-id: abc"), "{head}");
    assert!(head.contains("x-forwarded-for: 127.0.0.1"), "{head}");
    gw.stop();
}

#[test]
fn clients_over_the_rate_get_429_with_retry_after() {
    let api = api_server("rate");
    let gw = gateway(
        &api.url(),
        &[
            ("API_GATEWAY_RATE_PER_SEC", "0.5"),
            ("API_GATEWAY_BURST", "2"),
        ],
    );
    let c = Client::default();
    let url = format!("{}/sessions", gw.url());
    assert_eq!(c.get(&url).unwrap().status, 200);
    assert_eq!(c.get(&url).unwrap().status, 200);
    let (status, retry, body) = get_with_header(&url, "retry-after", None);
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some("2"));
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["error"].is_string());
    // Health stays answerable: it is not rate limited.
    assert_eq!(c.get(&format!("{}/health", gw.url())).unwrap().status, 200);
    gw.stop();
    api.stop();
}

#[test]
fn upstream_down_is_502_and_upstream_silent_is_504() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = gateway(&format!("http://{closed}"), &[]);
    let c = Client::default();
    let down = c.get(&format!("{}/sessions", gw.url())).unwrap();
    assert_eq!(down.status, 502);
    assert!(down.json::<Value>().is_err()); // not 2xx: check the body by hand
    assert!(serde_json::from_slice::<Value>(&down.body).unwrap()["error"].is_string());
    assert_eq!(c.get(&format!("{}/ready", gw.url())).unwrap().status, 503);
    gw.stop();

    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let gw = gateway(
        &format!("http://{}", silent.local_addr().unwrap()),
        &[("API_GATEWAY_TIMEOUT_MS", "300")],
    );
    let slow = c.get(&format!("{}/sessions", gw.url())).unwrap();
    assert_eq!(slow.status, 504);
    assert!(String::from_utf8_lossy(&slow.body).contains("300 ms"));
    gw.stop();
    drop(silent);
}

#[test]
fn missing_upstream_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<api_gateway::Service>(&[("API_GATEWAY_BURST", "0")])
        .err()
        .unwrap();
    assert!(err.contains("LUCID_URL_API_SERVER"), "{err}");
    assert!(err.contains("API_GATEWAY_BURST"), "{err}");
}

#[test]
fn a_body_api_server_would_refuse_is_refused_by_the_gateway_naming_the_limit() {
    // Nothing listens upstream: the 413 comes from the gateway, before forwarding.
    let gw = gateway("http://127.0.0.1:1", &[]);
    let r = Client::default()
        .post_bytes(
            &format!("{}/sessions", gw.url()),
            "application/json",
            &vec![b' '; (64 << 10) + 1],
        )
        .unwrap();
    assert_eq!(r.status, 413);
    assert!(r.json_body()["error"].as_str().unwrap().contains("65536"));
    assert_eq!(
        Client::default()
            .get(&format!("{}//sessions", gw.url()))
            .unwrap()
            .status,
        404
    );
    gw.stop();
}
