//! images/Dockerfile is generated from the catalog; this test keeps the committed file fresh
//! (it rewrites a stale file and fails, so the change shows up in the diff to commit).

mod common;

use lucid_catalog::Platform;
use lucid_image::docker;
use lucid_image::ImageFacts;

#[test]
fn dockerfile_is_fresh() {
    let ws = common::workspace();
    let facts: Vec<ImageFacts> = ws.services.iter().map(ImageFacts::of).collect();
    let want = docker::dockerfile(&facts);
    let path = common::root().join(docker::DOCKERFILE);
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        std::fs::write(&path, &want).unwrap();
        panic!(
            "{} was stale and has been regenerated: review and commit it",
            path.display()
        );
    }
}

#[test]
fn every_service_has_a_final_stage_with_a_literal_entrypoint() {
    let ws = common::workspace();
    let facts: Vec<ImageFacts> = ws.services.iter().map(ImageFacts::of).collect();
    let text = docker::dockerfile(&facts);
    assert!(text.starts_with("# Generated"));
    assert!(text.contains("FROM scratch AS base"));
    assert!(
        !text.lines().any(|l| l.starts_with("FROM ")
            && !l.starts_with("FROM scratch")
            && !l.starts_with("FROM base")
            && !l.starts_with("FROM service")),
        "only scratch is ever pulled"
    );
    for s in &ws.services {
        let stage = format!("FROM service AS {}\n", s.name);
        let at = text
            .find(&stage)
            .unwrap_or_else(|| panic!("no stage for {}", s.name));
        let rest = &text[at + stage.len()..];
        let end = rest.find("\nFROM ").unwrap_or(rest.len());
        let body = &rest[..end];
        assert!(
            body.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{}\"]", s.name)),
            "{}",
            s.name
        );
        assert!(
            body.contains(&format!("LUCID_HTTP_PORT={}", s.port)),
            "{}",
            s.name
        );
        assert!(
            !body.contains("${"),
            "{}: the final stage must be literal",
            s.name
        );
    }
}

#[test]
fn bake_definition_builds_every_target_for_every_platform() {
    let ws = common::workspace();
    let facts: Vec<ImageFacts> = ws.services.iter().map(ImageFacts::of).collect();
    let targets: Vec<docker::BakeTarget> = facts
        .iter()
        .map(|f| docker::BakeTarget {
            facts: f,
            tags: vec![format!("127.0.0.1:5000/pickme/lucid:{}-0.1.0", f.service)],
        })
        .collect();
    let build = lucid_image::BuildInfo {
        version: "0.1.0".into(),
        revision: "r".into(),
        source: "s".into(),
        epoch: 0,
        base_name: "b".into(),
        base_digest: "sha256:00".into(),
    };
    let bake = docker::bake(&targets, &build, &Platform::ALL, true);
    let group: Vec<&str> = bake["group"]["default"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(group.len(), ws.services.len());
    for s in &ws.services {
        let t = &bake["target"][&s.name];
        assert_eq!(t["target"], s.name.as_str());
        assert_eq!(t["args"]["SERVICE"], s.name.as_str());
        assert_eq!(
            t["platforms"],
            serde_json::json!(["linux/arm64", "linux/amd64"])
        );
        assert_eq!(t["output"], serde_json::json!(["type=registry"]));
        assert_eq!(t["context"], "target/lucid");
        // bake resolves the Dockerfile relative to the context.
        assert!(common::root()
            .join("target/lucid")
            .join(t["dockerfile"].as_str().unwrap())
            .ends_with("target/lucid/../../images/Dockerfile"));
    }
    let local = docker::bake(&targets, &build, &[Platform::LinuxArm64], false);
    assert_eq!(
        local["target"]["api-server"]["output"][0],
        "type=oci,dest=target/lucid/buildx/api-server.tar"
    );
}
