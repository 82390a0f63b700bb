//! Keys written by cosign itself open with our reader. The fixtures are published test vectors
//! of the cosign repository (sigstore/cosign): `pkg/cosign/keys_test.go` (`pemsigstorekey` and
//! `pemcosigneckey`, password "hello"). The test key `GenerateKeyPair` writes in that file is
//! decrypted by cosign's own test with the same password, so these are keys as cosign writes them.

use lucid_attest::SigningKey;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn opens_cosigns_sigstore_labelled_test_key() {
    let key = SigningKey::load(&fixture("sigstore-hello.key"), Some("hello")).unwrap();
    let sig = key.sign(b"payload");
    key.public().verify(b"payload", &sig).unwrap();
    let err = format!(
        "{:#}",
        SigningKey::load(&fixture("sigstore-hello.key"), Some("hellO")).unwrap_err()
    );
    assert!(err.contains("wrong password"), "{err}");
}

#[test]
fn refuses_an_encrypted_sec1_key_as_cosign_does() {
    // cosign: "parsing private key: x509: failed to parse private key (use ParseECPrivateKey
    // instead for this key format)": the password is right, the content is not PKCS#8.
    let err = format!(
        "{:#}",
        SigningKey::load(&fixture("cosign-ec-sec1-hello.key"), Some("hello")).unwrap_err()
    );
    assert!(err.contains("not a PKCS#8"), "{err}");
}
