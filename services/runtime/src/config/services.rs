//! The other services of the deployment: upstreams (`LUCID_URL_<NAME>`) and the catalog
//! (`LUCID_CATALOG`), both written by the compose generator.

use super::Env;

/// Variable listing every service of the deployment (see [`Env::catalog`]).
pub const CATALOG_VAR: &str = "LUCID_CATALOG";

/// Name of the variable that holds the base URL of another service, e.g.
/// `session-recorder` -> `LUCID_URL_SESSION_RECORDER`. The compose generator writes the same names.
pub fn upstream_var(service: &str) -> String {
    format!(
        "LUCID_URL_{}",
        service.to_ascii_uppercase().replace('-', "_")
    )
}

impl Env {
    /// Base URL of another Lucid service (`LUCID_URL_<SERVICE>`), checked to be `http://host:port`.
    /// Configured upstreams are probed by `/ready`.
    pub fn upstream(&mut self, service: &str, doc: &str) -> Option<String> {
        let name = upstream_var(service);
        let url = self.optional(&name, doc)?;
        match crate::client::host_port(&url) {
            Ok(_) => {
                self.upstreams.push((service.to_string(), url.clone()));
                Some(url.trim_end_matches('/').to_string())
            }
            Err(e) => {
                self.errors.push(format!("{name}={url:?}: {e}"));
                None
            }
        }
    }

    /// Every service deployed alongside (`LUCID_CATALOG=name=http://host:port,…`, written by the
    /// compose generator): what server-tools probes, admin-ui shows and openapi-gateway routes to.
    pub fn catalog(&mut self, doc: &str) -> Vec<(String, String)> {
        let Some(text) = self.optional(CATALOG_VAR, doc) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.split_once('=') {
                Some((name, url)) if crate::client::host_port(url).is_ok() => {
                    out.push((name.to_string(), url.trim_end_matches('/').to_string()))
                }
                _ => self.errors.push(format!(
                    "{CATALOG_VAR}: entry {entry:?} is not name=http://host:port"
                )),
            }
        }
        out
    }

    /// The upstreams read so far: `(service, base URL)`.
    pub fn upstreams(&self) -> &[(String, String)] {
        &self.upstreams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_and_validation() {
        assert_eq!(
            upstream_var("session-recorder"),
            "LUCID_URL_SESSION_RECORDER"
        );
        let mut env = Env::from_vars([
            ("LUCID_URL_API_SERVER", "http://api-server:8081/"),
            ("LUCID_URL_BAD", "ftp://x"),
        ]);
        assert_eq!(
            env.upstream("api-server", "api").as_deref(),
            Some("http://api-server:8081")
        );
        assert_eq!(env.upstream("bad", "bad"), None);
        assert_eq!(env.upstream("missing", "m"), None);
        assert_eq!(env.errors().len(), 1);
        assert_eq!(env.upstreams().len(), 1);
    }

    #[test]
    fn catalog_entries_are_parsed_and_checked() {
        let mut env = Env::from_vars([(
            "LUCID_CATALOG",
            "api-server=http://api-server:8081, bad=nope",
        )]);
        assert_eq!(
            env.catalog("all"),
            vec![(
                "api-server".to_string(),
                "http://api-server:8081".to_string()
            )]
        );
        assert_eq!(env.errors().len(), 1);
    }
}
