//! The SPDX 2.3 document of one platform image, derived from what was built: the image, the
//! service binary it contains (with its sha256), the Debian packages of the base it contains,
//! and the crates the binary links. Deterministic: `created` is SOURCE_DATE_EPOCH and the
//! document namespace is derived from the rest of the content, so the same build gives the
//! same bytes.

use crate::crates::{Crate, ServiceCrates};
use crate::debian::DebPackage;
use anyhow::Result;
use lucid_catalog::Platform;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const NOASSERTION: &str = "NOASSERTION";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub spdx_version: String,
    pub data_license: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    pub document_namespace: String,
    pub creation_info: CreationInfo,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_extracted_licensing_infos: Vec<ExtractedLicense>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub name: String,
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<String>,
    pub download_location: String,
    pub files_analyzed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_refs: Vec<ExternalRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: String,
    pub checksum_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: String,
    pub reference_type: String,
    pub reference_locator: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: String,
    pub related_spdx_element: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    pub license_id: String,
    pub extracted_text: String,
    pub name: String,
}

/// What one platform image is made of.
pub struct ImageContents<'a> {
    /// `pickme/lucid:tor-proxy-0.1.0` (no registry: the same image wherever it is pushed).
    pub image: &'a str,
    pub service: &'a str,
    /// The image version (`0.1.0`, or `0.1.0-<sha>` for a dev build).
    pub version: &'a str,
    /// The service crate's version (what cargo-auditable records for the binary).
    pub binary_version: &'a str,
    pub platform: Platform,
    /// The repository URL (`org.opencontainers.image.source`) and the commit built.
    pub source: &'a str,
    pub revision: &'a str,
    /// The service crate's declared licence.
    pub license: Option<&'a str>,
    /// sha256 (hex) of the service binary in the image.
    pub binary_sha256: &'a str,
    pub epoch: u64,
    /// `lucid-xtask-0.1.0`.
    pub tool: &'a str,
    pub debian: &'a [DebPackage],
    pub crates: &'a ServiceCrates,
}

const IMAGE_ID: &str = "SPDXRef-image";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";

/// An SPDXID made of letters, digits, `.` and `-` only.
fn spdx_id(kind: &str, name: &str, version: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("SPDXRef-{kind}-{}-{}", clean(name), clean(version))
}

fn purl_ref(locator: String) -> Vec<ExternalRef> {
    vec![ExternalRef {
        reference_category: "PACKAGE-MANAGER".into(),
        reference_type: "purl".into(),
        reference_locator: locator,
    }]
}

fn sha256(hex: &str) -> Vec<Checksum> {
    vec![Checksum {
        algorithm: "SHA256".into(),
        checksum_value: hex.into(),
    }]
}

fn relationship(from: &str, kind: &str, to: &str) -> Relationship {
    Relationship {
        spdx_element_id: from.into(),
        relationship_type: kind.into(),
        related_spdx_element: to.into(),
    }
}

/// A Cargo.toml licence as an SPDX expression: the old `MIT/Apache-2.0` form means OR;
/// anything with characters outside the expression grammar is no assertion.
pub fn crate_license(license: Option<&str>) -> String {
    let Some(l) = license.map(str::trim).filter(|l| !l.is_empty()) else {
        return NOASSERTION.into();
    };
    let expr = l.split('/').map(str::trim).collect::<Vec<_>>().join(" OR ");
    let allowed = |c: char| c.is_ascii_alphanumeric() || " .-+()".contains(c);
    if expr.chars().all(allowed) {
        expr
    } else {
        NOASSERTION.into()
    }
}

/// Adds the package of crate `k` to `packages`; returns its SPDXID.
fn crate_package(packages: &mut Vec<Package>, k: &Crate) -> String {
    let mut id = spdx_id("crate", &k.name, &k.version);
    // Two sources of one name and version (rare): keep the identifiers apart.
    while packages.iter().any(|p| p.spdx_id == id) {
        id.push_str("-1");
    }
    packages.push(Package {
        name: k.name.clone(),
        spdx_id: id.clone(),
        version_info: Some(k.version.clone()),
        download_location: if k.from_crates_io() {
            format!(
                "https://crates.io/api/v1/crates/{}/{}/download",
                k.name, k.version
            )
        } else {
            NOASSERTION.into()
        },
        files_analyzed: false,
        checksums: k.checksum.as_deref().map(sha256).unwrap_or_default(),
        license_concluded: NOASSERTION.into(),
        license_declared: crate_license(k.license.as_deref()),
        copyright_text: NOASSERTION.into(),
        external_refs: purl_ref(k.purl()),
        primary_package_purpose: Some("LIBRARY".into()),
    });
    id
}

/// The SPDX document of `c`.
pub fn document(c: &ImageContents) -> Document {
    let binary_id = spdx_id("binary", c.service, c.binary_version);
    let mut packages = vec![
        Package {
            name: c.image.into(),
            spdx_id: IMAGE_ID.into(),
            version_info: Some(c.version.into()),
            download_location: NOASSERTION.into(),
            files_analyzed: false,
            checksums: Vec::new(),
            license_concluded: NOASSERTION.into(),
            license_declared: NOASSERTION.into(),
            copyright_text: NOASSERTION.into(),
            external_refs: Vec::new(),
            primary_package_purpose: Some("CONTAINER".into()),
        },
        Package {
            name: c.service.into(),
            spdx_id: binary_id.clone(),
            version_info: Some(c.binary_version.into()),
            download_location: format!("git+{}@{}", c.source, c.revision),
            files_analyzed: false,
            checksums: sha256(c.binary_sha256),
            license_concluded: NOASSERTION.into(),
            license_declared: crate_license(c.license),
            copyright_text: NOASSERTION.into(),
            external_refs: Vec::new(),
            primary_package_purpose: Some("APPLICATION".into()),
        },
    ];
    let mut relationships = vec![
        relationship(DOCUMENT_ID, "DESCRIBES", IMAGE_ID),
        relationship(IMAGE_ID, "CONTAINS", &binary_id),
    ];
    let mut extracted: Vec<ExtractedLicense> = Vec::new();
    for d in c.debian {
        let id = spdx_id("deb", &d.name, &d.version);
        packages.push(Package {
            name: d.name.clone(),
            spdx_id: id.clone(),
            version_info: Some(d.version.clone()),
            download_location: d.url.clone(),
            files_analyzed: false,
            checksums: sha256(&d.sha256),
            license_concluded: NOASSERTION.into(),
            license_declared: d.license.clone().unwrap_or_else(|| NOASSERTION.into()),
            copyright_text: NOASSERTION.into(),
            external_refs: purl_ref(d.purl()),
            primary_package_purpose: Some("OPERATING-SYSTEM".into()),
        });
        for (license_id, text) in &d.extracted {
            if !extracted.iter().any(|e| &e.license_id == license_id) {
                extracted.push(ExtractedLicense {
                    license_id: license_id.clone(),
                    extracted_text: text.clone(),
                    name: license_id.trim_start_matches("LicenseRef-").into(),
                });
            }
        }
        relationships.push(relationship(IMAGE_ID, "CONTAINS", &id));
    }
    for (k, linked) in c
        .crates
        .linked
        .iter()
        .map(|k| (k, true))
        .chain(c.crates.build.iter().map(|k| (k, false)))
    {
        let id = crate_package(&mut packages, k);
        relationships.push(if linked {
            relationship(&binary_id, "DEPENDS_ON", &id)
        } else {
            relationship(&id, "BUILD_DEPENDENCY_OF", &binary_id)
        });
    }
    let mut doc = Document {
        spdx_version: "SPDX-2.3".into(),
        data_license: "CC0-1.0".into(),
        spdx_id: DOCUMENT_ID.into(),
        name: format!("{} {}", c.image, c.platform.oci()),
        document_namespace: String::new(),
        creation_info: CreationInfo {
            created: lucid_catalog::time::rfc3339(c.epoch as i64),
            creators: vec![format!("Tool: {}", c.tool)],
        },
        packages,
        relationships,
        has_extracted_licensing_infos: extracted,
    };
    // The namespace names this exact content: a hash of the document without it.
    let hash = Sha256::digest(serde_json::to_vec(&doc).expect("json"));
    doc.document_namespace = format!(
        "{}/spdx/{}-{}/{}/{}",
        c.source.trim_end_matches('/'),
        c.service,
        c.version,
        c.platform.oci().replace('/', "-"),
        lucid_image::hex(&hash)
    );
    doc
}

impl Document {
    /// The crates the document says the binary links: (name, version) of every package the
    /// binary DEPENDS_ON, sorted.
    pub fn linked_crates(&self) -> Vec<(String, String)> {
        let binary = self.binary_id();
        self.related(|r| {
            (r.relationship_type == "DEPENDS_ON" && Some(r.spdx_element_id.as_str()) == binary)
                .then_some(r.related_spdx_element.as_str())
        })
    }

    /// The crates the document says only built the binary (BUILD_DEPENDENCY_OF it), sorted.
    pub fn build_crates(&self) -> Vec<(String, String)> {
        let binary = self.binary_id();
        self.related(|r| {
            (r.relationship_type == "BUILD_DEPENDENCY_OF"
                && Some(r.related_spdx_element.as_str()) == binary)
                .then_some(r.spdx_element_id.as_str())
        })
    }

    fn binary_id(&self) -> Option<&str> {
        self.relationships
            .iter()
            .find(|r| r.spdx_element_id == IMAGE_ID && r.relationship_type == "CONTAINS")
            .map(|r| r.related_spdx_element.as_str())
    }

    /// (name, version) of the packages `pick` selects from the relationships, sorted.
    fn related<'a>(
        &'a self,
        pick: impl Fn(&'a Relationship) -> Option<&'a str>,
    ) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .relationships
            .iter()
            .filter_map(pick)
            .filter_map(|id| self.packages.iter().find(|p| p.spdx_id == id))
            .map(|p| (p.name.clone(), p.version_info.clone().unwrap_or_default()))
            .collect();
        out.sort();
        out
    }

    /// The package the image contains that is the service binary: (name, version).
    pub fn binary(&self) -> Option<(String, String)> {
        let id = self.binary_id()?;
        let p = self.packages.iter().find(|p| p.spdx_id == id)?;
        Some((p.name.clone(), p.version_info.clone().unwrap_or_default()))
    }

    /// Packages by kind of purl: (`deb`, `cargo`) counts.
    pub fn counts(&self) -> (usize, usize) {
        let count = |prefix: &str| {
            self.packages
                .iter()
                .filter(|p| {
                    p.external_refs
                        .iter()
                        .any(|r| r.reference_locator.starts_with(prefix))
                })
                .count()
        };
        (count("pkg:deb/"), count("pkg:cargo/"))
    }
}

/// The document as canonical JSON.
pub fn to_json(doc: &Document) -> Result<Vec<u8>> {
    lucid_image::json::canonical(doc)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample_crates() -> ServiceCrates {
        let linked = vec![
            Crate {
                name: "serde".into(),
                version: "1.0.0".into(),
                source: Some("registry+https://github.com/rust-lang/crates.io-index".into()),
                checksum: Some("ab".repeat(32)),
                license: Some("MIT OR Apache-2.0".into()),
            },
            Crate {
                name: "lucid-runtime".into(),
                version: "0.1.0".into(),
                source: None,
                checksum: None,
                license: Some("Apache-2.0".into()),
            },
        ];
        let build = vec![Crate {
            name: "serde_derive".into(),
            version: "1.0.0".into(),
            source: Some("registry+https://github.com/rust-lang/crates.io-index".into()),
            checksum: Some("ef".repeat(32)),
            license: Some("MIT OR Apache-2.0".into()),
        }];
        ServiceCrates { linked, build }
    }

    pub fn sample_debs() -> Vec<DebPackage> {
        vec![DebPackage {
            name: "tzdata".into(),
            version: "2026f-0+deb12u1".into(),
            architecture: "all".into(),
            sha256: "cd".repeat(32),
            url: "http://deb.debian.org/debian/pool/main/t/tzdata/tzdata.deb".into(),
            license: Some("LicenseRef-public-domain".into()),
            extracted: vec![("LicenseRef-public-domain".into(), "public domain".into())],
        }]
    }

    pub fn contents<'a>(debs: &'a [DebPackage], crates: &'a ServiceCrates) -> ImageContents<'a> {
        ImageContents {
            image: "pickme/lucid:tor-proxy-0.1.0",
            service: "tor-proxy",
            version: "0.1.0-0123456",
            binary_version: "0.1.0",
            platform: Platform::LinuxArm64,
            source: "https://github.com/pickme/lucid",
            revision: "0123456789abcdef0123456789abcdef01234567",
            license: Some("Apache-2.0"),
            binary_sha256: "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef",
            epoch: 1_700_000_000,
            tool: "lucid-xtask-0.1.0",
            debian: debs,
            crates,
        }
    }

    #[test]
    fn same_content_same_bytes_and_namespace_follows_content() {
        let (debs, crates) = (sample_debs(), sample_crates());
        let a = to_json(&document(&contents(&debs, &crates))).unwrap();
        let b = to_json(&document(&contents(&debs, &crates))).unwrap();
        assert_eq!(a, b);
        let fewer = ServiceCrates {
            linked: crates.linked[..1].to_vec(),
            build: Vec::new(),
        };
        let fewer = document(&contents(&debs, &fewer));
        let doc = document(&contents(&debs, &crates));
        assert_ne!(fewer.document_namespace, doc.document_namespace);
        assert_eq!(doc.creation_info.created, "2023-11-14T22:13:20Z");
    }

    #[test]
    fn lists_binary_crates_and_packages_with_purls_and_relationships() {
        let (debs, crates) = (sample_debs(), sample_crates());
        let doc = document(&contents(&debs, &crates));
        assert_eq!(doc.binary(), Some(("tor-proxy".into(), "0.1.0".into())));
        assert_eq!(
            doc.packages[0].version_info.as_deref(),
            Some("0.1.0-0123456")
        );
        assert_eq!(
            doc.linked_crates(),
            vec![
                ("lucid-runtime".to_string(), "0.1.0".to_string()),
                ("serde".to_string(), "1.0.0".to_string())
            ]
        );
        assert_eq!(
            doc.build_crates(),
            vec![("serde_derive".to_string(), "1.0.0".to_string())]
        );
        assert_eq!(doc.counts(), (1, 3));
        let tz = doc.packages.iter().find(|p| p.name == "tzdata").unwrap();
        assert_eq!(
            tz.external_refs[0].reference_locator,
            "pkg:deb/debian/tzdata@2026f-0%2Bdeb12u1?arch=all"
        );
        assert_eq!(tz.checksums[0].checksum_value, "cd".repeat(32));
        assert_eq!(
            doc.has_extracted_licensing_infos[0].license_id,
            "LicenseRef-public-domain"
        );
        let serde = doc.packages.iter().find(|p| p.name == "serde").unwrap();
        assert_eq!(serde.checksums[0].checksum_value, "ab".repeat(32));
        assert_eq!(serde.license_declared, "MIT OR Apache-2.0");
    }

    #[test]
    fn normalises_cargo_licences() {
        assert_eq!(crate_license(Some("MIT/Apache-2.0")), "MIT OR Apache-2.0");
        assert_eq!(
            crate_license(Some("Apache-2.0 WITH LLVM-exception")),
            "Apache-2.0 WITH LLVM-exception"
        );
        assert_eq!(crate_license(None), NOASSERTION);
        assert_eq!(crate_license(Some("see LICENSE, \"custom\"")), NOASSERTION);
    }
}
