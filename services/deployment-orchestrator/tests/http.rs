//! HTTP-level tests: contract-compiler and contract-deployment run in-process (the real services on
//! temporary volumes) and the orchestrator drives them over HTTP.

use deployment_orchestrator::Service;
use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use lucid_runtime::RunningServer;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The same ERC-20 ABI the compiler's own tests use.
const ERC20: &str = include_str!("../../contract-compiler/tests/fixtures/erc20.abi.json");

struct Stack {
    compiler: RunningServer,
    deployment: RunningServer,
    orchestrator: RunningServer,
}

fn stack(tag: &str) -> Stack {
    let dir = PathBuf::from(temp_dir(&format!("lucid-orch-http-{tag}")));
    let artifacts = dir.join("artifacts");
    let deployments = dir.join("deployments");
    let compiler = lucid_runtime::spawn::<contract_compiler::Service>(&[(
        "ARTIFACTS_DATA_DIR",
        artifacts.to_str().unwrap(),
    )])
    .unwrap();
    let deployment = lucid_runtime::spawn::<contract_deployment::Service>(&[(
        "DEPLOYMENT_DATA_DIR",
        deployments.to_str().unwrap(),
    )])
    .unwrap();
    let orchestrator = lucid_runtime::spawn::<Service>(&[
        ("LUCID_URL_CONTRACT_COMPILER", &compiler.url()),
        ("LUCID_URL_CONTRACT_DEPLOYMENT", &deployment.url()),
    ])
    .unwrap();
    Stack {
        compiler,
        deployment,
        orchestrator,
    }
}

impl Stack {
    fn stop(self) {
        self.orchestrator.stop();
        self.compiler.stop();
        self.deployment.stop();
    }
}

fn token_run() -> Value {
    json!({
        "artifact": { "name": "Token", "abi": serde_json::from_str::<Value>(ERC20).unwrap(), "bytecode": "0x6080" },
        "chain": "lucid-onsystem"
    })
}

#[test]
fn run_compiles_records_and_advances_the_deployment() {
    let stack = stack("ok");
    let client = Client::default();
    let url = stack.orchestrator.url();
    let started = client
        .post_json(&format!("{url}/runs"), &token_run())
        .unwrap();
    assert_status(&started, 201);
    let run = started.json_body();
    assert_eq!(run["status"], "awaiting_result");
    let artifact_id = run["artifact_id"].as_str().unwrap();
    let deployment_id = run["deployment_id"].as_str().unwrap();

    // The artifact really is in contract-compiler, the pending record in contract-deployment.
    let artifact = client
        .get(&format!("{}/artifacts/{artifact_id}", stack.compiler.url()))
        .unwrap();
    assert_eq!(artifact.json_body()["name"], "Token");
    let record = client
        .get(&format!(
            "{}/deployments/{deployment_id}",
            stack.deployment.url()
        ))
        .unwrap()
        .json_body();
    assert_eq!(
        (record["status"].clone(), record["artifact_id"].clone()),
        (json!("pending"), json!(artifact_id))
    );

    let result = format!("{url}/runs/{}/result", run["id"].as_str().unwrap());
    let missing_address = client
        .post_json(&result, &json!({ "status": "deployed" }))
        .unwrap();
    assert_eq!(
        missing_address.status, 422,
        "the deployment service's refusal is passed on"
    );
    let done = client
        .post_json(&result, &json!({ "status": "deployed", "address": "0x00000000000000000000000000000000000000aa" }))
        .unwrap();
    assert_status(&done, 200);
    let done = done.json_body();
    assert_eq!(done["status"], "deployed");
    let steps: Vec<&str> = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["compile", "record_deployment", "report_result"]);
    let record = client
        .get(&format!(
            "{}/deployments/{deployment_id}",
            stack.deployment.url()
        ))
        .unwrap()
        .json_body();
    assert_eq!(record["status"], "deployed");
    assert_eq!(
        client
            .post_json(&result, &json!({ "status": "failed", "error": "x" }))
            .unwrap()
            .status,
        409
    );
    stack.stop();
}

#[test]
fn invalid_abi_fails_the_compile_step_and_records_no_deployment() {
    let stack = stack("badabi");
    let client = Client::default();
    let mut body = token_run();
    body["artifact"]["abi"] =
        json!([{ "type": "function", "name": "f", "inputs": [{ "name": "a", "type": "uint7" }] }]);
    let reply = client
        .post_json(&format!("{}/runs", stack.orchestrator.url()), &body)
        .unwrap();
    assert_eq!(reply.status, 422);
    let err = reply.json_body();
    assert_eq!(err["step"], "compile");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("abi[0].inputs[0].type"),
        "{err}"
    );
    assert_eq!(err["run"]["status"], "failed");
    let records = client
        .get(&format!("{}/deployments", stack.deployment.url()))
        .unwrap()
        .json_body();
    assert_eq!(records["deployments"], json!([]));
    // The failed run is kept for inspection.
    let runs = client
        .get(&format!("{}/runs", stack.orchestrator.url()))
        .unwrap()
        .json_body();
    assert_eq!(runs["runs"][0]["error"], err["error"]);
    stack.stop();
}

#[test]
fn unreachable_upstream_fails_the_step_with_502() {
    let stack = stack("down");
    let client = Client::default();
    let deployment_url = stack.deployment.url();
    stack.deployment.stop();
    let reply = client
        .post_json(&format!("{}/runs", stack.orchestrator.url()), &token_run())
        .unwrap();
    assert_eq!(reply.status, 502);
    let err = reply.json_body();
    assert_eq!(err["step"], "record_deployment");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("contract-deployment unreachable"),
        "{err}"
    );
    assert!(
        err["run"]["artifact_id"].is_string(),
        "the compile step had succeeded"
    );
    assert!(client.get(&deployment_url).is_err());
    stack.orchestrator.stop();
    stack.compiler.stop();
}

#[test]
fn missing_upstreams_are_a_configuration_error() {
    let err = lucid_runtime::spawn::<Service>(&[]).err().unwrap();
    assert!(
        err.contains("LUCID_URL_CONTRACT_COMPILER")
            && err.contains("LUCID_URL_CONTRACT_DEPLOYMENT"),
        "{err}"
    );
}

#[test]
fn bad_requests_are_refused() {
    let stack = stack("bad");
    let client = Client::default();
    let url = stack.orchestrator.url();
    assert_eq!(
        client
            .post_bytes(&format!("{url}/runs"), "application/json", b"{")
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        client
            .post_json(&format!("{url}/runs"), &json!({ "chain": "c" }))
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        client
            .post_json(
                &format!("{url}/runs/none/result"),
                &json!({ "status": "deployed" })
            )
            .unwrap()
            .status,
        404
    );
    assert_eq!(client.get(&format!("{url}/runs/none")).unwrap().status, 404);
    stack.stop();
}
