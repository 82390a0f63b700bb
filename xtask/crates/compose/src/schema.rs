//! Validation against the Compose Specification JSON schema (a copy lives in `schema/`).

use anyhow::Result;
use std::sync::OnceLock;

/// The schema, embedded so that validation needs neither the network nor the source tree.
pub const COMPOSE_SPEC: &str = include_str!("../schema/compose-spec.json");

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(COMPOSE_SPEC).expect("the embedded compose schema is JSON");
        jsonschema::validator_for(&schema).expect("the embedded compose schema compiles")
    })
}

/// Every schema violation of a compose file given as YAML text, as `path: message` lines.
/// `name` names the file in the messages.
pub fn validate(name: &str, yaml: &str) -> Result<(), Vec<String>> {
    let doc: serde_json::Value = serde_norway::from_str(yaml)
        .map_err(|e| vec![format!("{name}: not a YAML document Compose can read: {e}")])?;
    let errors: Vec<String> = validator()
        .iter_errors(&doc)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{name}: {at}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_top_level_key() {
        // The original files carried a top-level `profiles:` list, which Compose does not know.
        let e = validate(
            "bad.yaml",
            "services:\n  a:\n    image: x\nprofiles:\n  - dev\n",
        )
        .unwrap_err();
        assert!(e.iter().any(|l| l.contains("profiles")), "{e:?}");
    }

    #[test]
    fn accepts_a_minimal_file() {
        validate("ok.yaml", "services:\n  a:\n    image: x\n").unwrap();
    }
}
