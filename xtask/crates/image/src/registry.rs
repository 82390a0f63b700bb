//! A small blocking client of the OCI distribution API (what `docker push` speaks), over `ureq`:
//! blob HEAD/upload, manifest HEAD/GET/PUT, the Bearer-token and Basic auth flows, credentials
//! from the Docker config (`auths` and credential helpers), and retries with backoff for
//! transient faults (5xx, 429, connection errors). Credentials never appear in an error.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use lucid_catalog::url::query_value;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http;

/// How often and how patiently to retry a transient fault.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 5,
            first_delay: Duration::from_millis(250),
        }
    }
}

/// User name and password (or token) for a registry.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    /// Where they came from (for messages): `~/.docker/config.json auths`, `docker-credential-pass`.
    pub origin: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials({} from {}, secret hidden)",
            self.username, self.origin
        )
    }
}

/// True for a registry on this machine (`localhost`, `127.*`, `[::1]`, with or without a port):
/// spoken to over plain HTTP, as Docker does.
pub fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// What the registry wants after a 401.
#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic,
    Bearer(String),
}

pub struct Registry {
    /// `127.0.0.1:5000`, `docker.io` (as written in references).
    pub host: String,
    base_url: String,
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    auth: Mutex<Auth>,
    pub retry: Retry,
}

/// A reply: status, the headers we use, body.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Registry {
    /// A client for `host`; loopback registries are spoken to over plain HTTP (as Docker does),
    /// every other over HTTPS. Credentials come from the Docker config, if it has some.
    pub fn new(host: &str) -> Result<Registry> {
        let credentials = credentials_for(host)?;
        Ok(Registry::with_credentials(host, credentials))
    }

    pub fn with_credentials(host: &str, credentials: Option<Credentials>) -> Registry {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let scheme = if is_loopback(api_host) {
            "http"
        } else {
            "https"
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .new_agent();
        Registry {
            host: host.into(),
            base_url: format!("{scheme}://{api_host}"),
            agent,
            credentials,
            auth: Mutex::new(Auth::None),
            retry: Retry::default(),
        }
    }

    /// The credentials this client sends, if any (never printed: see their Debug).
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        }
    }

    /// One request with auth and retries; any status is returned, transport faults are errors.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        scope: &str,
    ) -> Result<Reply> {
        let url = self.url(path);
        let mut reauthenticated = false;
        loop {
            let (result, attempt) = self.retrying(|| self.once(method, &url, headers, body));
            let reply = result.map_err(|e| anyhow!(
                    "registry {} unreachable: {method} {url}: {e} (after {attempt} attempt{}); \
                     is the registry running? a rerun resumes where this one stopped (blobs already transferred are skipped)",
                    self.host,
                    if attempt == 1 { "" } else { "s" }
                ))?;
            if reply.status == 401 && !reauthenticated {
                reauthenticated = true;
                let challenge = reply.header("www-authenticate").unwrap_or("").to_string();
                self.authenticate(&challenge, scope)?;
                continue;
            }
            if reply.status == 401 || reply.status == 403 {
                return Err(self.refused(reply.status, &url));
            }
            if reply.status >= 500 || reply.status == 429 {
                bail!(
                    "registry {}: {method} {url}: HTTP {} after {attempt} attempts: {}",
                    self.host,
                    reply.status,
                    String::from_utf8_lossy(&reply.body).trim()
                );
            }
            return Ok(reply);
        }
    }

    /// Runs `request` until it succeeds or fails for good: transport faults, 5xx and 429 are
    /// tried again with exponential backoff. Returns the last result and the attempts made.
    fn retrying(&self, mut request: impl FnMut() -> Result<Reply>) -> (Result<Reply>, u32) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = request();
            let retryable = match &result {
                Ok(r) => r.status >= 500 || r.status == 429,
                Err(_) => true,
            };
            if retryable && attempt < self.retry.attempts {
                std::thread::sleep(self.retry.first_delay * 2u32.pow(attempt - 1));
                continue;
            }
            return (result, attempt);
        }
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Reply> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match &*self.auth.lock().expect("auth lock") {
            Auth::None => {}
            Auth::Basic => {
                if let Some(c) = &self.credentials {
                    req = req.header("Authorization", basic(c));
                }
            }
            Auth::Bearer(token) => req = req.header("Authorization", format!("Bearer {token}")),
        }
        let resp = match body {
            Some(b) => self.agent.run(req.body(b)?),
            None => self.agent.run(req.body(())?),
        }?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = resp.into_body();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            body.with_config().limit(BODY_LIMIT).read_to_vec()?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn refused(&self, status: u16, url: &str) -> anyhow::Error {
        match &self.credentials {
            Some(c) => anyhow!(
                "registry {} refused the credentials of user {:?} (from {}): HTTP {status} for {url}; \
                 check `docker login {}`",
                self.host, c.username, c.origin, self.host
            ),
            None => anyhow!(
                "registry {} requires authentication (HTTP {status} for {url}) and the Docker config \
                 has no credentials for it; run `docker login {}`",
                self.host, self.host
            ),
        }
    }

    /// Answers a `WWW-Authenticate` challenge: Basic (send the credentials) or Bearer (get a token).
    fn authenticate(&self, challenge: &str, scope: &str) -> Result<()> {
        let (kind, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if kind.eq_ignore_ascii_case("basic") {
            if self.credentials.is_none() {
                return Err(self.refused(401, &self.base_url));
            }
            *self.auth.lock().expect("auth lock") = Auth::Basic;
            return Ok(());
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            bail!(
                "registry {}: unsupported authentication challenge {kind:?}",
                self.host
            );
        }
        let params = challenge_params(params);
        let realm = params
            .get("realm")
            .with_context(|| format!("registry {}: Bearer challenge without realm", self.host))?;
        let mut query = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(format!("service={}", query_value(service)));
        }
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| scope.to_string());
        if !scope.is_empty() {
            query.push(format!("scope={}", query_value(&scope)));
        }
        let url = format!("{realm}?{}", query.join("&"));
        let mut req = http::Request::builder().method("GET").uri(&url);
        if let Some(c) = &self.credentials {
            req = req.header("Authorization", basic(c));
        }
        let resp = self
            .agent
            .run(req.body(())?)
            .with_context(|| format!("token service {realm} unreachable"))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(self.refused(status, realm));
        }
        if status != 200 {
            bail!("token service {realm}: HTTP {status}");
        }
        let body = resp
            .into_body()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .with_context(|| format!("token service {realm}"))?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("token service {realm}: invalid JSON"))?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .with_context(|| format!("token service {realm}: no token in the answer"))?;
        *self.auth.lock().expect("auth lock") = Auth::Bearer(token.to_string());
        Ok(())
    }

    /// The token scope that lets us read and write `repo`.
    pub fn push_scope(repo: &str) -> String {
        format!("repository:{repo}:pull,push")
    }

    /// HEAD `/v2/<repo>/<kind>s/<reference>`: the reply when it exists, None when it does not.
    fn head(
        &self,
        repo: &str,
        kind: &str,
        reference: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<Reply>> {
        let r = self.send(
            "HEAD",
            &format!("/v2/{repo}/{kind}s/{reference}"),
            headers,
            None,
            &Registry::push_scope(repo),
        )?;
        match r.status {
            200 => Ok(Some(r)),
            404 => Ok(None),
            s => Err(anyhow!(
                "registry {}: HEAD {kind} {reference}: HTTP {s}",
                self.host
            )),
        }
    }

    /// An error for a reply we did not expect, with what the registry said.
    fn unexpected(&self, what: &str, r: &Reply) -> anyhow::Error {
        anyhow!(
            "registry {}: {what}: HTTP {}: {}",
            self.host,
            r.status,
            String::from_utf8_lossy(&r.body).trim()
        )
    }

    /// True when the registry already has the blob.
    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool> {
        Ok(self.head(repo, "blob", digest, &[])?.is_some())
    }

    /// Opens a blob upload session (POST); the reply is the caller's to judge: 202 with a
    /// Location when it may push.
    pub fn start_upload(&self, repo: &str) -> Result<Reply> {
        self.send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            Some(&[]),
            &Registry::push_scope(repo),
        )
    }

    /// Uploads a blob in one PUT (POST for a session, then PUT with the digest).
    pub fn upload_blob(&self, repo: &str, digest: &str, bytes: &[u8]) -> Result<()> {
        let start = self.start_upload(repo)?;
        if start.status != 202 {
            return Err(self.unexpected(&format!("starting the upload of {digest}"), &start));
        }
        let location = start
            .header("location")
            .with_context(|| format!("registry {}: upload session without Location", self.host))?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", query_value(digest));
        let r = self.send(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            Some(bytes),
            &Registry::push_scope(repo),
        )?;
        if r.status != 201 {
            return Err(self.unexpected(&format!("uploading {digest}"), &r));
        }
        Ok(())
    }

    /// The digest of the manifest at `reference` (tag or digest), or None when there is none.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<String>> {
        let r = self.head(repo, "manifest", reference, &[("Accept", ACCEPT)])?;
        Ok(r.and_then(|r| r.header("docker-content-digest").map(str::to_string)))
    }

    /// The manifest at `reference`: media type and bytes.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<(String, Vec<u8>)> {
        let r = self.send(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT)],
            None,
            &Registry::push_scope(repo),
        )?;
        if r.status != 200 {
            bail!(
                "registry {}: {repo}:{reference}: HTTP {} (not pushed?)",
                self.host,
                r.status
            );
        }
        let media_type = r.header("content-type").unwrap_or(ACCEPT).to_string();
        Ok((media_type, r.body))
    }

    /// The bytes of a blob (unverified: the caller checks the digest). Registries that keep
    /// blobs in object storage answer with a redirect, followed without our credentials.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let scope = format!("repository:{repo}:pull");
        let r = self.send(
            "GET",
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            None,
            &scope,
        )?;
        let r = match (r.status, r.header("location")) {
            (301 | 302 | 303 | 307 | 308, Some(location)) => {
                let location = location.to_string();
                if location.starts_with('/') || location.starts_with(&self.base_url) {
                    self.send("GET", &location, &[], None, &scope)?
                } else {
                    self.unauthenticated_get(&location)?
                }
            }
            _ => r,
        };
        match r.status {
            200 => Ok(r.body),
            404 => Err(anyhow!(
                "registry {}: {repo} has no blob {digest}",
                self.host
            )),
            s => Err(anyhow!(
                "registry {}: GET blob {digest} of {repo}: HTTP {s}",
                self.host
            )),
        }
    }

    fn unauthenticated_get(&self, url: &str) -> Result<Reply> {
        // A malformed Location fails at once; only the transfer is worth retrying.
        let uri: http::Uri = url.parse()?;
        let (result, attempt) = self.retrying(|| {
            let req = http::Request::builder()
                .method("GET")
                .uri(uri.clone())
                .body(())?;
            let resp = self.agent.run(req)?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()?;
            Ok(Reply {
                status,
                headers,
                body,
            })
        });
        result.map_err(|e| {
            anyhow!(
                "registry {}: blob storage unreachable: GET {url}: {e} (after {attempt} attempts)",
                self.host
            )
        })
    }

    /// Stores a manifest (or index) under `reference`; returns the digest the registry computed.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let r = self.send(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            Some(bytes),
            &Registry::push_scope(repo),
        )?;
        if r.status != 201 {
            return Err(self.unexpected(&format!("PUT manifest {repo}:{reference}"), &r));
        }
        Ok(r.header("docker-content-digest")
            .map(str::to_string)
            .unwrap_or_else(|| crate::sha256_digest(bytes)))
    }
}

/// Largest reply body read into memory: base image layers come through here too.
const BODY_LIMIT: u64 = 1 << 30;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `realm="https://auth",service="registry",scope="a:b:c"` → map.
fn challenge_params(text: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

/// Credentials for `host` from the Docker config (`$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`): `credHelpers`, then `credsStore`, then `auths`.
pub fn credentials_for(host: &str) -> Result<Option<Credentials>> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".docker")));
    match dir {
        Some(dir) => credentials_in(&dir, host),
        None => Ok(None),
    }
}

/// Credentials for `host` from the Docker config directory `dir` (what `DOCKER_CONFIG` names).
pub fn credentials_in(dir: &std::path::Path, host: &str) -> Result<Option<Credentials>> {
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    // Docker Hub's credentials live under its legacy index URL.
    let keys: Vec<String> = if host == "docker.io" {
        vec![
            "https://index.docker.io/v1/".into(),
            "docker.io".into(),
            "index.docker.io".into(),
        ]
    } else {
        vec![
            host.into(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    };
    let helper = keys
        .iter()
        .find_map(|k| {
            config
                .get("credHelpers")
                .and_then(|h| h.get(k))
                .and_then(|v| v.as_str())
        })
        .or_else(|| config.get("credsStore").and_then(|v| v.as_str()));
    if let Some(helper) = helper {
        if let Some(c) = helper_get(helper, &keys[0])? {
            return Ok(Some(c));
        }
    }
    let Some(auths) = config.get("auths") else {
        return Ok(None);
    };
    for k in &keys {
        let Some(auth) = auths
            .get(k)
            .and_then(|a| a.get("auth"))
            .and_then(|a| a.as_str())
        else {
            continue;
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|_| anyhow!("{}: auths.{k}.auth is not base64", path.display()))?;
        let decoded = String::from_utf8_lossy(&decoded).to_string();
        let (user, secret) = decoded
            .split_once(':')
            .with_context(|| format!("{}: auths.{k}.auth is not user:password", path.display()))?;
        return Ok(Some(Credentials {
            username: user.into(),
            secret: secret.into(),
            origin: format!("{} auths.{k}", path.display()),
        }));
    }
    Ok(None)
}

/// `docker-credential-<helper> get`, server URL on stdin, JSON on stdout.
fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => bail!("credential helper {program}: {e}"),
    };
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(server.as_bytes())
        .with_context(|| program.to_string())?;
    let out = child
        .wait_with_output()
        .with_context(|| program.to_string())?;
    if !out.status.success() {
        // "credentials not found in native keychain": no credentials, not an error.
        return Ok(None);
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| anyhow!("{program}: output is not JSON"))?;
    let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
    match (field("Username"), field("Secret")) {
        (Some(username), Some(secret)) => Ok(Some(Credentials {
            username,
            secret,
            origin: program,
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_parameters() {
        let p = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:pickme/lucid:pull,push""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:pickme/lucid:pull,push");
    }

    #[test]
    fn debug_of_credentials_hides_the_secret() {
        let c = Credentials {
            username: "u".into(),
            secret: "hunter2".into(),
            origin: "test".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn speaks_http_to_loopback_only() {
        assert!(Registry::with_credentials("127.0.0.1:5000", None)
            .base_url
            .starts_with("http://"));
        assert!(Registry::with_credentials("localhost:5000", None)
            .base_url
            .starts_with("http://"));
        assert_eq!(
            Registry::with_credentials("docker.io", None).base_url,
            "https://registry-1.docker.io"
        );
    }
}
