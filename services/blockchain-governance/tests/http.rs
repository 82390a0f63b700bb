//! HTTP-level tests: a three-second voting period (wide enough for the votes even when whole
//! seconds are truncated) and a one-second timelock, so the flow test waits about four seconds.

use blockchain_governance::Service;
use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn proposal_is_voted_passed_and_executed_after_the_timelock() {
    let data = temp_dir("lucid-gov-http-flow");
    let vars = [
        ("GOVERNANCE_DATA_DIR", data.as_str()),
        ("GOV_VOTING_PERIOD_SECS", "3"),
        ("GOV_TIMELOCK_SECS", "1"),
        ("GOV_QUORUM", "2"),
    ];
    let server = lucid_runtime::spawn::<Service>(&vars).unwrap();
    let url = server.url();
    let client = Client::default();
    let created = client
        .post_json(
            &format!("{url}/proposals"),
            &json!({ "title": "Enable anchoring v2", "proposer": "node-a" }),
        )
        .unwrap();
    assert_eq!(created.status, 201);
    let id = created.json_body()["id"].as_str().unwrap().to_string();
    let executable_at = created.json_body()["executable_at"].as_u64().unwrap();
    let votes = format!("{url}/proposals/{id}/votes");
    assert_eq!(
        client
            .post_json(&votes, &json!({ "node_id": "node-a", "choice": "yes" }))
            .unwrap()
            .status,
        200
    );
    let twice = client
        .post_json(&votes, &json!({ "node_id": "node-a", "choice": "no" }))
        .unwrap();
    assert_eq!(twice.status, 409);
    let second = client
        .post_json(&votes, &json!({ "node_id": "node-b", "choice": "yes" }))
        .unwrap();
    assert_eq!(
        second.json_body()["tally"],
        json!({ "yes": 2, "no": 0, "abstain": 0 })
    );
    server.stop();

    while lucid_runtime::ids::now_unix() < executable_at {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Restarted on the same volume: votes survived, voting has closed, the timelock has elapsed.
    let server = lucid_runtime::spawn::<Service>(&vars).unwrap();
    let url = server.url();
    let late = client
        .post_json(
            &format!("{url}/proposals/{id}/votes"),
            &json!({ "node_id": "node-c", "choice": "no" }),
        )
        .unwrap();
    assert_eq!(late.status, 409);
    let got = client
        .get(&format!("{url}/proposals/{id}"))
        .unwrap()
        .json_body();
    assert_eq!(got["state"], "executable");
    let executed = client
        .post_bytes(
            &format!("{url}/proposals/{id}/execute"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(executed.status, 200);
    assert_eq!(executed.json_body()["state"], "executed");
    let again = client
        .post_bytes(
            &format!("{url}/proposals/{id}/execute"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(again.status, 409);
    server.stop();
}

#[test]
fn bad_requests_are_refused() {
    let server = lucid_runtime::spawn::<Service>(&[(
        "GOVERNANCE_DATA_DIR",
        &temp_dir("lucid-gov-http-bad"),
    )])
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
        post("/proposals", json!({ "title": "", "proposer": "n" })),
        422
    );
    assert_eq!(post("/proposals", json!({ "title": "t" })), 400);
    assert_eq!(
        post(
            "/proposals/none/votes",
            json!({ "node_id": "n", "choice": "yes" })
        ),
        404
    );
    let id = client
        .post_json(
            &format!("{url}/proposals"),
            &json!({ "title": "t", "proposer": "n" }),
        )
        .unwrap()
        .json_body()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post(
            &format!("/proposals/{id}/votes"),
            json!({ "node_id": "n", "choice": "maybe" })
        ),
        400
    );
    // The default three-day voting period is still running.
    assert_eq!(post(&format!("/proposals/{id}/execute"), json!({})), 409);
    assert_eq!(
        client.get(&format!("{url}/proposals/none")).unwrap().status,
        404
    );
    server.stop();
}

#[test]
fn zero_quorum_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<Service>(&[
        ("GOVERNANCE_DATA_DIR", &temp_dir("lucid-gov-http-cfg")),
        ("GOV_QUORUM", "0"),
    ])
    .err()
    .unwrap();
    assert!(err.contains("GOV_QUORUM"), "{err}");
}
