//! server-tools probing a real api-server, a closed port and a server whose /health fails.

use lucid_runtime::client::Client;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;

/// Answers every request with HTTP 500.
fn failing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    url
}

#[test]
fn status_table_shows_each_service_state() {
    let dir = std::env::temp_dir().join(format!("server-tools-{}", std::process::id()));
    let api = lucid_runtime::spawn::<api_server::Service>(&[(
        "API_SERVER_DATA_DIR",
        dir.to_str().unwrap(),
    )])
    .unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let catalog = format!(
        "api-server={},tor-proxy=http://{closed},session-recorder={}",
        api.url(),
        failing_server()
    );
    let tools = lucid_runtime::spawn::<server_tools::Service>(&[
        ("LUCID_CATALOG", &catalog),
        ("SERVER_TOOLS_PROBE_TIMEOUT_MS", "1000"),
    ])
    .unwrap();
    let c = Client::default();
    let table: Value = c
        .get(&format!("{}/status", tools.url()))
        .unwrap()
        .json()
        .unwrap();
    let rows: Vec<(String, String)> = table["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("api-server".into(), "up".into()),
            ("tor-proxy".into(), "down".into()),
            ("session-recorder".into(), "unhealthy".into()),
        ]
    );
    assert_eq!(table["summary"]["total"], 3);
    assert_eq!(table["summary"]["up"], 1);
    assert_eq!(table["services"][2]["http_status"], 500);

    let one: Value = c
        .get(&format!("{}/status/api-server", tools.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["state"], "up");
    assert_eq!(
        c.get(&format!("{}/status/nope", tools.url()))
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        c.delete(&format!("{}/status", tools.url())).unwrap().status,
        405
    );
    tools.stop();
    api.stop();
}

#[test]
fn malformed_catalog_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<server_tools::Service>(&[
        ("LUCID_CATALOG", "api-server=ftp://x"),
        ("SERVER_TOOLS_PROBE_TIMEOUT_MS", "0"),
    ])
    .err()
    .unwrap();
    assert!(
        err.contains("LUCID_CATALOG") && err.contains("SERVER_TOOLS_PROBE_TIMEOUT_MS"),
        "{err}"
    );
}
