//! A certificate authority of the test, generated in pure Rust (rcgen): it certifies the test
//! registry and token server (127.0.0.1, localhost) and the key that signs the tokens.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub struct TestCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, DER.
pub struct Leaf {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pkcs8_der: Vec<u8>,
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`; its certificate is written to `<dir>/ca.crt`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = named(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.crt"), cert.pem()).unwrap();
        TestCa {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate (PEM): what a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Docker's per-registry CA layout trusting this CA for `host`: writes
    /// `<dir>/certs.d/<host>/ca.crt` and returns `<dir>/certs.d`.
    pub fn certs_d(&self, host: &str) -> PathBuf {
        let root = self.dir.join("certs.d");
        std::fs::create_dir_all(root.join(host)).unwrap();
        std::fs::copy(self.ca_file(), root.join(host).join("ca.crt")).unwrap();
        root
    }

    /// A TLS server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Leaf {
        self.leaf(
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap(),
        )
    }

    /// A server certificate and key as PEM files in `dir`, for the registry's `http.tls`.
    pub fn server_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let leaf = self.server();
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert, &leaf.cert_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        (cert, key)
    }

    /// The certificate of the key that signs tokens (its chain ends at this CA, the registry's
    /// `rootcertbundle`).
    pub fn token_signer(&self) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = named("lucid test token signer");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.leaf(params)
    }

    fn leaf(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pkcs8_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn named(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}
