//! One recorded session through the whole pipeline, every service a real process on 127.0.0.1:
//! recorder → chunker → encryptor → merkle-builder → on-system-chain-client → blockchain-api →
//! blockchain-ledger (+ blockchain-vm), driven by session-orchestrator.

use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, free_port, temp_dir};
use merkle_builder::Proof;
use serde_json::{json, Value};
use session_chunker::chunk::{self, Manifest};
use session_encryptor::crypto::{self, MasterKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MASTER_KEY: &str = "5a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70717273747576777879";
const SESSION: &str = "e2e-session-1";

/// The processes of the test; killed (they are ours) when the test ends, pass or fail.
struct Stack {
    root: PathBuf,
    ports: BTreeMap<&'static str, u16>,
    children: BTreeMap<&'static str, Child>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Stack {
    fn url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.ports[service])
    }

    /// The variables compose would give the service: port, bind, volume paths, upstream URLs, secrets.
    fn env(&self, service: &str) -> Vec<(String, String)> {
        let dir = |name: &str| self.root.join(name).to_string_lossy().into_owned();
        let url = |s: &str| (lucid_runtime::config::upstream_var(s), self.url(s));
        let mut vars = vec![
            ("LUCID_MULTICALL_SERVICE".to_string(), service.to_string()),
            ("LUCID_HTTP_PORT".into(), self.ports[service].to_string()),
            ("LUCID_BIND".into(), "127.0.0.1".into()),
        ];
        match service {
            "session-recorder" => vars.push(("RECORDER_DATA_DIR".into(), dir("recordings"))),
            "session-chunker" => {
                vars.push(("CHUNKER_DATA_DIR".into(), dir("chunks")));
                vars.push(url("session-recorder"));
            }
            "session-encryptor" => {
                vars.push(("ENCRYPTOR_DATA_DIR".into(), dir("encrypted")));
                vars.push((
                    "SESSION_MASTER_KEY_FILE".into(),
                    dir("secrets/session-master-key"),
                ));
                vars.push(url("session-chunker"));
            }
            "merkle-builder" => vars.push(("MERKLE_DATA_DIR".into(), dir("merkle"))),
            "blockchain-ledger" => vars.push(("LEDGER_DATA_DIR".into(), dir("ledger"))),
            "blockchain-vm" => vars.push(("VM_DATA_DIR".into(), dir("vm"))),
            "blockchain-api" => {
                vars.push(url("blockchain-ledger"));
                vars.push(url("blockchain-vm"));
            }
            "blockchain-sessions-data" => vars.push(url("blockchain-ledger")),
            "on-system-chain-client" => {
                vars.push(("CHAIN_CLIENT_DATA_DIR".into(), dir("chain-client")));
                vars.push(url("blockchain-api"));
            }
            "session-orchestrator" => {
                vars.push(("ORCHESTRATOR_DATA_DIR".into(), dir("orchestrator")));
                for s in [
                    "session-recorder",
                    "session-chunker",
                    "session-encryptor",
                    "merkle-builder",
                    "on-system-chain-client",
                ] {
                    vars.push(url(s));
                }
            }
            other => panic!("no environment for {other}"),
        }
        vars
    }

    fn start(&mut self, service: &'static str) {
        let log = std::fs::File::create(self.root.join(format!("{service}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_lucid-multicall"))
            .env_clear()
            .envs(self.env(service))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {service}: {e}"));
        self.children.insert(service, child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let health = format!("{}/health", self.url(service));
        while Client::new(Duration::from_secs(1))
            .get(&health)
            .map(|r| r.status)
            != Ok(200)
        {
            if let Ok(Some(status)) = self.children.get_mut(service).unwrap().try_wait() {
                panic!("{service} exited with {status}: {}", self.log(service));
            }
            assert!(
                Instant::now() < deadline,
                "{service} did not become healthy: {}",
                self.log(service)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self, service: &str) {
        let mut child = self.children.remove(service).unwrap();
        // SIGKILL: the ledger must be intact even when its process dies without warning.
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("{service}.log"))).unwrap_or_default()
    }
}

fn temp_root() -> PathBuf {
    let root = PathBuf::from(temp_dir("lucid-e2e"));
    std::fs::create_dir_all(root.join("secrets")).unwrap();
    std::fs::write(
        root.join("secrets/session-master-key"),
        format!("{MASTER_KEY}\n"),
    )
    .unwrap();
    root
}

fn upload(c: &Client, recorder: &str, data: &[u8]) {
    let r = c
        .post_json(
            &format!("{recorder}/sessions"),
            &json!({ "session_id": SESSION, "metadata": { "host": "e2e" } }),
        )
        .unwrap();
    assert_eq!(r.status, 201);
    let mut offset = 0;
    for piece in data.chunks(3 << 20) {
        let url = format!("{recorder}/sessions/{SESSION}/data?offset={offset}");
        let r = c
            .post_bytes(&url, "application/octet-stream", piece)
            .unwrap();
        assert_status(&r, 200);
        offset += piece.len();
    }
    let r = c
        .post_bytes(
            &format!("{recorder}/sessions/{SESSION}/finish"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["size"], data.len());
}

#[test]
fn a_recorded_session_is_chunked_encrypted_and_anchored_across_real_processes() {
    let root = temp_root();
    let services = [
        "blockchain-ledger",
        "blockchain-vm",
        "blockchain-api",
        "blockchain-sessions-data",
        "on-system-chain-client",
        "merkle-builder",
        "session-recorder",
        "session-chunker",
        "session-encryptor",
        "session-orchestrator",
    ];
    let mut stack = Stack {
        root: root.clone(),
        ports: services.iter().map(|s| (*s, free_port())).collect(),
        children: BTreeMap::new(),
    };
    for s in services {
        stack.start(s);
    }
    let c = Client::new(Duration::from_secs(120));

    // 40 MiB + a bit: five 8 MiB chunks and a short sixth one.
    let data = lucid_e2e::recording((40 << 20) + 12345, 1);
    upload(&c, &stack.url("session-recorder"), &data);
    let r = c
        .post_bytes(
            &format!(
                "{}/sessions/{SESSION}/run",
                stack.url("session-orchestrator")
            ),
            "application/json",
            b"",
        )
        .unwrap();
    assert_status(&r, 202);

    let deadline = Instant::now() + Duration::from_secs(600);
    let run = loop {
        let run: Value = c
            .get(&format!(
                "{}/sessions/{SESSION}",
                stack.url("session-orchestrator")
            ))
            .unwrap()
            .json()
            .unwrap();
        if run["status"] != "running" {
            break run;
        }
        assert!(Instant::now() < deadline, "pipeline did not finish: {run}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        run["status"],
        "done",
        "{run}\n{}",
        stack.log("session-orchestrator")
    );
    assert_eq!(run["chunk_count"], 6);

    // The anchor as the chain holds it.
    let anchor: Value = c
        .get(&format!(
            "{}/anchors/{SESSION}",
            stack.url("blockchain-api")
        ))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(anchor["merkle_root"], run["merkle_root"]);
    assert_eq!(
        (anchor["chunk_count"].clone(), anchor["complete"].clone()),
        (json!(6), json!(true))
    );
    let anchored_root = anchor["merkle_root"].as_str().unwrap().to_string();

    // Every chunk: sealed bytes hash to the anchored leaf, the inclusion proof verifies against the
    // anchored root, and decryption + decompression give back the original bytes.
    let manifest: Manifest = c
        .get(&format!(
            "{}/sessions/{SESSION}/manifest",
            stack.url("session-chunker")
        ))
        .unwrap()
        .json()
        .unwrap();
    let key = MasterKey::from_hex(MASTER_KEY)
        .unwrap()
        .session_key(SESSION);
    let mut restored = Vec::with_capacity(data.len());
    for info in &manifest.chunks {
        let i = info.index;
        let sealed = c
            .get(&format!(
                "{}/sessions/{SESSION}/chunks/{i}",
                stack.url("session-encryptor")
            ))
            .unwrap()
            .body;
        let leaf = crypto::ciphertext_hash(&sealed);
        assert_eq!(run["leaves"][i as usize], leaf.as_str(), "chunk {i}");

        let proof: Proof = c
            .get(&format!(
                "{}/trees/{SESSION}/proofs/{i}",
                stack.url("merkle-builder")
            ))
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            (proof.leaf.as_str(), proof.root.as_str()),
            (leaf.as_str(), anchored_root.as_str())
        );
        assert!(proof.verify().unwrap(), "proof of chunk {i}");

        let compressed =
            crypto::open(&key, SESSION, i, &sealed).unwrap_or_else(|e| panic!("chunk {i}: {e}"));
        restored.extend(chunk::unpack(info, &compressed).unwrap());
    }
    assert!(
        restored == data,
        "the chunks do not give back the recording"
    );

    // The index built from the ledger knows the session.
    let indexed: Value = c
        .get(&format!(
            "{}/sessions/{SESSION}",
            stack.url("blockchain-sessions-data")
        ))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(indexed["anchors"][0]["merkle_root"], anchored_root.as_str());
    assert_eq!(indexed["chunks"].as_array().unwrap().len(), 6);

    // The ledger survives a hard stop: it restarts, verifies its chain, and still holds the anchor.
    let head_before: Value = c
        .get(&format!("{}/head", stack.url("blockchain-ledger")))
        .unwrap()
        .json()
        .unwrap();
    stack.stop("blockchain-ledger");
    stack.start("blockchain-ledger");
    let verified: Value = c
        .get(&format!("{}/verify", stack.url("blockchain-ledger")))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verified["valid"], true, "{verified}");
    let head_after: Value = c
        .get(&format!("{}/head", stack.url("blockchain-ledger")))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(head_after, head_before);
    assert!(stack.log("blockchain-ledger").contains("chain verified"));
    let again: Value = c
        .get(&format!(
            "{}/anchors/{SESSION}",
            stack.url("blockchain-api")
        ))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again["block_hash"], anchor["block_hash"]);

    drop(stack);
    let _ = std::fs::remove_dir_all(Path::new(&root));
}
