//! Both engines attach the same attestations. The image of a service built by BuildKit from
//! images/Dockerfile (`DOCKER_BUILDKIT=1 /usr/bin/docker build`, what buildx runs) gets its
//! attestation manifests the way the buildx engine gives them (attached to the imported index
//! after the build); the oci engine writes them while assembling the index. Per platform, the
//! two SBOMs are identical, the two provenances differ only in the engine they name, and each
//! statement's subject is its own image's platform manifest. Needs dockerd (run under
//! `flock /tmp/lucid-docker.lock`).

mod common;

use common::{Build, COMMIT};
use lucid_attest::attestation::{self, Statement, REFERENCE_DIGEST};
use lucid_catalog::Platform;
use lucid_image::testing::docker_save;
use lucid_image::{docker, image, BuiltImage, ImageFacts, Layout, PlatformBuilt};
use serde_json::{json, Value};
use std::process::Command;

/// `docker save` of `tag` as a one-platform OCI image in `layout` (config and layers as they are).
fn import_docker_save(layout: &Layout, tag: &str, service: &str, platform: Platform) -> BuiltImage {
    let saved = docker_save(tag);
    let config = &saved.config;
    let layers: Vec<Value> = saved
        .layers
        .iter()
        .map(|bytes| {
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": bytes.len(), "digest": layout.put_blob(bytes).unwrap()})
        })
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": layout.put_blob(config).unwrap()},
        "layers": layers,
    }))
    .unwrap();
    let manifest_digest = layout.put_blob(&manifest).unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": manifest.len(),
            "digest": manifest_digest,
            "platform": {"architecture": platform.arch(), "os": "linux"},
        }],
    }))
    .unwrap();
    BuiltImage {
        service: service.into(),
        ref_name: format!("{service}-buildkit"),
        digest: layout.put_blob(&index).unwrap(),
        size: index.len() as u64,
        platforms: vec![PlatformBuilt {
            platform: platform.oci().into(),
            digest: manifest_digest,
            size: manifest.len() as u64,
            compressed_size: 0,
            uncompressed_size: 0,
            layer_digest: String::new(),
        }],
        unchanged: false,
    }
}

/// The attestation entry of `image`'s `platform` image and its statements, by predicate type.
fn attestations(
    layout: &Layout,
    image: &BuiltImage,
    platform: Platform,
) -> (Value, Vec<Statement<Value>>) {
    let digest = &common::platform_digest(image, platform);
    let index: Value = serde_json::from_slice(&layout.read_blob(&image.digest).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"][REFERENCE_DIGEST] == digest.as_str())
        .expect("an attestation manifest for the platform image")
        .clone();
    let manifest: Value =
        serde_json::from_slice(&layout.read_blob(entry["digest"].as_str().unwrap()).unwrap())
            .unwrap();
    let statements = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::from_slice(&layout.read_blob(l["digest"].as_str().unwrap()).unwrap())
                .unwrap()
        })
        .collect();
    (entry, statements)
}

#[test]
fn buildkit_and_oci_engine_images_get_the_same_attestations() {
    let service = "tor-proxy";
    let platform = Platform::LinuxArm64;
    let build = Build::new();
    let oci_evidence = common::evidence(&build.base, &[service], COMMIT);
    let oci_image = build.image(service, &oci_evidence);
    // BuildKit, with the committed Dockerfile; the context holds the same base rootfs and binaries.
    let context = build.dir.path();
    std::fs::create_dir_all(context.join("base")).unwrap();
    std::fs::write(
        context.join(docker::BASE_TAR),
        build.base.tar(&build.layout).unwrap(),
    )
    .unwrap();
    let facts = ImageFacts::of(build.ws.service(service).unwrap());
    let tag = format!("lucid-attest-engines/{service}:{}", std::process::id());
    let args = docker::docker_build_args(
        &facts,
        &build.info,
        platform,
        &common::root().join(docker::DOCKERFILE),
        context,
        &tag,
    );
    common::run(
        Command::new("/usr/bin/docker")
            .args(&args)
            .env("DOCKER_BUILDKIT", "1"),
    );
    let imported = import_docker_save(&build.layout, &tag, service, platform);
    let _ = Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &tag])
        .output();
    let mut buildx_evidence = oci_evidence.clone();
    buildx_evidence.build.engine = "buildx".into();
    let binaries = vec![(
        platform,
        context.join("bin").join(platform.arch()).join(service),
    )];
    let tag_name = build.tag(service);
    let extras = buildx_evidence.for_image(service, &tag_name, &build.info.version, binaries);
    let buildkit_image = image::with_extras(&build.layout, &imported, &extras).unwrap();

    let (oci_entry, oci) = attestations(&build.layout, &oci_image, platform);
    let (bk_entry, bk) = attestations(&build.layout, &buildkit_image, platform);
    for (entry, image) in [(&oci_entry, &oci_image), (&bk_entry, &buildkit_image)] {
        assert_eq!(
            entry["platform"],
            json!({"architecture": "unknown", "os": "unknown"})
        );
        assert_eq!(
            entry["annotations"][attestation::REFERENCE_TYPE],
            attestation::ATTESTATION_MANIFEST
        );
        assert_eq!(
            entry["annotations"][REFERENCE_DIGEST],
            common::platform_digest(image, platform).as_str()
        );
    }
    let types = |s: &[Statement<Value>]| {
        s.iter()
            .map(|s| s.predicate_type.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        types(&oci),
        [attestation::SPDX, attestation::SLSA_PROVENANCE]
    );
    assert_eq!(types(&oci), types(&bk));
    for (statements, image) in [(&oci, &oci_image), (&bk, &buildkit_image)] {
        let digest = &common::platform_digest(image, platform);
        for s in statements {
            assert_eq!(format!("sha256:{}", s.subject[0].digest["sha256"]), *digest);
        }
    }
    assert_ne!(
        oci_image.platforms[0].digest, buildkit_image.platforms[0].digest,
        "two engines, two manifests"
    );
    assert_eq!(oci[0].predicate, bk[0].predicate, "the SBOMs are the same");
    let mut bk_provenance = bk[1].predicate.clone();
    assert_eq!(
        bk_provenance["buildDefinition"]["externalParameters"]["invocation"]["engine"],
        "buildx"
    );
    bk_provenance["buildDefinition"]["externalParameters"]["invocation"]["engine"] = "oci".into();
    assert_eq!(
        oci[1].predicate, bk_provenance,
        "the provenances differ only in the engine"
    );
}
