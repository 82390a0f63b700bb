//! HTTP-level tests: configure a host, fetch its files, and refuse bad input.

use lucid_runtime::client::Client;
use lucid_runtime::testing::assert_status;
use serde_json::{json, Value};
use xrdp_integration::Service;

fn settings() -> Value {
    json!({
        "port": 3390,
        "certificate": "/etc/xrdp/cert.pem",
        "key_file": "/etc/xrdp/key.pem",
        "max_sessions": 4,
        "allowed_group": "lucid-rdp",
        "idle_time_limit_secs": 1800
    })
}

#[test]
fn configured_host_serves_its_rendered_files() {
    let server = lucid_runtime::spawn::<Service>(&[]).unwrap();
    let url = server.url();
    let client = Client::default();
    let put = client
        .put_json(&format!("{url}/hosts/host-1.lucid/config"), &settings())
        .unwrap();
    assert_status(&put, 200);
    let xrdp = client
        .get(&format!("{url}/hosts/host-1.lucid/xrdp.ini"))
        .unwrap();
    assert_eq!(
        String::from_utf8(xrdp.body).unwrap(),
        include_str!("fixtures/xrdp.ini")
    );
    let sesman = client
        .get(&format!("{url}/hosts/host-1.lucid/sesman.ini"))
        .unwrap();
    assert_eq!(
        String::from_utf8(sesman.body).unwrap(),
        include_str!("fixtures/sesman.ini")
    );
    let hosts: Value = client.get(&format!("{url}/hosts")).unwrap().json().unwrap();
    assert_eq!(hosts["hosts"], json!(["host-1.lucid"]));
    assert_eq!(
        client
            .get(&format!("{url}/hosts/other/xrdp.ini"))
            .unwrap()
            .status,
        404
    );
    server.stop();
}

#[test]
fn injection_and_bad_values_are_refused_and_nothing_is_stored() {
    let server = lucid_runtime::spawn::<Service>(&[]).unwrap();
    let url = server.url();
    let client = Client::default();
    let mut injected = settings();
    injected["key_file"] = json!("/etc/xrdp/key.pem\n[Security]\nAllowRootLogin=true");
    let mut bad_port = settings();
    bad_port["port"] = json!(3350);
    let mut unknown = settings();
    unknown["shell"] = json!("/bin/sh");
    for (body, status) in [(injected, 422), (bad_port, 422), (unknown, 400)] {
        let reply = client
            .put_json(&format!("{url}/hosts/h1/config"), &body)
            .unwrap();
        assert_eq!(reply.status, status, "{body}");
        let err: Value = serde_json::from_slice(&reply.body).unwrap();
        assert!(err["error"].is_string());
    }
    assert_eq!(
        client
            .put_json(&format!("{url}/hosts/bad_host!/config"), &settings())
            .unwrap()
            .status,
        422
    );
    let hosts: Value = client.get(&format!("{url}/hosts")).unwrap().json().unwrap();
    assert_eq!(hosts["hosts"], json!([]));
    let render = client
        .post_json(
            &format!("{url}/render"),
            &json!({ "host": "h1", "settings": { "security_layer": "rdp" } }),
        )
        .unwrap();
    assert_eq!(render.status, 200);
    let rendered: Value = serde_json::from_slice(&render.body).unwrap();
    assert!(rendered["xrdp_ini"]
        .as_str()
        .unwrap()
        .contains("security_layer=rdp\n"));
    server.stop();
}
