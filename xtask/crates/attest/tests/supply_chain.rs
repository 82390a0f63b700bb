//! Signed, attested images in a real registry (`/usr/bin/docker-registry`), checked by
//! independent verifiers (OpenSSL for the signature, pyspdxtools for the SBOMs) and by
//! `verify`, which must name the image and the check for every kind of tampering.

mod common;

use common::{Build, COMMIT, OTHER_COMMIT};
use lucid_attest::attestation::{self, Attestation};
use lucid_attest::cosign;
use lucid_attest::evidence::Evidence;
use lucid_attest::verify::{self, Check, ImageVerification, Options, Target};
use lucid_attest::SigningKey;
use lucid_catalog::{ImageRef, Platform};
use lucid_image::testing::TestRegistry;
use lucid_image::{push, BuiltImage, Registry};
use std::process::Command;

const A: &str = "tor-proxy";
const B: &str = "api-server";

/// Two images (A and B) built, pushed and signed.
struct Release {
    build: Build,
    evidence: Evidence,
    key: SigningKey,
    registry: TestRegistry,
    images: Vec<BuiltImage>,
}

impl Release {
    fn new(sign: bool) -> Release {
        let build = Build::new();
        let evidence = common::evidence(&build.base, &[A, B], COMMIT);
        let registry = TestRegistry::start(&build.dir.path().join("registry"), None);
        let key = SigningKey::generate();
        let images = [A, B].map(|s| build.image(s, &evidence)).to_vec();
        let r = Release {
            build,
            evidence,
            key,
            registry,
            images,
        };
        for image in &r.images {
            r.push(image);
            if sign {
                r.sign(image);
            }
        }
        r
    }

    fn client(&self) -> Registry {
        Registry::new(&self.registry.host()).unwrap()
    }

    fn reference(&self, service: &str) -> ImageRef {
        self.build.reference(&self.registry.host(), service)
    }

    fn push(&self, image: &BuiltImage) {
        let target = self.reference(&image.service);
        push::push_image(
            &self.client(),
            &self.build.layout,
            image,
            &target,
            &mut |_| {},
        )
        .unwrap();
    }

    fn sign(&self, image: &BuiltImage) {
        let target = self.reference(&image.service);
        cosign::sign_pushed(&self.client(), &target, &image.digest, &self.key).unwrap();
    }

    fn verify(&self, service: &str) -> ImageVerification {
        let source = lucid_image::Registry::new(&self.registry.host()).unwrap();
        let target = Target {
            service: service.into(),
            reference: self.reference(service),
            platforms: Platform::ALL.to_vec(),
        };
        let opts = Options {
            key: Some(self.key.public()),
            commit: Some(COMMIT.into()),
        };
        verify::verify_image(&source, &target, &opts)
    }

    /// The pushed index of `service` with the attestation manifest of `platform` replaced by
    /// one holding `statements`; pushed under the same tag and signed again (as a builder
    /// with the key would), so that only the attestation checks can object.
    fn replace_attestations(&self, service: &str, platform: Platform, statements: &[Attestation]) {
        let image = self.images.iter().find(|i| i.service == service).unwrap();
        let layout = &self.build.layout;
        let platform_digest = &common::platform_digest(image, platform);
        let entry = attestation::write_manifest(layout, platform_digest, statements).unwrap();
        let mut index: serde_json::Value =
            serde_json::from_slice(&layout.read_blob(&image.digest).unwrap()).unwrap();
        for m in index["manifests"].as_array_mut().unwrap() {
            if m["annotations"][attestation::REFERENCE_DIGEST] == platform_digest.as_str() {
                *m = serde_json::to_value(&entry).unwrap();
            }
        }
        let bytes = lucid_image::json::canonical(&index).unwrap();
        let tampered = BuiltImage {
            digest: layout.put_blob(&bytes).unwrap(),
            size: bytes.len() as u64,
            ..image.clone()
        };
        self.push(&tampered);
        self.sign(&tampered);
    }

    /// The statements attached to `service`'s `platform` image in the layout.
    fn statements(&self, service: &str, platform: Platform) -> Vec<Attestation> {
        let image = self.images.iter().find(|i| i.service == service).unwrap();
        let digest = &common::platform_digest(image, platform);
        let binaries = vec![(
            platform,
            self.build
                .dir
                .path()
                .join("bin")
                .join(platform.arch())
                .join(service),
        )];
        self.evidence
            .for_image(
                service,
                &self.build.tag(service),
                &self.build.info.version,
                binaries,
            )
            .statements(platform, digest)
            .unwrap()
    }
}

/// The failures of `v`, each of which must name the image and the check.
fn failed_checks(v: &ImageVerification) -> Vec<Check> {
    for f in &v.failures {
        let text = f.to_string();
        assert!(
            text.contains(&v.image) && text.contains(&f.check.to_string()),
            "{text}"
        );
    }
    v.failures.iter().map(|f| f.check).collect()
}

/// `v` failed the signature check only, for `why`.
fn assert_signature_failure(v: &ImageVerification, why: &str) {
    assert_eq!(failed_checks(v), [Check::Signature], "{:#?}", v.failures);
    assert!(v.failures[0].message.contains(why), "{}", v.failures[0]);
}

#[test]
fn a_signed_release_passes_every_check() {
    let r = Release::new(true);
    for service in [A, B] {
        let v = r.verify(service);
        assert!(v.passed(), "{:#?}", v.failures);
        assert_eq!(v.signed_by, Some(r.key.public().fingerprint()));
        assert_eq!(v.platforms.len(), 2);
        for p in &v.platforms {
            assert_eq!(p.provenance_commit.as_deref(), Some(COMMIT));
            assert_eq!(
                p.sbom_debian_packages,
                Some(3),
                "ca-certificates, tzdata, netbase"
            );
            assert!(p.sbom_crates.unwrap() > 30, "{p:?}");
            assert!(p.embedded_crates.unwrap() > 30, "{p:?}");
        }
    }
}

#[test]
fn openssl_accepts_the_signature_pulled_from_the_registry() {
    let r = Release::new(true);
    let image = &r.images[0];
    let target = r.reference(&image.service);
    let client = r.client();
    let tag = cosign::signature_tag(&image.digest).unwrap();
    let manifest = client.get_manifest(&target.repository, &tag).unwrap().bytes;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], cosign::SIMPLE_SIGNING);
    let payload = client
        .get_blob(&target.repository, layer["digest"].as_str().unwrap())
        .unwrap();
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        layer["annotations"][cosign::SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let dir = r.build.dir.path();
    std::fs::write(dir.join("cosign.pub"), r.key.public().to_pem()).unwrap();
    std::fs::write(dir.join("payload.json"), &payload).unwrap();
    std::fs::write(dir.join("sig.der"), &signature).unwrap();
    let openssl = |key: &str| {
        Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-verify",
                key,
                "-signature",
                "sig.der",
                "payload.json",
            ])
            .current_dir(dir)
            .output()
            .expect("openssl is installed")
    };
    let ok = openssl("cosign.pub");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "Verified OK");
    // The payload names the image digest and repository, as cosign's claims check wants.
    let p: cosign::Payload = serde_json::from_slice(&payload).unwrap();
    assert_eq!(p.critical.image.docker_manifest_digest, image.digest);
    assert_eq!(
        p.critical.identity.docker_reference,
        format!("{}/pickme/lucid", r.registry.host())
    );
    // And OpenSSL refuses it under another key.
    std::fs::write(
        dir.join("other.pub"),
        SigningKey::generate().public().to_pem(),
    )
    .unwrap();
    assert!(!openssl("other.pub").status.success());
}

#[test]
fn every_sbom_passes_pyspdxtools() {
    let r = Release::new(false);
    let tool = common::pyspdxtools();
    for service in [A, B] {
        for platform in Platform::ALL {
            let statements = r.statements(service, platform);
            let spdx = statements
                .iter()
                .find(|a| a.predicate_type == attestation::SPDX)
                .unwrap();
            let statement: serde_json::Value = serde_json::from_slice(&spdx.bytes).unwrap();
            let file = r
                .build
                .dir
                .path()
                .join(format!("{service}-{}.spdx.json", platform.arch()));
            std::fs::write(
                &file,
                serde_json::to_vec_pretty(&statement["predicate"]).unwrap(),
            )
            .unwrap();
            let out = common::run(Command::new(&tool).arg("-i").arg(&file));
            let out = String::from_utf8_lossy(&out);
            assert!(
                !out.to_lowercase().contains("invalid"),
                "{service} {platform}: {out}"
            );
        }
    }
}

#[test]
fn one_changed_payload_byte_fails_the_signature_check() {
    let r = Release::new(true);
    let image = &r.images[0];
    let target = r.reference(A);
    let client = r.client();
    let tag = cosign::signature_tag(&image.digest).unwrap();
    let manifest = client.get_manifest(&target.repository, &tag).unwrap().bytes;
    let mut manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = &mut manifest["layers"][0];
    let mut payload = client
        .get_blob(&target.repository, layer["digest"].as_str().unwrap())
        .unwrap();
    let at = payload.len() - 3; // inside `"optional":null` — still valid JSON
    payload[at] = b'L';
    let digest = lucid_image::sha256_digest(&payload);
    client
        .upload_blob(&target.repository, &digest, &payload)
        .unwrap();
    layer["digest"] = digest.into();
    layer["size"] = payload.len().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    client
        .put_manifest(
            &target.repository,
            &tag,
            "application/vnd.oci.image.manifest.v1+json",
            &bytes,
        )
        .unwrap();
    let v = r.verify(A);
    assert_eq!(failed_checks(&v), [Check::Signature], "{:#?}", v.failures);
    assert!(r.verify(B).passed());
}

#[test]
fn a_signature_by_another_key_fails_the_signature_check() {
    let r = Release::new(false);
    let other = SigningKey::generate();
    let target = r.reference(A);
    cosign::sign_pushed(&r.client(), &target, &r.images[0].digest, &other).unwrap();
    let v = r.verify(A);
    assert_signature_failure(&v, "does not match");
}

#[test]
fn a_deleted_signature_tag_fails_the_signature_check() {
    let r = Release::new(true);
    let target = r.reference(A);
    let client = r.client();
    let tag = cosign::signature_tag(&r.images[0].digest).unwrap();
    let digest = client
        .manifest_digest(&target.repository, &tag)
        .unwrap()
        .unwrap();
    let path = format!("/v2/{}/manifests/{digest}", target.repository);
    let reply = client
        .send(
            "DELETE",
            &path,
            &[],
            None,
            &[lucid_image::registry::Scope::push(&target.repository)],
        )
        .unwrap();
    assert_eq!(
        reply.status,
        202,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = r.verify(A);
    assert_signature_failure(&v, "unsigned");
}

#[test]
fn an_unsigned_image_fails_the_signature_check() {
    let r = Release::new(false);
    let v = r.verify(B);
    assert_signature_failure(&v, "unsigned");
}

#[test]
fn swapped_sboms_fail_the_sbom_and_crates_checks() {
    let r = Release::new(true);
    let platform = Platform::LinuxArm64;
    let a = r.statements(A, platform);
    let b = r.statements(B, platform);
    let sbom_of_b = b
        .iter()
        .find(|s| s.predicate_type == attestation::SPDX)
        .unwrap();
    let provenance_of_a = a
        .iter()
        .find(|s| s.predicate_type == attestation::SLSA_PROVENANCE)
        .unwrap();
    r.replace_attestations(A, platform, &[sbom_of_b.clone(), provenance_of_a.clone()]);
    let v = r.verify(A);
    let checks = failed_checks(&v);
    assert_eq!(checks, [Check::Sbom, Check::Crates], "{:#?}", v.failures);
    assert!(v
        .failures
        .iter()
        .all(|f| f.platform.as_deref() == Some("linux/arm64")));
    assert!(
        v.failures[0].message.contains("not this platform image"),
        "{}",
        v.failures[0]
    );
}

#[test]
fn a_provenance_from_another_commit_fails_the_provenance_check() {
    let r = Release::new(true);
    let platform = Platform::LinuxAmd64;
    let other = common::evidence(&r.build.base, &[A], OTHER_COMMIT);
    let image = &r.images[0];
    let digest = &common::platform_digest(image, platform);
    let binaries = vec![(
        platform,
        r.build.dir.path().join("bin").join(platform.arch()).join(A),
    )];
    let theirs = other
        .for_image(A, &r.build.tag(A), &r.build.info.version, binaries)
        .statements(platform, digest)
        .unwrap();
    let ours = r.statements(A, platform);
    let sbom = ours
        .iter()
        .find(|s| s.predicate_type == attestation::SPDX)
        .unwrap();
    let provenance = theirs
        .iter()
        .find(|s| s.predicate_type == attestation::SLSA_PROVENANCE)
        .unwrap();
    r.replace_attestations(A, platform, &[sbom.clone(), provenance.clone()]);
    let v = r.verify(A);
    assert_eq!(failed_checks(&v), [Check::Provenance], "{:#?}", v.failures);
    let message = &v.failures[0].message;
    assert!(
        message.contains(OTHER_COMMIT) && message.contains(COMMIT),
        "{message}"
    );
}
