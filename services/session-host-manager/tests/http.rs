//! HTTP-level tests: hosts register, sessions are spread over them, state survives a restart.

use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};
use session_host_manager::Service;

#[test]
fn sessions_are_spread_over_hosts_until_capacity_runs_out() {
    let data = temp_dir("lucid-hosts-http-assign");
    let server = lucid_runtime::spawn::<Service>(&[("HOSTS_DATA_DIR", &data)]).unwrap();
    let url = server.url();
    let client = Client::default();
    for (id, cap) in [("host-a", 1), ("host-b", 2)] {
        let reply = client
            .post_json(
                &format!("{url}/hosts"),
                &json!({ "host_id": id, "address": format!("{id}:3389"), "capacity": cap }),
            )
            .unwrap();
        assert_eq!(reply.status, 201);
    }
    let assign = |s: &str| {
        client
            .post_json(&format!("{url}/assignments"), &json!({ "session_id": s }))
            .unwrap()
    };
    let hosts: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| {
            let r = assign(s);
            assert_eq!(r.status, 201);
            r.json_body()["host_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(hosts, ["host-b", "host-a", "host-b"]);
    let full = assign("s4");
    assert_eq!(full.status, 503);
    assert_eq!(
        assign("s1").status,
        200,
        "an assigned session keeps its host"
    );
    assert_eq!(
        client
            .delete(&format!("{url}/hosts/host-a"))
            .unwrap()
            .status,
        409
    );
    server.stop();

    let server = lucid_runtime::spawn::<Service>(&[("HOSTS_DATA_DIR", &data)]).unwrap();
    let url = server.url();
    let a = client
        .get(&format!("{url}/assignments/s2"))
        .unwrap()
        .json_body();
    assert_eq!(a["host_id"], "host-a");
    assert_eq!(
        client
            .delete(&format!("{url}/assignments/s2"))
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        client
            .delete(&format!("{url}/hosts/host-a"))
            .unwrap()
            .status,
        200
    );
    let hb = client
        .post_bytes(
            &format!("{url}/hosts/host-b/heartbeat"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(hb.json_body()["alive"], true);
    let listed = client.get(&format!("{url}/hosts")).unwrap().json_body();
    assert_eq!(listed["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(listed["hosts"][0]["free"], 0);
    server.stop();
}

#[test]
fn bad_requests_are_refused() {
    let server =
        lucid_runtime::spawn::<Service>(&[("HOSTS_DATA_DIR", &temp_dir("lucid-hosts-http-bad"))])
            .unwrap();
    let url = server.url();
    let client = Client::default();
    let post = |path: &str, body: Value| {
        client
            .post_json(&format!("{url}{path}"), &body)
            .unwrap()
            .status
    };
    assert_eq!(
        post(
            "/hosts",
            json!({ "host_id": "h", "address": "nope", "capacity": 1 })
        ),
        422
    );
    assert_eq!(
        post(
            "/hosts",
            json!({ "host_id": "h", "address": "h:1", "capacity": -1 })
        ),
        400
    );
    assert_eq!(post("/assignments", json!({ "session_id": "../etc" })), 422);
    assert_eq!(post("/assignments", json!({ "session_id": "s1" })), 503);
    assert_eq!(post("/hosts/none/heartbeat", json!({})), 404);
    assert_eq!(
        client
            .delete(&format!("{url}/assignments/none"))
            .unwrap()
            .status,
        404
    );
    server.stop();
}
