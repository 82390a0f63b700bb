use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use lucid_runtime::RunningServer;
use session_chunker::chunk::{self, Manifest};

fn pipeline(tag: &str) -> (RunningServer, RunningServer) {
    let rec_dir = temp_dir(&format!("chunker-http-{tag}-rec"));
    let recorder =
        lucid_runtime::spawn::<session_recorder::Service>(&[("RECORDER_DATA_DIR", &rec_dir)])
            .unwrap();
    let chunk_dir = temp_dir(&format!("chunker-http-{tag}-chunks"));
    let chunker = lucid_runtime::spawn::<session_chunker::Service>(&[
        ("CHUNKER_DATA_DIR", &chunk_dir),
        ("LUCID_URL_SESSION_RECORDER", &recorder.url()),
    ])
    .unwrap();
    (recorder, chunker)
}

fn record(c: &Client, recorder: &str, id: &str, data: &[u8], finish: bool) {
    c.post_json(
        &format!("{recorder}/sessions"),
        &serde_json::json!({ "session_id": id }),
    )
    .unwrap();
    for piece in data.chunks(4 << 20) {
        let r = c
            .post_bytes(
                &format!("{recorder}/sessions/{id}/data"),
                "application/octet-stream",
                piece,
            )
            .unwrap();
        assert_eq!(r.status, 200);
    }
    if finish {
        c.post_bytes(
            &format!("{recorder}/sessions/{id}/finish"),
            "application/json",
            b"",
        )
        .unwrap();
    }
}

#[test]
fn chunks_a_recording_into_compressed_pieces_that_restore_it() {
    let (recorder, chunker) = pipeline("restore");
    let c = Client::default();
    let data: Vec<u8> = (0..(9u32 << 20) + 777)
        .map(|i| (i / 1000) as u8 ^ (i % 7) as u8)
        .collect();
    record(&c, &recorder.url(), "s1", &data, true);

    let reply = c
        .post_bytes(
            &format!("{}/sessions/s1/chunk", chunker.url()),
            "application/json",
            b"",
        )
        .unwrap();
    assert_status(&reply, 201);
    let manifest: Manifest = reply.json().unwrap();
    assert_eq!(manifest.chunks.len(), 2);
    assert_eq!(manifest.total_size, data.len() as u64);

    let mut restored = Vec::new();
    for info in &manifest.chunks {
        let bytes = c
            .get(&format!(
                "{}/sessions/s1/chunks/{}",
                chunker.url(),
                info.index
            ))
            .unwrap()
            .body;
        assert_eq!(bytes.len() as u64, info.compressed_size);
        restored.extend(chunk::unpack(info, &bytes).unwrap());
    }
    assert_eq!(restored, data);

    // Asking again returns the same manifest without redoing the work.
    let again = c
        .post_bytes(
            &format!("{}/sessions/s1/chunk", chunker.url()),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.json::<Manifest>().unwrap(), manifest);
    chunker.stop();
    recorder.stop();
}

#[test]
fn refuses_unfinished_unknown_and_missing_chunks() {
    let (recorder, chunker) = pipeline("refuse");
    let c = Client::default();
    record(&c, &recorder.url(), "open", b"still recording", false);
    let url = chunker.url();
    let post = |path: &str| {
        c.post_bytes(&format!("{url}{path}"), "application/json", b"")
            .unwrap()
            .status
    };
    assert_eq!(post("/sessions/open/chunk"), 409);
    assert_eq!(post("/sessions/unknown/chunk"), 404);
    assert_eq!(post("/sessions/..%2F/chunk"), 400);
    assert_eq!(
        c.get(&format!("{url}/sessions/open/manifest"))
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        c.get(&format!("{url}/sessions/open/chunks/x"))
            .unwrap()
            .status,
        404
    );
    chunker.stop();
    recorder.stop();
}

#[test]
fn chunk_size_outside_8_to_16_mib_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<session_chunker::Service>(&[
        ("CHUNKER_DATA_DIR", "/tmp/unused"),
        ("LUCID_URL_SESSION_RECORDER", "http://127.0.0.1:1"),
        ("CHUNKER_CHUNK_SIZE", "1048576"),
    ])
    .err()
    .unwrap();
    assert!(err.contains("CHUNKER_CHUNK_SIZE"), "{err}");
}

#[test]
fn unreachable_recorder_is_a_502() {
    let chunker = lucid_runtime::spawn::<session_chunker::Service>(&[
        ("CHUNKER_DATA_DIR", &temp_dir("chunker-http-unreachable")),
        ("LUCID_URL_SESSION_RECORDER", "http://127.0.0.1:1"),
    ])
    .unwrap();
    let r = Client::default()
        .post_bytes(
            &format!("{}/sessions/s/chunk", chunker.url()),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 502);
    chunker.stop();
}
