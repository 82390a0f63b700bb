//! The release, in process (`ReleasePlan` prepared, then executed), against a real distribution registry, on a temporary copy of the
//! workspace (a release rewrites compose/ and images/ of the workspace it runs in).
//!
//! The fixture does the real thing once: it releases the workspace version V0 of all 27
//! services, both platforms, into a fresh registry, and keeps that registry's storage as a
//! snapshot (every moving tag at V0). It then bumps the copy to V1. Each fault test starts a
//! registry from the snapshot, attempts V1 through a fault-injecting proxy, checks that every
//! moving tag still points at V0 and that the work tree is unchanged, then reruns without the
//! fault: the release resumes, skips the blobs that already landed and moves every moving tag.
//!
//! The tests share the fixture and the copy, so they run one at a time (SERIAL).

mod common;

use common::*;
use lucid_image::testing::{TestCa, TokenServer};
use lucid_pipeline::images::Engine;
use lucid_pipeline::publish::BlobAction;
use lucid_pipeline::release::{ReleaseOptions, ReleasePlan};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

struct Fixture {
    dir: PathBuf,
    copy: WorkspaceCopy,
    services: Vec<String>,
    v0: String,
    v1: String,
    /// Registry storage after the V0 release.
    snapshot: PathBuf,
    /// The registry host the V0 release pushed to (now stopped; its name is in the pins).
    v0_host: String,
    /// Service -> index digest of V0.
    v0_digests: BTreeMap<String, String>,
    v0_stdout: String,
    /// The files the V0 release left in the work tree, by path.
    v0_files: BTreeMap<String, String>,
    /// Commit holding V1, not released yet.
    unreleased: String,
    /// `verify` of the V0 images with the release's key.
    verified: Vec<lucid_attest::verify::ImageVerification>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn stdout(o: &Released) -> String {
    o.stdout.clone()
}

fn stderr(o: &Released) -> String {
    o.stderr.clone()
}

/// Service -> index digest, from a release manifest.
fn digests(manifest_json: &str) -> BTreeMap<String, String> {
    let m: serde_json::Value = serde_json::from_str(manifest_json).unwrap();
    m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["service"].as_str().unwrap().to_string(),
                i["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Service -> what its moving tag holds, asked with skopeo.
fn moving_tags(
    services: &[String],
    host: &str,
    creds: Option<(&str, &str)>,
) -> BTreeMap<String, Option<String>> {
    services
        .iter()
        .map(|s| (s.clone(), skopeo_digest(host, s, creds)))
        .collect()
}

fn all_at(digests: &BTreeMap<String, String>) -> BTreeMap<String, Option<String>> {
    digests
        .iter()
        .map(|(s, d)| (s.clone(), Some(d.clone())))
        .collect()
}

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let dir = target_dir().join("lucid-test/release");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let copy = WorkspaceCopy::create(&dir.join("workspace"));
        let ws = lucid_catalog::Workspace::load(&copy.dir).unwrap();
        let services: Vec<String> = ws.services.iter().map(|s| s.name.clone()).collect();
        let v0 = ws.version.clone();
        let snapshot = dir.join("v0-storage");
        let mut registry = TestRegistry::start_on(&dir.join("v0-registry"), &snapshot, None);
        let host = registry.host();
        let none = docker_config(&dir.join("docker-none"), &host, None);

        let key = lucid_attest::SigningKey::generate();
        let key_file = dir.join("cosign.key");
        std::fs::write(&key_file, key.to_pkcs8_pem().unwrap()).unwrap();
        let key_arg = key_file.display().to_string();
        let out = copy.release(
            &[
                "--registry",
                &host,
                "--version",
                &v0,
                "--signing-key",
                &key_arg,
            ],
            &none,
        );
        assert!(out.success(), "the V0 release failed:\n{}", stderr(&out));
        let verified = verify_release(&copy.dir, &host, &v0, &key.public());
        let mut v0_files = BTreeMap::new();
        for line in copy.status().lines() {
            let path = line[3..].to_string();
            v0_files.insert(path.clone(), copy.read(&path));
        }
        let v0_digests = digests(&copy.read("images/release-manifest.json"));
        registry.stop();
        copy.commit(&format!("Release {v0}"), "2026-01-02T00:00:00Z");

        let v1 = next_patch(&v0);
        copy.bump_version(&v1);
        let unreleased = copy.commit(&format!("Version {v1}"), "2026-01-03T00:00:00Z");
        Fixture {
            dir,
            copy,
            services,
            v0,
            v1,
            snapshot,
            v0_host: host,
            v0_digests,
            v0_stdout: stdout(&out),
            v0_files,
            unreleased,
            verified,
        }
    })
}

/// `cargo xtask verify` of every released image, with the release's key.
fn verify_release(
    root: &Path,
    host: &str,
    version: &str,
    key: &lucid_attest::PublicKey,
) -> Vec<lucid_attest::verify::ImageVerification> {
    let ws = lucid_catalog::Workspace::load(root).unwrap();
    let source = lucid_image::Registry::new(host).unwrap();
    let opts = lucid_attest::verify::Options {
        key: Some(key.clone()),
        commit: None,
    };
    lucid_attest::verify::targets(&ws, &[], version, host)
        .unwrap()
        .iter()
        .map(|t| lucid_attest::verify::verify_image(&source, t, &opts))
        .collect()
}

/// A registry started from the V0 snapshot, a proxy in front of it, the copy at V1.
struct Scenario {
    dir: PathBuf,
    registry: TestRegistry,
    proxy: FaultProxy,
}

fn scenario(f: &Fixture, name: &str, fault: Fault, auth: Option<(&str, &str)>) -> Scenario {
    let dir = f.dir.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    let storage = dir.join("storage");
    copy_dir(&f.snapshot, &storage);
    let registry = TestRegistry::start_on(&dir, &storage, auth);
    let proxy = FaultProxy::start(registry.port, fault);
    f.copy.reset(&f.unreleased);
    Scenario {
        dir,
        registry,
        proxy,
    }
}

/// Digests of the blobs the registry accepted (201) in `log`.
fn landed(log: &[Logged]) -> BTreeSet<String> {
    log.iter()
        .filter(|l| l.status == Some(201))
        .filter_map(Logged::uploaded_digest)
        .collect()
}

/// The failed attempt: a clear error naming the fault, a resumable state, moving tags at V0,
/// the work tree unchanged.
fn assert_failed_before_the_moving_tags(
    f: &Fixture,
    s: &Scenario,
    out: &Released,
    fault_message: &str,
    creds: Option<(&str, &str)>,
) {
    let err = stderr(out);
    assert_eq!(out.code(), Some(1), "{err}");
    assert!(
        err.contains(fault_message),
        "expected {fault_message:?} in:\n{err}"
    );
    assert!(
        err.contains("the moving tags were not touched") && err.contains("again to resume"),
        "{err}"
    );
    assert_eq!(
        moving_tags(&f.services, &s.registry.host(), creds),
        all_at(&f.v0_digests),
        "every moving tag must still point at {}",
        f.v0
    );
    assert_eq!(
        f.copy.status(),
        "",
        "a failed release must leave the work tree unchanged"
    );
}

/// The rerun: completes, uploads none of the blobs that landed before, moves every moving tag.
fn assert_rerun_resumes(
    f: &Fixture,
    s: &Scenario,
    docker: &Path,
    landed_before: &BTreeSet<String>,
    creds: Option<(&str, &str)>,
) {
    s.proxy.set_fault(Fault::None);
    let out = f
        .copy
        .release(&["--registry", &s.proxy.host(), "--version", &f.v1], docker);
    assert!(out.success(), "the rerun failed:\n{}", stderr(&out));
    let log = s.proxy.log();
    let landed_now = landed(&log);
    let uploaded_again: Vec<&String> = landed_now.intersection(landed_before).collect();
    assert!(
        uploaded_again.is_empty(),
        "the rerun uploaded blobs that had already landed: {uploaded_again:?}"
    );
    let summary = stdout(&out);
    // The images that were complete before are skipped whole; the blobs that landed of the
    // image being pushed when the fault hit are found by a HEAD and skipped.
    assert!(summary.contains("skipped (tag already there)"), "{summary}");
    let checked: BTreeSet<String> = log.iter().filter_map(Logged::checked_blob).collect();
    assert!(
        landed_before.iter().any(|d| checked.contains(d)),
        "the rerun asked for none of the blobs that had landed"
    );
    assert!(
        summary.contains(&format!("released {} to {}", f.v1, s.proxy.host())),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{} moving tags moved", f.services.len())),
        "{summary}"
    );
    let v1 = digests(&f.copy.read("images/release-manifest.json"));
    assert_eq!(v1.len(), f.services.len());
    for (service, digest) in &v1 {
        assert_ne!(
            Some(digest),
            f.v0_digests.get(service),
            "{service}: V1 must differ from V0"
        );
    }
    assert_eq!(
        moving_tags(&f.services, &s.registry.host(), creds),
        all_at(&v1),
        "every moving tag must point at {}",
        f.v1
    );
}

#[test]
fn releases_all_27_services_pinned_validated_with_the_moving_tags_moved() {
    let _serial = serial();
    let f = fixture();
    assert_eq!(f.services.len(), 27);
    assert!(
        f.v0_stdout
            .contains("27 images (27 pushed, 0 already there")
            && f.v0_stdout.contains("27 moving tags moved")
            && f.v0_stdout.contains(": 0 error(s)"),
        "{}",
        f.v0_stdout
    );
    assert!(f.v0_stdout.contains("git add ") && f.v0_stdout.contains("git commit -m \"Release"));
    // Signed, attested, and the binaries carry the crate lists their SBOMs list.
    assert_eq!(f.verified.len(), 27);
    for v in &f.verified {
        assert!(v.passed(), "{:#?}", v.failures);
        assert!(v.signed_by.is_some());
        assert!(v
            .platforms
            .iter()
            .all(|p| p.embedded_crates.unwrap_or(0) > 20));
    }

    let manifest: serde_json::Value =
        serde_json::from_str(&f.v0_files["images/release-manifest.json"]).unwrap();
    assert_eq!(manifest["version"], f.v0.as_str());
    assert_eq!(manifest["registry"], f.v0_host.as_str());
    for image in manifest["images"].as_array().unwrap() {
        let platforms: Vec<&str> = image["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert!(p["compressed_size"].as_u64().unwrap() > 0);
                p["platform"].as_str().unwrap()
            })
            .collect();
        assert_eq!(platforms, ["linux/arm64", "linux/amd64"], "{image}");
    }

    // Every service of the full compose file runs its image pinned to the pushed digest.
    let compose = &f.v0_files["compose/docker-compose.yaml"];
    for (service, digest) in &f.v0_digests {
        let pinned = format!(
            "image: {}/{REPOSITORY}:{service}-{}@{digest}",
            f.v0_host, f.v0
        );
        assert!(compose.contains(&pinned), "{pinned} missing");
    }
    for file in [
        "compose/lucid-dev.yaml",
        "compose/lucid-layer1-complete.yaml",
        "compose/lucid-layer2-complete.yaml",
        // The cluster files are pinned by the same release.
        "compose/lucid-stack.yaml",
        "deploy/kubernetes/api-gateway.yaml",
    ] {
        assert!(
            f.v0_files[file].contains("@sha256:"),
            "{file} is not pinned"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&f.v0_files["images/validation-report.json"]).unwrap();
    assert_eq!(report["summary"]["passed"], true, "{}", report["summary"]);
    assert_eq!(report["summary"]["images_found"], 27);

    // The registry, read by skopeo: both tags of every service at the released index.
    let dir = f.dir.join("real-release-check");
    let _ = std::fs::remove_dir_all(&dir);
    let storage = dir.join("storage");
    std::fs::create_dir_all(&dir).unwrap();
    copy_dir(&f.snapshot, &storage);
    let registry = TestRegistry::start_on(&dir, &storage, None);
    let host = registry.host();
    assert_eq!(moving_tags(&f.services, &host, None), all_at(&f.v0_digests));
    for (service, digest) in &f.v0_digests {
        let tag = format!("{service}-{}", f.v0);
        assert_eq!(skopeo_digest(&host, &tag, None).as_ref(), Some(digest));
    }
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let _serial = serial();
    let f = fixture();
    let s = scenario(f, "dry-run", Fault::None, None);
    let host = s.registry.host();
    let docker = docker_config(&s.dir.join("docker"), &host, None);
    let before = listing(&s.registry.storage);

    let out = f.copy.release(
        &["--dry-run", "--registry", &host, "--version", &f.v1],
        &docker,
    );
    assert!(out.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    for target in ["aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"] {
        assert!(
            plan.contains(&format!(
                "cargo auditable build --release --locked --target {target}"
            )),
            "{plan}"
        );
    }
    for service in &f.services {
        let versioned = format!("{host}/{REPOSITORY}:{service}-{} = sha256:", f.v1);
        assert!(
            plan.contains(&versioned),
            "{versioned} missing from the plan"
        );
        let v0_short: String = f.v0_digests[service].chars().take(19).collect();
        let moving = format!("{host}/{REPOSITORY}:{service}: {v0_short} → sha256:");
        assert!(plan.contains(&moving), "{moving} missing from the plan");
    }
    // The base layer landed with V0: the plan must know the registry has it.
    let totals = plan
        .lines()
        .find(|l| l.contains("in all:"))
        .expect("a total");
    assert!(!totals.contains(", 0 already in the registry"), "{totals}");
    assert!(
        plan.contains("compose/docker-compose.yaml: would change"),
        "{plan}"
    );
    assert!(plan.contains("dry run: nothing pushed"), "{plan}");

    assert_eq!(
        listing(&s.registry.storage),
        before,
        "the dry run pushed something"
    );
    assert_eq!(
        f.copy.status(),
        "",
        "the dry run changed files of the workspace"
    );
    assert_eq!(moving_tags(&f.services, &host, None), all_at(&f.v0_digests));
}

// Plan, then execute: what a real release does is exactly what the dry run printed — the same
// steps, the same blobs uploaded, the same tags moved.
#[test]
fn the_dry_run_prints_the_plan_the_release_executes() {
    let _serial = serial();
    let f = fixture();
    let s = scenario(f, "plan-executed", Fault::None, None);
    let docker = docker_config(&s.dir.join("docker"), &s.proxy.host(), None);
    let (ctx, _) = f.copy.context(&docker);
    let opts = |dry_run| ReleaseOptions {
        registry: Some(s.proxy.host()),
        version: Some(f.v1.clone()),
        allow_dirty: false,
        engine: Engine::Oci,
        dry_run,
        signing_key: None,
        unsigned: true,
    };
    let printed = ReleasePlan::prepare(&ctx, &opts(true)).unwrap().steps();
    let plan = ReleasePlan::prepare(&ctx, &opts(false)).unwrap();
    assert_eq!(
        plan.steps(),
        printed,
        "a real run plans what the dry run printed"
    );
    let work = plan.work.as_ref().unwrap().as_ref().unwrap();
    let uploads: BTreeSet<String> = work
        .pushes
        .iter()
        .flatten()
        .flat_map(|p| &p.blobs)
        .filter(|b| b.action == BlobAction::Upload)
        .map(|b| b.digest.clone())
        .collect();
    assert!(!uploads.is_empty(), "V1 has new blobs to upload");
    let moves: BTreeMap<String, String> = work
        .moves
        .iter()
        .filter(|m| m.needed())
        .map(|m| (m.moving.tag.clone().unwrap(), m.to.clone()))
        .collect();
    assert_eq!(moves.len(), f.services.len());

    let report = plan.execute(&ctx).unwrap();
    assert_eq!(
        landed(&s.proxy.log()),
        uploads,
        "the blobs uploaded are the blobs planned"
    );
    assert_eq!(report.moved, moves.len());
    for (tag, digest) in &moves {
        assert_eq!(
            skopeo_digest(&s.registry.host(), tag, None).as_ref(),
            Some(digest)
        );
    }
}

// The fault counts blob uploads. Each V1 image uploads 10 blobs (per platform: config and
// service layer, and the attestation manifest's config, SBOM and provenance; its base layer is
// in the registry since V0), so the counts below (25) stop the push inside the third image,
// with a few of its blobs landed and two images complete.

#[test]
fn registry_stopped_mid_push_leaves_the_moving_tags_and_a_rerun_resumes() {
    let _serial = serial();
    let f = fixture();
    let s = scenario(f, "stopped", Fault::StopAfterBlobs(14), None);
    let docker = docker_config(&s.dir.join("docker"), &s.proxy.host(), None);

    let out = f.copy.release(
        &["--registry", &s.proxy.host(), "--version", &f.v1],
        &docker,
    );
    let landed_before = landed(&s.proxy.log());
    assert_eq!(landed_before.len(), 14, "the fault must hit mid-push");
    assert_failed_before_the_moving_tags(f, &s, &out, "unreachable", None);
    assert!(stderr(&out).contains("is the registry running?"));

    assert_rerun_resumes(f, &s, &docker, &landed_before, None);

    // Released now: once committed, the same version is refused.
    f.copy
        .commit(&format!("Release {}", f.v1), "2026-01-04T00:00:00Z");
    let again = f.copy.release(
        &["--registry", &s.proxy.host(), "--version", &f.v1],
        &docker,
    );
    assert_eq!(again.code(), Some(1));
    assert!(
        stderr(&again).contains(&format!("version {} is already released", f.v1)),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_5xx_on_one_blob_leaves_the_moving_tags_and_a_rerun_resumes() {
    let _serial = serial();
    let f = fixture();
    let s = scenario(f, "blob-500", Fault::FailBlob(25), None);
    let docker = docker_config(&s.dir.join("docker"), &s.proxy.host(), None);

    let out = f.copy.release(
        &["--registry", &s.proxy.host(), "--version", &f.v1],
        &docker,
    );
    let log = s.proxy.log();
    let failed: Vec<&Logged> = log.iter().filter(|l| l.status == Some(500)).collect();
    assert!(
        failed.len() > 1,
        "the client retries a 5xx before giving up"
    );
    let landed_before = landed(&log);
    assert_eq!(landed_before.len(), 24, "the 25th blob fails");
    assert_failed_before_the_moving_tags(f, &s, &out, "HTTP 500 after", None);
    assert!(stderr(&out).contains("injected fault: storage unavailable"));

    assert_rerun_resumes(f, &s, &docker, &landed_before, None);
}

#[test]
fn an_auth_failure_leaves_the_moving_tags_and_a_rerun_resumes() {
    let _serial = serial();
    let f = fixture();
    let good = ("lucid", "s3cret-pass");
    let s = scenario(f, "auth", Fault::None, Some(good));
    let proxy = s.proxy.host();

    // Wrong credentials: refused in preflight, before anything is built or pushed.
    let wrong = docker_config(
        &s.dir.join("docker-wrong"),
        &proxy,
        Some(("lucid", "wrong")),
    );
    let out = f
        .copy
        .release(&["--registry", &proxy, "--version", &f.v1], &wrong);
    assert_eq!(out.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("refused the credentials of user \"lucid\""),
        "{err}"
    );
    assert!(err.contains("nothing was built or pushed"), "{err}");
    assert!(landed(&s.proxy.log()).is_empty());
    assert_eq!(
        moving_tags(&f.services, &s.registry.host(), Some(good)),
        all_at(&f.v0_digests)
    );

    // Credentials revoked mid-push.
    let right = docker_config(&s.dir.join("docker-right"), &proxy, Some(good));
    s.proxy.set_fault(Fault::RevokeAfterBlobs(25));
    let out = f
        .copy
        .release(&["--registry", &proxy, "--version", &f.v1], &right);
    let landed_before = landed(&s.proxy.log());
    assert_eq!(landed_before.len(), 25, "the fault must hit mid-push");
    assert_failed_before_the_moving_tags(
        f,
        &s,
        &out,
        "refused the credentials of user \"lucid\"",
        Some(good),
    );

    assert_rerun_resumes(f, &s, &right, &landed_before, Some(good));
}

// Moving 27 tags is 27 manifest PUTs (a registry has no transactions): a failure among them
// leaves the earlier tags moved and the later ones at V0; the rerun moves the rest.
#[test]
fn a_failure_while_moving_the_tags_is_resumed_by_the_rerun() {
    let _serial = serial();
    let f = fixture();
    let failing = f.services[20].clone();
    let tag: &'static str = Box::leak(failing.clone().into_boxed_str());
    let s = scenario(f, "moving-tag-500", Fault::FailTagPut(tag), None);
    let docker = docker_config(&s.dir.join("docker"), &s.proxy.host(), None);

    let out = f.copy.release(
        &["--registry", &s.proxy.host(), "--version", &f.v1],
        &docker,
    );
    let err = stderr(&out);
    assert_eq!(out.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("moving {}/{REPOSITORY}:{failing}", s.proxy.host()))
            && err.contains("injected fault: manifest store unavailable"),
        "{err}"
    );
    assert!(
        err.contains("20 of 27 moving tags had moved")
            && err.contains("run the same command again to move the rest"),
        "{err}"
    );
    let split = moving_tags(&f.services, &s.registry.host(), None);
    for (i, service) in f.services.iter().enumerate() {
        let at_v0 = split[service].as_ref() == f.v0_digests.get(service);
        assert_eq!(
            at_v0,
            i >= 20,
            "{service}: moved {} the failure",
            if i < 20 { "before" } else { "after" }
        );
    }
    assert_eq!(
        f.copy.status(),
        "",
        "the work tree changes only after every tag moved"
    );

    s.proxy.set_fault(Fault::None);
    let out = f.copy.release(
        &["--registry", &s.proxy.host(), "--version", &f.v1],
        &docker,
    );
    assert!(out.success(), "the rerun failed:\n{}", stderr(&out));
    let summary = stdout(&out);
    assert!(summary.contains("20 moving tags already at"), "{summary}");
    assert!(summary.contains("7 moving tags moved"), "{summary}");
    let v1 = digests(&f.copy.read("images/release-manifest.json"));
    for (i, service) in f.services.iter().enumerate().take(20) {
        assert_eq!(split[service].as_ref(), v1.get(service), "{i}: {service}");
    }
    assert_eq!(
        moving_tags(&f.services, &s.registry.host(), None),
        all_at(&v1)
    );
}

#[test]
fn a_malformed_key_or_a_wrong_password_stops_the_release_before_building() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let copy = WorkspaceCopy::create(&tmp.path().join("workspace"));
    let docker = docker_config(&tmp.path().join("docker"), "none", None);
    let registry = TestRegistry::start(&tmp.path().join("registry"), None);
    let host = registry.host();
    let malformed = tmp.path().join("malformed.key");
    std::fs::write(
        &malformed,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let encrypted = tmp.path().join("cosign.key");
    let pem = lucid_attest::SigningKey::generate()
        .to_cosign_pem("right")
        .unwrap();
    std::fs::write(&encrypted, pem).unwrap();
    std::env::set_var("COSIGN_PASSWORD", "wrong");
    for (key, why) in [
        (&malformed, "not an ECDSA P-256 key"),
        (&encrypted, "wrong password"),
    ] {
        let key = key.display().to_string();
        let out = copy.release(&["--registry", &host, "--signing-key", &key], &docker);
        assert_eq!(out.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(why) && err.contains("nothing was built or pushed"),
            "{err}"
        );
        assert!(
            !copy.dir.join("target/lucid/oci").exists(),
            "nothing may be built"
        );
        let tags = lucid_image::Registry::new(&host)
            .unwrap()
            .send("GET", "/v2/_catalog", &[], None, &[])
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&tags.body).trim(),
            r#"{"repositories":[]}"#,
            "nothing may be pushed"
        );
    }
    std::env::remove_var("COSIGN_PASSWORD");
}

#[test]
fn refuses_another_version_and_a_dirty_work_tree_before_building() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = WorkspaceCopy::create(&tmp.path().join("workspace"));
    std::fs::write(copy.dir.join("notes.txt"), "uncommitted\n").unwrap();
    let docker = docker_config(&tmp.path().join("docker"), "none", None);
    let closed = format!("127.0.0.1:{}", free_port());

    let out = copy.release(&["--registry", &closed, "--version", "9.9.9"], &docker);
    assert_eq!(out.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("--version 9.9.9 but workspace.package.version"),
        "{err}"
    );
    assert!(
        err.contains("bump workspace.package.version to 9.9.9"),
        "{err}"
    );
    assert!(
        err.contains("work tree not clean") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(err.contains(&format!("registry {closed}")), "{err}");
    assert!(err.contains("nothing was built or pushed"), "{err}");
    assert_eq!(copy.status(), "?? notes.txt");
    assert!(
        !copy.dir.join("target/lucid/oci").exists(),
        "nothing may be built"
    );
}

/// Docker Hub's way: a Bearer token from a token server, for the scopes asked, over TLS with a
/// private CA (Docker's `certs.d`), credentials from a Docker config. The V1 release pushes
/// every image to a fresh registry, validates through the same client and moves the tags.
#[test]
fn releases_through_token_auth_over_tls_as_to_docker_hub() {
    let _serial = serial();
    let f = fixture();
    let dir = f.dir.join("token-tls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let creds = ("releaser", "release-pass-9");
    let ca = TestCa::new(&dir.join("ca"), "lucid test CA");
    let tokens = TokenServer::start(&ca, creds.0, creds.1);
    let registry = TestRegistry::start_secure(&dir.join("registry"), &ca, &tokens);
    let host = registry.host();
    let certs_d = ca.certs_d(&host);
    let config = docker_config(&dir.join("docker"), &host, Some(creds));
    f.copy.reset(&f.unreleased);

    let out = f.copy.release_trusting(
        &["--registry", &host, "--version", &f.v1],
        &config,
        &certs_d,
    );
    assert!(out.success(), "{}", out.stderr);
    // The plan says how the registry was reached.
    assert!(
        out.stdout.contains("auth: Bearer token from"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("TLS, certificate verified against"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("27 moving tags moved"),
        "{}",
        out.stdout
    );
    // Tokens were asked for exactly this repository.
    let scopes: BTreeSet<String> = tokens.issued().into_iter().flat_map(|t| t.scopes).collect();
    assert!(!scopes.is_empty());
    for scope in &scopes {
        assert!(
            scope.starts_with(&format!("repository:{REPOSITORY}:")),
            "{scope}"
        );
    }
    // Read back through the client: every moving tag at its versioned image.
    let client = lucid_image::Registry::configured(
        &host,
        lucid_image::registry::Config {
            credentials: lucid_image::registry::credentials_in(&config, &host).unwrap(),
            certs_d: certs_d.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    for service in &f.services {
        let versioned = client
            .manifest_digest(REPOSITORY, &format!("{service}-{}", f.v1))
            .unwrap();
        assert!(versioned.is_some(), "{service}-{} missing", f.v1);
        assert_eq!(
            client.manifest_digest(REPOSITORY, service).unwrap(),
            versioned
        );
    }

    // Without the CA, the preflight stops with the reason and nothing is pushed.
    let untrusting = dir.join("empty-certs.d");
    std::fs::create_dir_all(&untrusting).unwrap();
    f.copy.reset(&f.unreleased);
    let out = f.copy.release_trusting(
        &["--registry", &host, "--version", &f.v1],
        &config,
        &untrusting,
    );
    assert!(!out.success());
    assert!(stderr(&out).contains("not trusted"), "{}", stderr(&out));
}
