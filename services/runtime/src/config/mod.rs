//! Configuration from environment variables.
//!
//! Every read is recorded (name, default, description) so that `--help` can list them, and every
//! problem is collected so that the service reports all of them before exiting with code 2.
//! [`Env`]'s readers are split by concern: plain values (`values`), secrets (`secret`), and the
//! addresses of other services (`services`).

mod secret;
mod services;
mod values;

pub use services::{upstream_var, CATALOG_VAR};

use std::collections::BTreeMap;

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

    /// The value of `name`; an empty value counts as unset.
    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_problems_are_collected() {
        let mut env = Env::from_vars([("A", "x"), ("B", "maybe")]);
        let _: u32 = env.parse("A", 1, "a");
        let _ = env.flag("B", false, "b");
        let _ = env.required("C", "c");
        assert_eq!(env.errors().len(), 3, "{:?}", env.errors());
    }
}
