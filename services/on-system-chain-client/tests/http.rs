use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use merkle_builder::tree;
use serde_json::{json, Value};

fn anchor(session: &str) -> Value {
    let leaves = vec!["aa".repeat(32), "bb".repeat(32)];
    let hashes: Vec<_> = leaves
        .iter()
        .map(|l| tree::parse_hash("l", l).unwrap())
        .collect();
    json!({ "session_id": session, "merkle_root": tree::hex(&tree::root(&hashes).unwrap()), "chunk_count": 2, "chunk_hashes": leaves })
}

#[test]
fn submits_anchors_keeps_receipts_and_recovers_lost_ones() {
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("chain-client-http-ledger"),
    )])
    .unwrap();
    let vm = lucid_runtime::spawn::<blockchain_vm::Service>(&[(
        "VM_DATA_DIR",
        &temp_dir("chain-client-http-vm"),
    )])
    .unwrap();
    let api = lucid_runtime::spawn::<blockchain_api::Service>(&[
        ("LUCID_URL_BLOCKCHAIN_LEDGER", &ledger.url()),
        ("LUCID_URL_BLOCKCHAIN_VM", &vm.url()),
    ])
    .unwrap();
    let client_dir = temp_dir("chain-client-http-client");
    let vars = [
        ("CHAIN_CLIENT_DATA_DIR", client_dir.as_str()),
        ("LUCID_URL_BLOCKCHAIN_API", &api.url()),
    ];
    let s = lucid_runtime::spawn::<on_system_chain_client::Service>(&vars).unwrap();
    let (url, c) = (s.url(), Client::default());

    let first = c
        .post_json(&format!("{url}/anchors"), &anchor("s1"))
        .unwrap();
    assert_status(&first, 201);
    let receipt: Value = first.json().unwrap();
    assert_eq!(receipt["status"], "confirmed");
    let again = c
        .post_json(&format!("{url}/anchors"), &anchor("s1"))
        .unwrap();
    assert_eq!(
        (
            again.status,
            again.json::<Value>().unwrap()["block_hash"].clone()
        ),
        (200, receipt["block_hash"].clone())
    );
    let mut other_root = anchor("s1");
    other_root["merkle_root"] = json!("cc".repeat(32));
    assert_eq!(
        c.post_json(&format!("{url}/anchors"), &other_root)
            .unwrap()
            .status,
        409
    );

    let checked: Value = c
        .post_bytes(&format!("{url}/anchors/s1/check"), "application/json", b"")
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(checked["status"], "confirmed");

    // Lose the receipt store: the anchor is on the chain already, and its receipt comes back.
    s.stop();
    std::fs::remove_dir_all(&client_dir).unwrap();
    let s = lucid_runtime::spawn::<on_system_chain_client::Service>(&vars).unwrap();
    let recovered = c
        .post_json(&format!("{}/anchors", s.url()), &anchor("s1"))
        .unwrap();
    assert_status(&recovered, 200);
    assert_eq!(
        recovered.json::<Value>().unwrap()["block_hash"],
        receipt["block_hash"]
    );
    assert_eq!(
        c.get(&format!("{}/anchors", s.url()))
            .unwrap()
            .json::<Value>()
            .unwrap()["anchors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for x in [s, api, vm, ledger] {
        x.stop();
    }
}

#[test]
fn bad_input_and_unreachable_api() {
    let d = temp_dir("chain-client-http-bad");
    let s = lucid_runtime::spawn::<on_system_chain_client::Service>(&[
        ("CHAIN_CLIENT_DATA_DIR", &d),
        ("LUCID_URL_BLOCKCHAIN_API", "http://127.0.0.1:1"),
    ])
    .unwrap();
    let (url, c) = (s.url(), Client::default());
    assert_eq!(
        c.post_bytes(&format!("{url}/anchors"), "application/json", b"{")
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        c.post_json(
            &format!("{url}/anchors"),
            &json!({ "session_id": "../x", "merkle_root": "00", "chunk_count": 1 })
        )
        .unwrap()
        .status,
        400
    );
    assert_eq!(
        c.post_json(&format!("{url}/anchors"), &anchor("s1"))
            .unwrap()
            .status,
        502
    );
    assert_eq!(
        c.get(&format!("{url}/anchors/s1")).unwrap().status,
        404,
        "a failed submission leaves no receipt"
    );
    s.stop();
}

#[test]
fn an_anchor_blockchain_api_would_refuse_for_size_is_refused_here_first() {
    // blockchain-api is unreachable: a 413 proves the refusal came before any call.
    let d = temp_dir("chain-client-http-big");
    let s = lucid_runtime::spawn::<on_system_chain_client::Service>(&[
        ("CHAIN_CLIENT_DATA_DIR", &d),
        ("LUCID_URL_BLOCKCHAIN_API", "http://127.0.0.1:1"),
    ])
    .unwrap();
    let leaves: Vec<String> = (0..=blockchain_vm::contract::MAX_ANCHOR_CHUNKS)
        .map(|i| format!("{i:064x}"))
        .collect();
    let r = Client::default()
        .post_json(
            &format!("{}/anchors", s.url()),
            &json!({ "session_id": "s-big", "merkle_root": "00".repeat(32),
                "chunk_count": leaves.len(), "chunk_hashes": leaves }),
        )
        .unwrap();
    assert_status(&r, 413);
    assert!(r.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("at most 5000 chunk hashes"));
    s.stop();
}
