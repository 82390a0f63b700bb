//! Variable interpolation as Compose does it: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or
//! empty), `${VAR-default}` (unset), `${VAR:?message}` (error when unset or empty),
//! `${VAR?message}` (error when unset), `$$` for a literal `$`. Values come from the process
//! environment, which wins over the env file (`--env-file`, default `.env` beside the first
//! compose file), as in docker-compose.

use super::yaml::{Loc, Node, Value};
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

/// The variables interpolation reads, and the unset ones met so far (each reported once).
#[derive(Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// Unset variables used without a default, with where each was first met.
    unset: RefCell<BTreeMap<String, Loc>>,
}

impl Environment {
    /// The process environment over the variables of `env_file` (when it exists).
    pub fn load(env_file: Option<&Path>) -> Result<Environment> {
        let mut vars = BTreeMap::new();
        if let Some(path) = env_file.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("env file {}", path.display()))?;
            vars = parse_env_file(&text).with_context(|| format!("env file {}", path.display()))?;
        }
        vars.extend(std::env::vars());
        Ok(Environment::from_vars(vars))
    }

    pub fn from_vars(vars: BTreeMap<String, String>) -> Environment {
        Environment {
            vars,
            unset: RefCell::default(),
        }
    }

    /// Adds (or replaces) variables, e.g. the live run's data directory.
    pub fn with(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Environment {
        self.vars.extend(vars);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The unset variables used without a default, each with its first location.
    pub fn unset(&self) -> BTreeMap<String, Loc> {
        self.unset.borrow().clone()
    }

    /// Interpolates `text`, written at `at`; the error says why (the caller knows where).
    pub fn interpolate(&self, text: &str, at: &Loc) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                out.push('$');
                rest = r;
            } else if let Some(braced) = after.strip_prefix('{') {
                let end = braced
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in {text:?}"))?;
                out.push_str(&self.braced(&braced[..end], text, at)?);
                rest = &braced[end + 1..];
            } else {
                let len = name_len(after);
                if len == 0 {
                    return Err(format!(
                        "invalid interpolation format in {text:?} (a literal `$` is written `$$`)"
                    ));
                }
                out.push_str(&self.value_or_blank(&after[..len], at));
                rest = &after[len..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `${…}`: a name, optionally followed by `:-`, `-`, `:?` or `?` and its text.
    fn braced(&self, inner: &str, text: &str, at: &Loc) -> Result<String, String> {
        let len = name_len(inner);
        let (name, op) = inner.split_at(len);
        if len == 0 {
            return Err(format!("invalid interpolation format in {text:?}"));
        }
        let value = self.vars.get(name);
        let set_nonempty = value.is_some_and(|v| !v.is_empty());
        let given = |v: Option<&String>| v.cloned().unwrap_or_default();
        Ok(if op.is_empty() {
            self.value_or_blank(name, at)
        } else if let Some(default) = op.strip_prefix(":-") {
            if set_nonempty {
                given(value)
            } else {
                default.to_string()
            }
        } else if let Some(default) = op.strip_prefix('-') {
            value.cloned().unwrap_or_else(|| default.to_string())
        } else if let Some(message) = op.strip_prefix(":?") {
            if !set_nonempty {
                return Err(format!(
                    "required variable {name} is unset or empty: {}",
                    or_name(message, name)
                ));
            }
            given(value)
        } else if let Some(message) = op.strip_prefix('?') {
            if value.is_none() {
                return Err(format!(
                    "required variable {name} is unset: {}",
                    or_name(message, name)
                ));
            }
            given(value)
        } else {
            return Err(format!("invalid interpolation format in {text:?}"));
        })
    }

    fn value_or_blank(&self, name: &str, at: &Loc) -> String {
        match self.vars.get(name) {
            Some(v) => v.clone(),
            None => {
                self.unset
                    .borrow_mut()
                    .entry(name.to_string())
                    .or_insert_with(|| at.clone());
                String::new()
            }
        }
    }

    /// Interpolates every string value under `node` (keys are left as written); an error
    /// names the line of the value.
    pub fn interpolate_node(&self, node: &mut Node) -> Result<(), (Loc, String)> {
        match &mut node.value {
            Value::Scalar { text, written, .. } => {
                if text.contains('$') {
                    let value = self
                        .interpolate(text, &node.at)
                        .map_err(|e| (node.at.clone(), e))?;
                    *written = Some(std::mem::replace(text, value));
                }
            }
            Value::Seq(items) => {
                for i in items {
                    self.interpolate_node(i)?;
                }
            }
            Value::Map(entries) => {
                for e in entries {
                    self.interpolate_node(&mut e.value)?;
                }
            }
        }
        Ok(())
    }
}

fn or_name<'a>(message: &'a str, name: &'a str) -> &'a str {
    if message.is_empty() {
        name
    } else {
        message
    }
}

/// Length of the variable name at the start of `s` (`[_A-Za-z][_A-Za-z0-9]*`), 0 if none.
fn name_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

/// `KEY=VALUE` lines (`export ` allowed, `#` comments, single or double quotes), as dotenv reads them.
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>> {
    use anyhow::bail;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: {line:?} is not KEY=VALUE", i + 1);
        };
        let value = value.trim();
        let value = if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            v.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(v) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            v.to_string()
        } else {
            // An unquoted value ends at ` #`.
            value.split(" #").next().unwrap_or("").trim().to_string()
        };
        out.insert(key.trim().to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::from_vars(BTreeMap::from([
            ("SET".to_string(), "v".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]))
    }

    fn at() -> Loc {
        Loc {
            file: "f.yaml".into(),
            line: 7,
        }
    }

    fn i(text: &str) -> Result<String, String> {
        env().interpolate(text, &at())
    }

    #[test]
    fn every_form_of_compose_interpolation() {
        assert_eq!(i("${SET}/$SET/$$SET").unwrap(), "v/v/$SET");
        assert_eq!(i("${EMPTY:-d} ${EMPTY-d} ${NOPE-d}").unwrap(), "d  d");
        assert_eq!(i("${SET:?x} ${EMPTY?x}").unwrap(), "v ");
        let e = i("${EMPTY:?give it}").unwrap_err();
        assert!(e.contains("EMPTY") && e.contains("give it"), "{e}");
        assert!(i("${NOPE?}").unwrap_err().contains("NOPE"));
        assert!(i("cost: $5").is_err());
    }

    #[test]
    fn an_unset_variable_without_default_is_blank_and_recorded_once() {
        let e = env();
        assert_eq!(e.interpolate("a${NOPE}b", &at()).unwrap(), "ab");
        e.interpolate("$NOPE", &Loc { line: 9, ..at() }).unwrap();
        let unset = e.unset();
        assert_eq!(unset.len(), 1);
        assert_eq!(unset["NOPE"].line, 7);
    }

    #[test]
    fn env_files_as_dotenv_reads_them() {
        let vars = parse_env_file("# c\nexport A=1\nB=\"x y\"\nC='$z'\nD=e # note\n").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "x y");
        assert_eq!(vars["C"], "$z");
        assert_eq!(vars["D"], "e");
    }
}
