//! JSON Web Tokens (RFC 7519) signed with EdDSA (Ed25519, RFC 8037) or HS256, written here on top of
//! base64 + serde_json + RustCrypto because the `jsonwebtoken` crate pulls in ring (C code) that
//! does not cross-compile with rust-lld.

use crate::roles::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hmac::{KeyInit, Mac};
use lucid_runtime::ids::{from_hex, to_hex};
use serde::{Deserialize, Serialize};
use std::fmt;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_HMAC_KEY_BYTES: usize = 32;

/// The signing key, from the `jwt-signing-key` secret.
pub enum Key {
    Ed25519(SigningKey),
    Hs256(Vec<u8>),
}

impl Key {
    /// `ed25519:<64 hex digits of the 32-byte seed>` selects EdDSA; any other text of at least
    /// 32 bytes is an HS256 secret.
    pub fn parse(text: &str) -> Result<Key, String> {
        if let Some(seed) = text.strip_prefix("ed25519:") {
            let bytes = from_hex(seed.trim()).map_err(|e| format!("ed25519 seed: {e}"))?;
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|b: Vec<u8>| format!("ed25519 seed must be 32 bytes, got {}", b.len()))?;
            return Ok(Key::Ed25519(SigningKey::from_bytes(&seed)));
        }
        if text.len() < MIN_HMAC_KEY_BYTES {
            return Err(format!(
                "HS256 secret must be at least {MIN_HMAC_KEY_BYTES} bytes (got {}), or use ed25519:<hex seed>",
                text.len()
            ));
        }
        Ok(Key::Hs256(text.as_bytes().to_vec()))
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Key::Ed25519(_) => "EdDSA",
            Key::Hs256(_) => "HS256",
        }
    }

    /// The Ed25519 public key (hex) that other services can verify tokens with; none for HS256.
    pub fn public_key_hex(&self) -> Option<String> {
        match self {
            Key::Ed25519(k) => Some(to_hex(k.verifying_key().as_bytes())),
            Key::Hs256(_) => None,
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Key::Ed25519(k) => k.sign(input).to_bytes().to_vec(),
            Key::Hs256(secret) => hmac(secret, input).to_vec(),
        }
    }

    fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        match self {
            Key::Ed25519(k) => verify_ed25519(&k.verifying_key(), input, signature),
            Key::Hs256(secret) => {
                let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
                    return false;
                };
                mac.update(input);
                // Constant-time comparison.
                mac.verify_slice(signature).is_ok()
            }
        }
    }
}

fn hmac(secret: &[u8], input: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; the error branch cannot happen.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(input);
    mac.finalize().into_bytes().into()
}

/// Strict Ed25519 verification (rejects small-order keys and non-canonical signatures).
pub fn verify_ed25519(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    match Signature::from_slice(signature) {
        Ok(sig) => key.verify_strict(message, &sig).is_ok(),
        Err(_) => false,
    }
}

/// Access tokens authorize requests; refresh tokens only buy a new pair, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    /// The `typ` claim's text.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub role: Role,
    pub typ: TokenType,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    Malformed(String),
    Algorithm(String),
    Signature,
    Expired,
    NotYetValid,
    Issuer(String),
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "malformed token: {why}"),
            JwtError::Algorithm(alg) => write!(f, "token algorithm {alg:?} is not accepted"),
            JwtError::Signature => write!(f, "token signature does not verify"),
            JwtError::Expired => write!(f, "token expired"),
            JwtError::NotYetValid => write!(f, "token not valid yet"),
            JwtError::Issuer(iss) => write!(f, "token issuer {iss:?} is not accepted"),
        }
    }
}

/// `header.payload.signature`, each base64url without padding.
pub fn encode(key: &Key, claims: &Claims) -> String {
    let header = Header {
        alg: key.alg().into(),
        typ: Some("JWT".into()),
    };
    // Serializing these plain structs cannot fail.
    let header = B64.encode(serde_json::to_vec(&header).unwrap_or_default());
    let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let signature = B64.encode(key.sign(signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// Checks, in this order: shape, algorithm (only the configured one: no `none`, no HS256/EdDSA
/// confusion), signature, then the claims `exp`, `nbf`, `iss` and `role` (an unknown role does not
/// parse) at time `now`.
pub fn verify(key: &Key, token: &str, issuer: &str, now: u64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let decode = |part: &str, what: &str| {
        B64.decode(part)
            .map_err(|e| JwtError::Malformed(format!("{what} is not base64url: {e}")))
    };
    let header: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| JwtError::Malformed(format!("header: {e}")))?;
    if header.alg != key.alg() {
        return Err(JwtError::Algorithm(header.alg));
    }
    let signing_input_len = token.len() - signature.len() - 1;
    if !key.verify(
        &token.as_bytes()[..signing_input_len],
        &decode(signature, "signature")?,
    ) {
        return Err(JwtError::Signature);
    }
    let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
        .map_err(|e| JwtError::Malformed(format!("claims: {e}")))?;
    if now >= claims.exp {
        return Err(JwtError::Expired);
    }
    if now < claims.nbf {
        return Err(JwtError::NotYetValid);
    }
    if claims.iss != issuer {
        return Err(JwtError::Issuer(claims.iss));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "lucid-authentication";

    fn claims(now: u64) -> Claims {
        Claims {
            iss: ISS.into(),
            sub: "alice".into(),
            role: Role::NodeWorker,
            typ: TokenType::Access,
            iat: now,
            nbf: now,
            exp: now + 900,
            jti: "j1".into(),
        }
    }

    fn ed_key(seed: u8) -> Key {
        Key::parse(&format!("ed25519:{}", to_hex(&[seed; 32]))).unwrap()
    }

    fn hs_key(text: &str) -> Key {
        Key::parse(text).unwrap()
    }

    #[test]
    fn eddsa_token_round_trips_with_eddsa_header() {
        let key = ed_key(1);
        let token = encode(&key, &claims(1000));
        let header = B64.decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&header).unwrap()["alg"],
            "EdDSA"
        );
        assert_eq!(verify(&key, &token, ISS, 1500).unwrap(), claims(1000));
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_and_hs256_round_trips() {
        // HMAC-SHA256 known answer (RFC 4231 test case 2): key "Jefe", data below.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            to_hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = hs_key("0123456789abcdef0123456789abcdef");
        let token = encode(&key, &claims(1000));
        assert_eq!(verify(&key, &token, ISS, 1001).unwrap().sub, "alice");
    }

    #[test]
    fn expired_token_is_refused() {
        let key = ed_key(1);
        let token = encode(&key, &claims(1000));
        assert_eq!(verify(&key, &token, ISS, 1900), Err(JwtError::Expired));
        assert!(verify(&key, &token, ISS, 1899).is_ok());
    }

    #[test]
    fn token_before_nbf_is_refused() {
        let key = ed_key(1);
        let token = encode(&key, &claims(1000));
        assert_eq!(verify(&key, &token, ISS, 999), Err(JwtError::NotYetValid));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let key = ed_key(1);
        let token = encode(&key, &claims(1000));
        let mut forged = claims(1000);
        forged.role = Role::Admin;
        let forged_payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(&key, &tampered, ISS, 1001), Err(JwtError::Signature));
    }

    #[test]
    fn token_signed_with_another_key_is_refused() {
        let token = encode(&ed_key(2), &claims(1000));
        assert_eq!(
            verify(&ed_key(1), &token, ISS, 1001),
            Err(JwtError::Signature)
        );
        let token = encode(&hs_key("another-secret-another-secret-xx"), &claims(1000));
        assert_eq!(
            verify(
                &hs_key("0123456789abcdef0123456789abcdef"),
                &token,
                ISS,
                1001
            ),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn alg_none_and_algorithm_confusion_are_refused() {
        let key = ed_key(1);
        let token = encode(&key, &claims(1000));
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", B64.encode(br#"{"alg":"none"}"#));
        assert_eq!(
            verify(&key, &none, ISS, 1001),
            Err(JwtError::Algorithm("none".into()))
        );
        let hs = encode(&hs_key("0123456789abcdef0123456789abcdef"), &claims(1000));
        assert_eq!(
            verify(&key, &hs, ISS, 1001),
            Err(JwtError::Algorithm("HS256".into()))
        );
    }

    #[test]
    fn wrong_issuer_and_unknown_role_are_refused() {
        let key = ed_key(1);
        let mut other = claims(1000);
        other.iss = "someone-else".into();
        assert_eq!(
            verify(&key, &encode(&key, &other), ISS, 1001),
            Err(JwtError::Issuer("someone-else".into()))
        );
        // A correctly signed token whose role is not one of Lucid's roles.
        let mut value = serde_json::to_value(claims(1000)).unwrap();
        value["role"] = "root".into();
        let header = B64.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let input = format!("{header}.{}", B64.encode(value.to_string()));
        let token = format!("{input}.{}", B64.encode(key.sign(input.as_bytes())));
        assert!(matches!(
            verify(&key, &token, ISS, 1001),
            Err(JwtError::Malformed(m)) if m.contains("root")
        ));
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        let key = ed_key(1);
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.e30"] {
            assert!(verify(&key, bad, ISS, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_hmac_secret_and_bad_seed_are_refused() {
        assert!(Key::parse("short").err().unwrap().contains("at least 32"));
        assert!(Key::parse("ed25519:abcd")
            .err()
            .unwrap()
            .contains("32 bytes"));
        assert!(Key::parse("ed25519:zz").is_err());
    }
}
