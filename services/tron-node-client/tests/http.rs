//! HTTP-level tests against a stand-in TRON node: a real HTTP server in the test that records
//! every request it receives and answers like java-tron's `/wallet/*` endpoints.

use lucid_runtime::client::Client;
use lucid_runtime::testing::assert_status;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tron_node_client::Service;

const OWNER: &str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
const RECIPIENT: &str = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb";

struct StandInNode {
    url: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

/// Starts a node that answers each path with `answer(path, body)`; the thread ends with the test.
fn stand_in_node(answer: fn(&str, &Value) -> Value) -> StandInNode {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}",
        server.server_addr().to_ip().unwrap().port()
    );
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let path = request.url().to_string();
            let reply = answer(&path, &body);
            log.lock().unwrap().push((path, body));
            let _ = request.respond(tiny_http::Response::from_string(reply.to_string()));
        }
    });
    StandInNode { url, received }
}

fn java_tron(path: &str, body: &Value) -> Value {
    match path {
        "/wallet/createtransaction" => json!({
            "visible": true,
            "txID": "ab".repeat(32),
            "raw_data": { "contract": [{ "parameter": { "value": body } }] },
            "raw_data_hex": "0a02",
        }),
        "/wallet/broadcasttransaction" => json!({ "result": true, "txid": body["txID"] }),
        _ => json!({ "Error": format!("unknown path {path}") }),
    }
}

fn refusing_node(_path: &str, _body: &Value) -> Value {
    json!({ "Error": "class org.tron.core.exception.ContractValidateException : Validate TransferContract error, balance is not sufficient." })
}

#[test]
fn valid_payout_is_relayed_to_the_node_and_recorded_there() {
    let node = stand_in_node(java_tron);
    let server = lucid_runtime::spawn::<Service>(&[
        ("TRON_NODE_URL", &node.url),
        ("TRON_OWNER_ADDRESS", OWNER),
    ])
    .unwrap();
    let client = Client::default();
    let reply = client
        .post_json(
            &format!("{}/payouts", server.url()),
            &json!({ "to_address": RECIPIENT, "amount_sun": 2_500_000 }),
        )
        .unwrap();
    assert_status(&reply, 201);
    let created: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(created["transaction"]["txID"], "ab".repeat(32));

    let received = node.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "/wallet/createtransaction");
    assert_eq!(
        received[0].1,
        json!({ "owner_address": OWNER, "to_address": RECIPIENT, "amount": 2_500_000, "visible": true })
    );

    let mut signed = created["transaction"].clone();
    signed["signature"] = json!(["11".repeat(65)]);
    let reply = client
        .post_json(
            &format!("{}/broadcasts", server.url()),
            &json!({ "transaction": signed }),
        )
        .unwrap();
    assert_status(&reply, 200);
    let received = node.received.lock().unwrap().clone();
    assert_eq!(received[1].0, "/wallet/broadcasttransaction");
    assert_eq!(received[1].1["signature"], json!(["11".repeat(65)]));
    server.stop();
}

#[test]
fn invalid_payouts_never_reach_the_node() {
    let node = stand_in_node(java_tron);
    let server = lucid_runtime::spawn::<Service>(&[
        ("TRON_NODE_URL", &node.url),
        ("TRON_OWNER_ADDRESS", OWNER),
        ("TRON_MIN_PAYOUT_SUN", "1000000"),
        ("TRON_MAX_PAYOUT_SUN", "5000000"),
    ])
    .unwrap();
    let client = Client::default();
    let url = format!("{}/payouts", server.url());
    for (body, field) in [
        (
            json!({ "to_address": RECIPIENT, "amount_sun": 999_999 }),
            "amount_sun",
        ),
        (
            json!({ "to_address": RECIPIENT, "amount_sun": 5_000_001 }),
            "amount_sun",
        ),
        (
            json!({ "to_address": "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwc", "amount_sun": 2_000_000 }),
            "to_address",
        ),
        (
            json!({ "to_address": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "amount_sun": 2_000_000 }),
            "to_address",
        ),
    ] {
        let reply = client.post_json(&url, &body).unwrap();
        assert_eq!(reply.status, 422, "{body}");
        let err: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(err["field"], field);
    }
    for bad in [
        &b"{nope"[..],
        br#"{"to_address": "x", "amount_sun": -5}"#,
        br#"{"to_address": "x"}"#,
    ] {
        assert_eq!(
            client
                .post_bytes(&url, "application/json", bad)
                .unwrap()
                .status,
            400
        );
    }
    let unsigned = json!({ "transaction": { "txID": "ab".repeat(32), "raw_data": {} } });
    assert_eq!(
        client
            .post_json(&format!("{}/broadcasts", server.url()), &unsigned)
            .unwrap()
            .status,
        422
    );
    assert!(node.received.lock().unwrap().is_empty());
    server.stop();
}

#[test]
fn node_refusal_is_a_502_with_the_nodes_reason() {
    let node = stand_in_node(refusing_node);
    let server = lucid_runtime::spawn::<Service>(&[
        ("TRON_NODE_URL", &node.url),
        ("TRON_OWNER_ADDRESS", OWNER),
    ])
    .unwrap();
    let reply = Client::default()
        .post_json(
            &format!("{}/payouts", server.url()),
            &json!({ "to_address": RECIPIENT, "amount_sun": 2_000_000 }),
        )
        .unwrap();
    assert_eq!(reply.status, 502);
    assert!(String::from_utf8_lossy(&reply.body).contains("balance is not sufficient"));
    server.stop();
}

#[test]
fn without_a_node_the_service_validates_only_and_is_not_ready() {
    let server = lucid_runtime::spawn::<Service>(&[]).unwrap();
    let client = Client::default();
    let ok = client
        .post_json(
            &format!("{}/validate", server.url()),
            &json!({ "to_address": RECIPIENT, "amount_sun": 1_000_000 }),
        )
        .unwrap();
    assert_eq!(ok.status, 200);
    let payout = client
        .post_json(
            &format!("{}/payouts", server.url()),
            &json!({ "to_address": RECIPIENT, "amount_sun": 1_000_000 }),
        )
        .unwrap();
    assert_eq!(payout.status, 503);
    assert_eq!(
        client
            .get(&format!("{}/ready", server.url()))
            .unwrap()
            .status,
        503
    );
    server.stop();
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let err = lucid_runtime::spawn::<Service>(&[("TRON_NODE_URL", "http://tron:8090")])
        .err()
        .unwrap();
    assert!(err.contains("TRON_OWNER_ADDRESS"), "{err}");
    let err = lucid_runtime::spawn::<Service>(&[
        ("TRON_MIN_PAYOUT_SUN", "10"),
        ("TRON_MAX_PAYOUT_SUN", "5"),
    ])
    .err()
    .unwrap();
    assert!(err.contains("above TRON_MAX_PAYOUT_SUN"), "{err}");
    let err = lucid_runtime::spawn::<Service>(&[
        ("TRON_NODE_URL", "http://tron:8090"),
        ("TRON_OWNER_ADDRESS", "Tnope"),
    ])
    .err()
    .unwrap();
    assert!(err.contains("TRON_OWNER_ADDRESS=\"Tnope\""), "{err}");
}
