//! Reads one compose file the way Docker Compose does before any check looks at it: YAML with
//! anchors and merge keys ([`super::yaml`]), interpolation ([`super::interpolate`]), `include`
//! (the resources of other files added, a name defined twice is an error), relative paths made
//! absolute, and `extends` (a service of the same or another file as the base, merged with
//! the override rules of [`super::merge`]; a cycle is an error).

use super::interpolate::Environment;
use super::merge;
use super::yaml::{self, Entry, How, Loc, Node, Value, Via};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Sections that are interpolated (keys stay as written; `x-*` extensions are not read).
const INTERPOLATED: [&str; 6] = [
    "services", "networks", "volumes", "secrets", "configs", "include",
];
/// Sections `include` adds to the including file.
const RESOURCES: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// A file that cannot be read as a compose file: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl ReadError {
    fn at(at: &Loc, message: impl Into<String>) -> ReadError {
        ReadError {
            file: at.file.to_string(),
            line: Some(at.line),
            message: message.into(),
        }
    }
}

/// One file as read, before it is merged with the other files of its deployment.
#[derive(Debug, Clone)]
pub struct FileTree {
    /// The file as the report names it.
    pub file: Rc<str>,
    pub text: String,
    /// The top-level mapping with includes and `extends` resolved.
    pub root: Node,
}

/// Reads files for one project: its environment, directory and the names the report uses.
pub struct Reader {
    pub env: Environment,
    /// Relative paths of the given files resolve against it (Compose's project directory).
    pub project_dir: PathBuf,
    /// Paths are reported relative to it.
    pub root: PathBuf,
}

impl Reader {
    pub fn display(&self, path: &Path) -> Rc<str> {
        Rc::from(crate::display(&self.root, path))
    }

    /// Reads and resolves one given compose file.
    pub fn read(&self, path: &Path) -> Result<FileTree, ReadError> {
        self.read_with(path, &self.project_dir, &mut Vec::new())
    }

    /// Reads `path`, resolving its relative paths against `base_dir`; `chain` holds the files
    /// being included (a file including itself is a cycle).
    fn read_with(
        &self,
        path: &Path,
        base_dir: &Path,
        chain: &mut Vec<PathBuf>,
    ) -> Result<FileTree, ReadError> {
        let file = self.display(path);
        let text = std::fs::read_to_string(path).map_err(|e| ReadError {
            file: file.to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        self.read_source(file, text, path, base_dir, chain)
    }

    /// Reads a file's `text` (named `file`; `path` locates what it includes and extends).
    pub fn read_text(&self, file: &str, text: &str, path: &Path) -> Result<FileTree, ReadError> {
        self.read_source(
            file.into(),
            text.to_string(),
            path,
            &self.project_dir,
            &mut Vec::new(),
        )
    }

    fn read_source(
        &self,
        file: Rc<str>,
        text: String,
        path: &Path,
        base_dir: &Path,
        chain: &mut Vec<PathBuf>,
    ) -> Result<FileTree, ReadError> {
        let mut root = self.parse(&file, &text)?;
        for section in INTERPOLATED {
            if let Some(node) = root.get_mut(section) {
                self.env
                    .interpolate_node(node)
                    .map_err(|(at, e)| ReadError::at(&at, e))?;
            }
        }
        chain.push(path.to_path_buf());
        self.include(&mut root, path, chain)?;
        chain.pop();
        absolute_paths(&mut root, base_dir);
        self.extends(&mut root, path, &mut Vec::new())?;
        Ok(FileTree { file, text, root })
    }

    /// The YAML of a file: a mapping at the top (an empty file is an empty mapping).
    pub fn parse(&self, file: &Rc<str>, text: &str) -> Result<Node, ReadError> {
        let root = yaml::parse(file, text).map_err(|e| ReadError {
            file: file.to_string(),
            line: (e.line > 0).then_some(e.line),
            message: format!("not valid YAML: {}", e.message),
        })?;
        let at = Loc {
            file: file.clone(),
            line: 1,
        };
        let root = root.unwrap_or_else(|| Node::map(Vec::new(), at.clone()));
        if root.entries().is_none() {
            return Err(ReadError::at(&at, "not a mapping at the top level"));
        }
        Ok(root)
    }

    /// `include: [path | {path: …}]`: every resource of the included files joins this one.
    fn include(
        &self,
        root: &mut Node,
        path: &Path,
        chain: &mut Vec<PathBuf>,
    ) -> Result<(), ReadError> {
        let Some(entry) = root.remove("include") else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let items: Vec<Node> = match &entry.value.value {
            Value::Seq(items) => items.clone(),
            _ => return Err(ReadError::at(&entry.key_at, "include must be a list")),
        };
        for item in items {
            for target in include_paths(&item)? {
                let included = dir.join(target.str().unwrap_or_default());
                if chain.iter().any(|p| same_file(p, &included)) {
                    return Err(ReadError::at(
                        &target.at,
                        format!("include of {} is recursive", included.display()),
                    ));
                }
                if !included.is_file() {
                    return Err(ReadError::at(
                        &target.at,
                        format!("include of {}: no such file", self.display(&included)),
                    ));
                }
                let inc_dir = included.parent().unwrap_or(Path::new(".")).to_path_buf();
                let tree = self.read_with(&included, &inc_dir, chain)?;
                add_resources(root, &tree.root, &target.at)?;
            }
        }
        Ok(())
    }

    /// Resolves `extends` of every service of `root` (the file at `path`).
    fn extends(
        &self,
        root: &mut Node,
        path: &Path,
        chain: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let names: Vec<String> = root
            .get("services")
            .and_then(Node::entries)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.value.get("extends").is_some())
            .map(|e| e.key.clone())
            .collect();
        for name in names {
            let resolved = self.extended(root, path, &name, chain)?;
            if let Some(services) = root.get_mut("services") {
                if let Some(s) = services.get_mut(&name) {
                    *s = resolved;
                }
            }
        }
        Ok(())
    }

    /// Service `name` of `root` with its `extends` resolved (recursively).
    fn extended(
        &self,
        root: &Node,
        path: &Path,
        name: &str,
        chain: &mut Vec<String>,
    ) -> Result<Node, ReadError> {
        let file = self.display(path);
        let service = root
            .get("services")
            .and_then(|s| s.get(name))
            .ok_or_else(|| ReadError {
                file: file.to_string(),
                line: None,
                message: format!("extends names service {name}, which the file does not define"),
            })?;
        let Some(ext) = service.entry("extends") else {
            return Ok(service.clone());
        };
        let signature = format!("{file}:{name}");
        if chain.contains(&signature) {
            chain.push(signature);
            return Err(ReadError::at(
                &ext.key_at,
                format!("extends is recursive: {}", chain.join(" -> ")),
            ));
        }
        chain.push(signature);
        let (base_name, base_file) = match (&ext.value.value, ext.value.get("service")) {
            (Value::Scalar { .. }, _) => (ext.value.str().unwrap_or_default().to_string(), None),
            (_, Some(s)) => (
                s.str().unwrap_or_default().to_string(),
                ext.value
                    .get("file")
                    .and_then(Node::str)
                    .map(str::to_string),
            ),
            _ => return Err(ReadError::at(&ext.key_at, "extends needs a service")),
        };
        let base = match base_file {
            None => self.extended(root, path, &base_name, chain),
            Some(other) => {
                let other = path.parent().unwrap_or(Path::new(".")).join(other);
                self.extended_in(&other, &base_name, &ext.key_at, chain)
            }
        }
        .map_err(|e| {
            if e.line.is_none() {
                ReadError::at(&ext.key_at, e.message)
            } else {
                e
            }
        })?;
        chain.pop();
        let via = Via {
            at: ext.key_at.clone(),
            how: How::Extends,
        };
        let mut local = service.clone();
        local.remove("extends");
        Ok(merge::service(&base.inherited(&via), &local))
    }

    /// Service `name` of the file `path` (read on its own: its relative paths are its own).
    fn extended_in(
        &self,
        path: &Path,
        name: &str,
        at: &Loc,
        chain: &mut Vec<String>,
    ) -> Result<Node, ReadError> {
        if !path.is_file() {
            return Err(ReadError::at(
                at,
                format!("extends file {}: no such file", self.display(path)),
            ));
        }
        let file = self.display(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| ReadError::at(at, format!("{}: {e}", path.display())))?;
        let mut root = self.parse(&file, &text)?;
        if let Some(services) = root.get_mut("services") {
            self.env
                .interpolate_node(services)
                .map_err(|(at, e)| ReadError::at(&at, e))?;
        }
        absolute_paths(&mut root, path.parent().unwrap_or(Path::new(".")));
        self.extended(&root, path, name, chain)
    }
}

/// The path nodes of one `include` item: a string, or `{path: string | [strings]}`.
fn include_paths(item: &Node) -> Result<Vec<Node>, ReadError> {
    if item.str().is_some() {
        return Ok(vec![item.clone()]);
    }
    match item.get("path") {
        Some(p) if p.str().is_some() => Ok(vec![p.clone()]),
        Some(p) if p.items().is_some() => Ok(p.items().unwrap_or_default().to_vec()),
        _ => Err(ReadError::at(&item.at, "include item needs a path")),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Adds the services, networks, volumes, secrets and configs of `from` to `root`.
fn add_resources(root: &mut Node, from: &Node, include_at: &Loc) -> Result<(), ReadError> {
    for section in RESOURCES {
        let Some(add) = from.entry(section) else {
            continue;
        };
        if root.get(section).is_none() {
            root.set(add.clone());
            continue;
        }
        let target = root.get_mut(section).expect("present");
        for e in add.value.entries().unwrap_or_default() {
            if let Some(mine) = target.entry(&e.key) {
                if mine.value != e.value {
                    return Err(ReadError::at(
                        &mine.key_at,
                        format!(
                            "{section}.{} is also defined by the included file {} (line {}), differently",
                            e.key, e.key_at.file, include_at.line
                        ),
                    ));
                }
                continue;
            }
            target.set(e.clone());
        }
    }
    Ok(())
}

/// Makes the relative host paths of bind mounts, env files and secret/config files absolute.
fn absolute_paths(root: &mut Node, dir: &Path) {
    let abs = |p: &str| -> Option<String> {
        if p.starts_with('.') {
            Some(normalize(&dir.join(p)))
        } else {
            None
        }
    };
    if let Some(Value::Map(services)) = root.get_mut("services").map(|s| &mut s.value) {
        for s in services {
            if let Some(Value::Seq(vols)) = s.value.get_mut("volumes").map(|v| &mut v.value) {
                for v in vols {
                    rewrite_volume(v, &abs);
                }
            }
            if let Some(env_file) = s.value.get_mut("env_file") {
                rewrite_scalars(env_file, &abs);
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Map(items)) = root.get_mut(section).map(|s| &mut s.value) {
            for i in items {
                if let Some(f) = i.value.get_mut("file") {
                    rewrite_scalars(f, &|p| {
                        Some(normalize(&dir.join(p))).filter(|_| !p.starts_with('/'))
                    });
                }
            }
        }
    }
}

fn rewrite_volume(v: &mut Node, abs: &dyn Fn(&str) -> Option<String>) {
    if let Value::Scalar { text, .. } = &mut v.value {
        if let Some((host, rest)) = text.split_once(':') {
            if let Some(a) = abs(host) {
                *text = format!("{a}:{rest}");
            }
        }
    } else if let Some(source) = v.get_mut("source") {
        rewrite_scalars(source, abs);
    }
}

fn rewrite_scalars(n: &mut Node, f: &dyn Fn(&str) -> Option<String>) {
    match &mut n.value {
        Value::Scalar { text, .. } => {
            if let Some(a) = f(text) {
                *text = a;
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(|i| rewrite_scalars(i, f)),
        Value::Map(_) => {
            if let Some(p) = n.get_mut("path") {
                rewrite_scalars(p, f);
            }
        }
    }
}

/// `a/./b/../c` -> `a/c`, without touching the filesystem.
fn normalize(p: &Path) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if out.len() > 1 {
                    out.pop();
                }
            }
            std::path::Component::RootDir => out.push(String::new()),
            other => out.push(other.as_os_str().to_string_lossy().to_string()),
        }
    }
    match out.as_slice() {
        [root] if root.is_empty() => "/".into(),
        _ => out.join("/"),
    }
}

/// The entries of a top-level section, empty when absent or not a mapping.
pub fn section<'a>(root: &'a Node, name: &str) -> &'a [Entry] {
    root.get(name).and_then(Node::entries).unwrap_or_default()
}
