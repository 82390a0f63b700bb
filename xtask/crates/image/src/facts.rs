//! The facts of a service image, from the catalog: one function feeds both engines (the OCI
//! config written in-process and the Dockerfile stage of the service), so they cannot drift.

use lucid_catalog::Service;

pub const USER: &str = "65532:65532";
pub const WORKING_DIR: &str = "/home/nonroot";
/// The PATH BuildKit gives a `FROM scratch` image; set explicitly so both engines agree.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Facts that do not depend on the build (they go literally into the Dockerfile).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    pub service: String,
    pub description: String,
    /// `/usr/local/bin/<service>`.
    pub binary: String,
    pub entrypoint: Vec<String>,
    /// Ordered: PATH, SSL_CERT_FILE, LUCID_HTTP_PORT, then each extra port's variable.
    pub env: Vec<(String, String)>,
    /// `9052/tcp`, in the order of `env`.
    pub exposed_ports: Vec<String>,
}

/// Facts of one build (they reach the Dockerfile as build arguments).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildInfo {
    /// `0.1.0` or `0.1.0-<sha>`.
    pub version: String,
    /// Full git commit, or `unknown`.
    pub revision: String,
    pub source: String,
    /// SOURCE_DATE_EPOCH: every mtime of the service layer and the `created` fields.
    pub epoch: u64,
    pub base_name: String,
    pub base_digest: String,
}

impl ImageFacts {
    pub fn of(service: &Service) -> ImageFacts {
        let binary = service.binary_path();
        let mut env = vec![
            ("PATH".to_string(), PATH.to_string()),
            (
                "SSL_CERT_FILE".to_string(),
                format!("/{}", crate::base::CA_BUNDLE),
            ),
            ("LUCID_HTTP_PORT".to_string(), service.port.to_string()),
        ];
        let mut exposed_ports = vec![format!("{}/tcp", service.port)];
        for p in &service.extra_ports {
            env.push((p.env.clone(), p.port.to_string()));
            exposed_ports.push(format!("{}/tcp", p.port));
        }
        ImageFacts {
            service: service.name.clone(),
            description: service.description.clone(),
            entrypoint: vec![binary.clone()],
            binary,
            env,
            exposed_ports,
        }
    }

    /// The labels (and manifest annotations) of the image, sorted by key.
    pub fn labels(&self, build: &BuildInfo) -> Vec<(String, String)> {
        let mut labels = vec![
            (
                "org.opencontainers.image.base.digest",
                build.base_digest.clone(),
            ),
            (
                "org.opencontainers.image.base.name",
                build.base_name.clone(),
            ),
            ("org.opencontainers.image.created", rfc3339(build.epoch)),
            (
                "org.opencontainers.image.description",
                self.description.clone(),
            ),
            ("org.opencontainers.image.revision", build.revision.clone()),
            ("org.opencontainers.image.source", build.source.clone()),
            ("org.opencontainers.image.title", self.service.clone()),
            ("org.opencontainers.image.version", build.version.clone()),
        ];
        labels.sort();
        labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// `1700000000` → `2023-11-14T22:13:20Z`.
pub fn rfc3339(epoch: u64) -> String {
    // SOURCE_DATE_EPOCH values are far below i64::MAX (year 292 billion).
    lucid_catalog::time::rfc3339(epoch as i64)
}
