//! CORS: which browser origins may call the API, preflight answers and the headers of replies.

use lucid_runtime::{Request, Response};

const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const DEFAULT_HEADERS: &str = "Content-Type, Authorization, X-Request-Id";

/// Allowed origins: exact `scheme://host[:port]` values, or `*` for any.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    any: bool,
    origins: Vec<String>,
}

impl Cors {
    pub fn parse(text: &str) -> Result<Cors, String> {
        let mut cors = Cors::default();
        for o in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if o == "*" {
                cors.any = true;
            } else if (o.starts_with("http://") || o.starts_with("https://"))
                && !o
                    .trim_end_matches('/')
                    .contains(|c: char| c.is_whitespace())
                && o.matches('/').count() == 2
            {
                cors.origins.push(o.to_string());
            } else {
                return Err(format!("origin {o:?}: expected * or scheme://host[:port]"));
            }
        }
        Ok(cors)
    }

    /// The value for `Access-Control-Allow-Origin` when `origin` may call, else `None`.
    fn allow(&self, origin: &str) -> Option<String> {
        if self.any {
            Some("*".into())
        } else if self.origins.iter().any(|o| o == origin) {
            Some(origin.to_string())
        } else {
            None
        }
    }

    /// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    pub fn is_preflight(req: &Request) -> bool {
        req.method == "OPTIONS"
            && req.header("origin").is_some()
            && req.header("access-control-request-method").is_some()
    }

    /// 204 with the Access-Control-* headers, or 403 for an origin that is not allowed.
    pub fn preflight(&self, req: &Request) -> Response {
        let origin = req.header("origin").unwrap_or("");
        let Some(allowed) = self.allow(origin) else {
            return Response::error(403, format!("origin {origin} is not allowed"))
                .with_header("Vary", "Origin");
        };
        let headers = req
            .header("access-control-request-headers")
            .unwrap_or(DEFAULT_HEADERS);
        let mut resp = Response::new(204, "text/plain", Vec::new())
            .with_header("Access-Control-Allow-Origin", &allowed)
            .with_header("Access-Control-Allow-Methods", METHODS)
            .with_header("Access-Control-Allow-Headers", headers)
            .with_header("Access-Control-Max-Age", "600");
        resp.headers.push(("Vary".into(), "Origin".into()));
        resp
    }

    /// Adds the headers of an actual (non-preflight) cross-origin reply.
    pub fn decorate(&self, req: &Request, resp: Response) -> Response {
        match req.header("origin").and_then(|o| self.allow(o)) {
            Some(allowed) => resp
                .with_header("Access-Control-Allow-Origin", &allowed)
                .with_header("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
                .with_header("Vary", "Origin"),
            None => resp.with_header("Vary", "Origin"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn preflight(origin: &str) -> Request {
        Request::new("OPTIONS", "/api/x")
            .with_header("Origin", origin)
            .with_header("Access-Control-Request-Method", "POST")
    }

    #[test]
    fn allowed_origin_gets_preflight_headers_and_others_403() {
        let cors = Cors::parse("https://admin.lucid.local, http://localhost:3000").unwrap();
        let ok = cors.preflight(&preflight("http://localhost:3000"));
        assert_eq!(ok.status, 204);
        assert_eq!(
            header(&ok, "access-control-allow-origin"),
            Some("http://localhost:3000")
        );
        assert!(header(&ok, "access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        let no = cors.preflight(&preflight("https://evil.example"));
        assert_eq!(no.status, 403);
        assert_eq!(header(&no, "access-control-allow-origin"), None);
    }

    #[test]
    fn wildcard_allows_any_origin() {
        let cors = Cors::parse("*").unwrap();
        let r = cors.decorate(&preflight("https://x.example"), Response::json(200, &1));
        assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn rejects_origins_with_paths_or_without_scheme() {
        assert!(Cors::parse("admin.lucid.local").is_err());
        assert!(Cors::parse("https://a.example/path").is_err());
        assert!(Cors::parse("").is_ok());
    }
}
