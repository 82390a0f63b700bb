//! xrdp configuration: validated settings rendered as `xrdp.ini` and `sesman.ini` (xrdp 0.9/0.10
//! key names). Every value is checked against a narrow character set before it is written, so a
//! value can never start a new line, a new key or a `[section]`.

use serde::{Deserialize, Serialize};

/// Sesman's own port: xrdp must not listen on it.
pub const SESMAN_PORT: u16 = 3350;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityLayer {
    Tls,
    Negotiate,
    Rdp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CryptLevel {
    None,
    Low,
    Medium,
    High,
    Fips,
}

fn default_port() -> u16 {
    3389
}
fn default_security() -> SecurityLayer {
    SecurityLayer::Tls
}
fn default_crypt() -> CryptLevel {
    CryptLevel::High
}
fn default_max_sessions() -> u32 {
    5
}
fn default_group() -> String {
    "tsusers".into()
}

/// What a session host's xrdp needs; everything else is a fixed, safe default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_security")]
    pub security_layer: SecurityLayer,
    #[serde(default = "default_crypt")]
    pub crypt_level: CryptLevel,
    /// TLS certificate and key (PEM), required for `tls` and `negotiate`.
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u32,
    /// Unix group whose members may log in (sesman's `TerminalServerUsers`).
    #[serde(default = "default_group")]
    pub allowed_group: String,
    #[serde(default)]
    pub allow_root_login: bool,
    /// Seconds before an idle or disconnected session is ended; 0 = never.
    #[serde(default)]
    pub idle_time_limit_secs: u32,
    #[serde(default)]
    pub disconnected_time_limit_secs: u32,
}

/// The rendered pair of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub xrdp_ini: String,
    pub sesman_ini: String,
}

/// Host names (RFC 1123 labels): letters, digits, `-` and `.`, at most 253 characters.
pub fn check_host(host: &str) -> Result<(), String> {
    let ok = (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("host {host:?}: expected a DNS host name"))
    }
}

/// Absolute paths of `[A-Za-z0-9/._-]` without `..` segments.
fn check_path(field: &str, path: &str) -> Result<(), String> {
    let chars_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
    let ok = path.starts_with('/')
        && path.len() <= 255
        && chars_ok
        && !path.split('/').any(|seg| seg == "..")
        && !path.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} {path:?}: expected an absolute file path of A-Z a-z 0-9 / . _ - without '..'"
        ))
    }
}

/// Unix group names: `[a-z_][a-z0-9_-]*`, at most 32 characters.
fn check_group(group: &str) -> Result<(), String> {
    let mut bytes = group.bytes();
    let ok = group.len() <= 32
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "allowed_group {group:?}: expected a Unix group name"
        ))
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.port == 0 || self.port == SESMAN_PORT {
            return Err(format!(
                "port {}: must be 1-65535 and not sesman's {SESMAN_PORT}",
                self.port
            ));
        }
        if !(1..=100).contains(&self.max_sessions) {
            return Err(format!("max_sessions {}: must be 1-100", self.max_sessions));
        }
        check_group(&self.allowed_group)?;
        for (field, value) in [
            ("certificate", &self.certificate),
            ("key_file", &self.key_file),
        ] {
            match value {
                Some(path) => check_path(field, path)?,
                None if self.security_layer != SecurityLayer::Rdp => {
                    return Err(format!(
                        "{field}: required when security_layer is tls or negotiate"
                    ))
                }
                None => {}
            }
        }
        if self.security_layer == SecurityLayer::Rdp && self.crypt_level == CryptLevel::None {
            return Err(
                "crypt_level none with security_layer rdp would send sessions unencrypted".into(),
            );
        }
        Ok(())
    }
}

fn enum_text<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Validates the host name and settings, then renders both files.
pub fn render(host: &str, s: &Settings) -> Result<Rendered, String> {
    check_host(host)?;
    s.validate()?;
    let header = format!(
        "; Generated by Lucid xrdp-integration for {host}. Changes here are overwritten.\n"
    );
    let xrdp_ini = format!(
        "{header}\
[Globals]
ini_version=1
fork=true
port={port}
tcp_nodelay=true
tcp_keepalive=true
security_layer={security}
crypt_level={crypt}
certificate={cert}
key_file={key}
ssl_protocols=TLSv1.2, TLSv1.3
autorun=
allow_channels=true
allow_multimon=true
bitmap_cache=true
bitmap_compression=true
bulk_compression=true
max_bpp=32
new_cursors=true

[Logging]
LogFile=xrdp.log
LogLevel=INFO
EnableSyslog=true

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
ip=127.0.0.1
port=-1
code=20
",
        port = s.port,
        security = enum_text(&s.security_layer),
        crypt = enum_text(&s.crypt_level),
        cert = s.certificate.as_deref().unwrap_or(""),
        key = s.key_file.as_deref().unwrap_or(""),
    );
    let sesman_ini = format!(
        "{header}\
[Globals]
ListenAddress=127.0.0.1
ListenPort={SESMAN_PORT}
EnableUserWindowManager=true
UserWindowManager=startwm.sh
DefaultWindowManager=startwm.sh

[Security]
AllowRootLogin={root}
MaxLoginRetry=4
TerminalServerUsers={group}
AlwaysGroupCheck=true

[Sessions]
X11DisplayOffset=10
MaxSessions={max}
KillDisconnected=false
DisconnectedTimeLimit={disconnected}
IdleTimeLimit={idle}
Policy=Default

[Logging]
LogFile=xrdp-sesman.log
LogLevel=INFO
EnableSyslog=true

[Xorg]
param=Xorg
param=-config
param=xrdp/xorg.conf
param=-noreset
param=-nolisten
param=tcp
",
        root = s.allow_root_login,
        group = s.allowed_group,
        max = s.max_sessions,
        disconnected = s.disconnected_time_limit_secs,
        idle = s.idle_time_limit_secs,
    );
    Ok(Rendered {
        xrdp_ini,
        sesman_ini,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        serde_json::from_value(serde_json::json!({
            "port": 3390,
            "certificate": "/etc/xrdp/cert.pem",
            "key_file": "/etc/xrdp/key.pem",
            "max_sessions": 4,
            "allowed_group": "lucid-rdp",
            "idle_time_limit_secs": 1800
        }))
        .unwrap()
    }

    #[test]
    fn renders_the_expected_files() {
        let r = render("host-1.lucid", &settings()).unwrap();
        assert_eq!(r.xrdp_ini, include_str!("../tests/fixtures/xrdp.ini"));
        assert_eq!(r.sesman_ini, include_str!("../tests/fixtures/sesman.ini"));
    }

    #[test]
    fn newlines_and_section_headers_cannot_be_injected() {
        let mut s = settings();
        s.certificate = Some("/etc/xrdp/cert.pem\n[Globals]\nport=22".into());
        assert!(render("h", &s).unwrap_err().contains("certificate"));
        let mut s = settings();
        s.allowed_group = "tsusers\nAllowRootLogin=true".into();
        assert!(render("h", &s).unwrap_err().contains("allowed_group"));
        assert!(render("h\n[Security]", &settings())
            .unwrap_err()
            .contains("host"));
    }

    #[test]
    fn rejects_bad_ports_and_paths() {
        for port in [0, SESMAN_PORT] {
            let mut s = settings();
            s.port = port;
            assert!(s.validate().unwrap_err().contains("port"), "{port}");
        }
        for path in [
            "relative/cert.pem",
            "/etc/../root/key",
            "/etc/xrdp/",
            "/etc/x y.pem",
            "/etc/x;rm",
        ] {
            let mut s = settings();
            s.key_file = Some(path.into());
            assert!(s.validate().unwrap_err().contains("key_file"), "{path}");
        }
    }

    #[test]
    fn tls_needs_certificate_and_key() {
        let mut s = settings();
        s.certificate = None;
        assert!(s.validate().unwrap_err().contains("certificate: required"));
        s.security_layer = SecurityLayer::Rdp;
        s.key_file = None;
        assert!(
            s.validate().is_ok(),
            "standard RDP security needs no certificate"
        );
    }

    #[test]
    fn unknown_fields_and_values_do_not_parse() {
        assert!(serde_json::from_str::<Settings>(r#"{"port": 3389, "extra": 1}"#).is_err());
        assert!(serde_json::from_str::<Settings>(r#"{"security_layer": "ssl"}"#).is_err());
        assert!(serde_json::from_str::<Settings>(r#"{"port": 70000}"#).is_err());
    }
}
