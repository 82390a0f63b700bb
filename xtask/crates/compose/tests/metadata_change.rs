//! One fact, one place: a port changed in a service's Cargo.toml changes every place it appears
//! in the generated files, and nothing else.

mod common;

use common::*;

#[test]
fn changing_a_port_in_cargo_toml_changes_every_place_it_appears_and_nothing_else() {
    let (_a, before) = fixture_workspace(|_, text| text);
    let (_b, after) = fixture_workspace(|name, text| {
        if name == "api-server" {
            let changed = text.replace("port = 8081", "port = 8181");
            assert_ne!(changed, text, "fixture: api-server declares port = 8081");
            changed
        } else {
            text
        }
    });
    assert_eq!(after.service("api-server").unwrap().port, 8181);
    let old = generated(&before);
    let new = generated(&after);
    let mut occurrences = 0;
    for (o, n) in old.files.iter().zip(&new.files) {
        occurrences += o.text.matches("8081").count();
        assert_eq!(
            o.text.replace("8081", "8181"),
            n.text,
            "{}: the port change did more than replace the port",
            o.name()
        );
    }
    // Its own LUCID_HTTP_PORT and expose, api-gateway's LUCID_URL_API_SERVER and the catalogs
    // of server-tools, admin-ui, openapi-server and openapi-gateway, in several files.
    assert!(occurrences >= 10, "only {occurrences} occurrences");
    let doc = parse(text(&new, "lucid-dev.yaml"));
    assert_eq!(
        doc["services"]["api-gateway"]["environment"]["LUCID_URL_API_SERVER"],
        "http://api-server:8181"
    );
}
