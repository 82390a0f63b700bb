//! JSON log lines on stderr: one object per line, `ts` in Unix seconds.

use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static SERVICE: OnceLock<String> = OnceLock::new();

/// Sets the service name stamped on every line (once, at start).
pub fn init(service: &str) {
    let _ = SERVICE.set(service.to_string());
}

/// Writes one line: `{"ts":…, "level":…, "service":…, "msg":…, …fields}`.
pub fn event(level: &str, msg: &str, fields: Value) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut line = Map::new();
    line.insert("ts".into(), json!((ts * 1000.0).round() / 1000.0));
    line.insert("level".into(), json!(level));
    line.insert(
        "service".into(),
        json!(SERVICE.get().map(String::as_str).unwrap_or("lucid")),
    );
    line.insert("msg".into(), json!(msg));
    if let Value::Object(extra) = fields {
        line.extend(extra);
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    // One write call per line so that lines of concurrent threads do not interleave.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

pub fn info(msg: &str, fields: Value) {
    event("info", msg, fields)
}

pub fn warn(msg: &str, fields: Value) {
    event("warn", msg, fields)
}

pub fn error(msg: &str, fields: Value) {
    event("error", msg, fields)
}
