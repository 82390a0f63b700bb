//! The optional MongoDB backend: its address and password are configuration, its reachability is
//! part of readiness. The wire protocol is not implemented (see the crate docs).

use lucid_runtime::Env;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where MongoDB listens, and whether a password was provided.
#[derive(Debug, Clone)]
pub struct Mongo {
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub has_password: bool,
}

impl Mongo {
    /// Reads `MONGODB_URL` and the `MONGODB_PASSWORD` secret; `None` when no URL is set.
    pub fn config(env: &mut Env) -> Option<Mongo> {
        let url = env.optional(
            "MONGODB_URL",
            "mongodb://host:port[/database] of the optional MongoDB backend (no credentials)",
        );
        let password = env.secret("MONGODB_PASSWORD", "the MongoDB password");
        let url = url?;
        match Mongo::parse(&url) {
            Ok(mut m) => {
                m.has_password = password.is_some();
                Some(m)
            }
            Err(e) => {
                env.check(false, format!("MONGODB_URL={url:?}: {e}"));
                None
            }
        }
    }

    pub fn parse(url: &str) -> Result<Mongo, String> {
        let rest = url
            .strip_prefix("mongodb://")
            .ok_or("expected mongodb://host:port")?;
        let (authority, database) = match rest.split_once('/') {
            Some((a, d)) => (
                a,
                Some(d.split('?').next().unwrap_or("")).filter(|d| !d.is_empty()),
            ),
            None => (rest, None),
        };
        if authority.contains('@') {
            return Err(
                "credentials in the URL are not allowed; use the MONGODB_PASSWORD secret".into(),
            );
        }
        // A replica-set list: readiness probes the first member.
        let first = authority.split(',').next().unwrap_or("");
        let (host, port) = match first.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?),
            None => (first, 27017),
        };
        if host.is_empty() {
            return Err("empty host".into());
        }
        Ok(Mongo {
            host: host.into(),
            port,
            database: database.map(str::to_string),
            has_password: false,
        })
    }

    /// TCP connect within a second.
    pub fn reachable(&self) -> Result<(), String> {
        let what = format!("mongodb {}:{}", self.host, self.port);
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{what}: {e}"))?;
        let mut last = format!("{what}: no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{what}: {e}"),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_database() {
        let m = Mongo::parse("mongodb://mongodb:27018/lucid?tls=false").unwrap();
        assert_eq!(
            (m.host.as_str(), m.port, m.database.as_deref()),
            ("mongodb", 27018, Some("lucid"))
        );
        assert_eq!(Mongo::parse("mongodb://db").unwrap().port, 27017);
    }

    #[test]
    fn rejects_credentials_in_the_url() {
        let err = Mongo::parse("mongodb://admin:pw@mongodb:27017").unwrap_err();
        assert!(err.contains("MONGODB_PASSWORD"), "{err}");
        assert!(Mongo::parse("http://mongodb:27017").is_err());
        assert!(Mongo::parse("mongodb://db:port").is_err());
    }
}
