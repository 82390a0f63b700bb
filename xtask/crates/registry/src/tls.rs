//! Which certificate authorities a registry client trusts, and how a TLS failure is told apart.
//!
//! The convention is Docker's and OpenSSL's, so that a machine set up for `docker push` to a
//! private registry works as it is:
//! 1. the platform's CA store, read with `rustls-native-certs` (on Debian
//!    `/etc/ssl/certs/ca-certificates.crt`); `SSL_CERT_FILE` (a PEM bundle) and `SSL_CERT_DIR`
//!    replace it, as they do for OpenSSL, curl and Go;
//! 2. plus Docker's per-registry CAs: every `*.crt` in `/etc/docker/certs.d/<host>/` (what
//!    dockerd reads for `docker push <host>/…`), trusted for that registry and its token service.
//!
//! A machine with neither (no CA bundle installed) falls back to Mozilla's roots built into the
//! binary (webpki-roots). Client certificates (`certs.d`'s `*.cert`/`*.key`) are not supported.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use ureq::tls::{Certificate, PemItem, RootCerts};

/// Where Docker keeps per-registry CA certificates.
pub const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";

/// The roots a client of one registry trusts, and a line saying where they came from.
pub struct Trust {
    pub roots: RootCerts,
    pub description: String,
}

/// The roots for `host`: the platform's store plus `<certs_d>/<host>/*.crt`.
pub fn trust_for(host: &str, certs_d: &Path) -> Result<Trust> {
    let (platform, platform_origin) = platform_roots()?;
    let mut certs = platform.clone();
    let mut origins = vec![platform_origin.clone()];
    for (file, found) in docker_cas(&certs_d.join(host))? {
        origins.push(format!("{} ({found})", file.display()));
        certs.extend(read_pem_certificates(&file)?);
    }
    if certs.is_empty() {
        return Ok(Trust {
            roots: RootCerts::WebPki,
            description: "Mozilla's roots built in (no CA store on this machine)".into(),
        });
    }
    Ok(Trust {
        roots: RootCerts::from(certs),
        description: origins.join(" + "),
    })
}

/// The platform's CA certificates (read once per process) and where they came from.
fn platform_roots() -> Result<&'static (Vec<Certificate<'static>>, String)> {
    static PLATFORM: OnceLock<std::result::Result<(Vec<Certificate<'static>>, String), String>> =
        OnceLock::new();
    let loaded = PLATFORM.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let overridden = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .filter_map(|v| std::env::var(v).ok().map(|p| format!("{v}={p}")))
            .collect::<Vec<_>>();
        if !overridden.is_empty() && !found.errors.is_empty() {
            let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
            return Err(format!(
                "{}: {}; point it at a readable PEM bundle of CA certificates",
                overridden.join(", "),
                errors.join("; ")
            ));
        }
        let certs: Vec<Certificate<'static>> = found
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let origin = if overridden.is_empty() {
            format!("the platform's CA store ({})", cas(certs.len()))
        } else {
            format!("{} ({})", overridden.join(", "), cas(certs.len()))
        };
        Ok((certs, origin))
    });
    match loaded {
        Ok(roots) => Ok(roots),
        Err(e) => bail!("{e}"),
    }
}

/// Docker's CA files for one registry (`<dir>/*.crt`, sorted), each with how many it holds.
fn docker_cas(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let n = read_pem_certificates(&f)?.len();
            Ok((f, cas(n)))
        })
        .collect()
}

fn cas(n: usize) -> String {
    format!("{n} CA{}", if n == 1 { "" } else { "s" })
}

/// Every certificate of a PEM file; a file with none is an error (a typo would otherwise leave
/// the registry untrusted with no hint why).
fn read_pem_certificates(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        if let PemItem::Certificate(c) =
            item.with_context(|| format!("{}: invalid PEM", path.display()))?
        {
            certs.push(c.to_owned());
        }
    }
    if certs.is_empty() {
        bail!("{}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}

/// The certificate problem behind a transport error, if that is what it is: the server's
/// certificate chain did not verify (unknown issuer, expired, wrong name…).
pub fn certificate_problem(e: &ureq::Error) -> Option<String> {
    let rustls_error = match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    }?;
    match rustls_error {
        rustls::Error::InvalidCertificate(c) => Some(format!("{c:?}")),
        _ => None,
    }
}
