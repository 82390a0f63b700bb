//! SLSA v1 provenance (`https://slsa.dev/provenance/v1`) of one platform image: the source
//! repository and commit, the build invocation (command, platforms, builder, engine), and the
//! resolved inputs — the base (lock file digest, base layer digest), `Cargo.lock`, and the
//! pinned toolchain of `rust-toolchain.toml`. Nothing machine-specific goes in (no paths, host
//! names or wall-clock times), so two machines building the same commit write the same bytes.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The facts of one build, shared by every image of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildFacts {
    /// Repository URL (`org.opencontainers.image.source`).
    pub source: String,
    /// The commit built (full sha).
    pub commit: String,
    /// `cargo xtask build-images` or `cargo xtask release`.
    pub command: String,
    /// Every platform of the build (`linux/arm64`, …).
    pub platforms: Vec<String>,
    /// `cargo`, `zigbuild` or `cross`: what compiled the binaries.
    pub builder: String,
    /// `oci` or `buildx`: what assembled the images.
    pub engine: String,
    pub epoch: u64,
    pub base: BaseInput,
    /// sha256 (hex) of `Cargo.lock`.
    pub cargo_lock_sha256: String,
    pub toolchain: Toolchain,
}

/// The base image the service layer went on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseInput {
    /// `debian-lock:<fingerprint>` or the reference.
    pub name: String,
    /// Base layer (lock) or image (reference) digest.
    pub digest: String,
    /// The lock file (`images/base.lock.toml`) and its sha256, for a base built from a lock.
    pub lock: Option<(String, String)>,
}

/// The toolchain pinned in `rust-toolchain.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toolchain {
    pub channel: String,
    pub file_sha256: String,
}

/// sha256 (hex) of a file.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    Ok(lucid_image::hex(&Sha256::digest(bytes)))
}

impl Toolchain {
    /// The `[toolchain] channel` of `rust-toolchain.toml` and the file's digest.
    pub fn read(path: &Path) -> Result<Toolchain> {
        #[derive(Deserialize)]
        struct File {
            toolchain: Section,
        }
        #[derive(Deserialize)]
        struct Section {
            channel: String,
        }
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let file: File = toml::from_str(&text)
            .with_context(|| format!("{}: [toolchain] channel", path.display()))?;
        Ok(Toolchain {
            channel: file.toolchain.channel,
            file_sha256: file_sha256(path)?,
        })
    }
}

/// A resolved dependency (SLSA `ResourceDescriptor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    pub digest: BTreeMap<String, String>,
}

/// The SLSA v1 predicate (the parts this pipeline fills).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: ExternalParameters,
    pub internal_parameters: serde_json::Value,
    pub resolved_dependencies: Vec<Resource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalParameters {
    pub source: SourceParameter,
    pub invocation: Invocation,
    pub service: String,
    pub platform: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceParameter {
    pub repository: String,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub command: String,
    pub platforms: Vec<String>,
    pub builder: String,
    pub engine: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    pub builder: Builder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Builder {
    pub id: String,
}

fn digest_of(algorithm: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(algorithm.to_string(), value.to_string())])
}

/// The provenance predicate of the `platform` image of `service`.
pub fn predicate(facts: &BuildFacts, service: &str, platform: &str) -> Predicate {
    let source = facts.source.trim_end_matches('/');
    let mut resolved = vec![Resource {
        name: None,
        uri: Some(format!("git+{source}@{}", facts.commit)),
        digest: digest_of("gitCommit", &facts.commit),
    }];
    if let Some((path, sha)) = &facts.base.lock {
        resolved.push(Resource {
            name: Some(path.clone()),
            uri: None,
            digest: digest_of("sha256", sha),
        });
    }
    let (algorithm, hex) = facts
        .base
        .digest
        .split_once(':')
        .unwrap_or(("sha256", &facts.base.digest));
    resolved.push(Resource {
        name: Some("base".into()),
        uri: Some(facts.base.name.clone()),
        digest: digest_of(algorithm, hex),
    });
    resolved.push(Resource {
        name: Some("Cargo.lock".into()),
        uri: None,
        digest: digest_of("sha256", &facts.cargo_lock_sha256),
    });
    resolved.push(Resource {
        name: Some("rust-toolchain.toml".into()),
        uri: Some(format!("pkg:generic/rust@{}", facts.toolchain.channel)),
        digest: digest_of("sha256", &facts.toolchain.file_sha256),
    });
    Predicate {
        build_definition: BuildDefinition {
            build_type: format!("{source}/xtask/build-images@v1"),
            external_parameters: ExternalParameters {
                source: SourceParameter {
                    repository: source.to_string(),
                    commit: facts.commit.clone(),
                },
                invocation: Invocation {
                    command: facts.command.clone(),
                    platforms: facts.platforms.clone(),
                    builder: facts.builder.clone(),
                    engine: facts.engine.clone(),
                },
                service: service.into(),
                platform: platform.into(),
            },
            internal_parameters: serde_json::json!({ "SOURCE_DATE_EPOCH": facts.epoch }),
            resolved_dependencies: resolved,
        },
        run_details: RunDetails {
            builder: Builder {
                id: format!("{source}/xtask"),
            },
        },
    }
}

impl Predicate {
    /// The commit the provenance says was built (source parameter and resolved git
    /// dependency must agree, else `None`).
    pub fn commit(&self) -> Option<&str> {
        let declared = self
            .build_definition
            .external_parameters
            .source
            .commit
            .as_str();
        let resolved = self
            .build_definition
            .resolved_dependencies
            .iter()
            .find_map(|r| r.digest.get("gitCommit"))?;
        (declared == resolved).then_some(declared)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn facts() -> BuildFacts {
        BuildFacts {
            source: "https://github.com/pickme/lucid".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            command: "cargo xtask build-images".into(),
            platforms: vec!["linux/arm64".into(), "linux/amd64".into()],
            builder: "cargo".into(),
            engine: "oci".into(),
            epoch: 1_700_000_000,
            base: BaseInput {
                name: "debian-lock:abc".into(),
                digest: format!("sha256:{}", "11".repeat(32)),
                lock: Some(("images/base.lock.toml".into(), "22".repeat(32))),
            },
            cargo_lock_sha256: "33".repeat(32),
            toolchain: Toolchain {
                channel: "1.95.0".into(),
                file_sha256: "44".repeat(32),
            },
        }
    }

    #[test]
    fn records_source_invocation_and_resolved_inputs() {
        let p = predicate(&facts(), "tor-proxy", "linux/arm64");
        assert_eq!(p.commit(), Some("0123456789abcdef0123456789abcdef01234567"));
        let json = serde_json::to_value(&p).unwrap();
        let deps = json["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = deps.iter().filter_map(|d| d["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "images/base.lock.toml",
                "base",
                "Cargo.lock",
                "rust-toolchain.toml"
            ]
        );
        assert_eq!(deps[2]["digest"]["sha256"], "11".repeat(32));
        assert_eq!(deps[4]["uri"], "pkg:generic/rust@1.95.0");
        assert_eq!(
            json["buildDefinition"]["externalParameters"]["invocation"]["builder"],
            "cargo"
        );
    }

    #[test]
    fn a_provenance_whose_commits_disagree_names_none() {
        let mut p = predicate(&facts(), "tor-proxy", "linux/arm64");
        p.build_definition.external_parameters.source.commit = "f".repeat(40);
        assert_eq!(p.commit(), None);
    }

    #[test]
    fn reads_the_pinned_toolchain() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let t = Toolchain::read(&root.join("rust-toolchain.toml")).unwrap();
        assert!(t.channel.starts_with("1."), "{t:?}");
        assert_eq!(t.file_sha256.len(), 64);
    }
}
