//! The JSON Schema of `validation-report.json` (draft 2020-12), derived from the report types
//! ([`crate::report`], with schemars) and written next to the report as
//! `images/validation-report.schema.json`. A test checks the committed file is fresh, and that
//! every report the validator produces conforms to it.

use crate::report::Report;
use schemars::generate::SchemaSettings;
use serde_json::{json, Value};

pub fn schema() -> Value {
    let mut root = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Report>()
        .to_value();
    if let Some(map) = root.as_object_mut() {
        map.insert(
            "$id".into(),
            json!("https://github.com/pickme/lucid/images/validation-report.schema.json"),
        );
        map.insert("title".into(), json!("Lucid validation report"));
        map.insert(
            "description".into(),
            json!("Written by `cargo xtask validate` (crate lucid-validate); VALIDATION_REPORT.md is rendered from the same data."),
        );
    }
    root
}

/// The schema file's text.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("serialisable");
    s.push('\n');
    s
}

/// Checks `value` against the parts of JSON Schema the derived schema uses (type, enum,
/// const, required, properties, additionalProperties, items, prefixItems, minimum, oneOf,
/// anyOf, $ref); returns the violations.
pub fn conforms(value: &Value) -> Vec<String> {
    let root = schema();
    let mut errors = Vec::new();
    check(&root, &root, value, "$", &mut errors);
    errors
}

fn check(root: &Value, s: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return check(root, &root["$defs"][name], v, at, errors);
    }
    if let Some(options) = s
        .get("oneOf")
        .or_else(|| s.get("anyOf"))
        .and_then(Value::as_array)
    {
        let fits = options.iter().filter(|o| {
            let mut e = Vec::new();
            check(root, o, v, at, &mut e);
            e.is_empty()
        });
        let n = fits.count();
        let one_of = s.get("oneOf").is_some();
        if n == 0 || (one_of && n > 1) {
            errors.push(format!("{at}: {v} matches {n} of its alternatives"));
        }
    }
    if !type_fits(s, v) {
        errors.push(format!("{at}: {v} is not {}", s["type"]));
        return;
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if s.get("const").is_some_and(|c| c != v) {
        errors.push(format!("{at}: {v} is not {}", s["const"]));
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            errors.push(format!("{at}: {v} is below {min}"));
        }
    }
    if let Some(obj) = v.as_object() {
        object(root, s, obj, at, errors);
    }
    if let Some(list) = v.as_array() {
        let prefix = s.get("prefixItems").and_then(Value::as_array);
        for (i, x) in list.iter().enumerate() {
            let item = prefix.and_then(|p| p.get(i)).or_else(|| s.get("items"));
            if let Some(item) = item {
                check(root, item, x, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

fn type_fits(s: &Value, v: &Value) -> bool {
    let types: Vec<&str> = match s.get("type") {
        None => return true,
        Some(Value::String(x)) => vec![x.as_str()],
        Some(Value::Array(xs)) => xs.iter().filter_map(Value::as_str).collect(),
        Some(_) => vec![],
    };
    types.iter().any(|t| match *t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    })
}

fn object(
    root: &Value,
    s: &Value,
    obj: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    let props = s.get("properties").and_then(Value::as_object);
    let required = s.get("required").and_then(Value::as_array);
    for r in required.into_iter().flatten().filter_map(Value::as_str) {
        if !obj.contains_key(r) {
            errors.push(format!("{at}: missing {r}"));
        }
    }
    for (k, x) in obj {
        match props.and_then(|p| p.get(k)) {
            Some(ps) => check(root, ps, x, &format!("{at}.{k}"), errors),
            None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                errors.push(format!("{at}: unexpected {k}"))
            }
            None => {}
        }
    }
}
