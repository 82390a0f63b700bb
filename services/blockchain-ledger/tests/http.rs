use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};

#[test]
fn appends_pages_and_survives_a_restart() {
    let d = temp_dir("ledger-http-restart");
    let s = lucid_runtime::spawn::<blockchain_ledger::Service>(&[("LEDGER_DATA_DIR", &d)]).unwrap();
    let (url, c) = (s.url(), Client::default());
    let mut prev = blockchain_ledger::chain::GENESIS_PREV.to_string();
    for i in 0..5 {
        let r = c
            .post_json(
                &format!("{url}/blocks"),
                &json!({ "data": { "i": i }, "prev_hash": prev }),
            )
            .unwrap();
        assert_eq!(r.status, 201);
        prev = r.json::<Value>().unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let stale = c
        .post_json(
            &format!("{url}/blocks"),
            &json!({ "data": 1, "prev_hash": blockchain_ledger::chain::GENESIS_PREV }),
        )
        .unwrap();
    assert_eq!(stale.status, 409);
    assert_eq!(
        serde_json::from_slice::<Value>(&stale.body).unwrap()["head"],
        prev
    );
    let page: Value = c
        .get(&format!("{url}/blocks?from=3&limit=10"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["count"], 5);
    assert_eq!(page["blocks"].as_array().unwrap().len(), 2);
    assert_eq!(page["blocks"][0]["data"]["i"], 3);
    s.stop();

    let s = lucid_runtime::spawn::<blockchain_ledger::Service>(&[("LEDGER_DATA_DIR", &d)]).unwrap();
    let head: Value = c.get(&format!("{}/head", s.url())).unwrap().json().unwrap();
    assert_eq!(
        (head["count"].clone(), head["hash"].clone()),
        (json!(5), json!(prev))
    );
    let verify: Value = c
        .get(&format!("{}/verify", s.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["valid"], true);
    s.stop();
}

#[test]
fn refuses_to_start_on_a_corrupted_or_truncated_chain() {
    for (tag, damage) in [("corrupt", 0), ("truncated", 1)] {
        let d = temp_dir(&format!("ledger-http-{tag}"));
        let s =
            lucid_runtime::spawn::<blockchain_ledger::Service>(&[("LEDGER_DATA_DIR", &d)]).unwrap();
        for i in 0..3 {
            Client::default()
                .post_json(
                    &format!("{}/blocks", s.url()),
                    &json!({ "data": { "i": i } }),
                )
                .unwrap();
        }
        s.stop();
        let path = std::path::Path::new(&d).join("chain.jsonl");
        let mut bytes = std::fs::read(&path).unwrap();
        if damage == 0 {
            let at = bytes.len() / 2;
            bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        } else {
            bytes.truncate(bytes.len() - 7);
        }
        std::fs::write(&path, bytes).unwrap();
        let err = lucid_runtime::spawn::<blockchain_ledger::Service>(&[("LEDGER_DATA_DIR", &d)])
            .err()
            .unwrap();
        assert!(
            err.contains("broken chain") && err.contains("chain.jsonl"),
            "{tag}: {err}"
        );
    }
}

#[test]
fn verify_endpoint_reports_damage_done_while_running() {
    let d = temp_dir("ledger-http-live-damage");
    let s = lucid_runtime::spawn::<blockchain_ledger::Service>(&[("LEDGER_DATA_DIR", &d)]).unwrap();
    let c = Client::default();
    c.post_json(&format!("{}/blocks", s.url()), &json!({ "data": "x" }))
        .unwrap();
    let path = std::path::Path::new(&d).join("chain.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"x\"", "\"y\"")).unwrap();
    let r = c.get(&format!("{}/verify", s.url())).unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["valid"],
        false
    );
    s.stop();
}

#[test]
fn bad_input_gets_json_errors() {
    let s = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir("ledger-http-bad"),
    )])
    .unwrap();
    let (url, c) = (s.url(), Client::default());
    assert_eq!(
        c.post_bytes(&format!("{url}/blocks"), "application/json", b"[1,")
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        c.post_json(&format!("{url}/blocks"), &json!({ "dat": 1 }))
            .unwrap()
            .status,
        400
    );
    assert_eq!(c.get(&format!("{url}/blocks/0")).unwrap().status, 404);
    assert_eq!(c.get(&format!("{url}/blocks/zero")).unwrap().status, 400);
    assert_eq!(c.get(&format!("{url}/blocks?from=x")).unwrap().status, 400);
    s.stop();
}
