//! The registry's authentication scheme (from its `WWW-Authenticate` challenge), the scopes a
//! request needs, and the Bearer tokens held per scope until they expire.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Access to one repository: pull, or pull and push (a token scope
/// `repository:<repo>:pull[,push]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub repository: String,
    pub push: bool,
}

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope {
            repository: repository.into(),
            push: false,
        }
    }

    pub fn push(repository: &str) -> Scope {
        Scope {
            repository: repository.into(),
            push: true,
        }
    }

    /// True when a token for `self` also allows `other`.
    pub fn covers(&self, other: &Scope) -> bool {
        self.repository == other.repository && (self.push || !other.push)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let actions = if self.push { "pull,push" } else { "pull" };
        write!(f, "repository:{}:{actions}", self.repository)
    }
}

/// How a registry wants to be authenticated, as its answer to `GET /v2/` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `GET /v2/` answered 200: no authentication asked.
    Anonymous,
    /// htpasswd-style: the credentials go with every request.
    Basic,
    /// Docker Hub's flow: tokens from `realm` for `service`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheme::Anonymous => write!(f, "none (anonymous access)"),
            Scheme::Basic => write!(f, "Basic"),
            Scheme::Bearer {
                realm,
                service: Some(s),
            } => write!(f, "Bearer token from {realm} (service {s})"),
            Scheme::Bearer {
                realm,
                service: None,
            } => write!(f, "Bearer token from {realm}"),
        }
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: Scheme,
    /// `invalid_token` (expired or not trusted), `insufficient_scope`… (RFC 6750).
    pub error: Option<String>,
    /// The scope the registry wanted for the refused request.
    pub scope: Option<String>,
}

impl Challenge {
    /// `Bearer realm="https://auth",service="registry",scope="a:b:c"` or `Basic realm="x"`.
    pub fn parse(header: &str) -> Result<Challenge> {
        let (kind, params) = header.trim().split_once(' ').unwrap_or((header, ""));
        let mut params = challenge_params(params);
        let scheme = if kind.eq_ignore_ascii_case("basic") {
            Scheme::Basic
        } else if kind.eq_ignore_ascii_case("bearer") {
            Scheme::Bearer {
                realm: params
                    .remove("realm")
                    .context("a Bearer challenge without realm")?,
                service: params.remove("service"),
            }
        } else {
            bail!("unsupported authentication challenge {header:?}");
        };
        Ok(Challenge {
            scheme,
            error: params.remove("error"),
            scope: params.remove("scope"),
        })
    }
}

/// `realm="https://auth",service="registry",scope="a:b:c"` → map (keys lowercase).
fn challenge_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
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

/// How many tokens a client fetched, and how many of those replaced an expired or refused one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthStats {
    pub token_fetches: u32,
    pub renewals: u32,
}

struct Token {
    value: String,
    scopes: Vec<Scope>,
    /// When to fetch a new one: a little before the token service said it expires.
    renew_at: Instant,
}

/// The tokens a client holds, by the scopes they were issued for.
#[derive(Default)]
pub struct Tokens {
    held: Vec<Token>,
    pub stats: AuthStats,
}

impl Tokens {
    /// A held token that allows every scope of `needed` and has not expired.
    pub fn valid_for(&self, needed: &[Scope]) -> Option<String> {
        let now = Instant::now();
        self.held
            .iter()
            .find(|t| now < t.renew_at && allows(&t.scopes, needed))
            .map(|t| t.value.clone())
    }

    /// Marks the tokens that allow `needed` expired: the registry refused one of them.
    pub fn expire(&mut self, needed: &[Scope]) {
        let now = Instant::now();
        for t in self.held.iter_mut().filter(|t| allows(&t.scopes, needed)) {
            t.renew_at = now;
        }
    }

    /// Drops the (expired) tokens that allow `needed` and returns what to ask for instead:
    /// `needed` widened by everything the dropped tokens allowed, so a push token that expired
    /// is renewed for push even when the request that noticed only reads. `renewal` is true when
    /// a token was dropped.
    pub fn renew(&mut self, needed: &[Scope]) -> (Vec<Scope>, bool) {
        let mut ask = needed.to_vec();
        let mut renewal = false;
        self.held.retain(|t| {
            let dropped = allows(&t.scopes, needed);
            if dropped {
                renewal = true;
                ask.extend(t.scopes.iter().cloned());
            }
            !dropped
        });
        (widest(ask), renewal)
    }

    pub fn keep(&mut self, issued: Issued, scopes: &[Scope], renewal: bool) {
        let lifetime = Duration::from_secs(issued.expires_in);
        // Renew 10 % early, at most 10 s: a request sent just before expiry must not fail.
        let margin = (lifetime / 10).min(Duration::from_secs(10));
        self.held.push(Token {
            value: issued.token,
            scopes: scopes.to_vec(),
            renew_at: Instant::now() + lifetime - margin,
        });
        self.stats.token_fetches += 1;
        if renewal {
            self.stats.renewals += 1;
        }
    }
}

/// `scopes` without those another one covers (and without repeats).
fn widest(scopes: Vec<Scope>) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::new();
    for s in scopes {
        if out.iter().any(|o| o.covers(&s)) {
            continue;
        }
        out.retain(|o| !s.covers(o));
        out.push(s);
    }
    out
}

fn allows(granted: &[Scope], needed: &[Scope]) -> bool {
    needed.iter().all(|n| granted.iter().any(|g| g.covers(n)))
}

/// A token service's answer.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    /// Seconds; 60 when the answer does not say (the distribution token spec's default).
    pub expires_in: u64,
}

impl Issued {
    pub fn parse(body: &[u8]) -> Result<Issued> {
        let json: serde_json::Value = serde_json::from_slice(body).context("invalid JSON")?;
        let token = json["token"]
            .as_str()
            .or_else(|| json["access_token"].as_str())
            .context("no token in the answer")?;
        Ok(Issued {
            token: token.to_string(),
            expires_in: json["expires_in"].as_u64().unwrap_or(60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_parameters() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:pickme/lucid:pull,push",error="invalid_token""#,
        )
        .unwrap();
        assert_eq!(
            c.scheme,
            Scheme::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(
            c.scope.as_deref(),
            Some("repository:pickme/lucid:pull,push")
        );
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
    }

    #[test]
    fn refuses_a_bearer_challenge_without_realm_and_unknown_schemes() {
        assert!(Challenge::parse(r#"Bearer service="x""#).is_err());
        assert!(Challenge::parse(r#"Negotiate abc"#).is_err());
        assert_eq!(
            Challenge::parse(r#"Basic realm="lucid-test""#)
                .unwrap()
                .scheme,
            Scheme::Basic
        );
    }

    #[test]
    fn a_push_token_serves_pulls_of_the_same_repository_only() {
        let mut tokens = Tokens::default();
        let issued = Issued {
            token: "t".into(),
            expires_in: 300,
        };
        tokens.keep(issued, &[Scope::push("pickme/lucid")], false);
        assert!(tokens.valid_for(&[Scope::pull("pickme/lucid")]).is_some());
        assert!(tokens.valid_for(&[Scope::push("pickme/lucid")]).is_some());
        assert!(tokens.valid_for(&[Scope::pull("other/repo")]).is_none());
        assert!(tokens
            .valid_for(&[Scope::pull("pickme/lucid"), Scope::pull("other/repo")])
            .is_none());
    }

    #[test]
    fn an_expired_token_is_not_used_and_its_replacement_counts_as_a_renewal() {
        let mut tokens = Tokens::default();
        let scope = [Scope::pull("pickme/lucid")];
        let expired = Issued {
            token: "old".into(),
            expires_in: 0,
        };
        tokens.keep(expired, &scope, false);
        assert!(tokens.valid_for(&scope).is_none());
        let (ask, renewal) = tokens.renew(&scope);
        assert!(renewal);
        let fresh = Issued {
            token: "new".into(),
            expires_in: 60,
        };
        tokens.keep(fresh, &ask, renewal);
        assert_eq!(tokens.valid_for(&scope).as_deref(), Some("new"));
        assert_eq!(
            tokens.stats,
            AuthStats {
                token_fetches: 2,
                renewals: 1
            }
        );
    }

    #[test]
    fn an_expired_push_token_is_renewed_for_push_even_by_a_read() {
        let mut tokens = Tokens::default();
        let expired = Issued {
            token: "old".into(),
            expires_in: 0,
        };
        tokens.keep(expired, &[Scope::push("pickme/lucid")], false);
        let (ask, renewal) = tokens.renew(&[Scope::pull("pickme/lucid")]);
        assert_eq!((ask, renewal), (vec![Scope::push("pickme/lucid")], true));
        let (ask, renewal) = tokens.renew(&[Scope::pull("other/repo")]);
        assert_eq!((ask, renewal), (vec![Scope::pull("other/repo")], false));
    }

    #[test]
    fn token_answer_defaults_to_sixty_seconds() {
        let i = Issued::parse(br#"{"access_token":"abc"}"#).unwrap();
        assert_eq!((i.token.as_str(), i.expires_in), ("abc", 60));
        assert!(Issued::parse(br#"{"expires_in":5}"#).is_err());
    }
}
