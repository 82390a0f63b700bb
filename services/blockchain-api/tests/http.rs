use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use lucid_runtime::RunningServer;
use merkle_builder::tree;
use serde_json::{json, Value};

fn vm(dir: &str) -> RunningServer {
    lucid_runtime::spawn::<blockchain_vm::Service>(&[("VM_DATA_DIR", dir)]).unwrap()
}

fn api(ledger: &RunningServer, vm: &RunningServer) -> RunningServer {
    lucid_runtime::spawn::<blockchain_api::Service>(&[
        ("LUCID_URL_BLOCKCHAIN_LEDGER", &ledger.url()),
        ("LUCID_URL_BLOCKCHAIN_VM", &vm.url()),
    ])
    .unwrap()
}

/// `n` leaves and their root, as the pipeline would produce them.
fn anchor(session: &str, n: u8) -> Value {
    let leaves: Vec<String> = (0..n)
        .map(|i| format!("{:02x}", i + 1).repeat(32))
        .collect();
    let hashes: Vec<_> = leaves
        .iter()
        .map(|l| tree::parse_hash("l", l).unwrap())
        .collect();
    let root = tree::hex(&tree::root(&hashes).unwrap());
    json!({ "session_id": session, "merkle_root": root, "chunk_count": n, "chunk_hashes": leaves })
}

#[test]
fn anchors_a_session_in_one_block_and_answers_queries() {
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("chain-api-http-l1"),
    )])
    .unwrap();
    let vm = vm(&temp_dir("chain-api-http-v1"));
    let api = api(&ledger, &vm);
    let (url, c) = (api.url(), Client::default());

    let r = c
        .post_json(&format!("{url}/anchors"), &anchor("s1", 3))
        .unwrap();
    assert_status(&r, 201);
    let receipt: Value = r.json().unwrap();
    assert_eq!(
        (receipt["block_height"].clone(), receipt["tx_count"].clone()),
        (json!(0), json!(4))
    );

    let got: Value = c.get(&format!("{url}/anchors/s1")).unwrap().json().unwrap();
    assert_eq!(got["block_hash"], receipt["block_hash"]);
    assert_eq!(
        (got["anchored_chunks"].clone(), got["complete"].clone()),
        (json!(3), json!(true))
    );
    let block: Value = c.get(&format!("{url}/blocks/0")).unwrap().json().unwrap();
    assert_eq!(block["data"]["txs"][0]["method"], "registerSession");
    assert_eq!(block["data"]["state_root"], receipt["state_root"]);

    let again = c
        .post_json(&format!("{url}/anchors"), &anchor("s1", 3))
        .unwrap();
    assert_eq!(again.status, 422, "a session is anchored once");
    let mut wrong_root = anchor("s2", 2);
    wrong_root["merkle_root"] = json!("ab".repeat(32));
    assert_eq!(
        c.post_json(&format!("{url}/anchors"), &wrong_root)
            .unwrap()
            .status,
        422
    );
    let mut short = anchor("s3", 2);
    short["chunk_count"] = json!(5);
    assert_eq!(
        c.post_json(&format!("{url}/anchors"), &short)
            .unwrap()
            .status,
        400
    );
    assert_eq!(c.get(&format!("{url}/anchors/none")).unwrap().status, 404);
    let head: Value = c.get(&format!("{url}/head")).unwrap().json().unwrap();
    assert_eq!(head["count"], 1, "rejected anchors write no block");

    for s in [api, vm, ledger] {
        s.stop();
    }
}

#[test]
fn a_vm_that_lost_its_state_is_caught_up_from_the_ledger() {
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("chain-api-http-l2"),
    )])
    .unwrap();
    let first_vm = vm(&temp_dir("chain-api-http-v2a"));
    let a = api(&ledger, &first_vm);
    let c = Client::default();
    assert_eq!(
        c.post_json(&format!("{}/anchors", a.url()), &anchor("s1", 2))
            .unwrap()
            .status,
        201
    );
    a.stop();
    first_vm.stop();

    let fresh_vm = vm(&temp_dir("chain-api-http-v2b"));
    let a = api(&ledger, &fresh_vm);
    let r = c
        .post_json(&format!("{}/anchors", a.url()), &anchor("s2", 1))
        .unwrap();
    assert_status(&r, 201);
    assert_eq!(r.json::<Value>().unwrap()["block_height"], 1);
    assert_eq!(
        c.get(&format!("{}/anchors/s1", a.url())).unwrap().status,
        200
    );
    for s in [a, fresh_vm, ledger] {
        s.stop();
    }
}

#[test]
fn unreachable_ledger_is_a_502() {
    let vm = vm(&temp_dir("chain-api-http-v3"));
    let a = lucid_runtime::spawn::<blockchain_api::Service>(&[
        ("LUCID_URL_BLOCKCHAIN_LEDGER", "http://127.0.0.1:1"),
        ("LUCID_URL_BLOCKCHAIN_VM", &vm.url()),
    ])
    .unwrap();
    let r = Client::default()
        .post_json(&format!("{}/anchors", a.url()), &anchor("s", 1))
        .unwrap();
    assert_eq!(r.status, 502);
    a.stop();
    vm.stop();
}

#[test]
fn a_vm_refusal_for_size_stays_a_413_and_never_becomes_a_502() {
    // The original failure: blockchain-vm answered 413 and blockchain-api turned it into 502,
    // which its callers retry. A VM whose body limit is small stands in for a big anchor.
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("chain-api-http-l413"),
    )])
    .unwrap();
    let vm = lucid_runtime::spawn::<blockchain_vm::Service>(&[
        ("VM_DATA_DIR", &temp_dir("chain-api-http-v413")),
        ("LUCID_MAX_BODY_BYTES", "600"),
    ])
    .unwrap();
    let api = api(&ledger, &vm);
    let r = Client::default()
        .post_json(&format!("{}/anchors", api.url()), &anchor("s-big", 8))
        .unwrap();
    assert_status(&r, 413);
    let why = r.json_body()["error"].as_str().unwrap().to_string();
    assert!(why.starts_with("blockchain-vm: "), "{why}");
    for x in [api, vm, ledger] {
        x.stop();
    }
}

#[test]
fn blocks_over_the_vm_and_ledger_limit_are_refused_here_with_413_naming_it() {
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("chain-api-http-lbig"),
    )])
    .unwrap();
    let vm = vm(&temp_dir("chain-api-http-vbig"));
    let api = api(&ledger, &vm);
    let (url, c) = (api.url(), Client::default());

    // More chunk hashes than one block can carry.
    let leaves: Vec<String> = (0..=blockchain_vm::contract::MAX_ANCHOR_CHUNKS)
        .map(|i| format!("{i:064x}"))
        .collect();
    let too_many = json!({ "session_id": "s-many", "merkle_root": "00".repeat(32),
        "chunk_count": leaves.len(), "chunk_hashes": leaves });
    let r = c.post_json(&format!("{url}/anchors"), &too_many).unwrap();
    assert_status(&r, 413);
    assert!(r.json_body()["error"].as_str().unwrap().contains("5000"));

    // A transaction list 10 bytes under blockchain-api's own limit: accepted as a request, but
    // its dry run for the VM (the same list plus the height) would exceed the VM's limit.
    let target = (1 << 20) - 10;
    let tx = |i: usize, session: &str| {
        json!({ "method": "anchorChunk", "session_id": session, "index": i, "leaf": "ab".repeat(32) })
            .to_string()
    };
    let mut txs: Vec<String> = Vec::new();
    let mut len = r#"{"txs":[]}"#.len();
    while len + tx(txs.len(), "s").len() + 1 < target - 200 {
        len += tx(txs.len(), "s").len() + usize::from(!txs.is_empty());
        txs.push(tx(txs.len(), "s"));
    }
    let last = tx(txs.len(), "s");
    let pad = target - len - last.len() - 1;
    txs.push(tx(txs.len(), &format!("s{}", "x".repeat(pad))));
    let body = format!(r#"{{"txs":[{}]}}"#, txs.join(","));
    assert_eq!(body.len(), target);
    let r = c
        .post_bytes(
            &format!("{url}/transactions"),
            "application/json",
            body.as_bytes(),
        )
        .unwrap();
    assert_status(&r, 413);
    let why = r.json_body()["error"].as_str().unwrap().to_string();
    assert!(
        why.contains("blockchain-vm") && why.contains("1048576"),
        "{why}"
    );
    let head: Value = c.get(&format!("{url}/head")).unwrap().json().unwrap();
    assert_eq!(head["count"], 0, "nothing was written");
    for x in [api, vm, ledger] {
        x.stop();
    }
}
