//! Image references (`[registry/]repository[:tag][@sha256:digest]`), parsed and checked before use.
//!
//! The grammar is the distribution project's reference grammar, reduced to what Lucid writes:
//! a reference with two tags (`pickme/lucid:tor-proxy:latest`, the seed report's defect) is refused.

use anyhow::{anyhow, Result};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `pickme/lucid`, `library/mongo`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

pub const DEFAULT_REGISTRY: &str = "docker.io";

/// `sha256:0123456789ab`: a digest short enough for a table, long enough to tell images apart.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take(19).collect()
}

impl ImageRef {
    /// Parses a reference; Docker Hub shorthand (`mongo:7`, `pickme/lucid:x`) is expanded.
    pub fn parse(text: &str) -> Result<ImageRef> {
        let err = |why: &str| Err(anyhow!("invalid image reference {text:?}: {why}"));
        if text.is_empty() {
            return err("empty");
        }
        if text.chars().any(|c| c.is_whitespace()) {
            return err("contains white space");
        }
        let (name_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        if let Some(d) = digest {
            let Some(hex) = d.strip_prefix("sha256:") else {
                return err("digest must be sha256:<64 hex>");
            };
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return err("digest must be sha256:<64 lowercase hex>");
            }
        }
        // The registry is the first component when it looks like a host (has '.' or ':' or is localhost).
        let (registry, rest) = match name_tag.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest)
            }
            _ => (DEFAULT_REGISTRY.to_string(), name_tag),
        };
        let (repository, tag) = match rest.split_once(':') {
            Some((repo, tag)) => (repo, Some(tag)),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if tag.contains(':') {
                return err("more than one tag (a reference has at most one ':tag')");
            }
            if tag.contains('/') {
                return err("tag contains '/'");
            }
            if !valid_tag(tag) {
                return err("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
            }
        }
        if repository.is_empty() {
            return err("empty repository");
        }
        for component in repository.split('/') {
            if !valid_path_component(component) {
                return err(&format!("repository component {component:?} must be lowercase [a-z0-9] separated by '.', '_', '__' or '-'"));
            }
        }
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// A reference in `repository` of `registry` with a tag, validated.
    pub fn tagged(registry: &str, repository: &str, tag: &str) -> Result<ImageRef> {
        ImageRef::parse(&format!("{registry}/{repository}:{tag}"))
    }

    /// The same image pinned to `digest` (tag kept for readability).
    pub fn with_digest(&self, digest: &str) -> Result<ImageRef> {
        ImageRef::parse(&format!("{}@{digest}", self.without_digest()))
    }

    pub fn without_digest(&self) -> ImageRef {
        ImageRef {
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository`, the name without tag and digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Tag or digest: what the registry API calls the reference of a manifest.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+ ( (\.|_|__|-+) [a-z0-9]+ )*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    if b.iter().any(|x| {
        x.is_ascii_uppercase() || !(x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
    }) {
        return false;
    }
    !c.contains("..")
        && !c.contains("___")
        && !c.contains("._")
        && !c.contains("_.")
        && !c.contains(".-")
        && !c.contains("-.")
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_reference_with_two_tags() {
        let e = ImageRef::parse("pickme/lucid:tor-proxy:latest")
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than one tag"), "{e}");
    }

    #[test]
    fn expands_docker_hub_shorthand() {
        let r = ImageRef::parse("mongo:7").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/mongo:7");
        let r = ImageRef::parse("pickme/lucid:tor-proxy-0.1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "pickme/lucid", Some("tor-proxy-0.1.0"))
        );
    }

    #[test]
    fn registry_with_port_and_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("127.0.0.1:5000/pickme/lucid:api-server@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn rejects_bad_digests_uppercase_and_empty_parts() {
        for bad in [
            "mongo@sha256:abc",
            "Pickme/lucid:x",
            "pickme/lucid:",
            "pickme//lucid",
            "",
            "a b",
            "pickme/lucid:-x",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
