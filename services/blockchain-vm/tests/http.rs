use blockchain_vm::contract::anchor_txs;
use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};

fn leaf_root() -> (Vec<String>, String) {
    let leaves = vec!["11".repeat(32)];
    let h = merkle_builder::tree::parse_hash("l", &leaves[0]).unwrap();
    let root = merkle_builder::tree::hex(&merkle_builder::tree::root(&[h]).unwrap());
    (leaves, root)
}

#[test]
fn executes_blocks_persists_state_and_rejects_invalid_ones() {
    let d = temp_dir("vm-http-exec");
    let s = lucid_runtime::spawn::<blockchain_vm::Service>(&[("VM_DATA_DIR", &d)]).unwrap();
    let (url, c) = (s.url(), Client::default());
    let (leaves, root) = leaf_root();
    let txs = anchor_txs("s1", &root, &leaves, 1);

    let dry: Value = c
        .post_json(
            &format!("{url}/execute"),
            &json!({ "height": 0, "txs": txs, "dry_run": true }),
        )
        .unwrap()
        .json()
        .unwrap();
    let state0: Value = c.get(&format!("{url}/state")).unwrap().json().unwrap();
    assert_eq!(state0["height"], 0, "a dry run changes nothing");
    let done: Value = c
        .post_json(
            &format!("{url}/execute"),
            &json!({ "height": 0, "txs": txs }),
        )
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(done["state_root"], dry["state_root"]);

    let again = c
        .post_json(
            &format!("{url}/execute"),
            &json!({ "height": 0, "txs": txs }),
        )
        .unwrap();
    assert_eq!(again.status, 409);
    let dup = c
        .post_json(
            &format!("{url}/execute"),
            &json!({ "height": 1, "txs": txs }),
        )
        .unwrap();
    assert_eq!(dup.status, 422);
    assert_eq!(
        serde_json::from_slice::<Value>(&dup.body).unwrap()["tx_index"],
        0
    );
    let unknown = c
        .post_json(
            &format!("{url}/execute"),
            &json!({ "height": 1, "txs": [{"method": "selfDestruct"}] }),
        )
        .unwrap();
    assert_eq!(unknown.status, 400);
    s.stop();

    let s = lucid_runtime::spawn::<blockchain_vm::Service>(&[("VM_DATA_DIR", &d)]).unwrap();
    let session: Value = c
        .get(&format!("{}/sessions/s1", s.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(session["complete"], true);
    let state: Value = c
        .get(&format!("{}/state", s.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(state["state_root"], done["state_root"]);
    assert_eq!(
        c.get(&format!("{}/sessions/none", s.url())).unwrap().status,
        404
    );
    s.stop();
}
