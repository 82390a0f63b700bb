//! Reverse proxying for the gateways (api-gateway, openapi-gateway): a request is passed on to
//! another service with its method, path, query, body and end-to-end headers, and the reply
//! comes back with its status, content type and headers. Upstream failures become the one JSON
//! error shape: 504 when the upstream did not answer in time, 502 when it could not be reached.

use crate::http::{Request, Response};
use std::time::Duration;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones the
/// HTTP libraries on each side compute themselves.
const NOT_FORWARDED: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// Reply headers the local server sets itself.
const NOT_RETURNED: [&str; 3] = ["content-type", "date", "server"];

fn forwarded(name: &str) -> bool {
    !NOT_FORWARDED.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Forwards requests with a timeout; redirects are returned to the client, never followed.
#[derive(Clone)]
pub struct Forwarder {
    agent: ureq::Agent,
    timeout: Duration,
    max_body: u64,
}

impl Forwarder {
    /// `timeout` bounds the whole exchange (connect, request, reply body); replies larger than
    /// `max_body` bytes are a 502.
    pub fn new(timeout: Duration, max_body: u64) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            // Inside the compose network a proxy from the environment would be wrong.
            .proxy(None)
            .build()
            .into();
        Forwarder {
            agent,
            timeout,
            max_body,
        }
    }

    /// Sends `req` to `base` (`http://host:port`) at `path` (which starts with `/`; the request's
    /// query string is appended), with `extra` headers replacing any of the same name.
    pub fn forward(
        &self,
        req: &Request,
        base: &str,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Response {
        let mut url = format!("{}{}", base.trim_end_matches('/'), path);
        if !req.query.is_empty() {
            url.push('?');
            url.push_str(&req.query);
        }
        let mut builder = ureq::http::Request::builder()
            .method(req.method.as_str())
            .uri(&url);
        for (k, v) in &req.headers {
            let replaced = extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(k));
            if forwarded(k) && !replaced {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        for (k, v) in extra {
            builder = builder.header(*k, *v);
        }
        let request = match builder.body(req.body.clone()) {
            Ok(r) => r,
            Err(e) => return Response::error(400, format!("cannot forward request: {e}")),
        };
        let mut reply = match self.agent.run(request) {
            Ok(r) => r,
            Err(e) => return self.failure(base, &e),
        };
        let status = reply.status().as_u16();
        let mut headers = Vec::new();
        let mut content_type = "application/octet-stream".to_string();
        for (k, v) in reply.headers() {
            let Ok(v) = v.to_str() else { continue };
            if k.as_str() == "content-type" {
                content_type = v.to_string();
            } else if forwarded(k.as_str()) && !NOT_RETURNED.contains(&k.as_str()) {
                headers.push((k.as_str().to_string(), v.to_string()));
            }
        }
        let body = match reply
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .read_to_vec()
        {
            Ok(b) => b,
            Err(e) => return self.failure(base, &e),
        };
        let mut resp = Response::new(status, &content_type, body);
        resp.headers = headers;
        resp
    }

    fn failure(&self, base: &str, e: &ureq::Error) -> Response {
        let timed_out = match e {
            ureq::Error::Timeout(_) => true,
            ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
            _ => false,
        };
        if timed_out {
            Response::error(
                504,
                format!(
                    "upstream {base} did not answer within {} ms",
                    self.timeout.as_millis()
                ),
            )
        } else {
            Response::error(502, format!("upstream {base} failed: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        assert!(!forwarded("Connection"));
        assert!(!forwarded("transfer-encoding"));
        assert!(!forwarded("Host"));
        assert!(forwarded("Authorization"));
        assert!(forwarded("X-Request-Id"));
    }

    #[test]
    fn unreachable_upstream_is_a_502_json_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let f = Forwarder::new(Duration::from_secs(2), 1 << 20);
        let resp = f.forward(
            &Request::new("GET", "/x"),
            &format!("http://127.0.0.1:{port}"),
            "/x",
            &[],
        );
        assert_eq!(resp.status, 502);
        assert!(resp.json_body()["error"]
            .as_str()
            .unwrap()
            .contains("failed"));
    }

    #[test]
    fn silent_upstream_is_a_504_json_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Accepts the connection (the kernel does) but never answers.
        let f = Forwarder::new(Duration::from_millis(300), 1 << 20);
        let resp = f.forward(&Request::new("GET", "/slow"), &base, "/slow", &[]);
        assert_eq!(resp.status, 504);
        drop(listener);
    }
}
