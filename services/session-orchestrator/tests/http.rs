//! The orchestrator against the real services, started in-process.

use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, free_port, temp_dir};
use lucid_runtime::RunningServer;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct Pipeline {
    servers: Vec<RunningServer>,
    recorder: String,
    orchestrator: String,
    chain_client_port: u16,
    chain_api: String,
}

/// Every service but the chain client, which `with_chain_client` decides about.
fn pipeline(tag: &str, with_chain_client: bool) -> Pipeline {
    let spawn_err = |e: String| panic!("{e}");
    let recorder = lucid_runtime::spawn::<session_recorder::Service>(&[(
        "RECORDER_DATA_DIR",
        &temp_dir(&format!("orchestrator-http-{tag}-rec")),
    )])
    .unwrap_or_else(spawn_err);
    let chunker = lucid_runtime::spawn::<session_chunker::Service>(&[
        (
            "CHUNKER_DATA_DIR",
            &temp_dir(&format!("orchestrator-http-{tag}-chunks")),
        ),
        ("LUCID_URL_SESSION_RECORDER", &recorder.url()),
    ])
    .unwrap_or_else(spawn_err);
    let encryptor = lucid_runtime::spawn::<session_encryptor::Service>(&[
        (
            "ENCRYPTOR_DATA_DIR",
            &temp_dir(&format!("orchestrator-http-{tag}-enc")),
        ),
        ("SESSION_MASTER_KEY", KEY),
        ("LUCID_URL_SESSION_CHUNKER", &chunker.url()),
    ])
    .unwrap_or_else(spawn_err);
    let merkle = lucid_runtime::spawn::<merkle_builder::Service>(&[(
        "MERKLE_DATA_DIR",
        &temp_dir(&format!("orchestrator-http-{tag}-merkle")),
    )])
    .unwrap_or_else(spawn_err);
    let ledger = lucid_runtime::spawn::<blockchain_ledger::Service>(&[(
        "LEDGER_DATA_DIR",
        &temp_dir(&format!("orchestrator-http-{tag}-ledger")),
    )])
    .unwrap_or_else(spawn_err);
    let vm = lucid_runtime::spawn::<blockchain_vm::Service>(&[(
        "VM_DATA_DIR",
        &temp_dir(&format!("orchestrator-http-{tag}-vm")),
    )])
    .unwrap_or_else(spawn_err);
    let api = lucid_runtime::spawn::<blockchain_api::Service>(&[
        ("LUCID_URL_BLOCKCHAIN_LEDGER", &ledger.url()),
        ("LUCID_URL_BLOCKCHAIN_VM", &vm.url()),
    ])
    .unwrap_or_else(spawn_err);
    let chain_client_port = free_port();
    let chain_api = api.url();
    let chain_client_url = format!("http://127.0.0.1:{chain_client_port}");
    let orchestrator = lucid_runtime::spawn::<session_orchestrator::Service>(&[
        (
            "ORCHESTRATOR_DATA_DIR",
            &temp_dir(&format!("orchestrator-http-{tag}-orch")),
        ),
        ("LUCID_URL_SESSION_RECORDER", &recorder.url()),
        ("LUCID_URL_SESSION_CHUNKER", &chunker.url()),
        ("LUCID_URL_SESSION_ENCRYPTOR", &encryptor.url()),
        ("LUCID_URL_MERKLE_BUILDER", &merkle.url()),
        ("LUCID_URL_ON_SYSTEM_CHAIN_CLIENT", &chain_client_url),
        ("ORCHESTRATOR_BACKOFF_MS", "50"),
        ("ORCHESTRATOR_MAX_ATTEMPTS", "40"),
    ])
    .unwrap_or_else(spawn_err);
    let mut p = Pipeline {
        recorder: recorder.url(),
        orchestrator: orchestrator.url(),
        servers: vec![
            orchestrator,
            recorder,
            chunker,
            encryptor,
            merkle,
            api,
            vm,
            ledger,
        ],
        chain_client_port,
        chain_api,
    };
    if with_chain_client {
        p.start_chain_client(tag);
    }
    p
}

impl Pipeline {
    fn start_chain_client(&mut self, tag: &str) {
        let d = temp_dir(&format!("orchestrator-http-{tag}-client"));
        let server = lucid_runtime::spawn_on::<on_system_chain_client::Service>(
            self.chain_client_port,
            &[
                ("CHAIN_CLIENT_DATA_DIR", &d),
                ("LUCID_URL_BLOCKCHAIN_API", &self.chain_api),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.servers.push(server);
    }

    fn record(&self, id: &str, data: &[u8]) {
        let c = Client::default();
        c.post_json(
            &format!("{}/sessions", self.recorder),
            &json!({ "session_id": id }),
        )
        .unwrap();
        if !data.is_empty() {
            c.post_bytes(
                &format!("{}/sessions/{id}/data", self.recorder),
                "application/octet-stream",
                data,
            )
            .unwrap();
        }
        c.post_bytes(
            &format!("{}/sessions/{id}/finish", self.recorder),
            "application/json",
            b"",
        )
        .unwrap();
    }

    fn wait(&self, id: &str, until: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run: Value = Client::default()
                .get(&format!("{}/sessions/{id}", self.orchestrator))
                .unwrap()
                .json()
                .unwrap();
            if until(&run) {
                return run;
            }
            assert!(Instant::now() < deadline, "run did not get there: {run}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(self) {
        for s in self.servers {
            s.stop();
        }
    }
}

#[test]
fn drives_a_session_to_an_anchor() {
    let p = pipeline("full", true);
    p.record("s1", &vec![7u8; 200_000]);
    let r = Client::default()
        .post_bytes(
            &format!("{}/sessions/s1/run", p.orchestrator),
            "application/json",
            b"",
        )
        .unwrap();
    assert_status(&r, 202);
    let run = p.wait("s1", |r| r["status"] != "running");
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["stage"], "anchored");
    assert_eq!(run["receipt"]["merkle_root"], run["merkle_root"]);
    let again = Client::default()
        .post_bytes(
            &format!("{}/sessions/s1/run", p.orchestrator),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(again.status, 200);
    p.stop();
}

#[test]
fn retries_with_backoff_until_the_chain_client_comes_up() {
    let mut p = pipeline("retry", false);
    p.record("s1", b"a short recording");
    Client::default()
        .post_bytes(
            &format!("{}/sessions/s1/run", p.orchestrator),
            "application/json",
            b"",
        )
        .unwrap();
    let waiting = p.wait("s1", |r| {
        r["stage"] == "tree_built" && r["retries"].as_u64() >= Some(2)
    });
    assert_eq!(waiting["status"], "running");
    assert!(waiting["last_error"]
        .as_str()
        .unwrap()
        .contains("on-system-chain-client"));
    p.start_chain_client("retry");
    let run = p.wait("s1", |r| r["status"] != "running");
    assert_eq!(run["status"], "done", "{run}");
    p.stop();
}

#[test]
fn refuses_unknown_and_unfinished_sessions_and_fails_empty_ones() {
    let p = pipeline("refuse", true);
    let c = Client::default();
    let run = |id: &str| {
        c.post_bytes(
            &format!("{}/sessions/{id}/run", p.orchestrator),
            "application/json",
            b"",
        )
        .unwrap()
        .status
    };
    assert_eq!(run("unknown"), 404);
    assert_eq!(run("a.b"), 400);
    c.post_json(
        &format!("{}/sessions", p.recorder),
        &json!({ "session_id": "open" }),
    )
    .unwrap();
    assert_eq!(run("open"), 409);
    assert_eq!(
        c.get(&format!("{}/sessions/open", p.orchestrator))
            .unwrap()
            .status,
        404
    );

    p.record("empty", b"");
    assert_eq!(run("empty"), 202);
    let failed = p.wait("empty", |r| r["status"] != "running");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("merkle-builder"),
        "{failed}"
    );
    p.stop();
}

#[test]
fn a_zero_step_timeout_or_backoff_is_a_configuration_error() {
    let dir = temp_dir("orchestrator-http-config");
    let err = lucid_runtime::spawn::<session_orchestrator::Service>(&[
        ("ORCHESTRATOR_DATA_DIR", dir.as_str()),
        ("ORCHESTRATOR_STEP_TIMEOUT_SECS", "0"),
        ("ORCHESTRATOR_BACKOFF_MS", "0"),
    ])
    .err()
    .unwrap();
    assert!(
        err.contains("ORCHESTRATOR_STEP_TIMEOUT_SECS=0: must be 1 to 3600"),
        "{err}"
    );
    assert!(
        err.contains("ORCHESTRATOR_BACKOFF_MS=0: must be 1 to 30000"),
        "{err}"
    );
}
