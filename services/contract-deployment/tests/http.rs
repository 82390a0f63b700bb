//! HTTP-level tests: records on a temporary volume, survived across a restart.

use contract_deployment::Service;
use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};

#[test]
fn deployment_lifecycle_is_recorded_and_persisted() {
    let data = temp_dir("lucid-deploy-http-life");
    let server = lucid_runtime::spawn::<Service>(&[("DEPLOYMENT_DATA_DIR", &data)]).unwrap();
    let url = server.url();
    let client = Client::default();
    let created = client
        .post_json(
            &format!("{url}/deployments"),
            &json!({ "artifact_id": "ab".repeat(32), "chain": "lucid-onsystem" }),
        )
        .unwrap();
    assert_eq!(created.status, 201);
    let id = created.json_body()["id"].as_str().unwrap().to_string();
    assert_eq!(created.json_body()["status"], "pending");

    let status = format!("{url}/deployments/{id}/status");
    let failed = client
        .post_json(
            &status,
            &json!({ "status": "failed", "error": "node timeout" }),
        )
        .unwrap();
    assert_eq!(failed.status, 200);
    assert_eq!(
        client
            .post_json(&status, &json!({ "status": "pending" }))
            .unwrap()
            .status,
        200
    );
    let deployed = client
        .post_json(&status, &json!({ "status": "deployed", "address": "0x00000000000000000000000000000000000000aa", "tx_hash": "0x01" }))
        .unwrap();
    assert_eq!(deployed.status, 200);
    let late = client
        .post_json(&status, &json!({ "status": "failed", "error": "x" }))
        .unwrap();
    assert_eq!(late.status, 409);
    server.stop();

    // Restarted on the same volume: the record and its history are still there.
    let server = lucid_runtime::spawn::<Service>(&[("DEPLOYMENT_DATA_DIR", &data)]).unwrap();
    let d = client
        .get(&format!("{}/deployments/{id}", server.url()))
        .unwrap()
        .json_body();
    assert_eq!(d["status"], "deployed");
    let history: Vec<&str> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "failed", "pending", "deployed"]);
    let listed = client
        .get(&format!("{}/deployments?status=deployed", server.url()))
        .unwrap()
        .json_body();
    assert_eq!(listed["deployments"].as_array().unwrap().len(), 1);
    let none = client
        .get(&format!("{}/deployments?status=failed", server.url()))
        .unwrap()
        .json_body();
    assert_eq!(none["deployments"], json!([]));
    server.stop();
}

#[test]
fn bad_requests_are_refused_with_json_errors() {
    let server = lucid_runtime::spawn::<Service>(&[(
        "DEPLOYMENT_DATA_DIR",
        &temp_dir("lucid-deploy-http-bad"),
    )])
    .unwrap();
    let url = server.url();
    let client = Client::default();
    let post = |path: &str, body: Value| client.post_json(&format!("{url}{path}"), &body).unwrap();
    assert_eq!(
        post(
            "/deployments",
            json!({ "artifact_id": "nope", "chain": "c" })
        )
        .status,
        422
    );
    assert_eq!(
        post("/deployments", json!({ "artifact_id": "ab".repeat(32) })).status,
        400
    );
    assert_eq!(
        post(
            "/deployments/unknown/status",
            json!({ "status": "failed", "error": "x" })
        )
        .status,
        404
    );
    let id = post(
        "/deployments",
        json!({ "artifact_id": "ab".repeat(32), "chain": "c" }),
    )
    .json_body()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let missing_address = post(
        &format!("/deployments/{id}/status"),
        json!({ "status": "deployed" }),
    );
    assert_eq!(missing_address.status, 422);
    assert!(missing_address.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("address"));
    assert_eq!(
        post(
            &format!("/deployments/{id}/status"),
            json!({ "status": "gone" })
        )
        .status,
        400
    );
    assert_eq!(
        client
            .get(&format!("{url}/deployments?status=gone"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        client
            .get(&format!("{url}/deployments/unknown"))
            .unwrap()
            .status,
        404
    );
    server.stop();
}
