//! The HTML page: a table of service states and a table of sessions, every value escaped.

use lucid_runtime::probe::{Probe, Summary};
use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON field as display text (strings without quotes, missing as "").
fn field(v: &Value, name: &str) -> String {
    match &v[name] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.up{color:#070}.unhealthy{color:#a60}.down{color:#b00}";

/// The whole page. `sessions` is api-server's `GET /sessions` reply, or why it is unavailable.
pub fn render(probes: &[Probe], summary: &Summary, sessions: &Result<Value, String>) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"30\"><title>Lucid stack</title>\
         <style>{STYLE}</style></head><body>\n<h1>Lucid stack</h1>\n\
         <h2>Services</h2>\n<p>{} services: {} up, {} unhealthy, {} down</p>\n\
         <table><tr><th>service</th><th>state</th><th>/health</th><th>latency</th><th>detail</th></tr>\n",
        summary.total, summary.up, summary.unhealthy, summary.down
    );
    for p in probes {
        let state = p.state.as_str();
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            escape(&p.service),
            p.http_status.map(|s| s.to_string()).unwrap_or_default(),
            p.latency_ms,
            escape(p.error.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>\n<h2>Sessions</h2>\n");
    match sessions {
        Err(e) => {
            let _ = writeln!(
                html,
                "<p class=\"down\">sessions unavailable: {}</p>",
                escape(e)
            );
        }
        Ok(list) => {
            let rows = list["sessions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let _ = writeln!(
                html,
                "<p>{} sessions (showing {})</p>\n<table><tr><th>id</th><th>owner</th><th>status</th>\
                 <th>created</th><th>updated</th></tr>",
                escape(&field(list, "total")),
                rows.len()
            );
            for s in rows {
                let _ = writeln!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&field(s, "id")),
                    escape(&field(s, "owner")),
                    escape(&field(s, "status")),
                    escape(&field(s, "created_at")),
                    escape(&field(s, "updated_at")),
                );
            }
            html.push_str("</table>\n");
        }
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_runtime::probe::{summarize, State};
    use serde_json::json;

    fn probe(name: &str, state: State, error: Option<&str>) -> Probe {
        Probe {
            service: name.into(),
            url: "http://x:1".into(),
            state,
            tcp: state != State::Down,
            http_status: None,
            latency_ms: 3,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn escapes_markup_in_every_value() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let probes = vec![probe(
            "evil<svc>",
            State::Down,
            Some("<img src=x onerror=alert(1)>"),
        )];
        let sessions = Ok(
            json!({ "total": 1, "sessions": [{ "id": "s1", "owner": "<script>alert(1)</script>", "status": "created" }] }),
        );
        let html = render(&probes, &summarize(&probes), &sessions);
        assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<svc>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn shows_states_summary_and_an_unavailable_session_list() {
        let probes = vec![
            probe("api-server", State::Up, None),
            probe("tor-proxy", State::Down, Some("refused")),
        ];
        let html = render(
            &probes,
            &summarize(&probes),
            &Err("api-server: refused".into()),
        );
        assert!(html.contains("2 services: 1 up, 0 unhealthy, 1 down"));
        assert!(html.contains("<td class=\"down\">down</td>"));
        assert!(html.contains("sessions unavailable: api-server: refused"));
    }
}
