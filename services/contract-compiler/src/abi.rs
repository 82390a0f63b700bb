//! Solidity ABI JSON: validation, canonical signatures, function selectors and event topics.
//!
//! Follows the Solidity ABI specification: an ABI is a list of entries of type `function`
//! (the default), `constructor`, `receive`, `fallback`, `event` or `error`; parameter types are
//! elementary types, `tuple` with `components`, and arrays of either (`T[]`, `T[k]`). A canonical
//! signature is `name(type1,type2,…)` with tuples written as `(…)` and aliases (`uint`, `int`,
//! `fixed`, `ufixed`) expanded; its Keccak-256 hash gives the selector (first 4 bytes) or the event
//! topic (all 32 bytes).

use lucid_runtime::ids::to_hex;
use serde::Serialize;
use serde_json::Value;
use sha3::{Digest, Keccak256};
use std::collections::BTreeSet;
use std::fmt;

/// A problem in the ABI, with the JSON path of the offending value (`abi[2].inputs[0].type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, AbiError> {
    Err(AbiError {
        path: path.into(),
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    pub signature: String,
    pub selector: String,
    pub state_mutability: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub signature: String,
    /// `None` for anonymous events, which have no signature topic.
    pub topic: Option<String>,
    pub anonymous: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomError {
    pub signature: String,
    pub selector: String,
}

/// What an ABI declares, with the hashes callers need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Analysis {
    pub functions: Vec<Function>,
    pub events: Vec<Event>,
    pub errors: Vec<CustomError>,
    pub has_constructor: bool,
    pub has_fallback: bool,
    pub has_receive: bool,
}

pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// `0x` + 8 hex digits: the first 4 bytes of Keccak-256 of the signature.
pub fn selector(signature: &str) -> String {
    format!("0x{}", to_hex(&keccak256(signature.as_bytes())[..4]))
}

/// `0x` + 64 hex digits: Keccak-256 of the event signature.
pub fn topic(signature: &str) -> String {
    format!("0x{}", to_hex(&keccak256(signature.as_bytes())))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `8..=256` in steps of 8, the widths of `uint<M>`/`int<M>` and of fixed-point `M`.
fn valid_bits(m: &str) -> bool {
    !m.starts_with('0')
        && m.parse::<u32>()
            .is_ok_and(|m| (8..=256).contains(&m) && m % 8 == 0)
}

/// The canonical form of an elementary type, or `None` when it is not one.
fn elementary(base: &str) -> Option<String> {
    let canonical = match base {
        "address" | "bool" | "string" | "bytes" | "function" => base.to_string(),
        "uint" => "uint256".into(),
        "int" => "int256".into(),
        "fixed" => "fixed128x18".into(),
        "ufixed" => "ufixed128x18".into(),
        _ => {
            if let Some(m) = base
                .strip_prefix("uint")
                .or_else(|| base.strip_prefix("int"))
            {
                return valid_bits(m).then(|| base.to_string());
            }
            if let Some(m) = base.strip_prefix("bytes") {
                let ok =
                    !m.starts_with('0') && m.parse::<u32>().is_ok_and(|m| (1..=32).contains(&m));
                return ok.then(|| base.to_string());
            }
            let mn = base
                .strip_prefix("ufixed")
                .or_else(|| base.strip_prefix("fixed"))?;
            let (m, n) = mn.split_once('x')?;
            let n_ok = !n.starts_with('0') && n.parse::<u32>().is_ok_and(|n| (1..=80).contains(&n));
            return (valid_bits(m) && n_ok).then(|| base.to_string());
        }
    };
    Some(canonical)
}

/// Checks array suffixes such as `[]`, `[3][]`; returns them unchanged.
fn array_suffix<'a>(suffix: &'a str, path: &str) -> Result<&'a str, AbiError> {
    let mut rest = suffix;
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return err(path, format!("unexpected {rest:?} after the type"));
        };
        let Some((size, tail)) = inner.split_once(']') else {
            return err(path, "unclosed '['");
        };
        let ok = size.is_empty() || (!size.starts_with('0') && size.parse::<u64>().is_ok());
        if !ok {
            return err(
                path,
                format!("array size {size:?} must be a positive integer"),
            );
        }
        rest = tail;
    }
    Ok(suffix)
}

/// The canonical type of one parameter (`inputs[i]`, `outputs[i]` or a tuple component).
fn canonical_type(param: &Value, path: &str) -> Result<String, AbiError> {
    let Some(obj) = param.as_object() else {
        return err(path, "expected an object with a \"type\"");
    };
    if let Some(name) = obj.get("name") {
        match name.as_str() {
            Some("") => {}
            Some(n) if is_identifier(n) => {}
            _ => {
                return err(
                    &format!("{path}.name"),
                    format!("{name} is not an identifier"),
                )
            }
        }
    }
    let type_path = format!("{path}.type");
    let Some(ty) = obj.get("type").and_then(Value::as_str) else {
        return err(&type_path, "missing or not a string");
    };
    let (base, suffix) = ty.find('[').map_or((ty, ""), |i| ty.split_at(i));
    let suffix = array_suffix(suffix, &type_path)?;
    let components = obj.get("components");
    if base == "tuple" {
        let Some(list) = components.and_then(Value::as_array) else {
            return err(
                &format!("{path}.components"),
                "a tuple needs a list of components",
            );
        };
        let inner = list
            .iter()
            .enumerate()
            .map(|(i, c)| canonical_type(c, &format!("{path}.components[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(format!("({}){suffix}", inner.join(",")));
    }
    if components.is_some() {
        return err(
            &format!("{path}.components"),
            format!("only tuple types have components, not {ty:?}"),
        );
    }
    match elementary(base) {
        Some(canonical) => Ok(format!("{canonical}{suffix}")),
        None => err(&type_path, format!("{ty:?} is not a Solidity ABI type")),
    }
}

fn params(entry: &Value, key: &str, path: &str) -> Result<Vec<String>, AbiError> {
    match entry.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, p)| canonical_type(p, &format!("{path}.{key}[{i}]")))
            .collect(),
        Some(_) => err(&format!("{path}.{key}"), "expected a list"),
    }
}

fn name<'a>(entry: &'a Value, path: &str) -> Result<&'a str, AbiError> {
    match entry.get("name").and_then(Value::as_str) {
        Some(n) if is_identifier(n) => Ok(n),
        Some(n) => err(
            &format!("{path}.name"),
            format!("{n:?} is not an identifier"),
        ),
        None => err(&format!("{path}.name"), "missing"),
    }
}

fn state_mutability(entry: &Value, path: &str) -> Result<String, AbiError> {
    match entry.get("stateMutability") {
        None => Ok("nonpayable".into()),
        Some(Value::String(s))
            if ["pure", "view", "nonpayable", "payable"].contains(&s.as_str()) =>
        {
            Ok(s.clone())
        }
        Some(other) => err(
            &format!("{path}.stateMutability"),
            format!("{other} is not pure, view, nonpayable or payable"),
        ),
    }
}

/// Checks that `sig` is a canonical signature — `name(type,…)`, the types spelled as
/// [`analyze`] writes them — and returns it; the error says what is wrong and where.
pub fn canonical_signature(sig: &str) -> Result<&str, AbiError> {
    let at = |pos: usize, message: String| AbiError {
        path: "signature".into(),
        message: format!("{message} at byte {pos} of {sig:?}"),
    };
    let open = sig
        .find('(')
        .ok_or_else(|| at(sig.len(), "expected name(type,…)".into()))?;
    let name = &sig[..open];
    if !is_identifier(name) {
        return Err(at(0, format!("name {name:?} is not an identifier")));
    }
    let end = type_list(sig, open).map_err(|(pos, m)| at(pos, m))?;
    if end != sig.len() {
        return Err(at(end, "unexpected text after the closing ')'".into()));
    }
    Ok(sig)
}

/// Parses `(type,…)` starting at `pos` (a '('); returns the position after its ')'.
fn type_list(sig: &str, pos: usize) -> Result<usize, (usize, String)> {
    let mut pos = pos + 1;
    if sig[pos..].starts_with(')') {
        return Ok(pos + 1);
    }
    loop {
        pos = one_type(sig, pos)?;
        match sig[pos..].chars().next() {
            Some(',') => pos += 1,
            Some(')') => return Ok(pos + 1),
            Some(c) => return Err((pos, format!("unexpected {c:?}"))),
            None => return Err((pos, "unclosed '('".into())),
        }
    }
}

/// Parses one canonical type (elementary or tuple, with array suffixes) starting at `pos`.
fn one_type(sig: &str, pos: usize) -> Result<usize, (usize, String)> {
    let mut end = if sig[pos..].starts_with('(') {
        type_list(sig, pos)?
    } else {
        let len = sig[pos..]
            .find(['[', ',', ')', '('])
            .unwrap_or(sig.len() - pos);
        let base = &sig[pos..pos + len];
        match elementary(base) {
            _ if base.is_empty() => return Err((pos, "missing type".into())),
            Some(canonical) if canonical == base => pos + len,
            Some(canonical) => {
                return Err((
                    pos,
                    format!("{base:?} is not canonical: write {canonical:?}"),
                ))
            }
            None => return Err((pos, format!("{base:?} is not a Solidity ABI type"))),
        }
    };
    while sig[end..].starts_with('[') {
        let close = sig[end..]
            .find(']')
            .map(|i| end + i)
            .ok_or((end, "unclosed '['".to_string()))?;
        array_suffix(&sig[end..=close], "").map_err(|e| (end, e.message))?;
        end = close + 1;
    }
    Ok(end)
}

/// Validates an ABI (the JSON list) and computes its signatures, selectors and topics.
pub fn analyze(abi: &Value) -> Result<Analysis, AbiError> {
    let Some(entries) = abi.as_array() else {
        return err("abi", "expected a JSON list of entries");
    };
    let mut out = Analysis::default();
    let mut seen = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("abi[{i}]");
        if !entry.is_object() {
            return err(&path, "expected an object");
        }
        let kind = match entry.get("type") {
            None => "function",
            Some(Value::String(k)) => k.as_str(),
            Some(other) => return err(&format!("{path}.type"), format!("{other} is not a string")),
        };
        let mut unique = |kind: &str, key: String| {
            if seen.insert((kind.to_string(), key.clone())) {
                Ok(())
            } else {
                err(&path, format!("duplicate {kind} {key}"))
            }
        };
        match kind {
            "function" => {
                let signature = format!(
                    "{}({})",
                    name(entry, &path)?,
                    params(entry, "inputs", &path)?.join(",")
                );
                params(entry, "outputs", &path)?;
                let state_mutability = state_mutability(entry, &path)?;
                unique("function", signature.clone())?;
                out.functions.push(Function {
                    selector: selector(&signature),
                    signature,
                    state_mutability,
                });
            }
            "event" => {
                let inputs = params(entry, "inputs", &path)?;
                let signature = format!("{}({})", name(entry, &path)?, inputs.join(","));
                let anonymous = match entry.get("anonymous") {
                    None => false,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => {
                        return err(
                            &format!("{path}.anonymous"),
                            format!("{other} is not a boolean"),
                        )
                    }
                };
                let indexed = entry["inputs"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter(|p| p.get("indexed") == Some(&Value::Bool(true)))
                            .count()
                    })
                    .unwrap_or(0);
                // Topic 0 is the signature hash unless the event is anonymous; four topics at most.
                let limit = if anonymous { 4 } else { 3 };
                if indexed > limit {
                    return err(
                        &path,
                        format!(
                            "{indexed} indexed parameters; at most {limit} fit in the log topics"
                        ),
                    );
                }
                unique("event", signature.clone())?;
                out.events.push(Event {
                    topic: (!anonymous).then(|| topic(&signature)),
                    signature,
                    anonymous,
                });
            }
            "error" => {
                let signature = format!(
                    "{}({})",
                    name(entry, &path)?,
                    params(entry, "inputs", &path)?.join(",")
                );
                unique("error", signature.clone())?;
                out.errors.push(CustomError {
                    selector: selector(&signature),
                    signature,
                });
            }
            "constructor" => {
                params(entry, "inputs", &path)?;
                state_mutability(entry, &path)?;
                unique("constructor", String::new())?;
                out.has_constructor = true;
            }
            "fallback" => {
                state_mutability(entry, &path)?;
                unique("fallback", String::new())?;
                out.has_fallback = true;
            }
            "receive" => {
                if state_mutability(entry, &path)? != "payable" {
                    return err(
                        &format!("{path}.stateMutability"),
                        "receive must be payable",
                    );
                }
                unique("receive", String::new())?;
                out.has_receive = true;
            }
            other => {
                return err(
                    &format!("{path}.type"),
                    format!(
                        "{other:?} is not function, constructor, receive, fallback, event or error"
                    ),
                )
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ERC20: &str = include_str!("../tests/fixtures/erc20.abi.json");

    #[test]
    fn known_selectors_and_topics() {
        assert_eq!(selector("transfer(address,uint256)"), "0xa9059cbb");
        assert_eq!(selector("balanceOf(address)"), "0x70a08231");
        assert_eq!(
            topic("Transfer(address,address,uint256)"),
            "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        );
    }

    #[test]
    fn signatures_must_be_canonical() {
        for good in [
            "transfer(address,uint256)",
            "f()",
            "f((uint256,bytes32)[2][],bool)",
            "f(())",
            "_$x(function,fixed128x18)",
        ] {
            assert_eq!(canonical_signature(good), Ok(good), "{good}");
        }
        for (bad, why) in [
            ("f((uint256)", "unclosed"),
            ("f(,)", "missing type"),
            ("f(uint7)", "not a Solidity ABI type"),
            ("f(bytes33)", "not a Solidity ABI type"),
            ("1f(uint256)", "not an identifier"),
            ("f(uint)", "write \"uint256\""),
            ("f(uint256,)", "missing type"),
            ("f(uint256) ", "after the closing"),
            ("f(uint256[01])", "positive integer"),
            ("f uint256", "expected name"),
            ("f(uint256)(bool)", "after the closing"),
        ] {
            let err = canonical_signature(bad).unwrap_err();
            assert!(err.message.contains(why), "{bad}: {err}");
            assert_eq!(err.path, "signature");
        }
    }

    #[test]
    fn every_signature_analyze_writes_is_canonical() {
        let abi: Value = serde_json::from_str(ERC20).unwrap();
        let tuples = json!([{ "type": "function", "name": "g",
            "inputs": [{ "type": "tuple[]", "components": [{ "type": "uint" }, { "type": "bytes7[3]" }] }] }]);
        for abi in [abi, tuples] {
            let a = analyze(&abi).unwrap();
            let sigs = a
                .functions
                .iter()
                .map(|f| &f.signature)
                .chain(a.events.iter().map(|e| &e.signature))
                .chain(a.errors.iter().map(|e| &e.signature));
            for sig in sigs {
                assert_eq!(canonical_signature(sig), Ok(sig.as_str()));
            }
        }
    }

    #[test]
    fn keccak_is_not_sha3_256() {
        // Keccak-256("") differs from SHA3-256("") (a7ffc6f8…): Ethereum uses the former.
        assert_eq!(
            to_hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn erc20_abi_yields_the_known_hashes() {
        let analysis = analyze(&serde_json::from_str(ERC20).unwrap()).unwrap();
        let find = |sig: &str| {
            analysis
                .functions
                .iter()
                .find(|f| f.signature == sig)
                .unwrap()
                .selector
                .clone()
        };
        assert_eq!(find("transfer(address,uint256)"), "0xa9059cbb");
        assert_eq!(find("balanceOf(address)"), "0x70a08231");
        assert_eq!(find("approve(address,uint256)"), "0x095ea7b3");
        let transfer = analysis
            .events
            .iter()
            .find(|e| e.signature.starts_with("Transfer("))
            .unwrap();
        assert_eq!(
            transfer.topic.as_deref(),
            Some("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
        );
        assert!(analysis.has_constructor);
    }

    #[test]
    fn tuple_parameters_make_nested_canonical_signatures() {
        let abi = json!([{
            "type": "function", "name": "submit",
            "inputs": [
                {"name": "order", "type": "tuple", "components": [
                    {"name": "maker", "type": "address"},
                    {"name": "amounts", "type": "uint[]"},
                    {"name": "legs", "type": "tuple[2]", "components": [
                        {"name": "id", "type": "bytes32"}, {"name": "ok", "type": "bool"}]}
                ]},
                {"name": "salt", "type": "uint"}
            ],
            "outputs": []
        }]);
        let analysis = analyze(&abi).unwrap();
        let f = &analysis.functions[0];
        assert_eq!(
            f.signature,
            "submit((address,uint256[],(bytes32,bool)[2]),uint256)"
        );
        assert_eq!(
            f.selector,
            selector("submit((address,uint256[],(bytes32,bool)[2]),uint256)")
        );
    }

    #[test]
    fn rejects_unknown_and_malformed_types_with_their_path() {
        for (ty, why) in [
            ("uint7", "not a Solidity ABI type"),
            ("uint264", "not a Solidity ABI type"),
            ("bytes33", "not a Solidity ABI type"),
            ("bytes0", "not a Solidity ABI type"),
            ("fixed128x81", "not a Solidity ABI type"),
            ("string[0]", "positive integer"),
            ("address[", "unclosed"),
            ("address]x", "not a Solidity ABI type"),
            ("mapping(address=>uint256)", "not a Solidity ABI type"),
        ] {
            let abi =
                json!([{"type": "function", "name": "f", "inputs": [{"name": "a", "type": ty}]}]);
            let e = analyze(&abi).unwrap_err();
            assert_eq!(e.path, "abi[0].inputs[0].type", "{ty}");
            assert!(e.message.contains(why), "{ty}: {e}");
        }
    }

    #[test]
    fn rejects_bad_entries() {
        let cases = [
            (json!({"abi": []}), "abi"),
            (json!([{"type": "function", "inputs": []}]), "abi[0].name"),
            (json!([{"type": "function", "name": "1f"}]), "abi[0].name"),
            (json!([{"type": "method", "name": "f"}]), "abi[0].type"),
            (
                json!([{"type": "function", "name": "f", "stateMutability": "cheap"}]),
                "abi[0].stateMutability",
            ),
            (
                json!([{"type": "receive", "stateMutability": "nonpayable"}]),
                "abi[0].stateMutability",
            ),
            (
                json!([{"type": "function", "name": "f", "inputs": [{"name": "t", "type": "tuple"}]}]),
                "abi[0].inputs[0].components",
            ),
            (
                json!([{"type": "function", "name": "f", "inputs": [{"name": "a", "type": "address", "components": []}]}]),
                "abi[0].inputs[0].components",
            ),
            (
                json!([{"type": "function", "name": "f"}, {"name": "f", "inputs": []}]),
                "abi[1]",
            ),
        ];
        for (abi, path) in cases {
            assert_eq!(analyze(&abi).unwrap_err().path, path, "{abi}");
        }
    }

    #[test]
    fn overloads_are_distinct_functions() {
        let abi = json!([
            {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "uint256"}]},
            {"type": "function", "name": "f", "inputs": [{"name": "a", "type": "address"}]}
        ]);
        assert_eq!(analyze(&abi).unwrap().functions.len(), 2);
    }

    #[test]
    fn events_limit_indexed_parameters_and_anonymous_events_have_no_topic() {
        let p = |n: &str| json!({"name": n, "type": "uint256", "indexed": true});
        let four =
            json!([{"type": "event", "name": "E", "inputs": [p("a"), p("b"), p("c"), p("d")]}]);
        assert!(analyze(&four).unwrap_err().message.contains("at most 3"));
        let anon = json!([{"type": "event", "name": "E", "anonymous": true, "inputs": [p("a"), p("b"), p("c"), p("d")]}]);
        let analysis = analyze(&anon).unwrap();
        assert_eq!(analysis.events[0].topic, None);
    }

    #[test]
    fn custom_errors_get_selectors() {
        let abi = json!([{"type": "error", "name": "InsufficientBalance",
            "inputs": [{"name": "available", "type": "uint256"}, {"name": "required", "type": "uint256"}]}]);
        let e = &analyze(&abi).unwrap().errors[0];
        assert_eq!(e.signature, "InsufficientBalance(uint256,uint256)");
        assert_eq!(e.selector, selector("InsufficientBalance(uint256,uint256)"));
    }
}
