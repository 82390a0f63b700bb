//! Reads any compose file with Docker Compose's semantics and checks it.
//!
//! Reading ([`read`]): YAML anchors, aliases and merge keys ([`yaml`]), interpolation from the
//! environment and the env file ([`interpolate`]), `include`, `extends`. The files deployed
//! together are then merged with Compose's override rules ([`merge`]) and profiles applied,
//! into the one [`model::Model`] that every check reads: the checks of one service or file
//! ([`checks`]) and those across the files of a deployment ([`crate::deploy`]). Every value
//! keeps the line it was written on, so findings point there (for an inherited value: the
//! anchor's or base service's line, and the `<<`/`extends` line).

pub mod checks;
pub mod interpolate;
pub mod keys;
pub mod merge;
pub mod model;
pub mod read;
pub mod yaml;

use crate::image::InspectedImage;
use crate::report::{Check, ComposeFileReport, ComposeServiceReport, Finding, NetworkReport};
use anyhow::Result;
use interpolate::Environment;
use lucid_catalog::ImageRef;
use model::Model;
use read::{FileTree, ReadError, Reader};
use std::path::{Path, PathBuf};

/// What compose images are resolved against.
#[derive(Debug, Clone, Default)]
pub struct Images {
    /// Repository path of the built images (`pickme/lucid`): references into it must resolve.
    pub repository: String,
    pub built: Vec<InspectedImage>,
    /// Images not built here but expected (MongoDB), pinned by digest.
    pub external: Vec<ImageRef>,
}

/// How compose files are read: Compose's `--env-file` and `--profile`.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Variables for interpolation; default `.env` beside the first file (when it exists).
    pub env_file: Option<PathBuf>,
    /// Active profiles (and those of `COMPOSE_PROFILES`).
    pub profiles: Vec<String>,
    /// Variables set over the environment (the live run's data and secrets directories).
    pub vars: Vec<(String, String)>,
}

/// One compose file as read, and what was found in it alone.
#[derive(Debug, Clone)]
pub struct ComposeDoc {
    /// As the report names it.
    pub path: String,
    /// `None` when the file could not be read (see `findings`).
    pub tree: Option<FileTree>,
    /// The file alone, as a deployment of its own.
    pub model: Model,
    pub findings: Vec<Finding>,
}

impl ComposeDoc {
    pub fn services(&self) -> &[model::Service] {
        &self.model.services
    }

    pub fn report(&self, images: &Images) -> ComposeFileReport {
        ComposeFileReport {
            path: self.path.clone(),
            service_count: self.model.services.len() + self.model.inactive.len(),
            services: self
                .model
                .services
                .iter()
                .map(|s| service_report(s, images))
                .collect(),
            networks: self
                .model
                .networks
                .iter()
                .map(|n| NetworkReport {
                    name: n.key.clone(),
                    docker_name: n.name.clone(),
                    subnets: n.subnets.clone(),
                    external: n.external,
                })
                .collect(),
            findings: self.findings.clone(),
        }
    }
}

fn service_report(s: &model::Service, images: &Images) -> ComposeServiceReport {
    ComposeServiceReport {
        name: s.name.clone(),
        image: s.image.as_ref().map(|i| i.value.clone()),
        image_resolution: checks::resolve_image(s, images).text,
        healthcheck: s.healthcheck.as_ref().map(|h| h.test.clone()),
        host_ports: s.published.iter().map(model::Published::label).collect(),
        fixed_ips: s
            .networks
            .iter()
            .filter_map(|n| n.ipv4_address.as_ref().map(|ip| format!("{}={ip}", n.key)))
            .collect(),
        memory_limit: s.memory_limit,
        memory_reservation: s.memory_reservation,
        cpus: s.cpus,
        cpu_reservation: s.cpu_reservation,
        cpu_shares: s.cpu_shares,
        depends_on: s.depends_on.iter().map(|d| d.service.clone()).collect(),
    }
}

/// Compose files read as one project: one environment, one project directory and name.
pub struct Project {
    reader: Reader,
    pub name: String,
    pub profiles: Vec<String>,
    pub docs: Vec<ComposeDoc>,
}

impl Project {
    /// Reads `files` (relative paths in the report are relative to `root`). The env file's
    /// default is `.env` beside the first file; an env file given but unreadable is an error.
    pub fn read(files: &[PathBuf], root: &Path, opts: &ReadOptions) -> Result<Project> {
        let project_dir = files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let env_file = match &opts.env_file {
            Some(f) => {
                anyhow::ensure!(f.is_file(), "env file {}: no such file", f.display());
                f.clone()
            }
            None => project_dir.join(".env"),
        };
        let env = Environment::load(Some(&env_file))?.with(opts.vars.iter().cloned());
        let mut profiles = opts.profiles.clone();
        if let Some(p) = env.get("COMPOSE_PROFILES") {
            profiles.extend(p.split(',').filter(|p| !p.is_empty()).map(str::to_string));
        }
        let name = env
            .get("COMPOSE_PROJECT_NAME")
            .map(str::to_string)
            .unwrap_or_else(|| model::project_name(&project_dir));
        let reader = Reader {
            env,
            project_dir,
            root: root.to_path_buf(),
        };
        let mut project = Project {
            reader,
            name,
            profiles,
            docs: Vec::new(),
        };
        project.docs = files.iter().map(|f| project.doc(f)).collect();
        project.warn_unset();
        Ok(project)
    }

    fn doc(&self, path: &Path) -> ComposeDoc {
        let display = self.reader.display(path).to_string();
        let tree = self.reader.read(path);
        self.doc_of(display, tree)
    }

    fn doc_of(&self, path: String, tree: Result<FileTree, ReadError>) -> ComposeDoc {
        match tree {
            Err(e) => ComposeDoc {
                findings: vec![read_error(&e)],
                path,
                tree: None,
                model: Model::default(),
            },
            Ok(tree) => {
                let name = self.project_name(&tree);
                let model = Model::merge(&[&tree], &name, &self.profiles, &self.reader.env);
                let mut findings = checks::unknown_keys(&tree);
                findings.extend(checks::count_claims(
                    &tree,
                    model.services.len() + model.inactive.len(),
                ));
                ComposeDoc {
                    path,
                    tree: Some(tree),
                    model,
                    findings,
                }
            }
        }
    }

    /// A top-level `name:` names the project; else the environment or the directory does.
    fn project_name(&self, tree: &FileTree) -> String {
        tree.root
            .get("name")
            .and_then(yaml::Node::str)
            .map(str::to_string)
            .unwrap_or_else(|| self.name.clone())
    }

    /// Each unset variable used without a default: one warning, where it was first used.
    fn warn_unset(&mut self) {
        for (var, at) in self.reader.env.unset() {
            let f = Finding::warning(
                Check::ComposeFile,
                format!("variable {var} is not set and has no default: it reads as a blank string"),
            )
            .file(at.file.to_string())
            .line(Some(at.line));
            if let Some(d) = self.docs.iter_mut().find(|d| d.path == *at.file) {
                d.findings.push(f);
            } else if let Some(d) = self.docs.first_mut() {
                d.findings.push(f);
            }
        }
    }

    /// The files `members` (indexes into `docs`, in `-f` order) merged into one model.
    pub fn deployment(&self, members: &[usize]) -> Model {
        let trees: Vec<&FileTree> = members
            .iter()
            .filter_map(|i| self.docs[*i].tree.as_ref())
            .collect();
        let name = trees
            .first()
            .map(|t| self.project_name(t))
            .unwrap_or_else(|| self.name.clone());
        Model::merge(&trees, &name, &self.profiles, &self.reader.env)
    }

    /// Every network declared by the files `members` (their includes too), for the identity checks.
    pub fn declarations(&self, members: &[usize], project: &str) -> Vec<model::Network> {
        members
            .iter()
            .filter_map(|i| self.docs[*i].tree.as_ref())
            .flat_map(|t| model::networks(t, project))
            .collect()
    }

    /// Reads a compose file given as text (named `display`, as if in the current directory).
    pub fn parse_text(&self, display: &str, text: &str) -> ComposeDoc {
        let tree = self
            .reader
            .read_text(display, text, &PathBuf::from(display));
        self.doc_of(display.to_string(), tree)
    }
}

/// A file that cannot be read is a finding of the file, at the line that broke it.
pub fn read_error(e: &ReadError) -> Finding {
    Finding::error(Check::ComposeFile, &e.message)
        .file(e.file.clone())
        .line(e.line)
}

/// Everything one service of a deployment's model can fail (see [`checks::service`]), with
/// the values the model could not read.
pub fn service_findings(model: &Model, images: &Images) -> Vec<Finding> {
    let mut out = model.findings.clone();
    for s in &model.services {
        out.extend(checks::service(s, images));
    }
    out
}

/// One file alone, read and checked (its own deployment): for tests and single files.
pub fn parse(display: &str, text: &str, images: &Images) -> ComposeDoc {
    let project = match Project::read(&[], Path::new("."), &ReadOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            return ComposeDoc {
                path: display.into(),
                tree: None,
                model: Model::default(),
                findings: vec![Finding::error(Check::ComposeFile, e).file(display)],
            }
        }
    };
    let mut doc = project.parse_text(display, text);
    let model = doc.model.clone();
    doc.findings.extend(service_findings(&model, images));
    doc
}
