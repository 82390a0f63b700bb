//! admin-ui rendering a real api-server's sessions and the state of each catalog service.

use lucid_runtime::client::Client;
use lucid_runtime::testing::temp_dir;
use serde_json::{json, Value};

#[test]
fn page_shows_each_service_state_and_the_sessions_escaped() {
    let dir = temp_dir("admin-ui");
    let api = lucid_runtime::spawn::<api_server::Service>(&[("API_SERVER_DATA_DIR", dir.as_str())])
        .unwrap();
    let c = Client::default();
    for (id, owner) in [
        ("s-alpha", "alice"),
        ("s-beta", "<script>alert(1)</script>"),
    ] {
        let reply = c
            .post_json(
                &format!("{}/sessions", api.url()),
                &json!({ "id": id, "owner": owner }),
            )
            .unwrap();
        assert_eq!(reply.status, 201);
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let catalog = format!("api-server={},tor-proxy=http://{closed}", api.url());
    let ui = lucid_runtime::spawn::<admin_ui::Service>(&[
        ("LUCID_CATALOG", &catalog),
        ("LUCID_URL_API_SERVER", &api.url()),
        ("ADMIN_UI_PROBE_TIMEOUT_MS", "1000"),
    ])
    .unwrap();

    let page = c.get(&format!("{}/", ui.url())).unwrap();
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("<td>api-server</td><td class=\"up\">up</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td>tor-proxy</td><td class=\"down\">down</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td>s-alpha</td><td>alice</td><td>created</td>"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));

    let overview: Value = c
        .get(&format!("{}/api/overview", ui.url()))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(overview["summary"]["down"], 1);
    assert_eq!(overview["sessions"]["total"], 2);
    ui.stop();
    api.stop();

    // api-server gone: the page still renders and says why the sessions are missing.
    let ui = lucid_runtime::spawn::<admin_ui::Service>(&[
        ("LUCID_CATALOG", &catalog),
        ("LUCID_URL_API_SERVER", &format!("http://{closed}")),
    ])
    .unwrap();
    let html = String::from_utf8(c.get(&format!("{}/", ui.url())).unwrap().body).unwrap();
    assert!(html.contains("sessions unavailable"), "{html}");
    assert_eq!(c.get(&format!("{}/nope", ui.url())).unwrap().status, 404);
    ui.stop();
}
