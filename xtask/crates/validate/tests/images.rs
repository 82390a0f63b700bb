//! Image checks against a real (small) OCI layout written by the test.

mod common;

use common::*;
use lucid_catalog::Platform;
use lucid_validate::image::{InspectedImage, Inspector};
use lucid_validate::report::{Check, Finding, PlatformReport, Severity};
use lucid_validate::source::OciLayout;

fn inspect(name: &str, spec: Spec) -> (Vec<PlatformReport>, Vec<Finding>, Option<InspectedImage>) {
    let dir = scratch(name);
    let layout = write_layout(&dir, std::slice::from_ref(&spec));
    let source = OciLayout::open(&layout).unwrap();
    let i = Inspector::default().inspect(
        &source,
        &spec.service,
        REPOSITORY,
        &format!("{}-{VERSION}", spec.service),
        &Platform::ALL,
    );
    (i.platforms, i.findings, i.built)
}

fn errors(platforms: &[PlatformReport]) -> Vec<&Finding> {
    platforms
        .iter()
        .flat_map(|p| &p.findings)
        .filter(|f| f.severity == Severity::Error)
        .collect()
}

#[test]
fn clean_image_passes_with_measured_facts() {
    let (platforms, findings, built) = inspect("clean", Spec::new("api-server", 8081));
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(platforms.len(), 2);
    assert!(errors(&platforms).is_empty(), "{:?}", errors(&platforms));
    let arm = &platforms[0];
    assert_eq!(arm.platform, "linux/arm64");
    assert_eq!(arm.uid, Some(65532));
    assert_eq!(arm.layer_count, 2);
    assert_eq!(arm.entrypoint_machine.as_deref(), Some("aarch64"));
    assert_eq!(platforms[1].entrypoint_machine.as_deref(), Some("x86-64"));
    assert_eq!(arm.entrypoint_static, Some(true));
    assert!(arm.compressed_size > 0 && arm.uncompressed_size > arm.compressed_size);
    assert_eq!(arm.base_name.as_deref(), Some("debian-lock:fixture"));
    assert_eq!(arm.env_ports, vec![8081]);
    let built = built.unwrap();
    assert!(built.files.contains("/usr/local/bin/api-server"));
    assert!(built.files.contains("/etc/passwd"));
}

#[test]
fn shell_in_a_layer_fails() {
    let mut spec = Spec::new("api-server", 8081);
    spec.extra.push(("bin/sh".into(), 0o755, elf(62, false)));
    let (platforms, ..) = inspect("shell", spec);
    let e = errors(&platforms);
    assert!(
        e.iter()
            .any(|f| f.check == Check::Distroless && f.message.contains("bin/sh")),
        "{e:?}"
    );
    assert_eq!(platforms[0].shells, vec!["bin/sh".to_string()]);
}

#[test]
fn package_manager_and_setuid_file_fail() {
    let mut spec = Spec::new("api-server", 8081);
    spec.extra
        .push(("usr/bin/apt-get".into(), 0o755, b"x".to_vec()));
    spec.extra
        .push(("usr/bin/passwd".into(), 0o4755, b"x".to_vec()));
    let (platforms, ..) = inspect("pkg-setuid", spec);
    assert_eq!(
        platforms[0].package_managers,
        vec!["usr/bin/apt-get".to_string()]
    );
    assert_eq!(
        platforms[0].setuid_files,
        vec!["usr/bin/passwd (4755)".to_string()]
    );
    assert_eq!(errors(&platforms).len(), 4);
}

#[test]
fn root_user_fails() {
    for (i, user) in ["", "0:0", "root"].into_iter().enumerate() {
        let mut spec = Spec::new("api-server", 8081);
        spec.user = user.into();
        let (platforms, ..) = inspect(&format!("root-{i}"), spec);
        let e = errors(&platforms);
        assert!(
            e.iter()
                .any(|f| f.check == Check::User && f.message.contains("root")),
            "{user:?}: {e:?}"
        );
        assert_eq!(platforms[0].uid, Some(0));
    }
}

#[test]
fn user_name_resolves_through_the_image_passwd() {
    let mut spec = Spec::new("api-server", 8081);
    spec.user = "nonroot".into();
    let (platforms, ..) = inspect("user-name", spec);
    assert_eq!(platforms[0].uid, Some(65532));
    assert!(errors(&platforms).is_empty());
}

#[test]
fn amd64_binary_in_the_arm64_slot_fails() {
    let mut spec = Spec::new("api-server", 8081);
    spec.arm64_machine = 62;
    let (platforms, ..) = inspect("wrong-arch", spec);
    let e = errors(&platforms);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].check, Check::Entrypoint);
    assert!(
        e[0].message.contains("x86-64") && e[0].message.contains("aarch64"),
        "{}",
        e[0]
    );
    assert!(e[0].file.as_deref().unwrap().contains("linux/arm64"));
}

#[test]
fn dynamically_linked_entrypoint_fails() {
    let mut spec = Spec::new("api-server", 8081);
    spec.dynamic = true;
    let (platforms, ..) = inspect("dynamic", spec);
    assert_eq!(platforms[0].entrypoint_static, Some(false));
    assert!(errors(&platforms)
        .iter()
        .all(|f| f.message.contains("PT_INTERP")));
    assert_eq!(errors(&platforms).len(), 2);
}

#[test]
fn private_key_and_env_file_fail() {
    let mut spec = Spec::new("api-server", 8081);
    spec.extra.push((
        "app/keys/signing.pem".into(),
        0o600,
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n".to_vec(),
    ));
    spec.extra
        .push(("app/.env".into(), 0o644, b"A=b\n".to_vec()));
    let (platforms, ..) = inspect("secrets", spec);
    assert_eq!(
        platforms[0].secret_files,
        vec!["app/.env".to_string(), "app/keys/signing.pem".to_string()]
    );
    assert!(errors(&platforms)
        .iter()
        .all(|f| f.check == Check::SecretFile));
}

#[test]
fn missing_labels_fail() {
    let mut spec = Spec::new("api-server", 8081);
    spec.labels = false;
    let (platforms, ..) = inspect("labels", spec);
    assert_eq!(platforms[0].labels_missing.len(), 7);
    assert!(errors(&platforms).iter().all(|f| f.check == Check::Labels));
}

#[test]
fn tampered_blob_is_refused() {
    let dir = scratch("tampered");
    let layout = write_layout(&dir, &[Spec::new("api-server", 8081)]);
    // Overwrite the largest blob (a layer) with different bytes under the same name.
    let blobs = layout.join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    std::fs::write(&biggest, b"not the layer").unwrap();
    let source = OciLayout::open(&layout).unwrap();
    let findings = Inspector::default()
        .inspect(
            &source,
            "api-server",
            REPOSITORY,
            "api-server-0.1.0",
            &Platform::ALL,
        )
        .findings;
    assert!(
        findings
            .iter()
            .any(|f| f.check == Check::ImageSource
                && f.message.contains("does not match its digest")),
        "{findings:?}"
    );
}
