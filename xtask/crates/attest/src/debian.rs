//! The Debian packages of the base, as the SBOM lists them: name, version, architecture, sha256
//! of the `.deb` (all from `images/base.lock.toml`, checked on download) and the licence that
//! the package's own copyright file (`usr/share/doc/<name>/copyright`, machine-readable DEP-5
//! format) states, translated to an SPDX expression.

use anyhow::{Context, Result};
use lucid_image::deb::{self, Lock};
use std::collections::BTreeMap;
use std::path::Path;

/// One package of the base.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DebPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    pub url: String,
    /// SPDX expression of the copyright file's licences; `None` when the file states none in
    /// the machine-readable format.
    pub license: Option<String>,
    /// `LicenseRef-…` identifiers used in `license`, with their text from the copyright file.
    pub extracted: Vec<(String, String)>,
}

impl DebPackage {
    /// `pkg:deb/debian/<name>@<version>?arch=<arch>` (version and qualifier percent-encoded).
    pub fn purl(&self) -> String {
        format!(
            "pkg:deb/debian/{}@{}?arch={}",
            self.name,
            lucid_catalog::url::query_value(&self.version),
            lucid_catalog::url::query_value(&self.architecture)
        )
    }
}

/// The packages of `lock`, read from `deb_cache` (downloaded and checked there if missing).
pub fn packages(lock: &Lock, deb_cache: &Path) -> Result<Vec<DebPackage>> {
    let mut out = Vec::new();
    for p in &lock.packages {
        let copyright = cached_copyright(p, deb_cache)
            .with_context(|| format!("{} {}: copyright file", p.name, p.version))?;
        let (license, extracted) = match copyright.as_deref().and_then(license_of) {
            Some((expr, extracted)) => (Some(expr), extracted),
            None => (None, Vec::new()),
        };
        out.push(DebPackage {
            name: p.name.clone(),
            version: p.version.clone(),
            architecture: p.architecture.clone(),
            sha256: p.sha256.clone(),
            url: p.url.clone(),
            license,
            extracted,
        });
    }
    Ok(out)
}

/// The copyright file of the package, kept beside the `.deb` under its sha256: reading it means
/// decompressing the package's data archive (tzdata's is 400 KiB of xz), once per package
/// rather than once per build.
fn cached_copyright(p: &deb::Package, deb_cache: &Path) -> Result<Option<String>> {
    let cached = deb_cache.join(format!("{}.copyright.json", p.sha256));
    if let Some(text) = std::fs::read(&cached)
        .ok()
        .and_then(|b| serde_json::from_slice::<Option<String>>(&b).ok())
    {
        return Ok(text);
    }
    let bytes = deb::fetch(p, deb_cache)?;
    let copyright = copyright_file(&bytes, &p.name)?;
    // A cache: a failed write only means reading the package again next time.
    let json = serde_json::to_vec(&copyright)?;
    let tmp = deb_cache.join(format!(
        ".{}.copyright.tmp-{}",
        p.sha256,
        std::process::id()
    ));
    if std::fs::write(&tmp, json).is_ok() {
        let _ = std::fs::rename(&tmp, &cached);
    }
    Ok(copyright)
}

/// `usr/share/doc/<name>/copyright` of a `.deb`, if it has one.
fn copyright_file(deb_bytes: &[u8], name: &str) -> Result<Option<String>> {
    let data = deb::data_tar(deb_bytes)?;
    let wanted = format!("usr/share/doc/{name}/copyright");
    let mut archive = tar::Archive::new(&data[..]);
    for entry in archive.entries().context("data.tar")? {
        let mut entry = entry.context("data.tar")?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if path == wanted {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).context(wanted)?;
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// The licences a DEP-5 copyright file states for its `Files:` paragraphs, as one SPDX
/// expression (joined by AND), with the texts of those that SPDX has no identifier for.
/// `None` for a file not in the machine-readable format.
pub fn license_of(copyright: &str) -> Option<(String, Vec<(String, String)>)> {
    let paragraphs: Vec<&str> = copyright.split("\n\n").collect();
    if !paragraphs.first()?.starts_with("Format:") {
        return None;
    }
    // Stand-alone `License:` paragraphs give the full text of a short name used above.
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut used: Vec<String> = Vec::new();
    for p in &paragraphs {
        let Some((short, body)) = license_field(p) else {
            continue;
        };
        if !body.is_empty() {
            texts.entry(short.clone()).or_insert(body);
        }
        if p.lines().any(|l| l.starts_with("Files:")) && !used.contains(&short) {
            used.push(short);
        }
    }
    if used.is_empty() {
        return None;
    }
    let mut extracted = Vec::new();
    let mut terms = Vec::new();
    for short in &used {
        let expr = spdx_expression(short);
        for id in expr.split(' ').filter(|t| t.starts_with("LicenseRef-")) {
            let text = texts.get(short).cloned().unwrap_or_else(|| short.clone());
            if !extracted.iter().any(|(i, _): &(String, String)| i == id) {
                extracted.push((id.to_string(), text));
            }
        }
        terms.push(if used.len() > 1 && expr.contains(' ') {
            format!("({expr})")
        } else {
            expr
        });
    }
    Some((terms.join(" AND "), extracted))
}

/// A paragraph's `License:` short name and the text that follows it (continuation lines,
/// ` .` standing for an empty line).
fn license_field(paragraph: &str) -> Option<(String, String)> {
    let mut lines = paragraph.lines().skip_while(|l| !l.starts_with("License:"));
    let short = lines
        .next()?
        .trim_start_matches("License:")
        .trim()
        .to_string();
    let body: Vec<&str> = lines
        .take_while(|l| l.starts_with(' ') || l.starts_with('\t'))
        .map(|l| if l.trim() == "." { "" } else { l.trim() })
        .collect();
    Some((short, body.join("\n").trim().to_string()))
}

/// A DEP-5 licence expression (`GPL-2+ or Artistic`) in SPDX terms.
fn spdx_expression(short: &str) -> String {
    short
        .split_whitespace()
        .map(|token| match token.to_ascii_lowercase().as_str() {
            "or" => "OR".to_string(),
            "and" => "AND".to_string(),
            _ => spdx_id(token.trim_end_matches(',')),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// DEP-5 short names → SPDX identifiers; names SPDX does not have become `LicenseRef-<name>`.
fn spdx_id(short: &str) -> String {
    let (base, or_later) = match short.strip_suffix('+') {
        Some(b) => (b, true),
        None => (short, false),
    };
    let gnu = ["GPL", "LGPL", "AGPL", "GFDL"];
    if let Some((family, version)) = base.split_once('-') {
        if gnu.contains(&family) && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            let version = if version.contains('.') {
                version.to_string()
            } else {
                format!("{version}.0")
            };
            let suffix = if or_later { "or-later" } else { "only" };
            return format!("{family}-{version}-{suffix}");
        }
    }
    let known = match base {
        "Expat" => Some("MIT"),
        "BSD-2-clause" => Some("BSD-2-Clause"),
        "BSD-3-clause" => Some("BSD-3-Clause"),
        "MPL-1.1" | "MPL-2.0" | "Apache-2.0" | "ISC" | "Zlib" | "MIT" | "Artistic-2.0"
        | "CC0-1.0" | "BSL-1.0" => Some(base),
        _ => None,
    };
    match (known, or_later) {
        (Some(id), false) => id.to_string(),
        (Some(id), true) => format!("{id}+"),
        (None, _) => format!(
            "LicenseRef-{}",
            short
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                })
                .collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_CERTIFICATES: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Source: http://ftp.debian.org/debian/pool/main/c/ca-certificates/\n\n\
Files: debian/*\n       mozilla/*\nCopyright: 2003 Fumitoshi UKAI\nLicense: GPL-2+\n This program is free software\n .\n more\n\n\
Files: mozilla/certdata.txt\nCopyright: Mozilla Contributors\nLicense: MPL-2.0\n Mozilla Public License Version 2.0\n";

    #[test]
    fn joins_the_licences_of_every_files_paragraph() {
        let (expr, extracted) = license_of(CA_CERTIFICATES).unwrap();
        assert_eq!(expr, "GPL-2.0-or-later AND MPL-2.0");
        assert!(extracted.is_empty());
    }

    #[test]
    fn licences_without_an_spdx_id_carry_their_text() {
        let tzdata =
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
Files: *\nCopyright: IANA\nLicense: public-domain\n This database is in the public domain.\n";
        let (expr, extracted) = license_of(tzdata).unwrap();
        assert_eq!(expr, "LicenseRef-public-domain");
        assert_eq!(
            extracted,
            vec![(
                "LicenseRef-public-domain".to_string(),
                "This database is in the public domain.".to_string()
            )]
        );
    }

    #[test]
    fn translates_dep5_short_names() {
        assert_eq!(spdx_expression("GPL-2"), "GPL-2.0-only");
        assert_eq!(spdx_expression("LGPL-2.1+"), "LGPL-2.1-or-later");
        assert_eq!(
            spdx_expression("GPL-2+ or Artistic"),
            "GPL-2.0-or-later OR LicenseRef-Artistic"
        );
        assert_eq!(spdx_expression("Expat"), "MIT");
        assert!(license_of("Upstream wrote this by hand.\n\nGPL\n").is_none());
    }

    #[test]
    fn purl_encodes_the_version() {
        let p = DebPackage {
            name: "tzdata".into(),
            version: "2026f-0+deb12u1".into(),
            architecture: "all".into(),
            sha256: String::new(),
            url: String::new(),
            license: None,
            extracted: Vec::new(),
        };
        assert_eq!(p.purl(), "pkg:deb/debian/tzdata@2026f-0%2Bdeb12u1?arch=all");
    }
}
