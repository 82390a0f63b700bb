//! The token server of the test: what `auth.docker.io` is to Docker Hub. HTTPS on 127.0.0.1
//! (certificate of the test CA); `GET /token?service=…&scope=…` with Basic credentials; answers
//! a JWT signed ES256 by a key whose certificate (header `x5c`) chains to the registry's
//! `rootcertbundle` — docker/distribution's token auth — granting exactly the scopes asked.
//! Wrong or missing credentials get 401. A [`TokenPolicy`] makes tokens short-lived, refused
//! by the registry early, or refuses to issue any more.

use super::TestCa;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The registry's `auth.token.service`: the audience of every token.
pub const SERVICE: &str = "lucid-test-registry";
/// The registry's `auth.token.issuer`.
pub const ISSUER: &str = "lucid-test-token-server";
/// docker/distribution accepts a token this long past its `exp` (`token.Leeway`, clock skew).
pub const REGISTRY_LEEWAY_SECS: i64 = 60;

/// What the token server does with the next requests.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// `expires_in` of the answer: how long the client may use the token.
    pub expires_in: u64,
    /// The token's `exp` claim, in seconds from now: how long the registry accepts it (plus
    /// its leeway). Differs from `expires_in` only to play a token refused before its time.
    pub exp_in: i64,
    /// Refuse every request: the credentials were revoked.
    pub refuse: bool,
}

impl Default for TokenPolicy {
    fn default() -> TokenPolicy {
        TokenPolicy::lasting(300)
    }
}

impl TokenPolicy {
    /// Tokens that last `secs` for the client and the registry alike.
    pub fn lasting(secs: u64) -> TokenPolicy {
        TokenPolicy {
            expires_in: secs,
            exp_in: secs as i64,
            refuse: false,
        }
    }

    /// Tokens the client is told last 5 minutes but the registry refuses after `secs`: a
    /// token that expires (or is revoked) before the client expects.
    pub fn refused_by_the_registry_after(secs: i64) -> TokenPolicy {
        TokenPolicy {
            expires_in: 300,
            exp_in: secs - REGISTRY_LEEWAY_SECS,
            refuse: false,
        }
    }

    /// No more tokens for anyone.
    pub fn refusing() -> TokenPolicy {
        TokenPolicy {
            refuse: true,
            ..TokenPolicy::default()
        }
    }
}

/// A token the server issued: to whom, for which scopes (as asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub user: String,
    pub scopes: Vec<String>,
}

#[derive(Default)]
struct Ledger {
    policy: TokenPolicy,
    issued: Vec<IssuedToken>,
    refused: usize,
}

/// What a request needs to be answered: the TLS set-up, the signing key, the one account.
struct Authority {
    tls: Arc<ServerConfig>,
    signer: EcdsaKeyPair,
    /// The signer's certificate, base64 DER: the token header's `x5c`.
    x5c: String,
    user: String,
    password: String,
    ledger: Arc<Mutex<Ledger>>,
}

pub struct TokenServer {
    pub port: u16,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    /// A token server for one account, `user:password`, with a certificate of `ca`.
    pub fn start(ca: &TestCa, user: &str, password: &str) -> TokenServer {
        let server = ca.server();
        let tls =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(server.cert_der)],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pkcs8_der)),
                )
                .unwrap();
        let signer = ca.token_signer();
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let authority = Arc::new(Authority {
            tls: Arc::new(tls),
            signer: EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &signer.key_pkcs8_der,
                &SystemRandom::new(),
            )
            .unwrap(),
            x5c: STANDARD.encode(&signer.cert_der),
            user: user.into(),
            password: password.into(),
            ledger: ledger.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let authority = authority.clone();
                        std::thread::spawn(move || authority.serve(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TokenServer {
            port,
            ledger,
            stop,
            thread: Some(thread),
        }
    }

    /// The registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("https://127.0.0.1:{}/token", self.port)
    }

    pub fn set_policy(&self, policy: TokenPolicy) {
        self.ledger.lock().unwrap().policy = policy;
    }

    /// Every token issued so far, in order.
    pub fn issued(&self) -> Vec<IssuedToken> {
        self.ledger.lock().unwrap().issued.clone()
    }

    /// How many requests were refused (wrong credentials, or the policy said so).
    pub fn refusals(&self) -> usize {
        self.ledger.lock().unwrap().refused
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Authority {
    /// One HTTPS request, answered with `Connection: close`.
    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let Ok(connection) = ServerConnection::new(self.tls.clone()) else {
            return;
        };
        let mut tls = StreamOwned::new(connection, stream);
        let Some(head) = read_head(&mut tls) else {
            return;
        };
        let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
        let authorization = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        });
        let (status, body) = self.answer(&target, authorization.as_deref());
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tls.write_all(reply.as_bytes());
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }

    fn answer(&self, target: &str, authorization: Option<&str>) -> (&'static str, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != "/token" {
            return (
                "404 Not Found",
                r#"{"errors":[{"code":"NOT_FOUND"}]}"#.into(),
            );
        }
        let params: Vec<(String, String)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        let param = |k: &'static str| params.iter().filter(move |(n, _)| n == k).map(|(_, v)| v);
        if param("service").next().map(String::as_str) != Some(SERVICE) {
            return (
                "400 Bad Request",
                r#"{"errors":[{"code":"UNSUPPORTED","message":"unknown service"}]}"#.into(),
            );
        }
        let mut ledger = self.ledger.lock().unwrap();
        if ledger.policy.refuse || !self.accepts(authorization) {
            ledger.refused += 1;
            return (
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}"#.into(),
            );
        }
        // One `scope` parameter per scope; a parameter may also hold several, space-separated.
        let scopes: Vec<String> = param("scope")
            .flat_map(|s| s.split(' ').map(str::to_string))
            .filter(|s| !s.is_empty())
            .collect();
        let token = self.sign(&scopes, &ledger.policy, ledger.issued.len());
        ledger.issued.push(IssuedToken {
            user: self.user.clone(),
            scopes,
        });
        let body = serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": ledger.policy.expires_in,
        });
        ("200 OK", body.to_string())
    }

    fn accepts(&self, authorization: Option<&str>) -> bool {
        let Some(encoded) = authorization.and_then(|a| a.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = STANDARD.decode(encoded) else {
            return false;
        };
        String::from_utf8_lossy(&decoded) == format!("{}:{}", self.user, self.password)
    }

    /// A JWT for `scopes` (`repository:<name>:<actions>`), signed ES256 with the `x5c` chain.
    fn sign(&self, scopes: &[String], policy: &TokenPolicy, serial: usize) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": self.user,
            "aud": SERVICE,
            "iat": now - 1,
            "nbf": now - 1,
            "exp": now + policy.exp_in,
            "jti": format!("lucid-test-{serial}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signer
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}

/// The request line and headers (up to the blank line).
fn read_head(stream: &mut impl Read) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).to_string())
}

fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .to_string()
}
