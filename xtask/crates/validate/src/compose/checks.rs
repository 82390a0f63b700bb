//! The checks one service (or one file) alone can tell: keys Compose does not know, counts a
//! comment claims, image references, health checks, credentials, platforms, root users.
//! They read the [`Model`](super::model::Model); every finding points where the value is written.

use super::keys::{SERVICE_KEYS, TOP_LEVEL_KEYS};
use super::model::{finding, Located, Service};
use super::read::{section, FileTree};
use super::yaml::{Node, Origin, Value};
use super::Images;
use crate::image::InspectedImage;
use crate::report::{Check, Finding, Severity};
use lucid_catalog::reference::short_digest;
use lucid_catalog::ImageRef;

/// Programs a distroless image does not have, which health checks of the original files called.
const SHELL_TOOLS: [&str; 10] = [
    "sh", "bash", "curl", "wget", "nc", "netcat", "netstat", "ss", "busybox", "python3",
];

const THROUGH_SHELL: &str =
    "runs through a shell (CMD-SHELL or a string), which a distroless image does not have";

/// Keys Compose does not know, at the top level and in every service (as written).
pub fn unknown_keys(file: &FileTree) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in file.root.entries().unwrap_or_default() {
        if !TOP_LEVEL_KEYS.contains(&e.key.as_str()) && !e.key.starts_with("x-") {
            out.push(finding(
                Check::UnknownKey,
                &e.key,
                &e.origin(),
                format!(
                    "top-level key {:?} is not a Compose key (known: {}, x-*)",
                    e.key,
                    TOP_LEVEL_KEYS.join(", ")
                ),
            ));
        }
    }
    for s in section(&file.root, "services") {
        for e in s.value.entries().unwrap_or_default() {
            if !SERVICE_KEYS.contains(&e.key.as_str()) && !e.key.starts_with("x-") {
                out.push(finding(
                    Check::UnknownKey,
                    &format!("services.{}.{}", s.key, e.key),
                    &e.origin(),
                    format!("{:?} is not a Compose service key", e.key),
                ));
            }
        }
    }
    if file.root.get("services").is_none() {
        out.push(
            Finding::error(Check::ComposeFile, "no services")
                .file(file.file.to_string())
                .key("services"),
        );
    } else if file.root.get("services").and_then(Node::entries).is_none() {
        let e = file.root.entry("services").expect("present");
        out.push(finding(
            Check::ComposeFile,
            "services",
            &e.origin(),
            "services is not a mapping",
        ));
    }
    out
}

/// Compares every `N services` a comment claims with the services the file defines.
pub fn count_claims(file: &FileTree, counted: usize) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in file.text.lines().enumerate() {
        let Some(pos) = comment_start(line) else {
            continue;
        };
        let words: Vec<&str> = line[pos..]
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        for w in words.windows(2) {
            if !matches!(w[1], "services" | "service") {
                continue;
            }
            if let Ok(n) = w[0].parse::<usize>() {
                if n != counted {
                    out.push(
                        Finding::error(
                            Check::Counts,
                            format!("says {n} services; the file defines {counted}"),
                        )
                        .file(file.file.to_string())
                        .line(Some(i + 1)),
                    );
                }
            }
        }
    }
    out
}

/// Byte offset of a `#` comment in a YAML line (outside quotes), if any.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

/// Everything one service alone can fail.
pub fn service(s: &Service, images: &Images) -> Vec<Finding> {
    let mut out = Vec::new();
    let key = |k: &str| format!("services.{}.{k}", s.name);
    if let Some(p) = &s.platform {
        out.push(finding(
            Check::Platform,
            &key("platform"),
            &p.origin,
            format!("forces the image to {}; the images are multi-platform and the device (arm64 Raspberry Pi) must pick its own", p.value),
        ));
    }
    if let Some(user) = &s.user {
        let who = user.value.split(':').next().unwrap_or("");
        if who == "0" || who == "root" {
            out.push(finding(
                Check::User,
                &key("user"),
                &user.origin,
                format!("user {:?} runs the container as root", user.value),
            ));
        }
    }
    out.extend(credentials(s));
    let resolution = resolve_image(s, images);
    out.extend(resolution.finding);
    out.extend(healthcheck(s, resolution.built, images));
    out
}

/// Words that make an environment variable a secret (by `_`-separated token).
pub fn secret_env_name(key: &str) -> bool {
    let tokens: Vec<String> = key.split('_').map(|t| t.to_ascii_uppercase()).collect();
    if tokens.last().is_some_and(|t| t == "FILE") {
        return false; // points at a secret file, the way it should be
    }
    let has = |t: &str| tokens.iter().any(|x| x == t);
    has("PASSWORD")
        || has("PASSWD")
        || has("PASS")
        || has("SECRET")
        || has("TOKEN")
        || has("CREDENTIALS")
        || has("APIKEY")
        || tokens.windows(2).any(|w| {
            w[1] == "KEY"
                && matches!(
                    w[0].as_str(),
                    "API" | "PRIVATE" | "ACCESS" | "SIGNING" | "MASTER" | "SECRET"
                )
        })
}

/// `scheme://user:password@host` with a literal password.
pub fn url_with_password(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let after = &rest[i + 3..];
        let authority = after.split(['/', ' ', '"', '\'']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, pass)) = userinfo.split_once(':') {
                if !pass.is_empty() && !pass.starts_with('$') {
                    return true;
                }
            }
        }
        rest = after;
    }
    false
}

fn credentials(s: &Service) -> Vec<Finding> {
    let mut out = Vec::new();
    for var in &s.env {
        let (k, val) = (&var.key, var.written.as_deref().unwrap_or(""));
        if secret_env_name(k) && !val.is_empty() && !val.starts_with("/run/secrets/") {
            out.push(finding(
                Check::Credentials,
                &format!("services.{}.environment.{k}", s.name),
                &var.origin,
                format!("secret passed as a plain environment value; use a compose secret and {k}_FILE=/run/secrets/…"),
            ));
        }
    }
    let mut strings = Vec::new();
    walk_strings(&s.node, &format!("services.{}", s.name), &mut strings);
    for (key, node) in strings {
        let text = node.written().unwrap_or_default();
        if url_with_password(text) {
            out.push(finding(
                Check::Credentials,
                &key,
                &node.origin(),
                "URL with a literal password",
            ));
        } else if text.starts_with("--password=") || text.starts_with("--pass=") {
            out.push(finding(
                Check::Credentials,
                &key,
                &node.origin(),
                "literal password on a command line",
            ));
        }
    }
    if let Some(h) = &s.healthcheck {
        for (i, w) in h.test.windows(2).enumerate() {
            if matches!(w[0].as_str(), "--password" | "-p" | "--pass")
                && !w[1].starts_with('$')
                && w[1].parse::<u16>().is_err()
            {
                out.push(finding(
                    Check::Credentials,
                    &format!("services.{}.healthcheck.test[{}]", s.name, i + 1),
                    &h.origin,
                    "literal password in the health check",
                ));
            }
        }
    }
    out
}

fn walk_strings<'a>(v: &'a Node, key: &str, out: &mut Vec<(String, &'a Node)>) {
    match &v.value {
        Value::Scalar { .. } => out.push((key.to_string(), v)),
        Value::Seq(list) => {
            for (i, x) in list.iter().enumerate() {
                walk_strings(x, &format!("{key}[{i}]"), out);
            }
        }
        Value::Map(m) => {
            for e in m {
                walk_strings(&e.value, &format!("{key}.{}", e.key), out);
            }
        }
    }
}

/// What a service's image resolved to.
pub struct Resolution<'a> {
    /// `built <ref>`, `external, pinned by digest`, or why it does not resolve.
    pub text: String,
    pub built: Option<&'a InspectedImage>,
    pub finding: Option<Finding>,
}

/// Resolves the image to a built one, an expected external one, or a finding.
pub fn resolve_image<'a>(s: &Service, images: &'a Images) -> Resolution<'a> {
    let key = format!("services.{}.image", s.name);
    resolve_reference(&s.name, s.image.as_ref(), &s.origin, &key, images)
}

/// [`resolve_image`] for any file that names images (a Kubernetes manifest): the image
/// `image` of the workload `name`, written under `key`; `origin` locates a missing one.
pub fn resolve_reference<'a>(
    name: &str,
    image: Option<&Located<String>>,
    origin: &Origin,
    key: &str,
    images: &'a Images,
) -> Resolution<'a> {
    let fail = |text: &str, f: Finding| Resolution {
        text: text.into(),
        built: None,
        finding: Some(f),
    };
    let Some(image) = image else {
        let parent = key.rsplit_once('.').map_or(key, |(p, _)| p);
        return fail(
            "no image",
            finding(
                Check::ImageReference,
                parent,
                origin,
                "no image (the pipeline deploys built images, never builds in compose)",
            ),
        );
    };
    let at = |m: String| finding(Check::ImageReference, key, &image.origin, m);
    let r = match ImageRef::parse(&image.value) {
        Ok(r) => r,
        Err(e) => return fail("invalid reference", at(format!("{e:#}"))),
    };
    let built = images.built.iter().find(|b| {
        b.repository == r.repository
            && match (&r.digest, &r.tag) {
                (Some(d), _) => *d == b.index_digest,
                (None, Some(t)) => b.answers_to(t),
                (None, None) => false,
            }
    });
    if let Some(b) = built {
        let wrong = images.built.iter().any(|x| x.service == *name) && b.service != *name;
        return Resolution {
            text: format!(
                "built {}:{} ({})",
                b.repository,
                b.tag,
                short_digest(&b.index_digest)
            ),
            built: Some(b),
            finding: wrong.then(|| at(format!("service {name} runs the image of {}", b.service))),
        };
    }
    let external = images
        .external
        .iter()
        .any(|e| e.name() == r.name() && e.digest.is_some() && e.digest == r.digest);
    if external {
        return Resolution {
            text: "external, pinned by digest (catalog)".into(),
            built: None,
            finding: None,
        };
    }
    if r.repository == images.repository {
        let why = if r.digest.is_some() {
            "is pinned to a digest that is no built image"
        } else {
            "names no built image"
        };
        fail("unresolved", at(format!("{r} {why}")))
    } else if r.digest.is_some() {
        let f = at(format!("{r} is not built here; pinned, not inspected"));
        fail(
            "external, pinned by digest (not inspected)",
            Finding {
                severity: Severity::Warning,
                ..f
            },
        )
    } else {
        fail(
            "external, not pinned",
            at(format!("{r} is not built here and not pinned by digest")),
        )
    }
}

fn healthcheck(s: &Service, built: Option<&InspectedImage>, images: &Images) -> Vec<Finding> {
    let name = &s.name;
    let key = format!("services.{name}.healthcheck.test");
    let image_has_one = built.is_some_and(|b| b.has_healthcheck);
    let enabled = s
        .healthcheck
        .as_ref()
        .filter(|h| !h.disabled && h.test.first().is_some_and(|f| f != "NONE"));
    let Some(h) = enabled else {
        if image_has_one {
            return Vec::new();
        }
        let origin = s
            .healthcheck
            .as_ref()
            .map(|h| h.origin.clone())
            .unwrap_or_else(|| s.origin.clone());
        return vec![finding(
            Check::Healthcheck,
            &format!("services.{name}.healthcheck"),
            &origin,
            "no health check",
        )];
    };
    let test = &h.test;
    // Distroless: built here, or meant to be (the project's repository).
    let distroless = built.is_some()
        || s.image
            .as_ref()
            .and_then(|i| ImageRef::parse(&i.value).ok())
            .is_some_and(|r| r.repository == images.repository);
    let at = |m: String| finding(Check::Healthcheck, &key, &h.origin, m);
    let fail = |m: String| {
        let severity = if distroless {
            Severity::Error
        } else {
            Severity::Warning
        };
        Finding { severity, ..at(m) }
    };
    match test[0].as_str() {
        "CMD" => {}
        "CMD-SHELL" => return vec![fail(THROUGH_SHELL.into())],
        other => return vec![at(format!("test starts with {other:?}, not CMD"))],
    }
    let Some(program) = test.get(1) else {
        return vec![at("CMD without a program".into())];
    };
    let mut out = Vec::new();
    let base = program.rsplit('/').next().unwrap_or(program);
    if SHELL_TOOLS.contains(&base) {
        out.push(fail(format!(
            "runs {program}, which a distroless image does not have"
        )));
    } else if let Some(b) = built.filter(|b| !b.files.contains(program.as_str())) {
        out.push(at(format!(
            "{program} is not a file of the image {}:{}",
            b.repository, b.tag
        )));
    }
    let mut listening = s.container_ports.clone();
    if let Some(b) = built {
        listening.extend(&b.env_ports);
    }
    if !listening.is_empty() {
        for port in probed_ports(&test[1..]) {
            if !listening.contains(&port) {
                out.push(at(format!(
                    "probes port {port}, but the service listens on {listening:?}"
                )));
            }
        }
    }
    out
}

/// Ports a health check command names: `host:port` in words or URLs, `--port N`, `--port=N`.
pub fn probed_ports(args: &[String]) -> Vec<u16> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if matches!(a.as_str(), "--port" | "-port") {
            if let Some(p) = args.get(i + 1).and_then(|n| n.parse().ok()) {
                out.push(p);
            }
            continue;
        }
        if let Some(p) = a.strip_prefix("--port=").and_then(|n| n.parse().ok()) {
            out.push(p);
            continue;
        }
        out.extend(a.split_whitespace().filter_map(authority_port));
    }
    out
}

/// The port of `host:port` (or of a URL's authority) in one word.
fn authority_port(word: &str) -> Option<u16> {
    let host_part = word.split("://").last().unwrap_or(word);
    let authority = host_part.split('/').next().unwrap_or("");
    let (host, port) = authority.rsplit_once(':')?;
    let hostlike = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']'));
    hostlike.then(|| port.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_matched_by_token() {
        assert!(secret_env_name("MONGODB_PASSWORD"));
        assert!(secret_env_name("JWT_SECRET_KEY"));
        assert!(secret_env_name("TRON_API_KEY"));
        assert!(!secret_env_name("MONGODB_PASSWORD_FILE"));
        assert!(!secret_env_name("KEYSPACE"));
        assert!(!secret_env_name("TOR_PROXY_SOCKS_PORT"));
    }

    #[test]
    fn finds_passwords_in_urls_only_when_literal() {
        assert!(url_with_password("mongodb://lucid:lucid@mongo:27017/db"));
        assert!(!url_with_password("mongodb://lucid:${PW}@mongo:27017/db"));
        assert!(!url_with_password("http://api-server:8081/health"));
    }

    #[test]
    fn reads_probed_ports() {
        let args: Vec<String> = ["curl", "-f", "http://localhost:8080/health"]
            .map(String::from)
            .into();
        assert_eq!(probed_ports(&args), vec![8080]);
        let args: Vec<String> = ["x", "healthcheck", "--port", "9"].map(String::from).into();
        assert_eq!(probed_ports(&args), vec![9]);
    }
}
