//! HTTP-level tests: the slot limit enforced over HTTP and kept across a restart.

use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use rdp_server_manager::Service;
use serde_json::json;

#[test]
fn full_host_refuses_new_sessions_until_one_stops() {
    let data = temp_dir("lucid-rdp-http-limit");
    let vars = [("RDP_DATA_DIR", data.as_str()), ("RDP_MAX_SESSIONS", "2")];
    let server = lucid_runtime::spawn::<Service>(&vars).unwrap();
    let url = server.url();
    let client = Client::default();
    let create = |user: &str| {
        client
            .post_json(&format!("{url}/sessions"), &json!({ "user": user }))
            .unwrap()
    };
    let first = create("alice");
    assert_eq!(first.status, 201);
    assert_eq!(create("bob").status, 201);
    let full = create("carol");
    assert_eq!(full.status, 429);
    assert!(full.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("all 2"));
    server.stop();

    // The limit counts slots persisted before the restart.
    let server = lucid_runtime::spawn::<Service>(&vars).unwrap();
    let url = server.url();
    let client = Client::default();
    assert_eq!(
        client
            .post_json(&format!("{url}/sessions"), &json!({ "user": "carol" }))
            .unwrap()
            .status,
        429
    );
    let id = first.json_body()["id"].as_str().unwrap().to_string();
    let stopped = client.delete(&format!("{url}/sessions/{id}")).unwrap();
    assert_eq!(stopped.json_body()["status"], "stopped");
    assert_eq!(
        client
            .delete(&format!("{url}/sessions/{id}"))
            .unwrap()
            .status,
        409
    );
    assert_eq!(
        client
            .post_json(&format!("{url}/sessions"), &json!({ "user": "carol" }))
            .unwrap()
            .status,
        201
    );
    let list = client
        .get(&format!("{url}/sessions?status=active"))
        .unwrap()
        .json_body();
    assert_eq!(list["active"], 2);
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    server.stop();
}

#[test]
fn bad_requests_are_refused() {
    let server =
        lucid_runtime::spawn::<Service>(&[("RDP_DATA_DIR", &temp_dir("lucid-rdp-http-bad"))])
            .unwrap();
    let url = server.url();
    let client = Client::default();
    assert_eq!(
        client
            .post_json(
                &format!("{url}/sessions"),
                &json!({ "user": "Robert'); --" })
            )
            .unwrap()
            .status,
        422
    );
    assert_eq!(
        client
            .post_bytes(&format!("{url}/sessions"), "application/json", b"{")
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        client
            .delete(&format!("{url}/sessions/unknown"))
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        client
            .get(&format!("{url}/sessions?status=weird"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        client.get(&format!("{url}/sessions")).unwrap().json_body()["max_sessions"],
        5
    );
    server.stop();
}

#[test]
fn out_of_range_limit_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<Service>(&[
        ("RDP_DATA_DIR", &temp_dir("lucid-rdp-http-cfg")),
        ("RDP_MAX_SESSIONS", "0"),
    ])
    .err()
    .unwrap();
    assert!(err.contains("RDP_MAX_SESSIONS"), "{err}");
}
