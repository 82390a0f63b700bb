//! Request and response values handed to and returned by services.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A request whose body has been read (within the service's size limit).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path without the query string, e.g. `/sessions/42`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Client address as seen by the server (`ip:port`), if known.
    pub remote: Option<String>,
    /// Parameters of the matched route (`{id}` in `/sessions/{id}`), set by the router.
    pub params: Vec<(String, String)>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            ..Default::default()
        }
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Header value, case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A parameter of the matched route (`id` of `/sessions/{id}`); empty when the route has none
    /// of that name.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// First value of a query parameter (no percent-decoding beyond `+` and `%XX`).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    }

    /// The body as JSON; a malformed body becomes a 400 response naming the problem.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Response> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Response::error(400, format!("invalid JSON body: {e}")))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response: status, content type, extra headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type: content_type.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// JSON body.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status, "application/json", body),
            Err(e) => Self::error(500, format!("cannot encode response: {e}")),
        }
    }

    /// `{"error": message}` with the given status: the one error shape of every service.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let body = serde_json::json!({ "error": message.into() });
        Self::new(status, "application/json", body.to_string())
    }

    pub fn not_found() -> Self {
        Self::error(404, "not found")
    }

    pub fn html(body: impl Into<String>) -> Self {
        Self::new(200, "text/html; charset=utf-8", body.into().into_bytes())
    }

    pub fn bytes(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "application/octet-stream", body)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The body parsed as JSON (tests and clients).
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A domain rule's refusal (unknown id, forbidden transition, bad value…): the HTTP status it
/// maps to and the message the client reads. Services answer it with [`Response::refused`].
pub trait Refusal {
    fn status(&self) -> u16;
    fn message(&self) -> String;
}

impl Response {
    /// The JSON error answering a domain refusal: its status, `{"error": its message}`.
    pub fn refused<R: Refusal>(refusal: R) -> Self {
        Self::error(refusal.status(), refusal.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let r = Request::new("GET", "/sessions/abc/chunks?limit=5&name=a%20b+c");
        assert_eq!(r.path, "/sessions/abc/chunks");
        assert_eq!(r.query_param("limit").as_deref(), Some("5"));
        assert_eq!(r.query_param("name").as_deref(), Some("a b c"));
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn refusal_becomes_its_status_and_message() {
        struct Full;
        impl Refusal for Full {
            fn status(&self) -> u16 {
                429
            }
            fn message(&self) -> String {
                "all slots in use".into()
            }
        }
        let r = Response::refused(Full);
        assert_eq!(r.status, 429);
        assert_eq!(r.json_body()["error"], "all slots in use");
    }

    #[test]
    fn malformed_json_is_400() {
        let r = Request::new("POST", "/x").with_body("{not json");
        let err = r.json::<serde_json::Value>().unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.json_body()["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON"));
    }
}
