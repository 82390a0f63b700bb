//! server-tools probing a real api-server, a closed port and a server whose /health fails.

use lucid_runtime::client::Client;
use lucid_runtime::testing::{http_stub, temp_dir};
use serde_json::Value;
use std::net::TcpListener;

#[test]
fn status_table_shows_each_service_state() {
    let dir = temp_dir("server-tools");
    let api = lucid_runtime::spawn::<api_server::Service>(&[("API_SERVER_DATA_DIR", dir.as_str())])
        .unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let catalog = format!(
        "api-server={},tor-proxy=http://{closed},session-recorder={}",
        api.url(),
        http_stub("500 Internal Server Error")
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
