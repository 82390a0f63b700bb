//! Routing: a service declares each of its routes (method, path pattern, handler) once, in
//! [`crate::app::App::routes`]; the runtime matches requests against them and answers the misses
//! the same way in every service: 404 for a path no route has, 405 with an `Allow` header for a
//! method the path does not have.
//!
//! Patterns are `/`-separated: a literal segment, `{name}` (one non-empty segment, read with
//! [`Request::param`]) or, last, `{*name}` (the rest of the path, possibly empty). A path with an
//! empty segment (`/api//x`) names nothing and is 404; one trailing `/` is ignored.

use crate::http::{Request, Response};

/// What a handler returns: a response, or a `Result` whose error already is one.
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Result<Response, Response> {
    fn into_response(self) -> Response {
        self.unwrap_or_else(|e| e)
    }
}

type Handler<A> = Box<dyn Fn(&A, &Request) -> Response + Send + Sync>;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(&'static str),
    Param(&'static str),
    Rest(&'static str),
}

struct Route<A> {
    /// `None`: every method (the gateways forward whatever comes).
    method: Option<&'static str>,
    pattern: &'static str,
    parts: Vec<Part>,
    handler: Handler<A>,
}

/// The routes of a service, in the order they were declared (the first match wins).
pub struct Routes<A> {
    routes: Vec<Route<A>>,
    errors: Vec<String>,
}

/// The outcome of matching a request against the routes.
pub enum Match<'a, A> {
    Found(
        &'a (dyn Fn(&A, &Request) -> Response + Send + Sync),
        Vec<(String, String)>,
    ),
    /// The path exists, not with this method: the methods it has.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

impl<A> Default for Routes<A> {
    fn default() -> Self {
        Routes {
            routes: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl<A> Routes<A> {
    pub fn get<R: IntoResponse>(
        &mut self,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(Some("GET"), pattern, handler)
    }

    pub fn post<R: IntoResponse>(
        &mut self,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(Some("POST"), pattern, handler)
    }

    pub fn put<R: IntoResponse>(
        &mut self,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(Some("PUT"), pattern, handler)
    }

    pub fn delete<R: IntoResponse>(
        &mut self,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(Some("DELETE"), pattern, handler)
    }

    /// A route for another method (`OPTIONS` for CORS preflights).
    pub fn method<R: IntoResponse>(
        &mut self,
        method: &'static str,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(Some(method), pattern, handler)
    }

    /// A route for every method (a reverse proxy's).
    pub fn any<R: IntoResponse>(
        &mut self,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        self.add(None, pattern, handler)
    }

    fn add<R: IntoResponse>(
        &mut self,
        method: Option<&'static str>,
        pattern: &'static str,
        handler: impl Fn(&A, &Request) -> R + Send + Sync + 'static,
    ) -> &mut Self {
        match parse(pattern) {
            Ok(parts) => self.routes.push(Route {
                method,
                pattern,
                parts,
                handler: Box::new(move |app, req| handler(app, req).into_response()),
            }),
            Err(e) => self.errors.push(format!("route {pattern:?}: {e}")),
        }
        self
    }

    /// Malformed patterns, each naming its route: the server refuses to start with any.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The declared `(method, pattern)` pairs, `*` for every method (documentation, tests).
    pub fn table(&self) -> Vec<(&'static str, &'static str)> {
        self.routes
            .iter()
            .map(|r| (r.method.unwrap_or("*"), r.pattern))
            .collect()
    }

    /// Matches `method` and `path` (without the query string).
    pub fn find(&self, method: &str, path: &str) -> Match<'_, A> {
        let Some(segments) = segments(path) else {
            return Match::NotFound;
        };
        let mut allowed: Vec<&'static str> = Vec::new();
        for route in &self.routes {
            let Some(params) = bind(&route.parts, &segments) else {
                continue;
            };
            match route.method {
                Some(m) if m != method => {
                    if !allowed.contains(&m) {
                        allowed.push(m);
                    }
                }
                _ => return Match::Found(route.handler.as_ref(), params),
            }
        }
        if allowed.is_empty() {
            Match::NotFound
        } else {
            Match::WrongMethod(allowed)
        }
    }

    /// Answers `req` with the matching route's handler (its path parameters set), or 404/405.
    pub fn dispatch(&self, app: &A, req: &mut Request) -> Response {
        match self.find(&req.method, &req.path) {
            Match::Found(handler, params) => {
                req.params = params;
                handler(app, req)
            }
            Match::WrongMethod(allowed) => method_not_allowed(&req.method, &req.path, &allowed),
            Match::NotFound => Response::not_found(),
        }
    }
}

/// 405 naming the method and the path, with the `Allow` header listing what the path accepts.
pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Response {
    let allow = allowed.join(", ");
    Response::error(
        405,
        format!("method {method} is not allowed on {path}; allowed: {allow}"),
    )
    .with_header("Allow", &allow)
}

fn parse(pattern: &'static str) -> Result<Vec<Part>, String> {
    let rest = pattern.strip_prefix('/').ok_or("must start with '/'")?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<&'static str> = rest.split('/').collect();
    let mut parts = Vec::with_capacity(raw.len());
    for (i, seg) in raw.iter().enumerate() {
        let part = match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) if name.starts_with('*') => {
                if i + 1 != raw.len() {
                    return Err(format!("{{{name}}} must be the last segment"));
                }
                Part::Rest(&name[1..])
            }
            Some(name) => Part::Param(name),
            None if seg.is_empty() => return Err("empty segment".into()),
            None if seg.contains(['{', '}']) => return Err(format!("malformed segment {seg:?}")),
            None => Part::Literal(seg),
        };
        if let Part::Param(name) | Part::Rest(name) = &part {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("bad parameter name in {seg:?}"));
            }
        }
        parts.push(part);
    }
    Ok(parts)
}

/// The segments of a request path; `None` when one is empty (`//`), which no route can name.
fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    segments.iter().all(|s| !s.is_empty()).then_some(segments)
}

fn bind(parts: &[Part], segments: &[&str]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Rest(name) => {
                let rest = segments.get(i..).unwrap_or(&[]).join("/");
                params.push((name.to_string(), rest));
                return Some(params);
            }
            Part::Literal(lit) => {
                if segments.get(i) != Some(lit) {
                    return None;
                }
            }
            Part::Param(name) => params.push((name.to_string(), segments.get(i)?.to_string())),
        }
    }
    (segments.len() == parts.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct App;

    fn routes() -> Routes<App> {
        let mut r = Routes::default();
        r.get("/", |_, _| Response::new(200, "text/plain", "root"))
            .get("/sessions", |_, _| Response::new(200, "text/plain", "list"))
            .post("/sessions", |_, _| Response::new(201, "text/plain", "new"))
            .get("/sessions/{id}", |_, r: &Request| {
                Response::new(200, "text/plain", r.param("id").to_string())
            })
            .put("/sessions/{id}/status", |_, _| {
                Err::<Response, _>(Response::error(409, "no"))
            })
            .any("/api/{service}/{*rest}", |_, r: &Request| {
                Response::new(
                    200,
                    "text/plain",
                    format!("{}|{}", r.param("service"), r.param("rest")),
                )
            });
        r
    }

    fn answer(method: &str, path: &str) -> Response {
        routes().dispatch(&App, &mut Request::new(method, path))
    }

    fn body(r: &Response) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    #[test]
    fn routes_match_literals_params_and_rest() {
        assert_eq!(body(&answer("GET", "/")), "root");
        assert_eq!(body(&answer("GET", "/sessions")), "list");
        assert_eq!(body(&answer("GET", "/sessions/")), "list");
        assert_eq!(answer("POST", "/sessions").status, 201);
        assert_eq!(body(&answer("GET", "/sessions/abc")), "abc");
        assert_eq!(answer("PUT", "/sessions/abc/status").status, 409);
        assert_eq!(body(&answer("DELETE", "/api/x/a/b")), "x|a/b");
        assert_eq!(body(&answer("GET", "/api/x")), "x|");
    }

    #[test]
    fn wrong_method_on_an_existing_route_is_405_with_allow() {
        let r = answer("DELETE", "/sessions");
        assert_eq!(r.status, 405);
        let allow = r.headers.iter().find(|(k, _)| k == "Allow").unwrap();
        assert_eq!(allow.1, "GET, POST");
        assert!(body(&r).contains("DELETE"), "{}", body(&r));
        assert_eq!(answer("GET", "/sessions/abc/status").status, 405);
    }

    #[test]
    fn unknown_paths_and_empty_segments_are_404() {
        assert_eq!(answer("GET", "/nope").status, 404);
        assert_eq!(answer("GET", "/sessions/abc/other").status, 404);
        assert_eq!(answer("GET", "//").status, 404);
        assert_eq!(answer("GET", "/api//anything").status, 404);
        assert_eq!(answer("GET", "/api/x//y").status, 404);
        assert_eq!(answer("GET", "/sessions//").status, 404);
        assert_eq!(answer("GET", "*").status, 404);
    }

    #[test]
    fn malformed_patterns_are_errors_naming_the_route() {
        let mut r: Routes<App> = Routes::default();
        r.get("nope", |_, _| Response::not_found())
            .get("/a/{*rest}/b", |_, _| Response::not_found())
            .get("/a//b", |_, _| Response::not_found())
            .get("/a/{x", |_, _| Response::not_found())
            .get("/a/{}", |_, _| Response::not_found());
        assert_eq!(r.errors().len(), 5, "{:?}", r.errors());
        assert!(r.errors()[0].starts_with("route \"nope\""));
        assert!(r.table().is_empty());
    }
}
