//! The release's first step: every check, all run, so that one attempt reports every problem
//! before anything is built or pushed.

use crate::context::Context;
use crate::images::Engine;
use anyhow::{bail, Context as _, Result};
use lucid_catalog::{ImageRef, Workspace};
use lucid_registry::{is_loopback, Registry};
use std::path::Path;
use std::process::Command;

/// One check: its line in the plan, and whether it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub passed: bool,
    /// What was found (passed) or what is wrong and how to fix it (failed).
    pub line: String,
}

/// What the registry holds for one service before the release.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remote {
    /// Index digest under `<service>-<version>`.
    pub versioned: Option<String>,
    /// Index digest under the moving tag `<service>`.
    pub moving: Option<String>,
}

/// The outcome of the preflight: the checks, and what the registry holds.
pub struct Preflight {
    pub checks: Vec<Check>,
    pub registry: Option<Registry>,
    /// Per service (catalog order); empty-handed when the registry could not be asked.
    pub remote: Vec<Remote>,
}

/// What the preflight needs to know of the release.
pub struct Inputs<'a> {
    pub ctx: &'a Context,
    pub ws: &'a Workspace,
    pub host: &'a str,
    pub refs: &'a [(ImageRef, ImageRef)],
    pub version: Option<&'a str>,
    pub allow_dirty: bool,
    pub engine: Engine,
    /// A real run proves it may push; a dry run only reads.
    pub may_write: bool,
}

impl Preflight {
    pub fn run(input: &Inputs) -> Preflight {
        let mut p = Preflight {
            checks: Vec::new(),
            registry: None,
            remote: vec![Remote::default(); input.refs.len()],
        };
        p.check(version(input.ws, input.version));
        p.check(engine(input.engine));
        p.check(tools(input.engine));
        p.check(clean_tree(&input.ws.root, input.allow_dirty));
        let registry = input
            .ctx
            .registry(input.host)
            .and_then(|r| reachable(&r, input.refs, input.may_write).map(|line| (r, line)));
        match registry {
            Ok((r, lines)) => {
                for line in lines {
                    p.check(Ok(line));
                }
                p.registry = Some(r);
            }
            Err(e) => p.check(Err(format!("registry {}: {e:#}", input.host))),
        }
        if let Some(r) = &p.registry {
            match remote_state(r, input.refs) {
                Ok(remote) => {
                    p.check(released(&remote, &input.ws.version, input.host));
                    p.remote = remote;
                }
                Err(e) => p.check(Err(format!("registry {}: {e:#}", input.host))),
            }
        }
        p
    }

    fn check(&mut self, result: Result<String, String>) {
        self.checks.push(match result {
            Ok(line) => Check { passed: true, line },
            Err(line) => Check {
                passed: false,
                line,
            },
        });
    }
}

/// The lines of the checks that failed.
pub fn problems(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.line.as_str())
        .collect()
}

fn version(ws: &Workspace, asked: Option<&str>) -> Result<String, String> {
    match asked {
        None => Ok(format!(
            "version {} (workspace.package.version; pass --version to check it)",
            ws.version
        )),
        Some(v) if v.trim_start_matches('v') == ws.version => {
            Ok(format!("version {v} = workspace.package.version"))
        }
        Some(v) => Err(format!(
            "--version {v} but workspace.package.version in {} is {}: bump workspace.package.version \
             to {} and commit, so that the binaries, the image labels and the tags agree",
            ws.root.join("Cargo.toml").display(),
            ws.version,
            v.trim_start_matches('v')
        )),
    }
}

/// The engine that will build, and why (`auto` is the oci engine, even where buildx works).
fn engine(asked: Engine) -> Result<String, String> {
    let (engine, why) = asked.resolve().map_err(|e| format!("{e:#}"))?;
    Ok(format!("engine {} ({why})", engine.name()))
}

fn tools(engine: Engine) -> Result<String, String> {
    let mut tools = vec!["git", "cargo"];
    if engine == Engine::Buildx {
        tools.push("docker");
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| which::which(t).is_err())
        .collect();
    if missing.is_empty() {
        Ok(format!("tools: {}", tools.join(", ")))
    } else {
        Err(format!("tools missing from PATH: {}", missing.join(", ")))
    }
}

/// `git status --porcelain` must be empty: the labels record the revision that was built.
fn clean_tree(root: &Path, allow_dirty: bool) -> Result<String, String> {
    let out = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git status: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} is not a git work tree (git status: {}); a release records the revision it built",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let changes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if changes.is_empty() {
        return Ok("work tree clean".into());
    }
    if allow_dirty {
        return Ok(format!(
            "work tree has {} change(s), allowed by --allow-dirty",
            changes.len()
        ));
    }
    let shown: Vec<&str> = changes.iter().take(8).map(String::as_str).collect();
    Err(format!(
        "work tree not clean ({} change(s): {}{}): commit or stash them; the release labels the images \
         with the revision of HEAD",
        changes.len(),
        shown.join(", "),
        if changes.len() > shown.len() { ", …" } else { "" }
    ))
}

/// The registry answers and accepts our credentials (a Bearer registry issues a token); a real
/// run also proves it may push, by opening (and cancelling) a blob upload. The lines say so,
/// then how it authenticates and whether its certificate was verified (and against what).
fn reachable(r: &Registry, refs: &[(ImageRef, ImageRef)], push: bool) -> Result<Vec<String>> {
    let repo = &refs.first().context("no services")?.0.repository;
    let reply = r.send("GET", "/v2/", &[], None, &[])?;
    if reply.status != 200 {
        bail!("GET /v2/: HTTP {} (not a registry?)", reply.status);
    }
    let who = match r.credentials() {
        Some(c) => format!("as {} (from {})", c.username, c.origin),
        None => "anonymously".into(),
    };
    let reachable = if push {
        r.check_push(repo)?;
        format!("registry {} reachable, may push {who}", r.host)
    } else {
        format!(
            "registry {} reachable {who} (push permission is checked by a real run)",
            r.host
        )
    };
    let connection = r.connect()?;
    let tls = match &connection.tls {
        Some(trust) => format!("TLS, certificate verified against {trust}"),
        None => "plain HTTP (a loopback registry without TLS)".into(),
    };
    Ok(vec![
        reachable,
        format!("registry {} auth: {}", r.host, connection.scheme),
        format!("registry {} at {}: {tls}", r.host, connection.base_url),
    ])
}

fn remote_state(r: &Registry, refs: &[(ImageRef, ImageRef)]) -> Result<Vec<Remote>> {
    refs.iter()
        .map(|(v, m)| {
            let digest = |x: &ImageRef| match &x.tag {
                Some(t) => r.manifest_digest(&x.repository, t),
                None => Ok(None),
            };
            Ok(Remote {
                versioned: digest(v)?,
                moving: digest(m)?,
            })
        })
        .collect()
}

/// Released = every moving tag already points at its `<service>-<version>` image. Anything
/// less is an interrupted attempt, which this run resumes.
pub fn released(remote: &[Remote], version: &str, host: &str) -> Result<String, String> {
    let pushed = remote.iter().filter(|r| r.versioned.is_some()).count();
    let moved = remote
        .iter()
        .filter(|r| r.versioned.is_some() && r.versioned == r.moving)
        .count();
    if !remote.is_empty() && moved == remote.len() {
        return Err(format!(
            "version {version} is already released to {host}: every moving tag points at its \
             <service>-{version} image; bump workspace.package.version for a new release"
        ));
    }
    if pushed == 0 {
        Ok(format!("{version} not released yet"))
    } else {
        Ok(format!(
            "{version} not released yet; resuming an earlier attempt: {pushed}/{} immutable tags \
             present, {moved} moving tags already at {version}",
            remote.len()
        ))
    }
}

/// The validator reads the pushed images back from a registry on this machine (with the same
/// client, credentials and trust as the push). A remote one (Docker Hub, with its pull rate
/// limits) is validated through the layout, whose digests the push matched one by one against
/// what the registry stored.
pub fn reads_back_from_registry(registry: &Registry) -> bool {
    is_loopback(&registry.host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(versioned: Option<&str>, moving: Option<&str>) -> Remote {
        Remote {
            versioned: versioned.map(str::to_string),
            moving: moving.map(str::to_string),
        }
    }

    #[test]
    fn a_version_is_released_only_when_every_moving_tag_points_at_it() {
        let done = [remote(Some("a"), Some("a")), remote(Some("b"), Some("b"))];
        assert!(released(&done, "1.0.0", "h")
            .unwrap_err()
            .contains("already released"));
        let partial = [remote(Some("a"), Some("a")), remote(Some("b"), Some("old"))];
        assert!(released(&partial, "1.0.0", "h")
            .unwrap()
            .contains("resuming"));
        let pushed_only = [remote(Some("a"), Some("old")), remote(None, Some("old"))];
        assert!(released(&pushed_only, "1.0.0", "h")
            .unwrap()
            .contains("1/2 immutable"));
        let fresh = [remote(None, None), remote(None, None)];
        assert_eq!(
            released(&fresh, "1.0.0", "h").unwrap(),
            "1.0.0 not released yet"
        );
    }
}
