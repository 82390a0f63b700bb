//! Configuration from environment variables.
//!
//! Every read is recorded (name, default, description) so that `--help` can list them, and every
//! problem is collected so that the service reports all of them before exiting with code 2.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

/// One variable a service reads, for `--help`.
#[derive(Debug, Clone)]
pub struct VarDoc {
    pub name: String,
    pub default: Option<String>,
    pub doc: String,
}

/// Reads and validates environment variables.
pub struct Env {
    vars: BTreeMap<String, String>,
    docs: Vec<VarDoc>,
    errors: Vec<String>,
    upstreams: Vec<(String, String)>,
}

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
    /// The process environment.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// An explicit set of variables (tests).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            docs: Vec::new(),
            errors: Vec::new(),
            upstreams: Vec::new(),
        }
    }

    fn record(&mut self, name: &str, default: Option<String>, doc: &str) {
        if !self.docs.iter().any(|d| d.name == name) {
            self.docs.push(VarDoc {
                name: name.into(),
                default,
                doc: doc.into(),
            });
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A string with a default.
    pub fn string(&mut self, name: &str, default: &str, doc: &str) -> String {
        self.record(name, Some(default.into()), doc);
        self.raw(name).unwrap_or(default).to_string()
    }

    /// An optional string.
    pub fn optional(&mut self, name: &str, doc: &str) -> Option<String> {
        self.record(name, None, doc);
        self.raw(name).map(str::to_string)
    }

    /// A required string: missing is an error.
    pub fn required(&mut self, name: &str, doc: &str) -> String {
        self.record(name, None, doc);
        match self.raw(name) {
            Some(v) => v.to_string(),
            None => {
                self.errors
                    .push(format!("{name}: required but not set ({doc})"));
                String::new()
            }
        }
    }

    /// A parsed value with a default; an unparsable value is an error naming the variable.
    pub fn parse<T>(&mut self, name: &str, default: T, doc: &str) -> T
    where
        T: FromStr + Display,
        T::Err: Display,
    {
        self.record(name, Some(default.to_string()), doc);
        match self.raw(name) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(parsed) => parsed,
                Err(e) => {
                    self.errors.push(format!("{name}={v:?}: {e}"));
                    default
                }
            },
        }
    }

    /// A boolean: true/false/1/0/yes/no.
    pub fn flag(&mut self, name: &str, default: bool, doc: &str) -> bool {
        self.record(name, Some(default.to_string()), doc);
        match self.raw(name).map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                self.errors
                    .push(format!("{name}={other:?}: expected true or false"));
                default
            }
        }
    }

    /// A filesystem path with a default (a volume of the service).
    pub fn path(&mut self, name: &str, default: &str, doc: &str) -> PathBuf {
        PathBuf::from(self.string(name, default, doc))
    }

    /// A secret: the value of `NAME`, or the contents of the file named by `NAME_FILE`
    /// (how compose secrets arrive, so that no secret is a plain environment value).
    pub fn secret(&mut self, name: &str, doc: &str) -> Option<String> {
        let file_var = format!("{name}_FILE");
        self.record(&file_var, None, &format!("file holding {doc}"));
        self.record(name, None, doc);
        if let Some(path) = self.raw(&file_var).map(str::to_string) {
            return match std::fs::read_to_string(&path) {
                Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => {
                    self.errors
                        .push(format!("{file_var}={path:?}: cannot read: {e}"));
                    None
                }
            };
        }
        self.raw(name).map(str::to_string)
    }

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

    /// Records a validation failure that is not a parse error (e.g. a bound).
    pub fn check(&mut self, ok: bool, message: impl Into<String>) {
        if !ok {
            self.errors.push(message.into());
        }
    }

    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    pub fn docs(&self) -> &[VarDoc] {
        &self.docs
    }

    pub fn upstreams(&self) -> &[(String, String)] {
        &self.upstreams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_number_is_an_error_naming_the_variable() {
        let mut env = Env::from_vars([("LUCID_HTTP_PORT", "eighty")]);
        let port: u16 = env.parse("LUCID_HTTP_PORT", 8080, "port");
        assert_eq!(port, 8080);
        assert_eq!(env.errors().len(), 1);
        assert!(
            env.errors()[0].starts_with("LUCID_HTTP_PORT=\"eighty\""),
            "{:?}",
            env.errors()
        );
    }

    #[test]
    fn all_problems_are_collected() {
        let mut env = Env::from_vars([("A", "x"), ("B", "maybe")]);
        let _: u32 = env.parse("A", 1, "a");
        let _ = env.flag("B", false, "b");
        let _ = env.required("C", "c");
        assert_eq!(env.errors().len(), 3, "{:?}", env.errors());
    }

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

    #[test]
    fn secret_from_file() {
        let dir = std::env::temp_dir().join(format!("lucid-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut env = Env::from_vars([("PW_FILE", file.to_str().unwrap())]);
        assert_eq!(env.secret("PW", "password").as_deref(), Some("s3cret"));
        let mut env = Env::from_vars([("PW_FILE", "/nonexistent/pw")]);
        assert_eq!(env.secret("PW", "password"), None);
        assert_eq!(env.errors().len(), 1);
    }
}
