//! openapi-server over HTTP: the document parses, is OpenAPI 3, and covers the catalog.

use lucid_runtime::client::Client;
use serde_json::Value;

const CATALOG: &str = "api-server=http://api-server:8081,tor-proxy=http://tor-proxy:9052,\
    merkle-builder=http://merkle-builder:8103,openapi-server=http://openapi-server:8213";

#[test]
fn document_is_openapi_3_with_paths_for_each_catalog_service() {
    let server = lucid_runtime::spawn::<openapi_server::Service>(&[
        ("LUCID_CATALOG", CATALOG),
        ("OPENAPI_PUBLIC_URL", "http://pi.local:8088"),
    ])
    .unwrap();
    let c = Client::default();
    let reply = c.get(&format!("{}/openapi.json", server.url())).unwrap();
    assert_eq!(reply.status, 200);
    let doc: Value = serde_json::from_slice(&reply.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], "http://pi.local:8088");
    let paths = doc["paths"].as_object().unwrap();
    for service in [
        "api-server",
        "tor-proxy",
        "merkle-builder",
        "openapi-server",
    ] {
        for common in ["health", "ready"] {
            let path = format!("/api/{service}/{common}");
            assert!(paths[&path]["get"].is_object(), "{path} missing");
        }
    }
    assert!(paths["/api/api-server/sessions"]["get"].is_object());
    assert!(paths["/api/api-server/sessions/{id}"]["get"].is_object());
    assert!(paths.keys().all(|p| !p.contains("session-recorder")));

    let page = c.get(&format!("{}/docs", server.url())).unwrap();
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("/api/merkle-builder/ready"));
    assert!(!html.contains("<script"));
    assert_eq!(
        c.post_json(&format!("{}/docs", server.url()), &1)
            .unwrap()
            .status,
        405
    );
    server.stop();
}

#[test]
fn service_names_with_markup_are_refused() {
    let err = lucid_runtime::spawn::<openapi_server::Service>(&[(
        "LUCID_CATALOG",
        "<b>x</b>=http://x:1",
    )])
    .err()
    .unwrap();
    assert!(err.contains("LUCID_CATALOG"), "{err}");
}
