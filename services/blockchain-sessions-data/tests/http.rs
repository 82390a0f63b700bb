use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use merkle_builder::tree;
use serde_json::{json, Value};

#[test]
fn indexes_anchors_from_the_ledger_as_they_arrive() {
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("sessions-data-http-ledger"),
    )])
    .unwrap();
    let vm = lucid_runtime::spawn::<blockchain_vm::Service>(&[(
        "VM_DATA_DIR",
        &temp_dir("sessions-data-http-vm"),
    )])
    .unwrap();
    let api = lucid_runtime::spawn::<blockchain_api::Service>(&[
        ("LUCID_URL_BLOCKCHAIN_LEDGER", &ledger.url()),
        ("LUCID_URL_BLOCKCHAIN_VM", &vm.url()),
    ])
    .unwrap();
    let s = lucid_runtime::spawn::<blockchain_sessions_data::Service>(&[(
        "LUCID_URL_BLOCKCHAIN_LEDGER",
        &ledger.url(),
    )])
    .unwrap();
    let c = Client::default();
    assert_eq!(
        c.get(&format!("{}/sessions/s1", s.url())).unwrap().status,
        404
    );

    let leaves = vec!["01".repeat(32), "02".repeat(32), "03".repeat(32)];
    let hashes: Vec<_> = leaves
        .iter()
        .map(|l| tree::parse_hash("l", l).unwrap())
        .collect();
    let root = tree::hex(&tree::root(&hashes).unwrap());
    let anchor = json!({ "session_id": "s1", "merkle_root": root, "chunk_count": 3, "chunk_hashes": leaves });
    let receipt: Value = c
        .post_json(&format!("{}/anchors", api.url()), &anchor)
        .unwrap()
        .json()
        .unwrap();

    let entry: Value = c
        .get(&format!("{}/sessions/s1", s.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(entry["anchors"][0]["merkle_root"], root);
    assert_eq!(entry["anchors"][0]["block_hash"], receipt["block_hash"]);
    assert_eq!(entry["chunks"].as_array().unwrap().len(), 3);
    assert_eq!(entry["chunks"][2]["leaf"], leaves[2]);
    let all: Value = c
        .get(&format!("{}/sessions", s.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(all["indexed_height"], 1);
    for x in [s, api, vm, ledger] {
        x.stop();
    }
}

#[test]
fn unreachable_ledger_is_a_502() {
    let s = lucid_runtime::spawn::<blockchain_sessions_data::Service>(&[(
        "LUCID_URL_BLOCKCHAIN_LEDGER",
        "http://127.0.0.1:1",
    )])
    .unwrap();
    assert_eq!(
        Client::default()
            .get(&format!("{}/sessions", s.url()))
            .unwrap()
            .status,
        502
    );
    s.stop();
}
