//! Calling other services over HTTP (plain HTTP inside the compose network; TLS ends at the edge).

use crate::http::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// A reply from another service.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON whatever the status, `Null` when it is not JSON (tests read error
    /// bodies with this).
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as JSON, or an error that quotes the status and the start of the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        if !self.ok() {
            return Err(format!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON reply: {e}"))
    }
}

/// The caller's answer when `upstream` did not give the reply it needed. A 4xx stays that 4xx:
/// the request was refused for a reason a retry will not change (too large, invalid, conflicting),
/// and a 5xx would make callers retry it; the message names the upstream and quotes its error.
/// Anything else is a 502 naming the upstream.
pub fn upstream_refusal(upstream: &str, reply: &Reply) -> Response {
    let quoted = reply.json_body()["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).into_owned()
        });
    if (400..500).contains(&reply.status) {
        Response::error(reply.status, format!("{upstream}: {quoted}"))
    } else {
        Response::error(502, format!("{upstream}: HTTP {}: {quoted}", reply.status))
    }
}

/// Checks that a body of `len` bytes fits `upstream`'s `limit` before sending it: otherwise the
/// 413 the upstream would give, from here, naming the limit (see [`crate::app::Sends::AtMost`]).
pub fn fits(upstream: &str, what: &str, len: usize, limit: u64) -> Result<(), Response> {
    if len as u64 <= limit {
        return Ok(());
    }
    Err(Response::error(
        413,
        format!("{what} would be a {len}-byte request to {upstream}, which accepts at most {limit} bytes"),
    ))
}

/// A blocking HTTP client with a timeout; 4xx/5xx are replies, not errors.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    max_body: u64,
}

impl Client {
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            agent,
            max_body: 256 << 20,
        }
    }

    fn finish(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        url: &str,
    ) -> Result<Reply, String> {
        let mut resp = result.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .read_to_vec()
            .map_err(|e| format!("{url}: {e}"))?;
        Ok(Reply { status, body })
    }

    pub fn get(&self, url: &str) -> Result<Reply, String> {
        self.finish(self.agent.get(url).call(), url)
    }

    pub fn delete(&self, url: &str) -> Result<Reply, String> {
        self.finish(self.agent.delete(url).call(), url)
    }

    pub fn post_bytes(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Reply, String> {
        self.finish(
            self.agent
                .post(url)
                .header("content-type", content_type)
                .send(body),
            url,
        )
    }

    pub fn post_json<T: Serialize + ?Sized>(&self, url: &str, value: &T) -> Result<Reply, String> {
        let body = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.post_bytes(url, "application/json", &body)
    }

    pub fn put_json<T: Serialize + ?Sized>(&self, url: &str, value: &T) -> Result<Reply, String> {
        let body = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        self.finish(
            self.agent
                .put(url)
                .header("content-type", "application/json")
                .send(&body[..]),
            url,
        )
    }

    /// Any method with optional body and headers (the gateways forward requests with this).
    pub fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(body.to_vec())
            .map_err(|e| format!("{url}: {e}"))?;
        self.finish(self.agent.run(request), url)
    }
}

/// The deadline of [`Client::default`]: under the compose health check's 3 s, so a caller whose
/// upstream hangs gives up (and answers) before anyone would call it unhealthy. Calls that move
/// whole recordings set their own, longer deadlines.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for Client {
    fn default() -> Self {
        Client::new(DEFAULT_TIMEOUT)
    }
}

/// `http://host:port[/…]` -> `("host", port)`; the only URL form Lucid services use among themselves.
pub fn host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected an http:// URL")?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err("credentials in URLs are not allowed; use a secret".into());
    }
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or("expected http://host:port")?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("bad port {port:?}"))?;
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok((host.to_string(), port))
}

/// True when a TCP connection to the URL's host and port succeeds within `timeout`.
pub fn reachable(url: &str, timeout: Duration) -> Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let (host, port) = host_port(url)?;
    let addrs = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?;
    let mut last = format!("{host}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{host}:{port}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_4xx_stays_a_4xx_and_names_the_upstream() {
        let reply = |status, body: &str| Reply {
            status,
            body: body.as_bytes().to_vec(),
        };
        let r = upstream_refusal(
            "blockchain-vm",
            &reply(413, r#"{"error":"request body larger than 1048576 bytes"}"#),
        );
        assert_eq!(r.status, 413);
        assert_eq!(
            r.json_body()["error"],
            "blockchain-vm: request body larger than 1048576 bytes"
        );
        let r = upstream_refusal("blockchain-vm", &reply(503, "busy"));
        assert_eq!(r.status, 502);
        assert!(r.json_body()["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 503: busy"));
    }

    #[test]
    fn a_body_over_the_upstream_limit_is_a_413_naming_it() {
        assert!(fits("x", "the block", 10, 10).is_ok());
        let r = fits("blockchain-vm", "the block", 11, 10).unwrap_err();
        assert_eq!(r.status, 413);
        assert!(r.json_body()["error"]
            .as_str()
            .unwrap()
            .contains("at most 10 bytes"));
    }

    #[test]
    fn host_port_parses_and_refuses_credentials() {
        assert_eq!(
            host_port("http://api-server:8081/x").unwrap(),
            ("api-server".into(), 8081)
        );
        assert!(host_port("http://u:p@api-server:8081")
            .unwrap_err()
            .contains("credentials"));
        assert!(host_port("https://x:1").is_err());
        assert!(host_port("http://x").is_err());
    }
}
