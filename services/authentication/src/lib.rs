//! authentication: Ed25519 challenge/response login, JWT issue/verify/refresh and roles.
//!
//! A client holds an Ed25519 key pair; its public key is registered with a role. To log in it asks
//! for a challenge, signs the challenge's `message` with its private key and gets an access token
//! and a refresh token (JWTs). Challenges are random, expire, and are consumed by the first login
//! attempt, so a captured signature cannot be replayed. Refresh tokens are single-use.
//!
//! Roles: `user`, `node_worker`, `admin`, `observer`, `server`, `dev`.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | GET | `/keys` | – | `{alg, issuer, public_key?}` (the Ed25519 key for EdDSA; none for HS256) |
//! | POST | `/users` | `{user_id, public_key, role}` | 201 `{user_id, public_key, role, created_at}`; roles other than `user` need `Authorization: Bearer <admin access token>` (401/403); 409 if the id exists |
//! | GET | `/users/{id}` | – | the user, or 404 |
//! | POST | `/challenges` | `{user_id}` | 201 `{challenge_id, user_id, nonce, message, expires_at}`; 404 unknown user |
//! | POST | `/login` | `{challenge_id, signature}` | `{access_token, refresh_token, token_type, expires_in, role}`; 401 for an unknown, used or expired challenge or a bad signature |
//! | POST | `/verify` | `{token, roles?}` | `{valid: true, claims}` for a valid **access** token; 401 invalid/expired, or a refresh token (the error says its `typ`: refresh tokens only buy a new pair at `/refresh`); 403 when `roles` is given and the token's role is not in it |
//! | POST | `/refresh` | `{refresh_token}` | a new token pair; 401 when the refresh token is invalid, expired or already used |
//!
//! Public keys and signatures are hex or base64. The signed `message` is UTF-8 text naming the
//! issuer, user, challenge id, nonce and expiry. JWT claims: `iss, sub, role, typ
//! (access|refresh), iat, nbf, exp, jti`; verification checks the algorithm (only the configured
//! one), the signature, `exp`, `nbf`, `iss` and that `role` is one of the roles above.
//!
//! # Configuration
//! - `AUTH_DATA_DIR` (required, the `auth` volume): `auth.json` with users and spent refresh tokens.
//! - `JWT_SIGNING_KEY` / `JWT_SIGNING_KEY_FILE` (the `jwt-signing-key` secret, required):
//!   `ed25519:<64 hex digits of a 32-byte seed>` signs with EdDSA; any other value of at least
//!   32 bytes is an HS256 secret.
//! - `AUTH_ISSUER` (`lucid-authentication`), `AUTH_ACCESS_TTL_SECS` (900),
//!   `AUTH_REFRESH_TTL_SECS` (86400), `AUTH_CHALLENGE_TTL_SECS` (60).
//! - `AUTH_ADMIN_PUBLIC_KEY` (optional): registers user `admin` with role `admin` at start when no
//!   such user exists, so that the first privileged registrations are possible.
//!
//! # Out of scope
//! Pending challenges live in memory (a restart invalidates them; that only forces a new
//! challenge). Access tokens are not revocable before they expire (keep their TTL short); users
//! cannot be deleted or re-keyed through the API. Passwords, OAuth and TLS (ends at the gateway).

mod authority;
pub mod jwt;
pub mod roles;

pub use authority::{login_message, AuthError, Authority, Settings, User};
use lucid_runtime::http::Refusal;
use lucid_runtime::ids::now_unix;
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use roles::Role;
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

pub struct Config {
    data_dir: PathBuf,
    key: Option<jwt::Key>,
    settings: Settings,
    admin_public_key: Option<String>,
}

pub struct Service {
    auth: Authority,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    user_id: String,
    public_key: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeBody {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    challenge_id: String,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    token: String,
    #[serde(default)]
    roles: Option<Vec<Role>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

impl App for Service {
    type Config = Config;

    const MAX_BODY_BYTES: u64 = 16 << 10;

    fn config(env: &mut Env) -> Config {
        let data_dir = PathBuf::from(env.required(
            "AUTH_DATA_DIR",
            "directory of the auth volume (users, spent refresh tokens)",
        ));
        let secret = env.secret(
            "JWT_SIGNING_KEY",
            "JWT signing key: ed25519:<hex seed> for EdDSA, or an HS256 secret of at least 32 bytes",
        );
        let key = match secret {
            None => {
                env.check(
                    false,
                    "JWT_SIGNING_KEY: required (secret jwt-signing-key) but not set",
                );
                None
            }
            Some(text) => match jwt::Key::parse(&text) {
                Ok(key) => Some(key),
                Err(e) => {
                    env.check(false, format!("JWT_SIGNING_KEY: {e}"));
                    None
                }
            },
        };
        let settings = Settings {
            issuer: env.string(
                "AUTH_ISSUER",
                "lucid-authentication",
                "JWT issuer (iss claim)",
            ),
            access_ttl: env.parse_within(
                "AUTH_ACCESS_TTL_SECS",
                900u64,
                1..,
                "lifetime of access tokens (s)",
            ),
            refresh_ttl: env.parse_within(
                "AUTH_REFRESH_TTL_SECS",
                86_400u64,
                1..,
                "lifetime of refresh tokens (s)",
            ),
            challenge_ttl: env.parse_within(
                "AUTH_CHALLENGE_TTL_SECS",
                60u64,
                1..,
                "lifetime of login challenges (s)",
            ),
        };
        let admin_public_key = env.optional(
            "AUTH_ADMIN_PUBLIC_KEY",
            "Ed25519 public key (hex/base64) of the bootstrap user `admin`",
        );
        if let Some(k) = &admin_public_key {
            if let Err(e) = authority::parse_public_key(k) {
                env.check(false, format!("AUTH_ADMIN_PUBLIC_KEY: {}", e.message()));
            }
        }
        Config {
            data_dir,
            key,
            settings,
            admin_public_key,
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        let key = config.key.ok_or("JWT_SIGNING_KEY missing")?;
        let auth = Authority::open(key, config.settings, config.data_dir.join("auth.json"))?;
        if let Some(public_key) = config.admin_public_key {
            if auth.user("admin").is_none() {
                auth.register("admin", &public_key, Role::Admin, now_unix())
                    .map_err(|e| format!("bootstrap admin: {}", e.message()))?;
                log::info("registered bootstrap admin", json!({ "user_id": "admin" }));
            }
        }
        Ok(Service { auth })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/keys", |s, _| s.keys())
            .post("/users", Self::register)
            .get("/users/{id}", Self::user)
            .post("/challenges", Self::challenge)
            .post("/login", Self::login)
            .post("/verify", Self::verify)
            .post("/refresh", Self::refresh);
    }
}

impl Service {
    fn keys(&self) -> Response {
        Response::json(
            200,
            &json!({
                "alg": self.auth.key().alg(),
                "issuer": self.auth.issuer(),
                "public_key": self.auth.key().public_key_hex(),
            }),
        )
    }

    fn register(&self, req: &Request) -> Result<Response, Response> {
        let now = now_unix();
        let body: RegisterBody = req.json()?;
        if body.role != Role::User {
            self.require_admin(req, now)?;
        }
        let user = self
            .auth
            .register(&body.user_id, &body.public_key, body.role, now)
            .map_err(Response::refused)?;
        log::info(
            "registered user",
            json!({ "user_id": user.user_id, "role": user.role }),
        );
        Ok(Response::json(201, &user))
    }

    fn user(&self, req: &Request) -> Result<Response, Response> {
        let id = req.param("id");
        match self.auth.user(id) {
            Some(user) => Ok(Response::json(200, &user)),
            None => Err(Response::error(404, format!("unknown user {id:?}"))),
        }
    }

    fn challenge(&self, req: &Request) -> Result<Response, Response> {
        let body: ChallengeBody = req.json()?;
        let c = self
            .auth
            .challenge(&body.user_id, now_unix())
            .map_err(Response::refused)?;
        Ok(Response::json(201, &c))
    }

    fn login(&self, req: &Request) -> Result<Response, Response> {
        let body: LoginBody = req.json()?;
        match self
            .auth
            .login(&body.challenge_id, &body.signature, now_unix())
        {
            Ok(pair) => Ok(Response::json(200, &pair)),
            Err(e) => {
                log::warn("login refused", json!({ "reason": e.message() }));
                Err(Response::refused(e))
            }
        }
    }

    /// Only access tokens verify: a caller that trusts `valid` must never accept a refresh token
    /// (24 h, meant only for `/refresh`) where a 15 min access token was meant.
    fn verify(&self, req: &Request) -> Result<Response, Response> {
        let body: VerifyBody = req.json()?;
        let claims = self
            .auth
            .verify_access(&body.token, now_unix())
            .map_err(Response::refused)?;
        if let Some(roles) = body.roles {
            if !roles.contains(&claims.role) {
                return Err(Response::error(
                    403,
                    format!("role {} is not among the required roles", claims.role),
                ));
            }
        }
        Ok(Response::json(
            200,
            &json!({ "valid": true, "claims": claims }),
        ))
    }

    fn refresh(&self, req: &Request) -> Result<Response, Response> {
        let body: RefreshBody = req.json()?;
        let pair = self
            .auth
            .refresh(&body.refresh_token, now_unix())
            .map_err(Response::refused)?;
        Ok(Response::json(200, &pair))
    }

    fn require_admin(&self, req: &Request, now: u64) -> Result<(), Response> {
        let token = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Response::error(401, "registering this role needs an admin bearer token")
            })?;
        let claims = self
            .auth
            .verify_access(token.trim(), now)
            .map_err(Response::refused)?;
        if claims.role != Role::Admin {
            return Err(Response::error(403, "only an admin may register this role"));
        }
        Ok(())
    }
}
