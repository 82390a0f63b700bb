//! Chunk encryption: XChaCha20-Poly1305 with a key per chunk.
//!
//! Key schedule (HKDF with SHA-256 throughout):
//! - session key = HKDF(ikm = master key, salt = "lucid/session-key/v1", info = session id);
//! - chunk key   = HKDF(ikm = session key, salt = "lucid/chunk-key/v1", info = chunk index, u64 big-endian).
//!
//! A sealed chunk is `nonce (24 random bytes) || ciphertext || tag (16 bytes)`. The associated
//! data binds it to its place: `"lucid/chunk/v1" || len(session id) (u32 BE) || session id ||
//! index (u64 BE)`, so a chunk moved to another session or index fails to open. The random
//! 192-bit nonce makes reuse negligible even if a chunk is encrypted twice.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

/// The service's master key (32 bytes); never leaves the process.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

// Debug output (logs, test failures) must never show the key.
impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// The key of one session, from which its chunk keys derive.
pub struct SessionKey([u8; 32]);

#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than a nonce and a tag.
    Malformed,
    /// Wrong key, wrong session id or index, or a modified byte: AEAD says no, and cannot say which.
    Authentication,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::Malformed => "sealed chunk is shorter than nonce and tag",
            OpenError::Authentication => {
                "authentication failed: wrong key, session id or chunk index, or modified data"
            }
        })
    }
}

fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

impl MasterKey {
    /// 64 hex digits (32 bytes): the format of the `session-master-key` secret.
    pub fn from_hex(text: &str) -> Result<MasterKey, String> {
        let bytes = lucid_runtime::ids::from_hex(text.trim())
            .map_err(|e| format!("master key is not hex: {e}"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "master key has {} bytes, expected 32 (64 hex digits)",
                b.len()
            )
        })?;
        Ok(MasterKey(key))
    }

    pub fn session_key(&self, session_id: &str) -> SessionKey {
        SessionKey(hkdf32(
            &self.0,
            b"lucid/session-key/v1",
            session_id.as_bytes(),
        ))
    }
}

impl SessionKey {
    fn cipher(&self, index: u64) -> XChaCha20Poly1305 {
        let key = hkdf32(&self.0, b"lucid/chunk-key/v1", &index.to_be_bytes());
        XChaCha20Poly1305::new(&key.into())
    }
}

/// The associated data of chunk `index` of `session_id`.
pub fn associated_data(session_id: &str, index: u64) -> Vec<u8> {
    let mut ad = b"lucid/chunk/v1".to_vec();
    ad.extend((session_id.len() as u32).to_be_bytes());
    ad.extend(session_id.as_bytes());
    ad.extend(index.to_be_bytes());
    ad
}

/// Encrypts `plaintext` (consumed, encrypted in place) into a sealed chunk.
pub fn seal(
    key: &SessionKey,
    session_id: &str,
    index: u64,
    plaintext: Vec<u8>,
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let mut buffer = plaintext;
    buffer.reserve_exact(TAG_LEN + NONCE_LEN);
    key.cipher(index)
        .encrypt_in_place(
            XNonce::from_slice(&nonce),
            &associated_data(session_id, index),
            &mut buffer,
        )
        .expect("a Vec buffer can always grow by the tag");
    // The nonce goes in front; shifting once is cheaper than a second 16 MiB buffer.
    buffer.splice(0..0, nonce);
    buffer
}

/// Decrypts a sealed chunk, or says why it cannot be trusted.
pub fn open(
    key: &SessionKey,
    session_id: &str,
    index: u64,
    sealed: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::Malformed);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let mut buffer = ciphertext.to_vec();
    key.cipher(index)
        .decrypt_in_place(
            XNonce::from_slice(nonce),
            &associated_data(session_id, index),
            &mut buffer,
        )
        .map_err(|_| OpenError::Authentication)?;
    Ok(buffer)
}

/// BLAKE3 of a sealed chunk (nonce, ciphertext and tag): the leaf merkle-builder receives.
pub fn ciphertext_hash(sealed: &[u8]) -> String {
    blake3::hash(sealed).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key(session: &str) -> SessionKey {
        MasterKey::from_hex(MASTER).unwrap().session_key(session)
    }

    fn sealed() -> Vec<u8> {
        seal(
            &key("s1"),
            "s1",
            3,
            b"compressed chunk bytes".to_vec(),
            [7u8; 24],
        )
    }

    #[test]
    fn sealed_chunk_opens_back_to_the_plaintext() {
        let s = sealed();
        assert_eq!(s.len(), NONCE_LEN + 22 + TAG_LEN);
        assert_eq!(&s[..NONCE_LEN], &[7u8; 24]);
        assert_eq!(
            open(&key("s1"), "s1", 3, &s).unwrap(),
            b"compressed chunk bytes"
        );
    }

    #[test]
    fn flipped_ciphertext_byte_fails_authentication() {
        for position in [0, NONCE_LEN, NONCE_LEN + 5, sealed().len() - 1] {
            let mut s = sealed();
            s[position] ^= 0x01;
            assert_eq!(
                open(&key("s1"), "s1", 3, &s),
                Err(OpenError::Authentication),
                "byte {position}"
            );
        }
    }

    #[test]
    fn wrong_session_id_or_index_as_associated_data_fails() {
        let s = sealed();
        // Right key, wrong associated data.
        assert_eq!(
            open(&key("s1"), "s2", 3, &s),
            Err(OpenError::Authentication)
        );
        assert_eq!(
            open(&key("s1"), "s1", 4, &s),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn wrong_master_key_fails() {
        let other = MasterKey::from_hex(&"ff".repeat(32))
            .unwrap()
            .session_key("s1");
        assert_eq!(
            open(&other, "s1", 3, &sealed()),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn truncated_input_is_malformed_not_a_panic() {
        assert_eq!(
            open(&key("s1"), "s1", 3, &[0u8; 39]),
            Err(OpenError::Malformed)
        );
        assert_eq!(open(&key("s1"), "s1", 3, &[]), Err(OpenError::Malformed));
    }

    #[test]
    fn keys_differ_per_session_and_per_chunk() {
        let a = seal(&key("s1"), "s1", 0, vec![0; 32], [1; 24]);
        let b = seal(&key("s1"), "s1", 1, vec![0; 32], [1; 24]);
        let c = seal(&key("s2"), "s1", 0, vec![0; 32], [1; 24]);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn master_key_must_be_32_bytes_of_hex() {
        assert!(MasterKey::from_hex("abcd")
            .unwrap_err()
            .contains("expected 32"));
        assert!(MasterKey::from_hex(&"zz".repeat(32))
            .unwrap_err()
            .contains("not hex"));
    }

    #[test]
    fn ciphertext_hash_is_blake3() {
        assert_eq!(
            ciphertext_hash(b""),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }
}
