use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use session_encryptor::EncryptedManifest;

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

#[test]
fn encrypts_chunks_and_detects_tampering_over_http() {
    let c = Client::default();
    let recorder = lucid_runtime::spawn::<session_recorder::Service>(&[(
        "RECORDER_DATA_DIR",
        &temp_dir("encryptor-http-rec"),
    )])
    .unwrap();
    let chunker = lucid_runtime::spawn::<session_chunker::Service>(&[
        ("CHUNKER_DATA_DIR", &temp_dir("encryptor-http-chunks")),
        ("LUCID_URL_SESSION_RECORDER", &recorder.url()),
    ])
    .unwrap();
    let key_file = std::path::Path::new(&temp_dir("encryptor-http-key")).with_extension("hex");
    std::fs::write(&key_file, format!("{KEY_A}\n")).unwrap();
    let encryptor = lucid_runtime::spawn::<session_encryptor::Service>(&[
        ("ENCRYPTOR_DATA_DIR", &temp_dir("encryptor-http-enc")),
        ("SESSION_MASTER_KEY_FILE", key_file.to_str().unwrap()),
        ("LUCID_URL_SESSION_CHUNKER", &chunker.url()),
    ])
    .unwrap();
    let other_key = lucid_runtime::spawn::<session_encryptor::Service>(&[
        ("ENCRYPTOR_DATA_DIR", &temp_dir("encryptor-http-enc-b")),
        ("SESSION_MASTER_KEY", KEY_B),
        ("LUCID_URL_SESSION_CHUNKER", &chunker.url()),
    ])
    .unwrap();

    let rec = recorder.url();
    c.post_json(
        &format!("{rec}/sessions"),
        &serde_json::json!({"session_id": "s1"}),
    )
    .unwrap();
    c.post_bytes(
        &format!("{rec}/sessions/s1/data"),
        "application/octet-stream",
        &vec![42u8; 300_000],
    )
    .unwrap();
    c.post_bytes(
        &format!("{rec}/sessions/s1/finish"),
        "application/json",
        b"",
    )
    .unwrap();
    c.post_bytes(
        &format!("{}/sessions/s1/chunk", chunker.url()),
        "application/json",
        b"",
    )
    .unwrap();

    let enc = encryptor.url();
    let reply = c
        .post_bytes(
            &format!("{enc}/sessions/s1/encrypt"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_status(&reply, 201);
    let manifest: EncryptedManifest = reply.json().unwrap();
    assert_eq!(manifest.chunks.len(), 1);

    let sealed = c.get(&format!("{enc}/sessions/s1/chunks/0")).unwrap().body;
    assert_eq!(
        session_encryptor::crypto::ciphertext_hash(&sealed),
        manifest.chunks[0].ciphertext_blake3
    );
    let compressed = c
        .get(&format!("{}/sessions/s1/chunks/0", chunker.url()))
        .unwrap()
        .body;
    let decrypt = |base: &str, path: &str, body: &[u8]| {
        c.post_bytes(&format!("{base}{path}"), "application/octet-stream", body)
            .unwrap()
    };
    let opened = decrypt(&enc, "/sessions/s1/chunks/0/decrypt", &sealed);
    assert_eq!(opened.status, 200);
    assert_eq!(opened.body, compressed);

    let mut flipped = sealed.clone();
    flipped[40] ^= 0x80;
    for (base, path, body) in [
        (&enc, "/sessions/s1/chunks/0/decrypt", &flipped[..]),
        (&enc, "/sessions/s2/chunks/0/decrypt", &sealed[..]),
        (&enc, "/sessions/s1/chunks/1/decrypt", &sealed[..]),
        (
            &other_key.url(),
            "/sessions/s1/chunks/0/decrypt",
            &sealed[..],
        ),
        (&enc, "/sessions/s1/chunks/0/decrypt", &sealed[..10]),
        (&enc, "/sessions/s1/chunks/x/decrypt", &sealed[..]),
    ] {
        let r = decrypt(base, path, body);
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json_body_error().is_some());
    }
    assert_eq!(
        c.get(&format!("{enc}/sessions/nope/manifest"))
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        c.post_bytes(
            &format!("{enc}/sessions/nope/encrypt"),
            "application/json",
            b""
        )
        .unwrap()
        .status,
        404
    );

    for s in [other_key, encryptor, chunker, recorder] {
        s.stop();
    }
}

trait ErrorBody {
    fn json_body_error(&self) -> Option<String>;
}

impl ErrorBody for lucid_runtime::client::Reply {
    fn json_body_error(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v["error"].as_str().map(str::to_string)
    }
}

#[test]
fn missing_or_malformed_master_key_is_a_configuration_error_that_hides_the_key() {
    let base = [
        ("ENCRYPTOR_DATA_DIR", "/tmp/unused"),
        ("LUCID_URL_SESSION_CHUNKER", "http://127.0.0.1:1"),
    ];
    let err = lucid_runtime::spawn::<session_encryptor::Service>(&base)
        .err()
        .unwrap();
    assert!(err.contains("SESSION_MASTER_KEY"), "{err}");
    let short = "abcdef0123456789";
    let mut vars = base.to_vec();
    vars.push(("SESSION_MASTER_KEY", short));
    let err = lucid_runtime::spawn::<session_encryptor::Service>(&vars)
        .err()
        .unwrap();
    assert!(err.contains("expected 32") && !err.contains(short), "{err}");
}
