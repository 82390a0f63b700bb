use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};

#[test]
fn records_in_pieces_and_serves_ranges() {
    let dir = temp_dir("recorder-http-pieces");
    let server =
        lucid_runtime::spawn::<session_recorder::Service>(&[("RECORDER_DATA_DIR", &dir)]).unwrap();
    let (url, c) = (server.url(), Client::default());
    let created = c
        .post_json(
            &format!("{url}/sessions"),
            &serde_json::json!({"session_id": "rec-1", "metadata": {"user": "u"}}),
        )
        .unwrap();
    assert_eq!(created.status, 201);
    for (offset, piece) in [(0, &b"0123"[..]), (4, b"456789")] {
        let r = c
            .post_bytes(
                &format!("{url}/sessions/rec-1/data?offset={offset}"),
                "application/octet-stream",
                piece,
            )
            .unwrap();
        assert_status(&r, 200);
    }
    let stale = c
        .post_bytes(
            &format!("{url}/sessions/rec-1/data?offset=4"),
            "application/octet-stream",
            b"x",
        )
        .unwrap();
    assert_eq!(stale.status, 409);
    let fin = c
        .post_bytes(
            &format!("{url}/sessions/rec-1/finish"),
            "application/json",
            b"",
        )
        .unwrap();
    assert_eq!(fin.json::<serde_json::Value>().unwrap()["size"], 10);
    let range = c
        .get(&format!("{url}/sessions/rec-1/data?offset=3&length=4"))
        .unwrap();
    assert_eq!(range.body, b"3456");
    let whole = c.get(&format!("{url}/sessions/rec-1/data")).unwrap();
    assert_eq!(whole.body, b"0123456789");
    server.stop();
}

#[test]
fn bad_input_gets_json_errors() {
    let dir = temp_dir("recorder-http-bad");
    let server = lucid_runtime::spawn::<session_recorder::Service>(&[
        ("RECORDER_DATA_DIR", &dir),
        ("LUCID_MAX_BODY_BYTES", "1000"),
    ])
    .unwrap();
    let (url, c) = (server.url(), Client::default());
    let malformed = c
        .post_bytes(&format!("{url}/sessions"), "application/json", b"{nope")
        .unwrap();
    assert_eq!(malformed.status, 400);
    assert!(malformed.json::<serde_json::Value>().is_err());
    let unknown = c.get(&format!("{url}/sessions/missing")).unwrap();
    assert_eq!(unknown.status, 404);
    let traversal = c
        .post_json(
            &format!("{url}/sessions"),
            &serde_json::json!({"session_id": "../etc"}),
        )
        .unwrap();
    assert_eq!(traversal.status, 400);
    c.post_json(
        &format!("{url}/sessions"),
        &serde_json::json!({"session_id": "s"}),
    )
    .unwrap();
    let big = c
        .post_bytes(
            &format!("{url}/sessions/s/data"),
            "application/octet-stream",
            &[0u8; 2000],
        )
        .unwrap();
    assert_eq!(big.status, 413);
    let bad_offset = c.get(&format!("{url}/sessions/s/data?offset=abc")).unwrap();
    assert_eq!(bad_offset.status, 400);
    server.stop();
}

#[test]
fn missing_data_dir_is_a_configuration_error() {
    let err = lucid_runtime::spawn::<session_recorder::Service>(&[])
        .err()
        .unwrap();
    assert!(err.contains("RECORDER_DATA_DIR"), "{err}");
}
