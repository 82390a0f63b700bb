//! Canonical JSON for everything whose digest matters: compact, keys sorted at every level.
//!
//! oci-spec keeps labels, annotations and exposed ports in `HashMap`s whose order changes from
//! one process to the next; sorting here makes config, manifest and index bytes reproducible.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

/// The canonical bytes of `value`.
pub fn canonical<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).context("json")?;
    serde_json::to_vec(&sorted(v)).context("json")
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            // Built in sorted order: right whether or not serde_json preserves insertion order.
            let mut out = Map::new();
            for (k, v) in entries {
                out.insert(k, sorted(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorts_keys_at_every_level() {
        let mut m = std::collections::HashMap::new();
        for k in ["b", "a", "c", "e", "d"] {
            m.insert(k, serde_json::json!({"z": 1, "y": [{"q": 1, "p": 2}]}));
        }
        let text = String::from_utf8(super::canonical(&m).unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"a":{"y":[{"p":2,"q":1}],"z":1},"b""#),
            "{text}"
        );
    }
}
