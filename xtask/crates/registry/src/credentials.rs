//! Credentials for a registry, from the Docker config as `docker login` leaves it:
//! `credHelpers.<host>`, then `credsStore` (both: `docker-credential-<name> get`), then
//! `auths.<host>.auth` (base64 of `user:password`).

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use std::path::{Path, PathBuf};

/// User name and password (or token) for a registry.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    /// Where they came from (for messages): `~/.docker/config.json auths.<host>`,
    /// `docker-credential-pass`.
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

impl Credentials {
    /// The `Authorization` value of Basic auth.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The Docker config directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// Credentials for `host` from the Docker config of this environment, if it has some.
pub fn credentials_for(host: &str) -> Result<Option<Credentials>> {
    match docker_config_dir() {
        Some(dir) => credentials_in(&dir, host),
        None => Ok(None),
    }
}

/// Credentials for `host` from `<dir>/config.json` (none when the file does not exist).
pub fn credentials_in(dir: &Path, host: &str) -> Result<Option<Credentials>> {
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    let keys = config_keys(host);
    let helper = keys
        .iter()
        .find_map(|k| config["credHelpers"][k].as_str())
        .or_else(|| config["credsStore"].as_str());
    if let Some(helper) = helper {
        if let Some(c) = helper_get(helper, &keys[0])? {
            return Ok(Some(c));
        }
    }
    for k in &keys {
        let Some(auth) = config["auths"][k]["auth"].as_str() else {
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

/// The keys `docker login` may have written for `host`; the first is the helpers' server URL.
/// Docker Hub's credentials live under its legacy index URL.
fn config_keys(host: &str) -> Vec<String> {
    if host == "docker.io" {
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
    }
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
        Err(e) => bail!("credential helper {program} (named by the Docker config): {e}"),
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
    let field = |k: &str| json[k].as_str().map(str::to_string);
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
    fn debug_of_credentials_hides_the_secret() {
        let c = Credentials {
            username: "u".into(),
            secret: "hunter2".into(),
            origin: "test".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn docker_hub_credentials_are_looked_up_under_the_legacy_index_url() {
        assert_eq!(config_keys("docker.io")[0], "https://index.docker.io/v1/");
        assert_eq!(config_keys("127.0.0.1:5000")[0], "127.0.0.1:5000");
    }
}
