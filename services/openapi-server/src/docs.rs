//! The docs page: the OpenAPI document as plain HTML (no scripts, no external assets).
//!
//! Nothing here is escaped because nothing needs it: service names are checked to be
//! `[A-Za-z0-9_-]` at start, and every other text is a constant of `spec` (a test there keeps
//! them free of markup characters).

use serde_json::Value;
use std::fmt::Write;

pub fn render(doc: &Value) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lucid stack API</title>\
         <style>body{font-family:sans-serif;margin:2em}code{background:#eee;padding:0 .3em}\
         .m{display:inline-block;width:4em;font-weight:bold}</style></head><body>\n\
         <h1>Lucid stack API</h1>\n<p>Machine-readable: <a href=\"openapi.json\">openapi.json</a> (OpenAPI 3).\
         Every path is served by openapi-gateway.</p>\n",
    );
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for tag in doc["tags"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let name = tag["name"].as_str().unwrap_or("");
        let prefix = format!("/api/{name}/");
        let _ = writeln!(html, "<h2 id=\"{name}\">{name}</h2>\n<ul>");
        for (path, item) in paths.iter().filter(|(p, _)| p.starts_with(&prefix)) {
            for (method, op) in item.as_object().unwrap_or(&empty) {
                let _ = writeln!(
                    html,
                    "<li><span class=\"m\">{}</span> <code>{path}</code> {}</li>",
                    method.to_ascii_uppercase(),
                    op["summary"].as_str().unwrap_or("")
                );
            }
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_operation_under_its_service() {
        let doc = crate::spec::document(&["api-server".into()], "/", "0.1.0");
        let html = render(&doc);
        assert!(html.contains("<h2 id=\"api-server\">api-server</h2>"));
        assert!(html.contains(
            "<span class=\"m\">PUT</span> <code>/api/api-server/sessions/{id}/status</code>"
        ));
        assert!(html.contains("<code>/api/api-server/health</code>"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }
}
