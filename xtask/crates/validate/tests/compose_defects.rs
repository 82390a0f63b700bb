//! The ten defect classes of the catalog, each put into a fixture resembling a generated
//! compose file (tests/fixtures/dNN-*.yaml), must be detected and named precisely.

mod common;

use common::*;
use lucid_catalog::{ImageRef, Platform};
use lucid_validate::compose::{self, checks, ComposeDoc, Images, Project, ReadOptions};
use lucid_validate::image::Inspector;
use lucid_validate::report::{Check, DeviceProfile, Finding, Severity};
use lucid_validate::source::OciLayout;
use std::sync::OnceLock;

const MONGO: &str = "docker.io/library/mongo:7@sha256:1f995ad6fdb93244a1addab1b58f934a0bc2f5643c38e02f5e9d7f0c7d227a7b";

/// The fixture images, inspected once from a layout written by the test.
fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = scratch("compose-images");
        let layout = write_layout(&dir, &fixture_specs());
        let source = OciLayout::open(&layout).unwrap();
        let mut inspector = Inspector::default();
        let built = fixture_specs()
            .iter()
            .map(|s| {
                let i = inspector.inspect(
                    &source,
                    &s.service,
                    REPOSITORY,
                    &format!("{}-{VERSION}", s.service),
                    &Platform::ALL,
                );
                assert!(i.findings.is_empty(), "{:?}", i.findings);
                let mut b = i.built.unwrap();
                b.aliases = vec![s.service.clone()];
                b
            })
            .collect();
        Images {
            repository: REPOSITORY.into(),
            built,
            external: vec![ImageRef::parse(MONGO).unwrap()],
        }
    })
}

fn device() -> DeviceProfile {
    DeviceProfile {
        name: "Raspberry Pi 5 (8 GB, 4 cores)".into(),
        memory_bytes: 8 << 30,
        cpus: 4.0,
        budget_memory_bytes: 6 << 30,
        budget_cpus: 3.0,
    }
}

fn load(name: &str) -> ComposeDoc {
    let project = Project::read(
        &[fixtures().join(name)],
        &fixtures(),
        &ReadOptions::default(),
    );
    project.unwrap().docs.remove(0)
}

/// Every finding of the files deployed together: per file, then across them.
fn findings(files: &[&str]) -> Vec<Finding> {
    let paths: Vec<_> = files.iter().map(|f| fixtures().join(f)).collect();
    let all = vec![(0..files.len()).collect()];
    let (reports, deployments) = lucid_validate::check_compose(
        &paths,
        &all,
        &fixtures(),
        &ReadOptions::default(),
        images(),
        &device(),
    );
    let per_file = reports.into_iter().flat_map(|r| r.findings);
    per_file
        .chain(deployments.into_iter().flat_map(|d| d.findings))
        .collect()
}

/// Every error of the files deployed together.
fn check(files: &[&str]) -> Vec<Finding> {
    findings(files)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

/// Exactly one error, of `check`, in `file`, naming `service` and `key`.
fn assert_one(
    findings: &[Finding],
    check: Check,
    file: &str,
    service: Option<&str>,
    key: &str,
) -> Finding {
    assert_eq!(
        findings.len(),
        1,
        "expected one {check:?} error, got {findings:#?}"
    );
    let f = findings[0].clone();
    assert_eq!(f.check, check, "{f}");
    assert_eq!(f.file.as_deref(), Some(file), "{f}");
    assert_eq!(f.service.as_deref(), service, "{f}");
    assert_eq!(f.key.as_deref(), Some(key), "{f}");
    f
}

#[test]
fn fixtures_resembling_generated_files_pass() {
    assert_eq!(check(&["dev.yaml"]), vec![]);
    assert_eq!(check(&["dev.yaml", "layer1.yaml"]), vec![]);
    let dev = load("dev.yaml");
    assert_eq!(dev.services().len(), 4);
    let resolution = |i: usize| checks::resolve_image(&dev.services()[i], images()).text;
    assert!(resolution(0).starts_with("built pickme/lucid:api-gateway-0.1.0"));
    assert_eq!(resolution(3), "external, pinned by digest (catalog)");
}

#[test]
fn d01_reference_with_two_tags() {
    let f = assert_one(
        &check(&["d01-two-tags.yaml"]),
        Check::ImageReference,
        "d01-two-tags.yaml",
        Some("server-tools"),
        "services.server-tools.image",
    );
    assert!(f.message.contains("more than one tag"), "{f}");
    assert_eq!(f.line, Some(48));
}

#[test]
fn d01_reference_to_no_built_image() {
    let doc = compose::parse(
        "x.yaml",
        "services:\n  api-server:\n    image: pickme/lucid:api-server-9.9.9\n",
        images(),
    );
    let e: Vec<&Finding> = doc
        .findings
        .iter()
        .filter(|f| f.check == Check::ImageReference)
        .collect();
    assert!(e[0].message.contains("names no built image"), "{e:?}");
}

#[test]
fn d02_count_in_a_comment_that_disagrees_with_the_file() {
    let f = &check(&["d02-count.yaml"]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].check, Check::Counts);
    assert_eq!(f[0].line, Some(2));
    assert!(
        f[0].message
            .contains("says 16 services; the file defines 4"),
        "{}",
        f[0]
    );
}

#[test]
fn d03_host_port_published_twice_across_files_deployed_together() {
    // Alone, the layer file is fine apart from its missing dependency.
    assert!(check(&["d03-host-port-layer1.yaml"])
        .iter()
        .all(|f| f.check != Check::HostPorts));
    let f = check(&["dev.yaml", "d03-host-port-layer1.yaml"]);
    let e = assert_one(
        &f,
        Check::HostPorts,
        "d03-host-port-layer1.yaml",
        Some("session-recorder"),
        "services.session-recorder.ports[0]",
    );
    assert!(
        e.message
            .contains("8080/tcp is also published by api-gateway in dev.yaml"),
        "{e}"
    );
}

#[test]
fn d04_healthcheck_through_a_shell() {
    let e = assert_one(
        &check(&["d04-healthcheck-shell.yaml"]),
        Check::Healthcheck,
        "d04-healthcheck-shell.yaml",
        Some("api-server"),
        "services.api-server.healthcheck.test",
    );
    assert!(e.message.contains("CMD-SHELL"), "{e}");
}

#[test]
fn d04_healthcheck_with_curl() {
    let e = assert_one(
        &check(&["d04-healthcheck-curl.yaml"]),
        Check::Healthcheck,
        "d04-healthcheck-curl.yaml",
        Some("api-server"),
        "services.api-server.healthcheck.test",
    );
    assert!(e.message.contains("curl"), "{e}");
}

#[test]
fn d04_healthcheck_probing_a_port_nobody_listens_on() {
    let e = assert_one(
        &check(&["d04-healthcheck-port.yaml"]),
        Check::Healthcheck,
        "d04-healthcheck-port.yaml",
        Some("api-gateway"),
        "services.api-gateway.healthcheck.test",
    );
    assert!(e.message.contains("probes port 9999"), "{e}");
}

#[test]
fn d04_missing_healthcheck() {
    assert_one(
        &check(&["d04-healthcheck-missing.yaml"]),
        Check::Healthcheck,
        "d04-healthcheck-missing.yaml",
        Some("server-tools"),
        "services.server-tools.healthcheck",
    );
}

#[test]
fn d04_healthcheck_program_missing_from_the_image() {
    let text = std::fs::read_to_string(fixtures().join("dev.yaml"))
        .unwrap()
        .replace(
            "[CMD, /usr/local/bin/server-tools, healthcheck]",
            "[CMD, /usr/local/bin/probe]",
        );
    let doc = compose::parse("x.yaml", &text, images());
    assert_eq!(doc.findings.len(), 1, "{:?}", doc.findings);
    assert!(doc.findings[0]
        .message
        .contains("/usr/local/bin/probe is not a file of the image"));
}

#[test]
fn d05_depends_on_a_service_no_file_defines() {
    let f = check(&["dev.yaml", "d05-depends-on.yaml"]);
    let e = assert_one(
        &f,
        Check::DependsOn,
        "d05-depends-on.yaml",
        Some("session-recorder"),
        "services.session-recorder.depends_on",
    );
    assert!(e.message.contains("session-chunker"), "{e}");
}

#[test]
fn d06_one_network_name_with_two_subnets() {
    let f = check(&["dev.yaml", "d06-subnet-layer1.yaml"]);
    let e = assert_one(
        &f,
        Check::Network,
        "d06-subnet-layer1.yaml",
        None,
        "networks.lucid_core_net.ipam.config",
    );
    assert!(
        e.message.contains("172.29.0.0/24") && e.message.contains("dev.yaml"),
        "{e}"
    );
}

#[test]
fn d06_fixed_ip_outside_its_subnet() {
    let e = assert_one(
        &check(&["d06-ip-outside.yaml"]),
        Check::Network,
        "d06-ip-outside.yaml",
        Some("server-tools"),
        "services.server-tools.networks.lucid_core_net.ipv4_address",
    );
    assert!(e.message.contains("172.28.1.5 is outside"), "{e}");
}

#[test]
fn d06_one_ip_given_to_two_services() {
    let f = check(&["d06-ip-twice.yaml"]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].check, Check::Network);
    assert!(
        f[0].message.contains("172.28.0.4") && f[0].message.contains("also given to"),
        "{}",
        f[0]
    );
}

#[test]
fn d07_resource_sums_beyond_the_device() {
    let f = check(&["d07-resources.yaml"]);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f
        .iter()
        .all(|f| f.check == Check::Resources && f.file.as_deref() == Some("d07-resources.yaml")));
    assert!(
        f[0].message.contains("memory limits sum to 8.22 GiB"),
        "{}",
        f[0]
    );
    assert!(
        f[1].message.contains("CPU reservations sum to 3.50"),
        "{}",
        f[1]
    );
}

#[test]
fn d08_image_forced_to_one_platform() {
    let e = assert_one(
        &check(&["d08-platform.yaml"]),
        Check::Platform,
        "d08-platform.yaml",
        Some("mongodb"),
        "services.mongodb.platform",
    );
    assert!(e.message.contains("linux/amd64"), "{e}");
}

#[test]
fn d09_credentials_in_urls_and_plain_environment() {
    let f = check(&["d09-credentials.yaml"]);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(f
        .iter()
        .all(|f| f.check == Check::Credentials && f.service.as_deref() == Some("api-server")));
    let keys: Vec<&str> = f.iter().filter_map(|f| f.key.as_deref()).collect();
    assert!(
        keys.contains(&"services.api-server.environment.MONGODB_PASSWORD"),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"services.api-server.environment.MONGODB_URL"),
        "{keys:?}"
    );
}

#[test]
fn d10_unknown_top_level_key() {
    let e = assert_one(
        &check(&["d10-top-level-key.yaml"]),
        Check::UnknownKey,
        "d10-top-level-key.yaml",
        None,
        "profiles",
    );
    assert_eq!(e.line, Some(87));
}

#[test]
fn compose_user_root_overrides_the_image_user() {
    let text = std::fs::read_to_string(fixtures().join("dev.yaml"))
        .unwrap()
        .replacen("user: 65532:65532", "user: root", 1);
    let doc = compose::parse("x.yaml", &text, images());
    assert_eq!(doc.findings.len(), 1, "{:?}", doc.findings);
    assert_eq!(doc.findings[0].check, Check::User);
    assert_eq!(
        doc.findings[0].key.as_deref(),
        Some("services.api-gateway.user")
    );
}

#[test]
fn unreadable_and_malformed_files_are_findings_not_panics() {
    let missing = load("nope.yaml");
    assert_eq!(missing.findings[0].check, Check::ComposeFile);
    let bad = compose::parse("bad.yaml", "services: [\n", images());
    assert_eq!(bad.findings[0].check, Check::ComposeFile);
    let odd = compose::parse(
        "odd.yaml",
        "services:\n  a: 3\n  b:\n    ports: [{published: x}]\n",
        images(),
    );
    assert!(!odd.findings.is_empty());
}

#[test]
fn d07_cpu_reservations_written_as_cpu_shares_count_against_the_device() {
    let f = check(&["d07-cpu-shares.yaml"]);
    let cpu: Vec<_> = f.iter().filter(|f| f.check == Check::Resources).collect();
    assert_eq!(cpu.len(), 1, "{f:#?}");
    assert!(
        cpu[0].message.contains("CPU reservations sum to 4.00"),
        "{}",
        cpu[0]
    );
}

#[test]
fn merge_key_services_pass_when_their_anchor_is_sound() {
    assert_eq!(check(&["m01-merge-key-sound.yaml"]), vec![]);
    let doc = load("m01-merge-key-sound.yaml");
    let s = &doc.services()[1];
    // Inherited from the anchor, the explicit key winning.
    assert_eq!(s.user.as_ref().unwrap().value, "65532:65532");
    assert_eq!(s.memory_limit, Some(96 << 20));
    assert_eq!(s.networks[0].key, "lucid_core_net");
    assert_eq!(s.depends_on[0].service, "api-server");
}

#[test]
fn merge_key_services_fail_on_the_inherited_defect_at_the_anchor_and_the_merge_line() {
    let e = assert_one(
        &check(&["m02-merge-key-defect.yaml"]),
        Check::Healthcheck,
        "m02-merge-key-defect.yaml",
        Some("api-server"),
        "services.api-server.healthcheck.test",
    );
    assert!(e.message.contains("CMD-SHELL"), "{e}");
    assert_eq!(e.line, Some(8), "the line of the anchor that writes it");
    assert_eq!(e.via.len(), 1, "{e}");
    assert_eq!((e.via[0].line, e.via[0].through.as_str()), (12, "<<"));
    assert!(
        e.to_string()
            .contains("through << at m02-merge-key-defect.yaml:12"),
        "{e}"
    );
}

#[test]
fn one_network_name_declared_twice_with_two_subnets_fails_in_one_file() {
    let all = check(&["n01-network-name-twice.yaml"]);
    // The second declaration's subnet never exists, so its fixed IP is outside the network too.
    assert!(
        all.iter()
            .any(|f| f.message.contains("172.22.0.5 is outside")),
        "{all:#?}"
    );
    let f: Vec<Finding> = all
        .into_iter()
        .filter(|f| f.key.as_deref().is_some_and(|k| k.ends_with("ipam.config")))
        .collect();
    let e = assert_one(
        &f,
        Check::Network,
        "n01-network-name-twice.yaml",
        None,
        "networks.lucid_blockchain_net.ipam.config",
    );
    assert!(
        e.message.contains("Docker network lucid_core_net") && e.message.contains("172.21.0.0/24"),
        "{e}"
    );
    assert_eq!(e.line, Some(32), "the key lucid_blockchain_net");
}

#[test]
fn one_network_name_declared_twice_with_two_subnets_fails_across_files() {
    assert_eq!(check(&["n02-core.yaml"]), vec![]);
    assert_eq!(check(&["n02-blockchain.yaml"]), vec![]);
    let e = assert_one(
        &check(&["n02-core.yaml", "n02-blockchain.yaml"]),
        Check::Network,
        "n02-blockchain.yaml",
        None,
        "networks.blockchain.ipam.config",
    );
    assert!(e.message.contains("n02-core.yaml:"), "{e}");
}

#[test]
fn an_external_network_no_file_creates_is_an_assumption() {
    let all = findings(&["n03-external.yaml"]);
    let external: Vec<&Finding> = all.iter().filter(|f| f.check == Check::Network).collect();
    assert_eq!(external.len(), 1, "{all:#?}");
    assert_eq!(external[0].severity, Severity::Warning);
    assert!(
        external[0].message.contains("lucid_shared"),
        "{}",
        external[0]
    );
    // Created by another file of the deployment: no assumption left.
    let created = "services: {}\nnetworks:\n  mine:\n    name: lucid_shared\n";
    let dir = scratch("external-created");
    std::fs::write(dir.join("net.yaml"), created).unwrap();
    std::fs::copy(fixtures().join("n03-external.yaml"), dir.join("n03.yaml")).unwrap();
    let project = Project::read(
        &[dir.join("net.yaml"), dir.join("n03.yaml")],
        &dir,
        &ReadOptions::default(),
    )
    .unwrap();
    let model = project.deployment(&[0, 1]);
    let r = lucid_validate::deploy::check(
        vec![],
        &model,
        &project.declarations(&[0, 1], &model.project),
        &device(),
    );
    assert!(
        r.findings.iter().all(|f| f.check != Check::Network),
        "{:#?}",
        r.findings
    );
}

/// Bad input: one ComposeFile error naming the file and the line.
fn bad(name: &str, line: usize, says: &str) {
    let doc = Project::read(
        &[fixtures().join("bad").join(name)],
        &fixtures(),
        &ReadOptions::default(),
    )
    .unwrap()
    .docs
    .remove(0);
    let e = &doc.findings[0];
    assert_eq!(e.check, Check::ComposeFile, "{e}");
    assert_eq!(
        e.file.as_deref(),
        Some(format!("bad/{name}").as_str()),
        "{e}"
    );
    assert_eq!(e.line, Some(line), "{e}");
    assert!(e.message.contains(says), "{e}");
    assert!(doc.tree.is_none());
}

#[test]
fn an_alias_to_an_undefined_anchor_is_an_error_at_its_line() {
    bad("alias-undefined.yaml", 4, "undefined anchor");
}

#[test]
fn a_merge_of_a_scalar_is_an_error_at_its_line() {
    bad("merge-scalar.yaml", 4, "needs a mapping");
}

#[test]
fn a_recursive_extends_is_an_error_at_its_line() {
    bad("extends-recursive.yaml", 3, "extends is recursive");
}

#[test]
fn an_include_of_a_missing_file_is_an_error_at_its_line() {
    bad("include-missing.yaml", 2, "not-there.yaml: no such file");
}

#[test]
fn an_unset_required_variable_is_an_error_at_its_line() {
    bad("required-unset.yaml", 5, "the token file is needed");
}

#[test]
fn an_unset_variable_without_default_is_one_warning_where_it_is_first_used() {
    let dir = scratch("unset-variable");
    let text = "services:\n  a:\n    image: x/a:${LUCID_T_NEVER_SET}\n  b:\n    image: x/b:${LUCID_T_NEVER_SET}\n";
    std::fs::write(dir.join("c.yaml"), text).unwrap();
    let project = Project::read(&[dir.join("c.yaml")], &dir, &ReadOptions::default()).unwrap();
    let warnings: Vec<&Finding> = project.docs[0]
        .findings
        .iter()
        .filter(|f| f.message.contains("LUCID_T_NEVER_SET"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(warnings[0].line, Some(3));
}

#[test]
fn depends_on_a_service_of_an_inactive_profile_says_so() {
    let dir = scratch("inactive-profile");
    let text = "services:\n  a:\n    image: x/a:1\n    depends_on: [debug]\n  debug:\n    image: x/d:1\n    profiles: [debug]\n";
    std::fs::write(dir.join("c.yaml"), text).unwrap();
    let read = |profiles: Vec<String>| {
        let opts = ReadOptions {
            profiles,
            ..ReadOptions::default()
        };
        let project = Project::read(&[dir.join("c.yaml")], &dir, &opts).unwrap();
        let model = project.deployment(&[0]);
        let r = lucid_validate::deploy::check(vec![], &model, &[], &device());
        r.findings
            .into_iter()
            .filter(|f| f.check == Check::DependsOn)
            .collect::<Vec<_>>()
    };
    let f = read(Vec::new());
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].message.contains("whose profiles are not active"),
        "{}",
        f[0]
    );
    assert_eq!(f[0].line, Some(4));
    assert!(read(vec!["debug".into()]).is_empty());
}
