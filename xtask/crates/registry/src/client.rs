//! The transport: one registry endpoint, requests with authentication and retries, and errors
//! that name the registry and say what to do.

use crate::auth::{AuthStats, Challenge, Issued, Scheme, Scope, Tokens};
use crate::credentials::{credentials_for, Credentials};
use crate::{is_loopback, tls};
use anyhow::{anyhow, bail, Context, Result};
use lucid_catalog::url::query_value;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
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

/// How a client is set up. [`Config::from_environment`] is what [`Registry::new`] uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// None: anonymous.
    pub credentials: Option<Credentials>,
    /// Docker's per-registry CA directory ([`tls::DOCKER_CERTS_D`]).
    pub certs_d: PathBuf,
    pub retry: Retry,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            credentials: None,
            certs_d: PathBuf::from(tls::DOCKER_CERTS_D),
            retry: Retry::default(),
        }
    }
}

impl Config {
    /// Credentials for `host` from the Docker config, Docker's certs.d, default retries.
    pub fn from_environment(host: &str) -> Result<Config> {
        Ok(Config {
            credentials: credentials_for(host)?,
            ..Config::default()
        })
    }
}

/// Where a registry answers and how it authenticates: what its answer to `GET /v2/` told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    pub base_url: String,
    pub scheme: Scheme,
    /// The roots the certificate was verified against; None over plain HTTP.
    pub tls: Option<String>,
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = match &self.tls {
            Some(trust) => format!("TLS verified against {trust}"),
            None => "plain HTTP (loopback)".into(),
        };
        write!(f, "{}: auth {}; {tls}", self.base_url, self.scheme)
    }
}

/// A reply: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// Largest reply body read into memory: base image layers come through here too.
const BODY_LIMIT: u64 = 2 << 30;

/// A client of one registry.
pub struct Registry {
    /// `127.0.0.1:5000`, `docker.io` (as written in references).
    pub host: String,
    /// Where the API answers: `registry-1.docker.io` for `docker.io`.
    api_host: String,
    agent: ureq::Agent,
    trust: String,
    certs_d: PathBuf,
    credentials: Option<Credentials>,
    retry: Retry,
    connection: Mutex<Option<Connection>>,
    tokens: Mutex<Tokens>,
}

impl Registry {
    /// A client for `host` with the credentials of the Docker config and Docker's TLS trust.
    pub fn new(host: &str) -> Result<Registry> {
        Registry::configured(host, Config::from_environment(host)?)
    }

    pub fn configured(host: &str, config: Config) -> Result<Registry> {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let trust = tls::trust_for(host, &config.certs_d)
            .with_context(|| format!("registry {host}: TLS trust"))?;
        let tls_config = ureq::tls::TlsConfig::builder()
            .root_certs(trust.roots)
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls_config)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .new_agent();
        Ok(Registry {
            host: host.into(),
            api_host: api_host.into(),
            agent,
            trust: trust.description,
            certs_d: config.certs_d,
            credentials: config.credentials,
            retry: config.retry,
            connection: Mutex::new(None),
            tokens: Mutex::new(Tokens::default()),
        })
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Tokens fetched so far, and how many of them were renewals.
    pub fn auth_stats(&self) -> AuthStats {
        self.tokens().stats
    }

    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the registry answers and how it authenticates (asked once, then remembered).
    pub fn connect(&self) -> Result<Connection> {
        let mut known = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = &*known {
            return Ok(c.clone());
        }
        let c = self.discover()?;
        *known = Some(c.clone());
        Ok(c)
    }

    /// `GET /v2/`: plain HTTP first on loopback (a TLS port answers that with HTTP 400, Go's
    /// "Client sent an HTTP request to an HTTPS server"), HTTPS everywhere else.
    fn discover(&self) -> Result<Connection> {
        if is_loopback(&self.api_host) {
            let http = format!("http://{}", self.api_host);
            let reply = self.transfer("GET", &format!("{http}/v2/"), &[], None, None)?;
            if reply.status != 400 {
                return self.connection_from(http, &reply, None);
            }
        }
        let https = format!("https://{}", self.api_host);
        let reply = self.transfer("GET", &format!("{https}/v2/"), &[], None, None)?;
        self.connection_from(https, &reply, Some(self.trust.clone()))
    }

    fn connection_from(
        &self,
        base_url: String,
        reply: &Reply,
        tls: Option<String>,
    ) -> Result<Connection> {
        let scheme = match reply.status {
            200 => Scheme::Anonymous,
            401 => {
                Challenge::parse(reply.header("www-authenticate").unwrap_or(""))
                    .with_context(|| format!("registry {}: GET {base_url}/v2/", self.host))?
                    .scheme
            }
            s => bail!(
                "registry {}: GET {base_url}/v2/ answered HTTP {s}: not a registry (distribution API v2)?",
                self.host
            ),
        };
        Ok(Connection {
            base_url,
            scheme,
            tls,
        })
    }

    /// Makes sure a token for `scopes` is held (fetching it now); nothing to do for Basic or
    /// anonymous registries. A push calls this first: one token for pull and push, and wrong
    /// credentials fail before anything is sent.
    pub fn authorize(&self, scopes: &[Scope]) -> Result<()> {
        let connection = self.connect()?;
        self.authorization(&connection.scheme, scopes).map(|_| ())
    }

    /// One request with authentication and retries. Any status is returned except 401 and 403
    /// (errors that say what to do), 5xx and 429 after the retries; transport faults are errors.
    /// `path` is `/v2/…` or an absolute URL of the registry (an upload's Location).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        scopes: &[Scope],
    ) -> Result<Reply> {
        let connection = self.connect()?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", connection.base_url)
        };
        let mut scheme = connection.scheme;
        let mut refused_once = false;
        loop {
            let authorization = self.authorization(&scheme, scopes)?;
            let reply = self.transfer(method, &url, headers, body, authorization.as_deref())?;
            match reply.status {
                401 if !refused_once => {
                    // A token that expired early or was revoked, or a path that wants more than
                    // `GET /v2/` did: once more, with the scheme this answer names and a new token.
                    refused_once = true;
                    if let Ok(c) = Challenge::parse(reply.header("www-authenticate").unwrap_or(""))
                    {
                        scheme = c.scheme;
                    }
                    self.tokens().expire(scopes);
                }
                401 => return Err(self.unauthorized(&scheme, &reply, scopes)),
                403 => {
                    return Err(anyhow!(
                        "registry {} denied {method} {url} to {} (HTTP 403): {}",
                        self.host,
                        self.who(),
                        reply.text()
                    ))
                }
                _ => return Ok(reply),
            }
        }
    }

    /// The `Authorization` value for a request that needs `scopes`.
    fn authorization(&self, scheme: &Scheme, scopes: &[Scope]) -> Result<Option<String>> {
        let (realm, service) = match scheme {
            Scheme::Anonymous => return Ok(None),
            Scheme::Basic => return Ok(self.credentials.as_ref().map(Credentials::basic)),
            Scheme::Bearer { realm, service } => (realm, service.as_deref()),
        };
        let mut tokens = self.tokens();
        if let Some(token) = tokens.valid_for(scopes) {
            return Ok(Some(format!("Bearer {token}")));
        }
        let (ask, renewal) = tokens.renew(scopes);
        let issued = self.fetch_token(realm, service, &ask).with_context(|| {
            if renewal {
                format!(
                    "registry {}: the token for {} expired and could not be renewed; nothing more was sent",
                    self.host,
                    scope_list(&ask)
                )
            } else {
                format!("registry {}: no token for {}", self.host, scope_list(&ask))
            }
        })?;
        let token = issued.token.clone();
        tokens.keep(issued, &ask, renewal);
        Ok(Some(format!("Bearer {token}")))
    }

    /// `GET <realm>?service=…&scope=…` with the credentials as Basic auth (none: anonymous).
    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[Scope]) -> Result<Issued> {
        let mut query: Vec<String> = service
            .map(|s| format!("service={}", query_value(s)))
            .into_iter()
            .collect();
        query.extend(
            scopes
                .iter()
                .map(|s| format!("scope={}", query_value(&s.to_string()))),
        );
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        let basic = self.credentials.as_ref().map(Credentials::basic);
        let reply = self.transfer("GET", &url, &[], None, basic.as_deref())?;
        let by = format!("the token service {realm}");
        match reply.status {
            200 => Issued::parse(&reply.body).with_context(|| by.clone()),
            401 | 403 => Err(self.credentials_refused(&by, reply.status)),
            s => bail!("{by}: HTTP {s}: {}", reply.text()),
        }
    }

    /// A request, with retries of transient faults; any status is returned except 5xx and 429.
    pub(crate) fn transfer(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        authorization: Option<&str>,
    ) -> Result<Reply> {
        let (result, attempts) =
            self.retrying(|| self.once(method, url, headers, body, authorization));
        let reply = result.map_err(|e| self.transport_error(method, url, &e, attempts))?;
        if reply.status >= 500 || reply.status == 429 {
            bail!(
                "registry {}: {method} {url}: HTTP {} after {attempts} attempts: {}",
                self.host,
                reply.status,
                reply.text()
            );
        }
        Ok(reply)
    }

    /// Runs `request` until it succeeds or fails for good: transport faults (except an
    /// untrusted certificate), 5xx and 429 are tried again with exponential backoff. Returns
    /// the last result and the attempts made.
    fn retrying(
        &self,
        mut request: impl FnMut() -> Result<Reply, ureq::Error>,
    ) -> (Result<Reply, ureq::Error>, u32) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = request();
            let retryable = match &result {
                Ok(r) => r.status >= 500 || r.status == 429,
                Err(e) => tls::certificate_problem(e).is_none(),
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
        authorization: Option<&str>,
    ) -> Result<Reply, ureq::Error> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let resp = match body {
            Some(b) => self.agent.run(req.body(b)?),
            None => self.agent.run(req.body(())?),
        }?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            resp.into_body()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn transport_error(
        &self,
        method: &str,
        url: &str,
        e: &ureq::Error,
        attempts: u32,
    ) -> anyhow::Error {
        if let Some(problem) = tls::certificate_problem(e) {
            let server = url.split('/').nth(2).unwrap_or(url);
            return anyhow!(
                "registry {}: the TLS certificate of {server} is not trusted ({problem}; trusted: {}). \
                 Put the CA that signed it in {}/{}/ca.crt (Docker's per-registry CAs) or in the PEM \
                 bundle that SSL_CERT_FILE names; nothing was sent",
                self.host,
                self.trust,
                self.certs_d.display(),
                self.host
            );
        }
        anyhow!(
            "registry {} unreachable: {method} {url}: {e} (after {attempts} attempt{}); is the \
             registry running? a rerun resumes where this one stopped (blobs already transferred \
             are skipped)",
            self.host,
            if attempts == 1 { "" } else { "s" }
        )
    }

    /// `user "x" (from …)` or `anonymous`, for messages.
    fn who(&self) -> String {
        match &self.credentials {
            Some(c) => format!("user {:?} (from {})", c.username, c.origin),
            None => "an anonymous client".into(),
        }
    }

    /// `by` (the registry or its token service) answered 401/403 to our credentials.
    fn credentials_refused(&self, by: &str, status: u16) -> anyhow::Error {
        match &self.credentials {
            Some(_) => anyhow!(
                "{by} refused the credentials of {} for registry {}: HTTP {status}; check \
                 `docker login {}`",
                self.who(),
                self.host,
                self.host
            ),
            None => anyhow!(
                "{by} requires authentication (HTTP {status}) and the Docker config has no \
                 credentials for registry {}; run `docker login {}`",
                self.host,
                self.host
            ),
        }
    }

    /// The second 401 for one request: what the registry's challenge says went wrong.
    fn unauthorized(&self, scheme: &Scheme, reply: &Reply, scopes: &[Scope]) -> anyhow::Error {
        let challenge = Challenge::parse(reply.header("www-authenticate").unwrap_or("")).ok();
        let error = challenge.as_ref().and_then(|c| c.error.as_deref());
        let Scheme::Bearer { realm, .. } = scheme else {
            return self.credentials_refused(&format!("registry {}", self.host), reply.status);
        };
        match error {
            Some("insufficient_scope") => anyhow!(
                "registry {}: {} may not do this: the token from {realm} does not grant {} \
                 (the registry wanted {}); ask for that access to the repository",
                self.host,
                self.who(),
                scope_list(scopes),
                challenge
                    .and_then(|c| c.scope)
                    .unwrap_or_else(|| "more".into())
            ),
            _ => anyhow!(
                "registry {} refused a freshly issued token from {realm} as invalid or expired \
                 (for {}, {}): the token service and the registry disagree — their clocks, or \
                 the key the registry trusts for tokens; nothing more was sent",
                self.host,
                scope_list(scopes),
                self.who()
            ),
        }
    }
}

fn scope_list(scopes: &[Scope]) -> String {
    if scopes.is_empty() {
        return "the registry itself (no repository scope)".into();
    }
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_io_is_spoken_to_at_registry_1() {
        let r = Registry::configured("docker.io", Config::default()).unwrap();
        assert_eq!(r.api_host, "registry-1.docker.io");
    }
}
