//! HTTP-level tests: the service in-process, artifacts on a temporary volume.

use contract_compiler::Service;
use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use serde_json::{json, Value};
use std::path::PathBuf;

const ERC20: &str = include_str!("fixtures/erc20.abi.json");

fn start(tag: &str) -> (lucid_runtime::RunningServer, std::path::PathBuf) {
    let dir = PathBuf::from(temp_dir(&format!("lucid-compiler-http-{tag}")));
    let server =
        lucid_runtime::spawn::<Service>(&[("ARTIFACTS_DATA_DIR", dir.to_str().unwrap())]).unwrap();
    (server, dir)
}

#[test]
fn stores_erc20_artifact_content_addressed_with_known_selectors() {
    let (server, dir) = start("store");
    let url = server.url();
    let client = Client::default();
    let artifact = json!({
        "name": "Token",
        "abi": serde_json::from_str::<Value>(ERC20).unwrap(),
        "bytecode": "0x6080604052",
    });
    let first = client
        .post_json(&format!("{url}/artifacts"), &artifact)
        .unwrap();
    assert_status(&first, 201);
    let first = first.json_body();
    let id = first["id"].as_str().unwrap().to_string();
    let functions = first["analysis"]["functions"].as_array().unwrap();
    assert!(functions
        .iter()
        .any(|f| f["signature"] == "transfer(address,uint256)" && f["selector"] == "0xa9059cbb"));

    let again = client
        .post_json(&format!("{url}/artifacts"), &artifact)
        .unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.json_body()["id"], id.as_str());

    let stored = client.get(&format!("{url}/artifacts/{id}")).unwrap();
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json_body()["bytecode"], "0x6080604052");
    assert!(dir.join(format!("{id}.json")).exists());
    let list = client.get(&format!("{url}/artifacts")).unwrap().json_body();
    assert_eq!(list["artifacts"], json!([id]));
    server.stop();
}

#[test]
fn signature_endpoint_returns_known_hashes() {
    let (server, _) = start("sig");
    let reply = Client::default()
        .post_json(
            &format!("{}/signatures", server.url()),
            &json!({ "signature": "Transfer(address,address,uint256)" }),
        )
        .unwrap();
    assert_eq!(
        reply.json_body()["topic"],
        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    );
    server.stop();
}

#[test]
fn signatures_refuses_malformed_signatures_with_422() {
    let (server, _) = start("sig-grammar");
    let client = Client::default();
    for bad in [
        "f((uint256)",
        "f(,)",
        "f(uint7)",
        "f(bytes33)",
        "1f(uint256)",
    ] {
        let reply = client
            .post_json(
                &format!("{}/signatures", server.url()),
                &json!({ "signature": bad }),
            )
            .unwrap();
        assert_eq!(reply.status, 422, "{bad}: {:?}", reply.json_body());
        assert_eq!(reply.json_body()["path"], "signature");
        assert!(reply.json_body()["selector"].is_null());
    }
    // What /abi/analyze writes, /signatures accepts.
    let abi = json!([{ "type": "function", "name": "f", "inputs": [{ "type": "tuple", "components": [{ "type": "uint" }] }] }]);
    let analysis = client
        .post_json(
            &format!("{}/abi/analyze", server.url()),
            &json!({ "abi": abi }),
        )
        .unwrap()
        .json_body();
    let sig = analysis["functions"][0]["signature"].clone();
    assert_eq!(sig, "f((uint256))");
    let reply = client
        .post_json(
            &format!("{}/signatures", server.url()),
            &json!({ "signature": sig }),
        )
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json_body()["selector"],
        analysis["functions"][0]["selector"]
    );
    server.stop();
}

#[test]
fn invalid_artifacts_are_refused_and_nothing_is_stored() {
    let (server, dir) = start("bad");
    let url = server.url();
    let client = Client::default();
    let bad_type = json!({ "name": "T", "abi": [{"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint7"}]}] });
    let reply = client
        .post_json(&format!("{url}/artifacts"), &bad_type)
        .unwrap();
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json_body()["path"], "abi[0].inputs[0].type");
    let bad_code = json!({ "name": "T", "abi": [], "bytecode": "0xzz" });
    assert_eq!(
        client
            .post_json(&format!("{url}/artifacts"), &bad_code)
            .unwrap()
            .status,
        422
    );
    let bad_name = json!({ "name": "../T", "abi": [] });
    assert_eq!(
        client
            .post_json(&format!("{url}/artifacts"), &bad_name)
            .unwrap()
            .status,
        422
    );
    let malformed = client
        .post_bytes(&format!("{url}/artifacts"), "application/json", b"[1,")
        .unwrap();
    assert_eq!(malformed.status, 400);
    assert_eq!(
        client
            .get(&format!("{url}/artifacts/{}", "0".repeat(64)))
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        client.get(&format!("{url}/artifacts/nope")).unwrap().status,
        404
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    server.stop();
}

#[test]
fn missing_volume_variable_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<Service>(&[]).err().unwrap();
    assert!(err.contains("ARTIFACTS_DATA_DIR"), "{err}");
}
