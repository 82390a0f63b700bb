//! The login core: registered public keys, single-use challenges, token pairs and their refresh.
//! Every operation takes `now` (Unix seconds) so that expiry is tested without sleeping.

use crate::jwt::{self, Claims, JwtError, Key, TokenType};
use crate::roles::Role;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use lucid_runtime::http::Refusal;
use lucid_runtime::ids::{from_hex, random_bytes, random_id, to_hex};
use lucid_runtime::storage::JsonFile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Pending challenges kept at most; beyond this, new challenge requests are refused (429)
/// so that a flood of requests cannot exhaust the 64 MiB memory limit.
pub const MAX_PENDING_CHALLENGES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: String,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    pub challenge_ttl: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub user_id: String,
    /// Ed25519 public key, 64 hex digits.
    pub public_key: String,
    pub role: Role,
    pub created_at: u64,
}

/// What the volume holds: users, and the refresh tokens already spent (until they expire).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Store {
    pub users: BTreeMap<String, User>,
    pub spent_refresh: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    pub challenge_id: String,
    pub user_id: String,
    pub nonce: String,
    /// The exact UTF-8 text the client signs with its Ed25519 key.
    pub message: String,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub role: Role,
}

/// A refused operation and the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    BadRequest(String),
    Unauthorized(String),
    NotFound(String),
    Conflict(String),
    TooMany(String),
    Storage(String),
}

impl Refusal for AuthError {
    fn status(&self) -> u16 {
        match self {
            AuthError::BadRequest(_) => 400,
            AuthError::Unauthorized(_) => 401,
            AuthError::NotFound(_) => 404,
            AuthError::Conflict(_) => 409,
            AuthError::TooMany(_) => 429,
            AuthError::Storage(_) => 500,
        }
    }

    fn message(&self) -> String {
        match self {
            AuthError::BadRequest(m)
            | AuthError::Unauthorized(m)
            | AuthError::NotFound(m)
            | AuthError::Conflict(m)
            | AuthError::TooMany(m)
            | AuthError::Storage(m) => m.clone(),
        }
    }
}

impl From<JwtError> for AuthError {
    fn from(e: JwtError) -> Self {
        AuthError::Unauthorized(e.to_string())
    }
}

pub struct Authority {
    key: Key,
    settings: Settings,
    store: JsonFile<Store>,
    challenges: Mutex<BTreeMap<String, Challenge>>,
}

/// User ids follow the runtime's one identifier rule (1–64 of `[A-Za-z0-9_-]`): they end up in
/// log lines and JWT subjects.
pub fn check_user_id(id: &str) -> Result<(), AuthError> {
    lucid_runtime::ident::check("user_id", id).map_err(AuthError::BadRequest)
}

/// Key and signature bytes arrive as hex or base64 (standard or URL-safe).
fn decode_bytes(text: &str, field: &str) -> Result<Vec<u8>, AuthError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let text = text.trim();
    from_hex(text)
        .or_else(|_| STANDARD.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| AuthError::BadRequest(format!("{field}: expected hex or base64")))
}

/// Parses and checks an Ed25519 public key; returns its canonical hex form.
pub fn parse_public_key(text: &str) -> Result<String, AuthError> {
    let bytes: [u8; 32] = decode_bytes(text, "public_key")?
        .try_into()
        .map_err(|b: Vec<u8>| {
            AuthError::BadRequest(format!("public_key: expected 32 bytes, got {}", b.len()))
        })?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| AuthError::BadRequest("public_key: not a valid Ed25519 point".into()))?;
    if key.is_weak() {
        return Err(AuthError::BadRequest(
            "public_key: weak (small-order) Ed25519 key".into(),
        ));
    }
    Ok(to_hex(&bytes))
}

impl Authority {
    pub fn open(
        key: Key,
        settings: Settings,
        store_path: std::path::PathBuf,
    ) -> Result<Self, String> {
        Ok(Authority {
            key,
            settings,
            store: JsonFile::open(store_path)?,
            challenges: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub fn user(&self, user_id: &str) -> Option<User> {
        self.store.read(|s| s.users.get(user_id).cloned())
    }

    /// Registers a user's public key with a role; an existing user id is a conflict.
    pub fn register(
        &self,
        user_id: &str,
        public_key: &str,
        role: Role,
        now: u64,
    ) -> Result<User, AuthError> {
        check_user_id(user_id)?;
        let user = User {
            user_id: user_id.into(),
            public_key: parse_public_key(public_key)?,
            role,
            created_at: now,
        };
        self.store
            .try_update(|s| {
                if s.users.contains_key(user_id) {
                    return Err(AuthError::Conflict(format!(
                        "user {user_id:?} is already registered"
                    )));
                }
                s.users.insert(user_id.into(), user.clone());
                Ok(())
            })
            .map_err(AuthError::Storage)??;
        Ok(user)
    }

    /// A fresh random nonce for `user_id`, valid for `challenge_ttl` seconds and usable once.
    pub fn challenge(&self, user_id: &str, now: u64) -> Result<Challenge, AuthError> {
        check_user_id(user_id)?;
        if self.user(user_id).is_none() {
            return Err(AuthError::NotFound(format!("unknown user {user_id:?}")));
        }
        let mut pending = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, c| c.expires_at > now);
        if pending.len() >= MAX_PENDING_CHALLENGES {
            return Err(AuthError::TooMany(
                "too many pending challenges; retry later".into(),
            ));
        }
        let challenge_id = random_id();
        let nonce = to_hex(&random_bytes::<32>());
        let expires_at = now + self.settings.challenge_ttl;
        let challenge = Challenge {
            message: login_message(
                &self.settings.issuer,
                user_id,
                &challenge_id,
                &nonce,
                expires_at,
            ),
            challenge_id: challenge_id.clone(),
            user_id: user_id.into(),
            nonce,
            expires_at,
        };
        pending.insert(challenge_id, challenge.clone());
        Ok(challenge)
    }

    /// Checks the signature over the challenge's message and issues tokens. The challenge is
    /// consumed by the first attempt, successful or not, so it can never be replayed.
    pub fn login(
        &self,
        challenge_id: &str,
        signature: &str,
        now: u64,
    ) -> Result<TokenPair, AuthError> {
        let challenge = self
            .challenges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(challenge_id)
            .ok_or_else(|| AuthError::Unauthorized("challenge unknown or already used".into()))?;
        if now >= challenge.expires_at {
            return Err(AuthError::Unauthorized("challenge expired".into()));
        }
        let user = self
            .user(&challenge.user_id)
            .ok_or_else(|| AuthError::Unauthorized("user no longer registered".into()))?;
        let key_bytes: [u8; 32] = from_hex(&user.public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                AuthError::Storage(format!("stored key of {:?} is corrupt", user.user_id))
            })?;
        let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| {
            AuthError::Storage(format!("stored key of {:?} is invalid", user.user_id))
        })?;
        let signature = decode_bytes(signature, "signature")?;
        if !jwt::verify_ed25519(&key, challenge.message.as_bytes(), &signature) {
            return Err(AuthError::Unauthorized("signature does not verify".into()));
        }
        Ok(self.issue(&user, now))
    }

    fn issue(&self, user: &User, now: u64) -> TokenPair {
        let claims = |typ, ttl| Claims {
            iss: self.settings.issuer.clone(),
            sub: user.user_id.clone(),
            role: user.role,
            typ,
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: random_id(),
        };
        TokenPair {
            access_token: jwt::encode(
                &self.key,
                &claims(TokenType::Access, self.settings.access_ttl),
            ),
            refresh_token: jwt::encode(
                &self.key,
                &claims(TokenType::Refresh, self.settings.refresh_ttl),
            ),
            token_type: "Bearer",
            expires_in: self.settings.access_ttl,
            role: user.role,
        }
    }

    /// Signature, expiry, not-before, issuer and role of any token this service issued.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        Ok(jwt::verify(&self.key, token, &self.settings.issuer, now)?)
    }

    /// An access token (not a refresh token) that verifies.
    pub fn verify_access(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        let claims = self.verify(token, now)?;
        if claims.typ != TokenType::Access {
            return Err(AuthError::Unauthorized(format!(
                "expected an access token, got a token of typ {:?}: refresh tokens only buy a new pair at POST /refresh",
                claims.typ.as_str()
            )));
        }
        Ok(claims)
    }

    /// Spends a refresh token (once) for a new pair carrying the user's current role.
    pub fn refresh(&self, refresh_token: &str, now: u64) -> Result<TokenPair, AuthError> {
        let claims = self.verify(refresh_token, now)?;
        if claims.typ != TokenType::Refresh {
            return Err(AuthError::Unauthorized("expected a refresh token".into()));
        }
        let user = self
            .user(&claims.sub)
            .ok_or_else(|| AuthError::Unauthorized("user no longer registered".into()))?;
        self.store
            .try_update(|s| {
                // Spent tokens only matter until they expire on their own.
                s.spent_refresh.retain(|_, exp| *exp > now);
                if s.spent_refresh.contains_key(&claims.jti) {
                    return Err(AuthError::Unauthorized("refresh token already used".into()));
                }
                s.spent_refresh.insert(claims.jti.clone(), claims.exp);
                Ok(())
            })
            .map_err(AuthError::Storage)??;
        Ok(self.issue(&user, now))
    }
}

/// The text a client signs: names the service, the user, the challenge and its expiry, so that a
/// signature cannot be reused for another user, challenge or purpose.
pub fn login_message(
    issuer: &str,
    user_id: &str,
    challenge_id: &str,
    nonce: &str,
    expires_at: u64,
) -> String {
    format!(
        "{issuer} login\nuser: {user_id}\nchallenge: {challenge_id}\nnonce: {nonce}\nexpires: {expires_at}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use std::path::PathBuf;

    fn tempdir(tag: &str) -> PathBuf {
        let d = PathBuf::from(lucid_runtime::testing::temp_dir(&format!(
            "lucid-auth-{tag}"
        )));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn authority(tag: &str) -> Authority {
        let settings = Settings {
            issuer: "lucid-authentication".into(),
            access_ttl: 900,
            refresh_ttl: 86_400,
            challenge_ttl: 60,
        };
        let key = Key::parse(&format!("ed25519:{}", to_hex(&[9; 32]))).unwrap();
        Authority::open(key, settings, tempdir(tag).join("auth.json")).unwrap()
    }

    fn user_key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn registered(tag: &str) -> Authority {
        let auth = authority(tag);
        let public = to_hex(user_key().verifying_key().as_bytes());
        auth.register("alice", &public, Role::NodeWorker, 1000)
            .unwrap();
        auth
    }

    fn sign(c: &Challenge) -> String {
        to_hex(&user_key().sign(c.message.as_bytes()).to_bytes())
    }

    #[test]
    fn signed_challenge_yields_tokens_with_the_users_role() {
        let auth = registered("ok");
        let c = auth.challenge("alice", 1000).unwrap();
        let pair = auth.login(&c.challenge_id, &sign(&c), 1010).unwrap();
        let claims = auth.verify_access(&pair.access_token, 1011).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role),
            ("alice", Role::NodeWorker)
        );
    }

    #[test]
    fn replayed_challenge_is_refused() {
        let auth = registered("replay");
        let c = auth.challenge("alice", 1000).unwrap();
        let sig = sign(&c);
        auth.login(&c.challenge_id, &sig, 1001).unwrap();
        let err = auth.login(&c.challenge_id, &sig, 1002).unwrap_err();
        assert_eq!(
            err,
            AuthError::Unauthorized("challenge unknown or already used".into())
        );
    }

    #[test]
    fn expired_challenge_is_refused() {
        let auth = registered("expired");
        let c = auth.challenge("alice", 1000).unwrap();
        let err = auth.login(&c.challenge_id, &sign(&c), 1060).unwrap_err();
        assert_eq!(err, AuthError::Unauthorized("challenge expired".into()));
    }

    #[test]
    fn signature_by_another_key_is_refused_and_burns_the_challenge() {
        let auth = registered("wrongkey");
        let c = auth.challenge("alice", 1000).unwrap();
        let forged = to_hex(
            &SigningKey::from_bytes(&[8; 32])
                .sign(c.message.as_bytes())
                .to_bytes(),
        );
        assert_eq!(
            auth.login(&c.challenge_id, &forged, 1001)
                .unwrap_err()
                .status(),
            401
        );
        // The right signature is now too late: the challenge was consumed.
        assert_eq!(
            auth.login(&c.challenge_id, &sign(&c), 1002)
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn refresh_issues_a_new_pair_once() {
        let auth = registered("refresh");
        let c = auth.challenge("alice", 1000).unwrap();
        let pair = auth.login(&c.challenge_id, &sign(&c), 1000).unwrap();
        let next = auth.refresh(&pair.refresh_token, 2000).unwrap();
        assert!(auth.verify_access(&next.access_token, 2001).is_ok());
        assert_eq!(
            auth.refresh(&pair.refresh_token, 2002).unwrap_err(),
            AuthError::Unauthorized("refresh token already used".into())
        );
        // An access token cannot be used to refresh, and a refresh token cannot authorize.
        assert_eq!(
            auth.refresh(&next.access_token, 2003).unwrap_err().status(),
            401
        );
        assert_eq!(
            auth.verify_access(&next.refresh_token, 2003)
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn expired_refresh_token_is_refused() {
        let auth = registered("refresh-exp");
        let c = auth.challenge("alice", 1000).unwrap();
        let pair = auth.login(&c.challenge_id, &sign(&c), 1000).unwrap();
        assert_eq!(
            auth.refresh(&pair.refresh_token, 1000 + 86_400)
                .unwrap_err(),
            AuthError::Unauthorized("token expired".into())
        );
    }

    #[test]
    fn registration_checks_ids_keys_and_duplicates() {
        let auth = registered("register");
        let public = to_hex(user_key().verifying_key().as_bytes());
        assert_eq!(
            auth.register("alice", &public, Role::User, 1)
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            auth.register("a b", &public, Role::User, 1)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            auth.register("bob", "abcd", Role::User, 1)
                .unwrap_err()
                .status(),
            400
        );
        // The identity point is a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            auth.register("bob", &to_hex(&identity), Role::User, 1)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn users_and_spent_refresh_tokens_survive_a_restart() {
        let auth = registered("restart");
        let c = auth.challenge("alice", 1000).unwrap();
        let pair = auth.login(&c.challenge_id, &sign(&c), 1000).unwrap();
        auth.refresh(&pair.refresh_token, 1001).unwrap();
        let path = auth.store.path().to_path_buf();
        let key = Key::parse(&format!("ed25519:{}", to_hex(&[9; 32]))).unwrap();
        let reopened = Authority::open(key, auth.settings.clone(), path).unwrap();
        assert!(reopened.user("alice").is_some());
        assert_eq!(
            reopened
                .refresh(&pair.refresh_token, 1002)
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn challenge_for_unknown_user_is_not_found() {
        let auth = authority("unknown");
        assert_eq!(auth.challenge("nobody", 1).unwrap_err().status(), 404);
    }
}
