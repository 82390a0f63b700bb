//! The real docker-compose (Debian 1.29.2) accepts every file alone and in the combinations
//! that are deployed together, without warnings.

mod common;

use common::*;

#[test]
fn docker_compose_accepts_each_file_alone_and_the_deployed_combinations() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let tmp = tempfile::tempdir().unwrap();
    write_into(&g, tmp.path());
    let combinations: &[&[&str]] = &[
        &["docker-compose.yaml"],
        &["lucid-dev.yaml"],
        &["lucid-layer1-complete.yaml"],
        &["lucid-layer2-complete.yaml"],
        &["lucid-dev.yaml", "lucid-layer1-complete.yaml"],
        &["lucid-dev.yaml", "lucid-layer2-complete.yaml"],
        &[
            "lucid-dev.yaml",
            "lucid-layer1-complete.yaml",
            "lucid-layer2-complete.yaml",
        ],
        // The Swarm stack file is a Compose file too (format 3.8): docker-compose reads it
        // without a warning (docker stack deploy itself runs in xtask/tests/swarm.rs).
        &["lucid-stack.yaml"],
    ];
    let failures: Vec<String> = combinations
        .iter()
        .filter_map(|files| {
            compose_config(tmp.path(), files)
                .err()
                .map(|e| format!("{e:#}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn docker_compose_rejects_a_layer_file_whose_dependency_is_missing() {
    // The check above can fail: a layer-2 service depending on a layer-1 service is dangling
    // when layer 2 is deployed on lucid-dev.yaml alone.
    let ws = repo_workspace();
    let g = generated(&ws);
    let tmp = tempfile::tempdir().unwrap();
    write_into(&g, tmp.path());
    let path = tmp.path().join("lucid-layer2-complete.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "    depends_on:\n",
        "    depends_on:\n      session-recorder:\n        condition: service_healthy\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let e = format!(
        "{:#}",
        compose_config(
            tmp.path(),
            &["lucid-dev.yaml", "lucid-layer2-complete.yaml"],
        )
        .unwrap_err()
    );
    assert!(e.contains("session-recorder"), "{e}");
}

#[test]
fn mongodb_standin_override_replaces_only_mongodb() {
    let ws = repo_workspace();
    let g = generated(&ws);
    let tmp = tempfile::tempdir().unwrap();
    write_into(&g, tmp.path());
    let image = "docker.io/pickme/lucid:server-tools-0.1.0";
    let standin = lucid_compose::mongodb_standin_override(&ws, image);
    assert!(standin.starts_with("# TEST STAND-IN for MongoDB"));
    std::fs::write(tmp.path().join("standin.yaml"), &standin).unwrap();
    compose_config(tmp.path(), &["docker-compose.yaml", "standin.yaml"]).unwrap();
    lucid_compose::schema::validate("standin.yaml", &standin).unwrap();

    let doc = parse(&standin);
    let services = doc["services"].as_object().unwrap();
    assert_eq!(services.keys().collect::<Vec<_>>(), ["mongodb"]);
    let m = &services["mongodb"];
    assert_eq!(m["image"], image);
    assert_eq!(m["environment"]["LUCID_HTTP_PORT"], "27017");
    assert_eq!(m["healthcheck"]["test"][1], "/usr/local/bin/server-tools");
    assert_eq!(
        m["command"],
        serde_json::json!([]),
        "clears `mongod --port …`"
    );
}
