//! The destination allowlist: which hosts and ports a client may CONNECT to.

use crate::socks::{Host, Target};
use serde::Serialize;

/// Host patterns, port ranges and the onion-only switch.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Only `*.onion` names are allowed (everything else is refused before any connection).
    pub onion_only: bool,
    /// `*` (any), `*.example.org` (sub-domains only), or an exact name or IP address.
    pub hosts: Vec<String>,
    /// Inclusive port ranges; empty means every port.
    pub ports: Vec<(u16, u16)>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            onion_only: false,
            hosts: vec!["*".into()],
            ports: Vec::new(),
        }
    }
}

impl Policy {
    /// Builds a policy from the comma-separated lists of the configuration.
    pub fn parse(onion_only: bool, hosts: &str, ports: &str) -> Result<Policy, String> {
        let hosts: Vec<String> = hosts
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        for h in &hosts {
            let rest = h.strip_prefix("*.").unwrap_or(h);
            if h != "*" && (rest.is_empty() || rest.contains(['*', '/', ' ', '@'])) {
                return Err(format!(
                    "host pattern {h:?}: use *, *.domain or a host name"
                ));
            }
        }
        let mut ranges = Vec::new();
        for p in ports.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let parse = |s: &str| {
                s.trim()
                    .parse::<u16>()
                    .map_err(|_| format!("port {p:?}: expected a port or a range like 8000-8100"))
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(format!("port range {p:?} is empty"));
            }
            ranges.push((lo, hi));
        }
        Ok(Policy {
            onion_only,
            hosts,
            ports: ranges,
        })
    }

    /// Whether a CONNECT to `target` is allowed; `Err` says why not.
    pub fn check(&self, target: &Target) -> Result<(), String> {
        let host = target.host_text().to_ascii_lowercase();
        if self.onion_only {
            let onion = matches!(target.host, Host::Domain(_)) && host.ends_with(".onion");
            if !onion {
                return Err(format!("{host}: onion-only mode allows only *.onion"));
            }
        }
        let host_ok = self.hosts.iter().any(|p| match p.strip_prefix("*.") {
            _ if p == "*" => true,
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|head| head.ends_with('.') && head.len() > 1),
            None => *p == host,
        });
        if !host_ok {
            return Err(format!("{host}: not in the host allowlist"));
        }
        let port = target.port;
        if !self.ports.is_empty()
            && !self
                .ports
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&port))
        {
            return Err(format!("port {port}: not in the port allowlist"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Target {
        Target::parse(text).unwrap()
    }

    #[test]
    fn default_policy_allows_everything() {
        assert!(Policy::default().check(&t("10.0.0.1:22")).is_ok());
    }

    #[test]
    fn onion_only_refuses_clearnet_names_and_addresses() {
        let p = Policy::parse(true, "*", "").unwrap();
        assert!(p.check(&t("abcdefghijklmnop.onion:80")).is_ok());
        assert!(p.check(&t("ABCDEFGHIJKLMNOP.ONION:80")).is_ok());
        assert!(p.check(&t("example.org:80")).is_err());
        assert!(p.check(&t("onion:80")).is_err());
        assert!(p.check(&t("127.0.0.1:80")).is_err());
    }

    #[test]
    fn wildcard_matches_subdomains_not_the_apex_or_lookalikes() {
        let p = Policy::parse(false, "*.example.org, 127.0.0.1", "").unwrap();
        assert!(p.check(&t("api.example.org:443")).is_ok());
        assert!(p.check(&t("example.org:443")).is_err());
        assert!(p.check(&t("badexample.org:443")).is_err());
        assert!(p.check(&t("127.0.0.1:1")).is_ok());
        assert!(p.check(&t("127.0.0.2:1")).is_err());
    }

    #[test]
    fn ports_outside_the_ranges_are_refused() {
        let p = Policy::parse(false, "*", "80, 8000-8100").unwrap();
        assert!(p.check(&t("h:80")).is_ok());
        assert!(p.check(&t("h:8050")).is_ok());
        assert!(p.check(&t("h:22")).unwrap_err().contains("port 22"));
    }

    #[test]
    fn rejects_malformed_patterns_and_ranges() {
        assert!(Policy::parse(false, "a*b", "").is_err());
        assert!(Policy::parse(false, "*.", "").is_err());
        assert!(Policy::parse(false, "*", "90-80").is_err());
        assert!(Policy::parse(false, "*", "http").is_err());
    }
}
