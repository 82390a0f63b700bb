//! The HTML page: a banner saying whether everything is up, the services grouped by catalog
//! layer (state, version, instance, image digest, start time, `/health` answer), and the
//! sessions. Every value is escaped; no scripts, no external assets.

use crate::layers::{layer_of, LAYER_NAMES};
use crate::time::{iso8601, relative};
use lucid_runtime::probe::{Probe, State, Summary};
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

/// A point in time as `<time>`: ISO 8601 in UTC, and how long ago (relative to `now`).
fn when(unix: Option<u64>, now: u64) -> String {
    match unix {
        Some(t) => format!(
            "<time datetime=\"{iso}\">{iso}</time> <span class=\"ago\">({})</span>",
            relative(t, now),
            iso = iso8601(t)
        ),
        None => NONE.into(),
    }
}

/// What a cell shows when there is nothing to show (never a made-up value such as "0 ms").
const NONE: &str = "<span class=\"none\">—</span>";

fn optional(text: Option<&str>) -> String {
    text.map(escape).unwrap_or_else(|| NONE.into())
}

/// `sha256:0123456789ab…` with the whole digest in the title.
fn digest(d: Option<&str>) -> String {
    match d {
        Some(d) => {
            let short: String = d.chars().take(19).collect();
            let more = if d.chars().count() > 19 { "…" } else { "" };
            format!(
                "<code title=\"{}\">{}{more}</code>",
                escape(d),
                escape(&short)
            )
        }
        None => NONE.into(),
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.up{color:#070}.unhealthy{color:#a60}.down{color:#b00}\
.banner{padding:.8em 1em;margin:1em 0;border-radius:4px;font-weight:bold}\
.banner.ok{background:#e6f4e6;border:1px solid #7a7}\
.banner.alert{background:#fbe3e3;border:2px solid #b00;color:#700}\
.ago,.none{color:#777}code{font-size:.9em}";

fn banner(probes: &[Probe], summary: &Summary) -> String {
    let not_up: Vec<&Probe> = probes.iter().filter(|p| p.state != State::Up).collect();
    if not_up.is_empty() {
        return format!(
            "<div class=\"banner ok\" id=\"banner\" role=\"status\">All {} services are up.</div>\n",
            summary.total
        );
    }
    let names: Vec<String> = not_up
        .iter()
        .map(|p| format!("{} ({})", escape(&p.service), p.state.as_str()))
        .collect();
    format!(
        "<div class=\"banner alert\" id=\"banner\" role=\"alert\">{} of {} services are not up: {}</div>\n",
        not_up.len(),
        summary.total,
        names.join(", ")
    )
}

fn service_row(html: &mut String, p: &Probe, now: u64) {
    let state = p.state.as_str();
    let latency = p
        .latency_ms
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_else(|| NONE.into());
    let _ = writeln!(
        html,
        "<tr id=\"svc-{id}\"><td>{name}</td><td class=\"{state}\">{state}</td><td>{version}</td>\
         <td>{instance}</td><td>{digest}</td><td>{since}</td><td>{status}</td><td>{latency}</td><td>{detail}</td></tr>",
        id = escape(&p.service),
        name = escape(&p.service),
        version = optional(p.identity.version.as_deref()),
        instance = optional(p.identity.instance.as_deref()),
        digest = digest(p.identity.image_digest.as_deref()),
        since = when(p.identity.started_at, now),
        status = p
            .http_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| NONE.into()),
        detail = escape(p.error.as_deref().unwrap_or("")),
    );
}

fn services(html: &mut String, probes: &[Probe], now: u64) {
    // Catalog layers in order, then whatever the catalog of this build does not know.
    let mut groups: Vec<(String, Vec<&Probe>)> = LAYER_NAMES
        .iter()
        .enumerate()
        .map(|(layer, name)| (format!("Layer {layer} — {name}"), Vec::new()))
        .collect();
    let mut other = Vec::new();
    for p in probes {
        match layer_of(&p.service).and_then(|l| groups.get_mut(l as usize)) {
            Some((_, members)) => members.push(p),
            None => other.push(p),
        }
    }
    groups.push(("Other services".into(), other));
    for (title, members) in groups.iter().filter(|(_, m)| !m.is_empty()) {
        let up = members.iter().filter(|p| p.state == State::Up).count();
        let _ = writeln!(
            html,
            "<section class=\"layer\"><h3>{} <small>({up}/{} up)</small></h3>\n<table>\
             <tr><th>service</th><th>state</th><th>version</th><th>instance</th><th>image digest</th>\
             <th>up since</th><th>/health</th><th>latency</th><th>detail</th></tr>",
            escape(title),
            members.len()
        );
        for p in members {
            service_row(html, p, now);
        }
        html.push_str("</table></section>\n");
    }
}

fn sessions(html: &mut String, sessions: &Result<Value, String>, now: u64) {
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
                "<p>{} sessions (showing {})</p>\n<table id=\"sessions\"><tr><th>id</th><th>owner</th><th>status</th>\
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
                    when(s["created_at"].as_u64(), now),
                    when(s["updated_at"].as_u64(), now),
                );
            }
            html.push_str("</table>\n");
        }
    }
}

/// The whole page, as of `now` (Unix seconds). `sessions` is api-server's `GET /sessions` reply,
/// or why it is unavailable.
pub fn render(
    probes: &[Probe],
    summary: &Summary,
    sessions_reply: &Result<Value, String>,
    now: u64,
) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"30\"><title>Lucid stack</title>\
         <style>{STYLE}</style></head><body>\n<h1>Lucid stack</h1>\n\
         <p>Checked {}; refreshes every 30 s.</p>\n",
        when(Some(now), now)
    );
    html.push_str(&banner(probes, summary));
    let _ = writeln!(
        html,
        "<h2>Services</h2>\n<p>{} services: {} up, {} unhealthy, {} down</p>",
        summary.total, summary.up, summary.unhealthy, summary.down
    );
    services(&mut html, probes, now);
    html.push_str("<h2>Sessions</h2>\n");
    sessions(&mut html, sessions_reply, now);
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucid_runtime::probe::{summarize, Identity};
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn probe(name: &str, state: State, error: Option<&str>) -> Probe {
        let up = state == State::Up;
        Probe {
            service: name.into(),
            url: "http://x:1".into(),
            state,
            tcp: state != State::Down,
            http_status: up.then_some(200),
            latency_ms: up.then_some(3),
            error: error.map(str::to_string),
            identity: if up {
                Identity {
                    version: Some("0.1.0".into()),
                    instance: Some("c0ffee".into()),
                    image_digest: Some(format!("sha256:{}", "ab".repeat(32))),
                    started_at: Some(NOW - 7200),
                }
            } else {
                Identity::default()
            },
        }
    }

    #[test]
    fn escapes_markup_in_every_value() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let mut evil = probe("evil<svc>", State::Up, Some("<img src=x onerror=alert(1)>"));
        evil.identity.version = Some("<b>1</b>".into());
        evil.identity.image_digest = Some("\"><script>".into());
        let probes = vec![evil];
        let sessions = Ok(
            json!({ "total": 1, "sessions": [{ "id": "s1", "owner": "<script>alert(1)</script>", "status": "created" }] }),
        );
        let html = render(&probes, &summarize(&probes), &sessions, NOW);
        assert!(
            !html.contains("<script>")
                && !html.contains("<img")
                && !html.contains("<svc>")
                && !html.contains("<b>1")
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn shows_a_banner_naming_what_is_down_and_no_latency_for_it() {
        let probes = vec![
            probe("api-server", State::Up, None),
            probe("tor-proxy", State::Down, Some("refused")),
        ];
        let html = render(
            &probes,
            &summarize(&probes),
            &Err("api-server: refused".into()),
            NOW,
        );
        assert!(html.contains("2 services: 1 up, 0 unhealthy, 1 down"));
        assert!(html.contains("role=\"alert\">1 of 2 services are not up: tor-proxy (down)"));
        assert!(html.contains("<td>tor-proxy</td><td class=\"down\">down</td>"));
        assert!(!html.contains("0 ms"), "{html}");
        assert!(html.contains("sessions unavailable: api-server: refused"));
    }

    #[test]
    fn groups_services_by_layer_with_versions_digests_and_human_times() {
        let probes = vec![
            probe("blockchain-vm", State::Up, None),
            probe("tor-proxy", State::Up, None),
            probe("not-in-catalog", State::Up, None),
        ];
        let sessions = Ok(json!({ "total": 1, "sessions": [
            { "id": "s1", "owner": "o", "status": "created", "created_at": NOW - 90, "updated_at": NOW }
        ] }));
        let html = render(&probes, &summarize(&probes), &sessions, NOW);
        let layer0 = html.find("Layer 0 — core support").unwrap();
        let layer2 = html.find("Layer 2 — service integration").unwrap();
        let other = html.find("Other services").unwrap();
        assert!(layer0 < html.find("<td>tor-proxy</td>").unwrap());
        assert!(layer2 < html.find("<td>blockchain-vm</td>").unwrap());
        assert!(other < html.find("<td>not-in-catalog</td>").unwrap());
        assert!(!html.contains("Layer 1"), "empty layers are left out");
        assert!(html.contains("role=\"status\">All 3 services are up."));
        assert!(html.contains("<td>0.1.0</td><td>c0ffee</td>"));
        assert!(html.contains("<code title=\"sha256:abab"));
        assert!(html.contains("<time datetime=\"2023-11-14T20:13:20Z\">2023-11-14T20:13:20Z</time> <span class=\"ago\">(2 h ago)</span>"));
        assert!(html.contains("(1 min ago)"));
        assert!(html.contains("(just now)"));
    }
}
