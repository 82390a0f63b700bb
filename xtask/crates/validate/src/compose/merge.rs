//! Compose's override rules: how a service of a later file (or of `extends`) merges into the
//! same service of an earlier one (docker-compose 1.29 `merge_service_dicts`, which the
//! Compose specification keeps):
//!
//! * mappings merge key by key, the later value winning: `environment`, `labels`,
//!   `depends_on`, `extra_hosts`, `sysctls`, `ulimits`, `healthcheck`, `deploy`, `logging`
//!   (options only when the driver stays), and per network of `networks`;
//! * lists of objects merge by their identity: `ports` by (target, published, host ip,
//!   protocol), `volumes`/`devices` by container path, `secrets`/`configs` by source;
//! * plain lists are unions: `cap_add`, `cap_drop`, `expose`, `dns`, `tmpfs`, `profiles`…;
//! * anything else is replaced.
//!
//! Lists written as `K=V` strings are turned into mappings first, so both forms merge.

use super::yaml::{Entry, Loc, Node, Value};

const MAPPINGS: [&str; 8] = [
    "environment",
    "labels",
    "depends_on",
    "extra_hosts",
    "sysctls",
    "ulimits",
    "storage_opt",
    "annotations",
];
const UNIONS: [&str; 12] = [
    "cap_add",
    "cap_drop",
    "expose",
    "external_links",
    "volumes_from",
    "device_cgroup_rules",
    "profiles",
    "dns",
    "dns_search",
    "env_file",
    "tmpfs",
    "security_opt",
];

/// `over` merged onto `base` (both service mappings).
pub fn service(base: &Node, over: &Node) -> Node {
    let mut out = base.clone();
    let Some(entries) = over.entries() else {
        return over.clone();
    };
    for e in entries {
        let merged = match out.entry(&e.key) {
            None => e.value.clone(),
            Some(b) => field(&e.key, &b.value, &e.value),
        };
        out.set(Entry {
            value: merged,
            ..e.clone()
        });
    }
    out
}

fn field(key: &str, base: &Node, over: &Node) -> Node {
    match key {
        k if MAPPINGS.contains(&k) => maps(&as_map(base), &as_map(over)),
        k if UNIONS.contains(&k) => union(base, over),
        "networks" => networks(base, over),
        "healthcheck" if over.get("disable").and_then(Node::bool) == Some(true) => over.clone(),
        "healthcheck" => maps(base, over),
        "deploy" => deep(base, over),
        "logging" => logging(base, over),
        "ports" => keyed(base, over, port_identity),
        "volumes" | "devices" => keyed(base, over, mount_target),
        "secrets" | "configs" => keyed(base, over, source),
        _ => over.clone(),
    }
}

/// One level of mapping merge: the later value of a key wins.
fn maps(base: &Node, over: &Node) -> Node {
    let mut out = base.clone();
    if base.entries().is_none() {
        return over.clone();
    }
    for e in over.entries().unwrap_or_default() {
        out.set(e.clone());
    }
    out
}

/// Mappings merged at every depth (`deploy.resources.limits`…).
fn deep(base: &Node, over: &Node) -> Node {
    let (Some(_), Some(entries)) = (base.entries(), over.entries()) else {
        return over.clone();
    };
    let mut out = base.clone();
    for e in entries {
        let value = match base.get(&e.key) {
            Some(b) => deep(b, &e.value),
            None => e.value.clone(),
        };
        out.set(Entry { value, ..e.clone() });
    }
    out
}

fn logging(base: &Node, over: &Node) -> Node {
    let driver = |n: &Node| n.get("driver").and_then(Node::str).map(str::to_string);
    if driver(over).is_some() && driver(base).is_some() && driver(over) != driver(base) {
        return over.clone();
    }
    let mut out = maps(base, over);
    if let (Some(b), Some(o)) = (base.get("options"), over.get("options")) {
        let options = base.entry("options").expect("present").clone();
        out.set(Entry {
            value: maps(b, o),
            ..options
        });
    }
    out
}

fn networks(base: &Node, over: &Node) -> Node {
    let (base, over) = (as_map(base), as_map(over));
    let mut out = base.clone();
    for e in over.entries().unwrap_or_default() {
        let value = match base.get(&e.key) {
            Some(b) if b.entries().is_some() && e.value.entries().is_some() => maps(b, &e.value),
            Some(b) if e.value.is_null() => b.clone(),
            _ => e.value.clone(),
        };
        out.set(Entry { value, ..e.clone() });
    }
    out
}

/// Lists whose items merge by an identity (`ports`, `volumes`, `secrets`).
fn keyed(base: &Node, over: &Node, identity: fn(&Node) -> String) -> Node {
    let mut items: Vec<Node> = base.items().unwrap_or_default().to_vec();
    for o in over.items().unwrap_or_default() {
        let id = identity(o);
        match items.iter_mut().find(|i| identity(i) == id) {
            Some(i) => *i = o.clone(),
            None => items.push(o.clone()),
        }
    }
    Node {
        value: Value::Seq(items),
        ..over.clone()
    }
}

fn union(base: &Node, over: &Node) -> Node {
    let mut items: Vec<Node> = list(base);
    for o in list(over) {
        if !items.iter().any(|i| i.str() == o.str()) {
            items.push(o);
        }
    }
    Node {
        value: Value::Seq(items),
        ..over.clone()
    }
}

/// A list, or a single string as a one-item list (`dns: 8.8.8.8`).
fn list(n: &Node) -> Vec<Node> {
    match &n.value {
        Value::Seq(items) => items.clone(),
        _ if n.is_null() => Vec::new(),
        _ => vec![n.clone()],
    }
}

/// A `K=V` (or bare `K`) list as a mapping; a mapping as it is.
pub fn as_map(n: &Node) -> Node {
    let Some(items) = n.items() else {
        return n.clone();
    };
    let entries = items
        .iter()
        .filter_map(|i| {
            let text = i.str()?;
            let (k, v) = match text.split_once('=') {
                Some((k, v)) => {
                    let written = i.written().and_then(|w| w.split_once('=')).map(|(_, w)| w);
                    let mut node = Node::scalar(v, i.at.clone());
                    if let (Value::Scalar { written: slot, .. }, Some(w)) =
                        (&mut node.value, written)
                    {
                        *slot = (w != v).then(|| w.to_string());
                    }
                    (k, node)
                }
                None => (text, null(i.at.clone())),
            };
            Some(Entry {
                key: k.to_string(),
                key_at: i.at.clone(),
                value: Node {
                    via: i.via.clone(),
                    ..v
                },
            })
        })
        .collect();
    Node {
        value: Value::Map(entries),
        ..n.clone()
    }
}

pub fn null(at: Loc) -> Node {
    Node {
        value: Value::Scalar {
            text: String::new(),
            plain: true,
            written: None,
        },
        at,
        via: Vec::new(),
    }
}

fn port_identity(n: &Node) -> String {
    match n.str() {
        Some(text) => text.to_string(),
        None => ["target", "published", "host_ip", "protocol"]
            .map(|k| n.get(k).and_then(Node::str).unwrap_or("").to_string())
            .join("|"),
    }
}

fn mount_target(n: &Node) -> String {
    match n.str() {
        Some(text) => {
            let mut parts = text.split(':');
            let first = parts.next().unwrap_or("");
            parts.next().unwrap_or(first).to_string()
        }
        None => n
            .get("target")
            .and_then(Node::str)
            .unwrap_or("")
            .to_string(),
    }
}

fn source(n: &Node) -> String {
    n.str()
        .or_else(|| n.get("source").and_then(Node::str))
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::yaml;
    use super::*;

    fn doc(text: &str) -> Node {
        yaml::parse(&"t.yaml".into(), text).unwrap().unwrap()
    }

    #[test]
    fn later_service_values_win_and_collections_merge_by_identity() {
        let base = doc("image: a\nenvironment: [A=1, B=2]\nports: ['80:80']\nvolumes: ['/x:/data']\ncap_drop: [ALL]\nhealthcheck: {test: [CMD, a], interval: 5s}\n");
        let over = doc("image: b\nenvironment: {B: 3}\nports: ['81:81']\nvolumes: ['/y:/data']\ncap_drop: [NET_RAW]\nhealthcheck: {interval: 9s}\n");
        let m = service(&base, &over);
        assert_eq!(m.get("image").unwrap().str(), Some("b"));
        let env = m.get("environment").unwrap();
        assert_eq!(env.get("A").unwrap().str(), Some("1"));
        assert_eq!(env.get("B").unwrap().str(), Some("3"));
        assert_eq!(m.get("ports").unwrap().items().unwrap().len(), 2);
        let volumes = m.get("volumes").unwrap().items().unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(volumes[0].str(), Some("/y:/data"));
        assert_eq!(m.get("cap_drop").unwrap().items().unwrap().len(), 2);
        let h = m.get("healthcheck").unwrap();
        assert!(h.get("test").is_some());
        assert_eq!(h.get("interval").unwrap().str(), Some("9s"));
    }
}
