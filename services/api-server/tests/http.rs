//! api-server over HTTP: the session API, its errors, and persistence across restarts.

use lucid_runtime::client::Client;
use lucid_runtime::testing::{assert_status, temp_dir};
use serde_json::{json, Value};
use std::path::PathBuf;

fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> lucid_runtime::RunningServer {
    let mut vars = vec![("API_SERVER_DATA_DIR", dir.to_str().unwrap())];
    vars.extend_from_slice(extra);
    lucid_runtime::spawn::<api_server::Service>(&vars).unwrap()
}

#[test]
fn sessions_are_created_listed_updated_and_survive_a_restart() {
    let dir = PathBuf::from(temp_dir("api-server-crud"));
    let server = start(&dir, &[]);
    let (c, url) = (Client::default(), server.url());

    let created = c
        .post_json(
            &format!("{url}/sessions"),
            &json!({ "owner": "alice", "metadata": { "host": "pi-1" } }),
        )
        .unwrap();
    assert_eq!(created.status, 201);
    let session: Value = created.json().unwrap();
    let id = session["id"].as_str().unwrap().to_string();
    assert_eq!(session["status"], "created");
    assert_eq!(session["metadata"]["host"], "pi-1");

    let named = c
        .post_json(
            &format!("{url}/sessions"),
            &json!({ "id": "orch-42", "owner": "bob" }),
        )
        .unwrap();
    assert_eq!(named.status, 201);

    let moved = c
        .put_json(
            &format!("{url}/sessions/orch-42/status"),
            &json!({ "status": "recording" }),
        )
        .unwrap();
    assert_eq!(moved.status, 200);
    assert_eq!(
        moved.json::<Value>().unwrap()["history"][0]["to"],
        "recording"
    );

    let list: Value = c.get(&format!("{url}/sessions")).unwrap().json().unwrap();
    assert_eq!(list["total"], 2);
    let recording: Value = c
        .get(&format!("{url}/sessions?status=recording"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(recording["sessions"][0]["id"], "orch-42");
    assert_eq!(recording["total"], 1);
    server.stop();

    let server = start(&dir, &[]);
    let got: Value = c
        .get(&format!("{}/sessions/orch-42", server.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(got["status"], "recording");
    let first = c.get(&format!("{}/sessions/{id}", server.url())).unwrap();
    assert_eq!(first.status, 200);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    server.stop();
}

#[test]
fn bad_requests_get_json_errors_and_change_nothing() {
    let dir = PathBuf::from(temp_dir("api-server-bad"));
    let server = start(&dir, &[]);
    let (c, url) = (Client::default(), server.url());
    let post = |body: &[u8]| {
        c.post_bytes(&format!("{url}/sessions"), "application/json", body)
            .unwrap()
    };
    let cases: Vec<(u16, Vec<u8>)> = vec![
        (400, b"{not json".to_vec()),
        (400, br#"{"owner": "a", "colour": "red"}"#.to_vec()),
        (400, br#"{"owner": ""}"#.to_vec()),
        (400, br#"{"owner": "a", "id": "../etc"}"#.to_vec()),
        (413, vec![b' '; 70 << 10]),
    ];
    for (status, body) in cases {
        let reply = post(&body);
        assert_status(&reply, status);
        let err: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(err["error"].is_string());
    }
    assert_eq!(c.get(&format!("{url}/sessions/nope")).unwrap().status, 404);
    assert_eq!(
        c.get(&format!("{url}/sessions?limit=0")).unwrap().status,
        400
    );
    assert_eq!(
        c.get(&format!("{url}/sessions?status=paused"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(c.delete(&format!("{url}/sessions")).unwrap().status, 405);

    assert_eq!(post(br#"{"owner": "a", "id": "s1"}"#).status, 201);
    assert_eq!(post(br#"{"owner": "a", "id": "s1"}"#).status, 409);
    let skip = c
        .put_json(
            &format!("{url}/sessions/s1/status"),
            &json!({ "status": "anchored" }),
        )
        .unwrap();
    assert_eq!(skip.status, 409);
    assert!(String::from_utf8_lossy(&skip.body).contains("created to anchored"));
    let unknown = c
        .put_json(
            &format!("{url}/sessions/zzz/status"),
            &json!({ "status": "failed" }),
        )
        .unwrap();
    assert_eq!(unknown.status, 404);
    let list: Value = c.get(&format!("{url}/sessions")).unwrap().json().unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["sessions"][0]["status"], "created");
    server.stop();
}

#[test]
fn a_full_store_answers_507() {
    let dir = PathBuf::from(temp_dir("api-server-full"));
    let server = start(&dir, &[("API_SERVER_MAX_SESSIONS", "1")]);
    let c = Client::default();
    let url = format!("{}/sessions", server.url());
    assert_eq!(
        c.post_json(&url, &json!({ "owner": "a" })).unwrap().status,
        201
    );
    assert_eq!(
        c.post_json(&url, &json!({ "owner": "a" })).unwrap().status,
        507
    );
    server.stop();
}

#[test]
fn ready_reports_whether_mongodb_accepts_connections() {
    let dir = PathBuf::from(temp_dir("api-server-mongo"));
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = format!(
        "mongodb://127.0.0.1:{}/lucid",
        listening.local_addr().unwrap().port()
    );
    let server = start(&dir, &[("MONGODB_URL", &up), ("MONGODB_PASSWORD", "pw")]);
    let c = Client::default();
    assert_eq!(
        c.get(&format!("{}/ready", server.url())).unwrap().status,
        200
    );
    server.stop();

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = format!("mongodb://127.0.0.1:{}", closed.port());
    let server = start(&dir, &[("MONGODB_URL", &down)]);
    let ready = c.get(&format!("{}/ready", server.url())).unwrap();
    assert_eq!(ready.status, 503);
    assert!(String::from_utf8_lossy(&ready.body).contains("mongodb"));
    server.stop();
}

#[test]
fn configuration_errors_name_the_variable() {
    let err = lucid_runtime::spawn::<api_server::Service>(&[("MONGODB_URL", "mongodb://u:p@db")])
        .err()
        .unwrap();
    assert!(err.contains("API_SERVER_DATA_DIR"), "{err}");
    assert!(err.contains("MONGODB_URL"), "{err}");
}

#[test]
fn a_corrupt_store_stops_the_start() {
    let dir = PathBuf::from(temp_dir("api-server-corrupt"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sessions.json"), b"{\"sessions\": {").unwrap();
    let err = lucid_runtime::spawn::<api_server::Service>(&[(
        "API_SERVER_DATA_DIR",
        dir.to_str().unwrap(),
    )])
    .err()
    .unwrap();
    assert!(err.contains("corrupt"), "{err}");
}
