//! ECDSA P-256 keys as cosign uses them.
//!
//! Private keys are read from PEM: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), or cosign's
//! own encrypted format (`ENCRYPTED SIGSTORE PRIVATE KEY`, formerly `ENCRYPTED COSIGN PRIVATE
//! KEY`), which `cosign generate-key-pair` writes. That format is go-securesystemslib's
//! `encrypted` package: the PEM body is JSON
//! `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":…},
//!   "cipher":{"name":"nacl/secretbox","nonce":…},"ciphertext":…}` (byte strings in standard
//! base64), the key is scrypt(password, salt, N, r, p, 32 bytes), and the ciphertext is NaCl
//! secretbox (XSalsa20-Poly1305, tag first) of the PKCS#8 DER of the private key. The password
//! comes from `COSIGN_PASSWORD`, as for cosign. Public keys are SPKI PEM (`PUBLIC KEY`).

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::pkcs8::LineEnding;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The variable that holds the password of an encrypted key (cosign's name for it).
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";
/// The PEM label cosign writes today, and the one it wrote before.
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
pub const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt cost of new keys: go-securesystemslib's defaults (N = 2^15, r = 8, p = 1).
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// A private signing key. Its `Debug` never shows the secret.
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningKey({}, secret hidden)",
            self.public().fingerprint()
        )
    }
}

/// A public key, to verify signatures.
#[derive(Clone, PartialEq)]
pub struct PublicKey {
    key: p256::ecdsa::VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// The JSON inside cosign's encrypted PEM.
#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> SigningKey {
        SigningKey {
            key: p256::ecdsa::SigningKey::random(&mut OsRng),
        }
    }

    /// Reads `path`; an encrypted key is opened with `password` (the caller reads
    /// `COSIGN_PASSWORD`). Errors name the file and never contain key material.
    pub fn load(path: &Path, password: Option<&str>) -> Result<SigningKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("signing key {}", path.display()))?;
        SigningKey::from_pem(&text, password)
            .with_context(|| format!("signing key {}", path.display()))
    }

    /// The key named by `spec`: a file, or `env://VAR` for a PEM held in a variable (as cosign
    /// reads `--key env://VAR`; a CI secret then never touches the disk). An encrypted key is
    /// opened with `COSIGN_PASSWORD`.
    pub fn from_spec(spec: &str) -> Result<SigningKey> {
        let password = std::env::var(PASSWORD_VAR).ok();
        match spec.strip_prefix("env://") {
            Some(var) => {
                let text = std::env::var(var).map_err(|_| {
                    anyhow!("signing key env://{var}: the variable {var} is not set")
                })?;
                SigningKey::from_pem(&text, password.as_deref())
                    .with_context(|| format!("signing key env://{var}"))
            }
            None => SigningKey::load(Path::new(spec), password.as_deref()),
        }
    }

    /// Parses a PEM private key (PKCS#8, SEC1 or cosign's encrypted format).
    pub fn from_pem(text: &str, password: Option<&str>) -> Result<SigningKey> {
        let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
            .map_err(|e| anyhow!("not a PEM private key ({e})"))?;
        let secret = match label {
            "PRIVATE KEY" => p256::SecretKey::from_pkcs8_der(&der)
                .map_err(|e| anyhow!("PKCS#8 key is not an ECDSA P-256 key ({e})"))?,
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
                .map_err(|e| anyhow!("SEC1 key is not an ECDSA P-256 key ({e})"))?,
            SIGSTORE_LABEL | COSIGN_LABEL => {
                let password = password.with_context(|| {
                    format!("the key is encrypted (cosign format): set {PASSWORD_VAR}")
                })?;
                let pkcs8 = decrypt(&der, password.as_bytes())?;
                p256::SecretKey::from_pkcs8_der(&pkcs8).map_err(|e| {
                    anyhow!("the decrypted key is not a PKCS#8 ECDSA P-256 key ({e})")
                })?
            }
            other => bail!(
                "PEM block {other:?} is not a private key (expected PRIVATE KEY, EC PRIVATE KEY or {SIGSTORE_LABEL})"
            ),
        };
        Ok(SigningKey { key: secret.into() })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// The key in cosign's encrypted PEM format (what `cosign generate-key-pair` writes).
    pub fn to_cosign_pem(&self, password: &str) -> Result<String> {
        let secret: p256::SecretKey = self.key.as_nonzero_scalar().into();
        let pkcs8 = secret
            .to_pkcs8_der()
            .map_err(|e| anyhow!("encoding the key as PKCS#8: {e}"))?;
        let json = encrypt(pkcs8.as_bytes(), password.as_bytes())?;
        pem_rfc7468::encode_string(SIGSTORE_LABEL, pem_rfc7468::LineEnding::LF, &json)
            .map_err(|e| anyhow!("PEM: {e}"))
    }

    /// The key as unencrypted PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        let secret: p256::SecretKey = self.key.as_nonzero_scalar().into();
        Ok(secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow!("encoding the key as PKCS#8: {e}"))?
            .to_string())
    }

    /// ECDSA P-256 over SHA-256 of `payload`, ASN.1 DER (what cosign stores, base64-encoded).
    /// Deterministic (RFC 6979): the same key and payload give the same signature.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.key.sign(payload);
        signature.to_der().as_bytes().to_vec()
    }
}

impl PublicKey {
    pub fn load(path: &Path) -> Result<PublicKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("public key {}", path.display()))?;
        PublicKey::from_pem(&text).with_context(|| format!("public key {}", path.display()))
    }

    pub fn from_pem(text: &str) -> Result<PublicKey> {
        let key = p256::PublicKey::from_public_key_pem(text.trim())
            .map_err(|e| anyhow!("not an ECDSA P-256 public key in SPKI PEM ({e})"))?;
        Ok(PublicKey { key: key.into() })
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> String {
        p256::PublicKey::from(&self.key)
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 point encodes")
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo: names the key in reports.
    pub fn fingerprint(&self) -> String {
        let der = p256::PublicKey::from(&self.key)
            .to_public_key_der()
            .expect("a P-256 point encodes");
        format!(
            "sha256:{}",
            lucid_image::hex(&Sha256::digest(der.as_bytes()))
        )
    }

    /// Checks an ASN.1 DER ECDSA signature over SHA-256 of `payload`.
    pub fn verify(&self, payload: &[u8], der_signature: &[u8]) -> Result<()> {
        let signature = p256::ecdsa::Signature::from_der(der_signature)
            .map_err(|_| anyhow!("the signature is not an ASN.1 DER ECDSA signature"))?;
        self.key
            .verify(payload, &signature)
            .map_err(|_| anyhow!("the signature does not match the payload under this key"))
    }
}

fn scrypt_key(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32]> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| anyhow!("scrypt parameters N=2^{log_n} r={r} p={p}: {e}"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut key).map_err(|e| anyhow!("scrypt: {e}"))?;
    Ok(key)
}

/// Opens cosign's encrypted key JSON: the PKCS#8 DER inside.
fn decrypt(json: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    let data: Encrypted =
        serde_json::from_slice(json).context("encrypted key: not cosign's JSON envelope")?;
    if data.kdf.name != "scrypt" || data.cipher.name != "nacl/secretbox" {
        bail!(
            "encrypted key: kdf {:?} / cipher {:?} (only scrypt + nacl/secretbox exist in cosign)",
            data.kdf.name,
            data.cipher.name
        );
    }
    let ScryptParams { N, r, p } = data.kdf.params;
    if !N.is_power_of_two() || N < 2 {
        bail!("encrypted key: scrypt N={N} is not a power of two");
    }
    let field = |name: &str, value: &str| {
        b64()
            .decode(value)
            .map_err(|_| anyhow!("encrypted key: {name} is not base64"))
    };
    let salt = field("kdf.salt", &data.kdf.salt)?;
    let nonce = field("cipher.nonce", &data.cipher.nonce)?;
    let ciphertext = field("ciphertext", &data.ciphertext)?;
    if nonce.len() != NONCE_LEN {
        bail!(
            "encrypted key: nonce of {} bytes (24 expected)",
            nonce.len()
        );
    }
    let key = scrypt_key(password, &salt, N.trailing_zeros() as u8, r, p)?;
    XSalsa20Poly1305::new(&key.into())
        .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
        .map_err(|_| anyhow!("wrong password in {PASSWORD_VAR} (the key does not decrypt)"))
}

/// Seals `plaintext` the way go-securesystemslib's `encrypted.Encrypt` does.
fn encrypt(plaintext: &[u8], password: &[u8]) -> Result<Vec<u8>> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let key = scrypt_key(password, &salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)?;
    let ciphertext = XSalsa20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), plaintext)
        .map_err(|_| anyhow!("secretbox: encryption failed"))?;
    let data = Encrypted {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                N: 1 << SCRYPT_LOG_N,
                r: SCRYPT_R,
                p: SCRYPT_P,
            },
            salt: b64().encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: b64().encode(nonce),
        },
        ciphertext: b64().encode(ciphertext),
    };
    Ok(serde_json::to_vec(&data)?)
}

/// Writes a new key pair into `dir` as `cosign.key` (encrypted with `password`, mode 0600) and
/// `cosign.pub`; refuses to overwrite either. Returns the public key.
pub fn generate_pair(dir: &Path, password: &str) -> Result<PublicKey> {
    let key_path = dir.join("cosign.key");
    let pub_path = dir.join("cosign.pub");
    for p in [&key_path, &pub_path] {
        if p.exists() {
            bail!(
                "{} exists: refusing to overwrite a key (move it away first)",
                p.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let key = SigningKey::generate();
    let pem = key.to_cosign_pem(password)?;
    write_private(&key_path, pem.as_bytes())?;
    let public = key.public();
    std::fs::write(&pub_path, public.to_pem()).with_context(|| pub_path.display().to_string())?;
    Ok(public)
}

/// Creates `path` readable by its owner only (never world-readable, not even for a moment).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| path.display().to_string())?;
    f.write_all(bytes)
        .with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_key_round_trips_and_rejects_a_wrong_password() {
        let key = SigningKey::generate();
        let pem = key.to_cosign_pem("correct horse").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let back = SigningKey::from_pem(&pem, Some("correct horse")).unwrap();
        assert_eq!(back.public(), key.public());
        let err = format!(
            "{:#}",
            SigningKey::from_pem(&pem, Some("wrong")).unwrap_err()
        );
        assert!(err.contains("wrong password"), "{err}");
        let err = format!("{:#}", SigningKey::from_pem(&pem, None).unwrap_err());
        assert!(err.contains(PASSWORD_VAR), "{err}");
    }

    #[test]
    fn signatures_verify_only_for_their_payload_and_key() {
        let key = SigningKey::generate();
        let sig = key.sign(b"payload");
        key.public().verify(b"payload", &sig).unwrap();
        assert!(key.public().verify(b"payloaD", &sig).is_err());
        assert!(SigningKey::generate()
            .public()
            .verify(b"payload", &sig)
            .is_err());
        assert_eq!(sig, key.sign(b"payload"), "RFC 6979: deterministic");
    }

    #[test]
    fn public_key_pem_round_trips() {
        let public = SigningKey::generate().public();
        let pem = public.to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_pem(&pem).unwrap(), public);
        assert!(public.fingerprint().starts_with("sha256:"));
    }

    #[test]
    fn reads_a_pkcs8_key_from_a_file_or_an_environment_variable() {
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let var = "LUCID_ATTEST_TEST_SIGNING_KEY";
        std::env::set_var(var, &pem);
        let from_env = SigningKey::from_spec(&format!("env://{var}")).unwrap();
        assert_eq!(from_env.public(), key.public());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pem"), &pem).unwrap();
        let from_file = SigningKey::from_spec(dir.path().join("k.pem").to_str().unwrap()).unwrap();
        assert_eq!(from_file.public(), key.public());
        let err = format!(
            "{:#}",
            SigningKey::from_spec("env://LUCID_ATTEST_UNSET_VARIABLE").unwrap_err()
        );
        assert!(err.contains("is not set"), "{err}");
    }

    #[test]
    fn malformed_keys_are_errors_without_key_material() {
        for text in [
            "",
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(SigningKey::from_pem(text, Some("x")).is_err(), "{text:?}");
        }
        let secret = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
        let err = format!("{:#}", SigningKey::from_pem(secret, None).unwrap_err());
        assert!(!err.contains("MIGHAgEA"), "{err}");
    }
}
