use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use merkle_builder::Proof;
use serde_json::json;

fn server(tag: &str) -> lucid_runtime::RunningServer {
    let dir = temp_dir(&format!("merkle-http-{tag}"));
    lucid_runtime::spawn::<merkle_builder::Service>(&[("MERKLE_DATA_DIR", dir.as_str())]).unwrap()
}

fn leaf(i: u8) -> String {
    format!("{i:02x}").repeat(32)
}

#[test]
fn builds_a_tree_serves_proofs_and_verifies_them() {
    let s = server("proofs");
    let (url, c) = (s.url(), Client::default());
    let leaves: Vec<String> = (0..5).map(leaf).collect();
    let put = c
        .put_json(&format!("{url}/trees/s1"), &json!({ "leaves": leaves }))
        .unwrap();
    assert_eq!(put.status, 201);
    let root = put.json::<serde_json::Value>().unwrap()["root"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.put_json(&format!("{url}/trees/s1"), &json!({ "leaves": leaves }))
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        c.put_json(&format!("{url}/trees/s1"), &json!({ "leaves": [leaf(9)] }))
            .unwrap()
            .status,
        409
    );

    for i in 0..5 {
        let proof: Proof = c
            .get(&format!("{url}/trees/s1/proofs/{i}"))
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(proof.root, root);
        let verdict = c.post_json(&format!("{url}/verify"), &proof).unwrap();
        assert_eq!(
            verdict.json::<serde_json::Value>().unwrap()["valid"],
            true,
            "leaf {i}"
        );
        let mut forged = proof.clone();
        forged.leaf = leaf(7);
        let verdict = c.post_json(&format!("{url}/verify"), &forged).unwrap();
        assert_eq!(verdict.json::<serde_json::Value>().unwrap()["valid"], false);
    }
    s.stop();
}

#[test]
fn bad_input_gets_json_errors() {
    let s = server("bad");
    let (url, c) = (s.url(), Client::default());
    let status = |r: lucid_runtime::client::Reply| r.status;
    assert_eq!(
        status(
            c.put_json(&format!("{url}/trees/t"), &json!({ "leaves": [] }))
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            c.put_json(&format!("{url}/trees/t"), &json!({ "leaves": ["abc"] }))
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            c.put_json(&format!("{url}/trees/..x"), &json!({ "leaves": [leaf(1)] }))
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            c.post_bytes(&format!("{url}/verify"), "application/json", b"{")
                .unwrap()
        ),
        400
    );
    assert_eq!(status(c.get(&format!("{url}/trees/none")).unwrap()), 404);
    c.put_json(&format!("{url}/trees/t"), &json!({ "leaves": [leaf(1)] }))
        .unwrap();
    assert_eq!(
        status(c.get(&format!("{url}/trees/t/proofs/1")).unwrap()),
        404
    );
    assert_eq!(
        status(c.get(&format!("{url}/trees/t/proofs/-1")).unwrap()),
        400
    );
    let bad_root =
        json!({"root": "zz", "leaf": leaf(1), "index": 0, "leaf_count": 1, "siblings": []});
    let r = c.post_json(&format!("{url}/verify"), &bad_root).unwrap();
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("root"));
    s.stop();
}

#[test]
fn trees_survive_a_restart() {
    let dir = temp_dir("merkle-http-restart");
    let vars = [("MERKLE_DATA_DIR", dir.as_str())];
    let s = lucid_runtime::spawn::<merkle_builder::Service>(&vars).unwrap();
    let c = Client::default();
    c.put_json(
        &format!("{}/trees/a", s.url()),
        &json!({ "leaves": [leaf(1), leaf(2)] }),
    )
    .unwrap();
    s.stop();
    let s = lucid_runtime::spawn::<merkle_builder::Service>(&vars).unwrap();
    assert_eq!(
        c.get(&format!("{}/trees/a", s.url()))
            .unwrap()
            .json::<serde_json::Value>()
            .unwrap()["leaf_count"],
        2
    );
    s.stop();
}
