//! The OpenAPI 3 document of the stack, built from the catalog and the endpoint table below.
//!
//! Every service gets its common endpoints (`/health`, `/ready`) under its gateway prefix
//! `/api/<service>`; the services whose APIs are described here get theirs too. The table is
//! written by hand in this crate (not scraped from the services), so it changes with them in review.

use serde_json::{json, Map, Value};

/// One operation of a service's own API.
pub struct Op {
    pub method: &'static str,
    /// Path below the service's prefix, with `{param}` placeholders.
    pub path: &'static str,
    pub summary: &'static str,
    /// Schema name of the JSON request body, if any.
    pub request: Option<&'static str>,
    /// Success status and its schema name (`None`: any JSON, `Some("html")`: a page).
    pub ok: (u16, Option<&'static str>),
    /// Error statuses the operation documents.
    pub errors: &'static [u16],
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    ok: (u16, Option<&'static str>),
    errors: &'static [u16],
) -> Op {
    Op {
        method,
        path,
        summary,
        request,
        ok,
        errors,
    }
}

/// The APIs described beyond `/health` and `/ready`.
pub fn operations(service: &str) -> &'static [Op] {
    const API_SERVER: &[Op] = &[
        op(
            "post",
            "/sessions",
            "Create a session (status created)",
            Some("NewSession"),
            (201, Some("Session")),
            &[400, 409, 413, 507],
        ),
        op(
            "get",
            "/sessions",
            "List sessions, oldest first (query: status, owner, limit)",
            None,
            (200, Some("SessionList")),
            &[400],
        ),
        op(
            "get",
            "/sessions/{id}",
            "Get one session",
            None,
            (200, Some("Session")),
            &[404],
        ),
        op(
            "put",
            "/sessions/{id}/status",
            "Move a session along its life cycle",
            Some("StatusChange"),
            (200, Some("Session")),
            &[400, 404, 409],
        ),
        op(
            "get",
            "/statuses",
            "Each status and the statuses it may move to",
            None,
            (200, None),
            &[],
        ),
    ];
    const TOR_PROXY: &[Op] = &[
        op(
            "get",
            "/status",
            "SOCKS listener, upstream, allowlist and connection counters",
            None,
            (200, None),
            &[],
        ),
        op(
            "post",
            "/check",
            "Whether the allowlist permits a destination host:port",
            Some("Target"),
            (200, None),
            &[400],
        ),
    ];
    const TUNNEL_TOOLS: &[Op] = &[op(
        "get",
        "/status",
        "Forwarder target and connection counters",
        None,
        (200, None),
        &[],
    )];
    const SERVER_TOOLS: &[Op] = &[
        op(
            "get",
            "/status",
            "Probe every service: the status table",
            None,
            (200, Some("StatusTable")),
            &[],
        ),
        op(
            "get",
            "/status/{service}",
            "Probe one service",
            None,
            (200, Some("Probe")),
            &[404],
        ),
    ];
    const ADMIN_UI: &[Op] = &[
        op(
            "get",
            "/",
            "The stack page (HTML)",
            None,
            (200, Some("html")),
            &[],
        ),
        op(
            "get",
            "/api/overview",
            "Service states and sessions as JSON",
            None,
            (200, None),
            &[],
        ),
    ];
    const OPENAPI_SERVER: &[Op] = &[
        op(
            "get",
            "/openapi.json",
            "This document",
            None,
            (200, None),
            &[],
        ),
        op(
            "get",
            "/docs",
            "This document as an HTML page",
            None,
            (200, Some("html")),
            &[],
        ),
    ];
    match service {
        "api-server" | "api-gateway" => API_SERVER,
        "tor-proxy" => TOR_PROXY,
        "tunnel-tools" => TUNNEL_TOOLS,
        "server-tools" => SERVER_TOOLS,
        "admin-ui" => ADMIN_UI,
        "openapi-server" => OPENAPI_SERVER,
        _ => &[],
    }
}

fn schemas() -> Value {
    let session_status = json!({ "type": "string", "enum": ["created", "recording", "processing", "anchored", "failed", "cancelled"] });
    json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
        "Health": { "type": "object", "properties": { "status": { "type": "string", "example": "ok" }, "service": { "type": "string" }, "instance": { "type": "string", "description": "hostname of the answering replica (container id, pod name)" } } },
        "Ready": { "type": "object", "properties": {
            "status": { "type": "string", "enum": ["ready", "not ready"] },
            "service": { "type": "string" },
            "problems": { "type": "array", "items": { "type": "string" } } } },
        "NewSession": { "type": "object", "required": ["owner"], "additionalProperties": false, "properties": {
            "id": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" },
            "owner": { "type": "string", "maxLength": 128 },
            "metadata": { "type": "object", "additionalProperties": { "type": "string" } } } },
        "StatusChange": { "type": "object", "required": ["status"], "additionalProperties": false, "properties": {
            "status": session_status, "reason": { "type": "string" } } },
        "Session": { "type": "object", "properties": {
            "id": { "type": "string" }, "owner": { "type": "string" }, "status": session_status,
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
            "metadata": { "type": "object", "additionalProperties": { "type": "string" } },
            "history": { "type": "array", "items": { "type": "object", "properties": {
                "from": session_status, "to": session_status, "at": { "type": "integer" }, "reason": { "type": "string" } } } } } },
        "SessionList": { "type": "object", "properties": {
            "sessions": { "type": "array", "items": { "$ref": "#/components/schemas/Session" } },
            "total": { "type": "integer" } } },
        "Target": { "type": "object", "required": ["target"], "properties": { "target": { "type": "string", "example": "example.onion:80" } } },
        "Probe": { "type": "object", "properties": {
            "service": { "type": "string" }, "url": { "type": "string" },
            "state": { "type": "string", "enum": ["up", "unhealthy", "down"] },
            "tcp": { "type": "boolean" }, "http_status": { "type": "integer", "nullable": true },
            "latency_ms": { "type": "integer" }, "error": { "type": "string" } } },
        "StatusTable": { "type": "object", "properties": {
            "checked_at": { "type": "integer" },
            "summary": { "type": "object", "properties": {
                "total": { "type": "integer" }, "up": { "type": "integer" }, "unhealthy": { "type": "integer" }, "down": { "type": "integer" } } },
            "services": { "type": "array", "items": { "$ref": "#/components/schemas/Probe" } } } }
    })
}

fn content(schema: Option<&str>) -> Value {
    match schema {
        Some("html") => json!({ "text/html": { "schema": { "type": "string" } } }),
        Some(name) => {
            json!({ "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } })
        }
        None => json!({ "application/json": { "schema": { "type": "object" } } }),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Invalid request",
        404 => "Not found",
        409 => "Conflict",
        413 => "Body too large",
        503 => "Not ready",
        507 => "Store full",
        _ => "Error",
    }
}

fn operation(service: &str, o: &Op) -> Value {
    let mut responses = Map::new();
    responses.insert(
        o.ok.0.to_string(),
        json!({ "description": reason(o.ok.0), "content": content(o.ok.1) }),
    );
    for e in o.errors {
        responses.insert(
            e.to_string(),
            json!({ "description": reason(*e), "content": content(Some("Error")) }),
        );
    }
    let mut value = json!({
        "tags": [service],
        "summary": o.summary,
        "operationId": format!("{service}:{} {}", o.method, o.path),
        "responses": responses,
    });
    if let Some(req) = o.request {
        value["requestBody"] = json!({ "required": true, "content": content(Some(req)) });
    }
    let params: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if !params.is_empty() {
        value["parameters"] = json!(params);
    }
    value
}

/// The common endpoints every Lucid service has (the runtime serves them).
const COMMON: &[Op] = &[
    op(
        "get",
        "/health",
        "Liveness",
        None,
        (200, Some("Health")),
        &[],
    ),
    op(
        "get",
        "/ready",
        "Readiness: upstreams reachable",
        None,
        (200, Some("Ready")),
        &[503],
    ),
];

/// The document for the services of `catalog` (names only: addresses are internal).
pub fn document(services: &[String], server_url: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for service in services {
        tags.push(json!({ "name": service }));
        let ops = COMMON.iter().chain(operations(service));
        for o in ops {
            let path = format!("/api/{service}{}", if o.path == "/" { "/" } else { o.path });
            let entry = paths.entry(path).or_insert_with(|| json!({}));
            entry[o.method] = operation(service, o);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Lucid stack API",
            "version": version,
            "description": "Every service of the deployment, reached through openapi-gateway at /api/<service>/…",
        },
        "servers": [{ "url": server_url }],
        "tags": tags,
        "paths": paths,
        "components": { "schemas": schemas() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_gets_health_and_ready_and_known_apis_their_paths() {
        let doc = document(
            &["api-server".into(), "merkle-builder".into()],
            "/",
            "0.1.0",
        );
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/api-server/health",
            "/api/api-server/ready",
            "/api/merkle-builder/health",
            "/api/merkle-builder/ready",
        ] {
            assert!(paths.contains_key(p), "{p}");
        }
        assert!(paths["/api/api-server/sessions"]["post"]["requestBody"].is_object());
        assert_eq!(
            paths["/api/api-server/sessions/{id}/status"]["put"]["parameters"][0]["name"],
            "id"
        );
        assert_eq!(paths.len(), 4 + 4);
    }

    #[test]
    fn every_schema_reference_resolves() {
        let all: Vec<String> = [
            "api-server",
            "tor-proxy",
            "tunnel-tools",
            "server-tools",
            "admin-ui",
            "openapi-server",
        ]
        .map(String::from)
        .to_vec();
        let doc = document(&all, "/", "0.1.0");
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
    }

    #[test]
    fn static_texts_need_no_html_escaping() {
        // The docs page interpolates these texts as they are.
        for service in [
            "api-server",
            "tor-proxy",
            "tunnel-tools",
            "server-tools",
            "admin-ui",
            "openapi-server",
        ] {
            for o in operations(service) {
                assert!(!o.summary.contains(['<', '>', '&', '"']), "{}", o.summary);
                assert!(!o.path.contains(['<', '>', '&', '"']), "{}", o.path);
            }
        }
    }
}
