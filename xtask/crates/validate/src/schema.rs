//! The JSON Schema of `validation-report.json` (draft 2020-12), written next to the report as
//! `images/validation-report.schema.json`. A test checks that every report the validator
//! produces conforms to it, so the schema cannot drift from [`crate::report`].

use serde_json::{json, Value};

fn obj(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
}

fn arr(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn opt(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn refer(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

pub fn schema() -> Value {
    let checks = [
        "image-reference",
        "counts",
        "host-ports",
        "healthcheck",
        "depends-on",
        "network",
        "resources",
        "platform",
        "credentials",
        "unknown-key",
        "compose-file",
        "image-source",
        "user",
        "entrypoint",
        "distroless",
        "secret-file",
        "labels",
        "build-manifest",
        "live",
    ];
    let strings = arr(json!({"type": "string"}));
    let finding = obj(
        &["severity", "check", "message"],
        json!({
            "severity": {"enum": ["error", "warning"], "description": "error fails the validation"},
            "check": refer("check"),
            "file": {"type": "string", "description": "compose file, or image reference (platform)"},
            "service": {"type": "string"},
            "key": {"type": "string", "description": "key path (services.x.healthcheck.test) or path in the image"},
            "line": {"type": "integer", "minimum": 1},
            "message": {"type": "string"}
        }),
    );
    let findings = arr(refer("finding"));
    let platform = obj(
        &[
            "platform",
            "digest",
            "compressed_size",
            "uncompressed_size",
            "base_name",
            "base_digest",
            "layer_count",
            "user",
            "uid",
            "entrypoint",
            "entrypoint_machine",
            "entrypoint_static",
            "file_count",
            "shells",
            "package_managers",
            "setuid_files",
            "secret_files",
            "labels_missing",
            "env_ports",
            "findings",
        ],
        json!({
            "platform": {"type": "string", "description": "linux/arm64 | linux/amd64"},
            "digest": {"type": "string", "description": "digest of the platform's image manifest"},
            "compressed_size": {"type": "integer", "description": "config + layer blobs, bytes"},
            "uncompressed_size": {"type": "integer", "description": "decompressed layer tars, bytes"},
            "base_name": opt("string"),
            "base_digest": opt("string"),
            "layer_count": {"type": "integer"},
            "user": {"type": "string", "description": "User of the image config"},
            "uid": opt("integer"),
            "entrypoint": strings.clone(),
            "entrypoint_machine": opt("string"),
            "entrypoint_static": opt("boolean"),
            "file_count": {"type": "integer"},
            "shells": strings.clone(),
            "package_managers": strings.clone(),
            "setuid_files": strings.clone(),
            "secret_files": strings.clone(),
            "labels_missing": strings.clone(),
            "env_ports": arr(json!({"type": "integer"})),
            "findings": findings.clone()
        }),
    );
    let image = obj(
        &[
            "service",
            "layer",
            "reference",
            "index_digest",
            "platforms",
            "findings",
        ],
        json!({
            "service": {"type": "string"},
            "layer": {"type": "integer", "minimum": 0, "maximum": 2},
            "reference": opt("string"),
            "index_digest": opt("string"),
            "platforms": arr(refer("platform")),
            "findings": findings.clone()
        }),
    );
    let compose_service = obj(
        &[
            "name",
            "image",
            "image_resolution",
            "healthcheck",
            "host_ports",
            "fixed_ips",
            "memory_limit",
            "memory_reservation",
            "cpus",
            "cpu_reservation",
            "depends_on",
        ],
        json!({
            "name": {"type": "string"},
            "image": opt("string"),
            "image_resolution": {"type": "string"},
            "healthcheck": {"type": ["array", "null"], "items": {"type": "string"}},
            "host_ports": strings.clone(),
            "fixed_ips": strings.clone(),
            "memory_limit": opt("integer"),
            "memory_reservation": opt("integer"),
            "cpus": opt("number"),
            "cpu_reservation": opt("number"),
            "depends_on": strings.clone()
        }),
    );
    let compose_file = obj(
        &["path", "service_count", "services", "networks", "findings"],
        json!({
            "path": {"type": "string"},
            "service_count": {"type": "integer", "description": "counted from the services mapping"},
            "services": arr(refer("compose_service")),
            "networks": arr(obj(&["name", "subnets", "external"], json!({
                "name": {"type": "string"}, "subnets": strings.clone(), "external": {"type": "boolean"}
            }))),
            "findings": findings.clone()
        }),
    );
    let deployment = obj(
        &[
            "files",
            "service_count",
            "memory_limit_bytes",
            "memory_reservation_bytes",
            "cpu_limit",
            "cpu_reservation",
            "host_ports",
            "findings",
        ],
        json!({
            "files": strings.clone(),
            "service_count": {"type": "integer"},
            "memory_limit_bytes": {"type": "integer"},
            "memory_reservation_bytes": {"type": "integer"},
            "cpu_limit": {"type": "number"},
            "cpu_reservation": {"type": "number"},
            "host_ports": strings.clone(),
            "findings": findings.clone()
        }),
    );
    let live = obj(
        &[
            "compose_files",
            "mongodb",
            "stack_healthy_secs",
            "services",
            "findings",
        ],
        json!({
            "compose_files": strings.clone(),
            "mongodb": {"type": "string"},
            "stack_healthy_secs": opt("number"),
            "services": arr(obj(
                &["service", "container", "time_to_healthy_secs", "health", "shell_exec", "shell_refused", "processes"],
                json!({
                    "service": {"type": "string"},
                    "container": {"type": "string"},
                    "time_to_healthy_secs": opt("number"),
                    "health": {"type": "string"},
                    "shell_exec": {"type": "string"},
                    "shell_refused": {"type": "boolean"},
                    "processes": opt("integer")
                })
            )),
            "findings": findings.clone()
        }),
    );
    let pair = |second: Value| json!({"type": "array", "prefixItems": [{"type": "string"}, second], "minItems": 2, "maxItems": 2});
    let summary = obj(
        &[
            "images",
            "images_found",
            "platform_images",
            "platform_images_passed",
            "compressed_bytes",
            "uncompressed_bytes",
            "compose_files",
            "compose_services",
            "deployments",
            "live_services",
            "live_services_healthy",
            "errors",
            "warnings",
            "errors_by_check",
            "passed",
        ],
        json!({
            "images": {"type": "integer"},
            "images_found": {"type": "integer"},
            "platform_images": {"type": "integer"},
            "platform_images_passed": {"type": "integer"},
            "compressed_bytes": {"type": "integer"},
            "uncompressed_bytes": {"type": "integer"},
            "compose_files": {"type": "integer"},
            "compose_services": arr(pair(json!({"type": "integer"}))),
            "deployments": {"type": "integer"},
            "live_services": opt("integer"),
            "live_services_healthy": opt("integer"),
            "errors": {"type": "integer"},
            "warnings": {"type": "integer"},
            "errors_by_check": arr(json!({"type": "array", "prefixItems": [refer("check"), {"type": "integer"}], "minItems": 2, "maxItems": 2})),
            "passed": {"type": "boolean", "description": "no finding is an error"}
        }),
    );
    let mut root = obj(
        &[
            "schema_version",
            "generated",
            "version",
            "device",
            "image_source",
            "images",
            "image_source_findings",
            "compose_files",
            "deployments",
            "summary",
        ],
        json!({
            "schema_version": {"const": crate::report::SCHEMA_VERSION},
            "generated": {"type": "string", "description": "RFC 3339 UTC"},
            "version": {"type": "string"},
            "device": obj(&["name", "memory_bytes", "cpus", "budget_memory_bytes", "budget_cpus"], json!({
                "name": {"type": "string"}, "memory_bytes": {"type": "integer"}, "cpus": {"type": "number"},
                "budget_memory_bytes": {"type": "integer"}, "budget_cpus": {"type": "number"}
            })),
            "image_source": {"type": "string", "description": "oci:<dir> or registry:<host>"},
            "images": arr(refer("image")),
            "image_source_findings": findings.clone(),
            "compose_files": arr(refer("compose_file")),
            "deployments": arr(refer("deployment")),
            "live": refer("live"),
            "summary": refer("summary")
        }),
    );
    let map = root.as_object_mut().expect("object");
    map.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    map.insert(
        "$id".into(),
        json!("https://github.com/pickme/lucid/images/validation-report.schema.json"),
    );
    map.insert("title".into(), json!("Lucid validation report"));
    map.insert(
        "description".into(),
        json!("Written by `cargo xtask validate` (crate lucid-validate); VALIDATION_REPORT.md is rendered from the same data."),
    );
    map.insert(
        "$defs".into(),
        json!({
            "check": {"enum": checks},
            "finding": finding,
            "image": image,
            "platform": platform,
            "compose_service": compose_service,
            "compose_file": compose_file,
            "deployment": deployment,
            "live": live,
            "summary": summary
        }),
    );
    root
}

/// The schema file's text.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("serialisable");
    s.push('\n');
    s
}

/// Checks `value` against the subset of JSON Schema used above (type, enum, const, required,
/// properties, additionalProperties, items, prefixItems, $ref); returns the first violations.
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
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(xs) => xs.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errors.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or_default();
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
