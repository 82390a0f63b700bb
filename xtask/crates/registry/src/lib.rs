//! The one registry client of the pipeline: a small blocking client of the OCI distribution API
//! (what `docker push` and `docker pull` speak), over `ureq` + rustls. The image stage pushes
//! through it, the validator reads images back through it, the release asks it what it may do.
//!
//! What it handles, as Docker does:
//! - **The endpoint**: `https://<host>`; a loopback host (`127.0.0.0/8`, `localhost`) is spoken
//!   to over plain HTTP unless its answer to a plain `GET /v2/` says it wants TLS (HTTP 400: a
//!   TLS port), then over HTTPS. `docker.io` is `registry-1.docker.io`.
//! - **Authentication**: the registry's answer to `GET /v2/` names the scheme. Basic: the
//!   credentials go with every request. Bearer (Docker Hub's flow): a token is fetched from the
//!   challenge's `realm` for the `service` and exactly the scopes a request needs
//!   (`repository:<repo>:pull`, or `pull,push`), with the credentials as Basic auth; tokens are
//!   kept per scope and fetched again when they expire (`expires_in`) or when the registry
//!   refuses one (401), once.
//! - **Credentials**: the Docker config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`):
//!   `credHelpers`, `credsStore` (`docker-credential-<name> get`), then `auths` (base64
//!   `user:password`). They never appear in an error or a `Debug` print.
//! - **TLS trust**: the platform's CA store (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it, as for
//!   OpenSSL and curl) plus Docker's per-registry CAs `/etc/docker/certs.d/<host>/*.crt`, for the
//!   registry and its token service alike. See [`tls`].
//! - **Faults**: connection errors, 5xx and 429 are retried with backoff; an untrusted
//!   certificate, refused credentials, a token that cannot be renewed are not, and each is an
//!   error naming the registry and what to do.

mod api;
pub mod auth;
mod client;
pub mod credentials;
pub mod tls;

#[cfg(feature = "testing")]
pub mod testing;

pub use api::Manifest;
pub use auth::{AuthStats, Scheme, Scope};
pub use client::{Config, Connection, Registry, Reply, Retry};
pub use credentials::{credentials_for, credentials_in, Credentials};

/// `sha256:<hex>` of `bytes`: the content address of a blob or manifest.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// True for hosts on the loopback interface (`127.0.0.0/8`, `localhost`, `[::1]`), with or
/// without a port: the registries a developer or a test runs locally.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts_with_and_without_port() {
        for host in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["docker.io", "registry.example:5000", "10.0.0.1:5000"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
