//! What every stage needs: the workspace, where its outputs go, and whom to tell about progress.

use anyhow::Result;
use lucid_catalog::{Platform, Workspace};
use lucid_registry::{credentials_for, credentials_in, tls, Config, Registry};
use std::path::{Path, PathBuf};

/// A long piece of work that the CLI shows as a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Task {
    /// One cargo invocation for a platform; counted in service binaries linked.
    Compile(Platform),
    /// The image stage; counted in platform images.
    Images,
    /// The push of every image; counted in images.
    Push,
    /// The push of one image; counted in bytes.
    Upload(String),
}

impl Task {
    /// The bar's label.
    pub fn label(&self) -> String {
        match self {
            Task::Compile(p) => p.arch().to_string(),
            Task::Images => "images".into(),
            Task::Push => "push".into(),
            Task::Upload(service) => service.clone(),
        }
    }
}

/// What the pipeline tells its user while it works. The library never prints: the CLI maps
/// these onto indicatif bars and lines on stderr; tests collect them.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step of a multi-step command (`[3/7] push the immutable tags`).
    Step {
        number: usize,
        of: usize,
        title: String,
    },
    /// A line worth reading: what was chosen and why, what a step achieved.
    Note(String),
    /// A long task begins: `total` units of work.
    Begin { task: Task, total: u64 },
    /// `by` more units of `task` are done; `message` says on what.
    Advance {
        task: Task,
        by: u64,
        message: Option<String>,
    },
    /// The task is over (finished or abandoned): its bar goes away.
    End { task: Task },
}

type Reporter = Box<dyn Fn(Event) + Send + Sync>;

/// The workspace the pipeline works on, where its outputs go (`target/lucid` by default) and
/// where its events go.
pub struct Context {
    /// Root of the cargo workspace (its `Cargo.toml` holds `[workspace.metadata.lucid]`).
    pub root: PathBuf,
    /// Binaries, OCI layout, image manifest, staging of a release: `<root>/target/lucid`,
    /// or a temporary directory (tests never write into the workspace's own).
    pub out: PathBuf,
    /// Content-addressed downloads and build records (`<out>/cache`); tests share one cache
    /// outside the workspace so that they download the base's packages once.
    pub cache: PathBuf,
    /// The Docker config directory holding registry credentials (default: `DOCKER_CONFIG`,
    /// else `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// Docker's per-registry CA directory (`/etc/docker/certs.d`): `<host>/*.crt` are trusted
    /// for that registry, on top of the platform's CA store (see `lucid_registry::tls`).
    pub certs_d: PathBuf,
    /// Cargo's target directory for the compile stage (default: cargo's own choice).
    pub cargo_target_dir: Option<PathBuf>,
    reporter: Reporter,
}

impl Context {
    /// The workspace at `root`, outputs in `<root>/target/lucid`, events dropped.
    pub fn new(root: &Path) -> Context {
        let out = root.join("target").join("lucid");
        Context {
            root: root.to_path_buf(),
            cache: out.join("cache"),
            out,
            docker_config: None,
            certs_d: PathBuf::from(tls::DOCKER_CERTS_D),
            cargo_target_dir: None,
            reporter: Box::new(|_| {}),
        }
    }

    /// Outputs (and, unless set apart, the cache) in `out`.
    pub fn with_out(mut self, out: &Path) -> Context {
        if self.cache == self.out.join("cache") {
            self.cache = out.join("cache");
        }
        self.out = out.to_path_buf();
        self
    }

    pub fn with_cache(mut self, cache: &Path) -> Context {
        self.cache = cache.to_path_buf();
        self
    }

    pub fn with_docker_config(mut self, dir: &Path) -> Context {
        self.docker_config = Some(dir.to_path_buf());
        self
    }

    pub fn with_certs_d(mut self, dir: &Path) -> Context {
        self.certs_d = dir.to_path_buf();
        self
    }

    pub fn with_cargo_target_dir(mut self, dir: &Path) -> Context {
        self.cargo_target_dir = Some(dir.to_path_buf());
        self
    }

    pub fn with_reporter(mut self, reporter: impl Fn(Event) + Send + Sync + 'static) -> Context {
        self.reporter = Box::new(reporter);
        self
    }

    pub fn report(&self, event: Event) {
        (self.reporter)(event)
    }

    pub fn note(&self, line: impl Into<String>) {
        self.report(Event::Note(line.into()))
    }

    /// The catalog, read with cargo_metadata.
    pub fn workspace(&self) -> Result<Workspace> {
        let mut ws = Workspace::load(&self.root)?;
        if let Some(dir) = &self.cargo_target_dir {
            ws.target_dir = dir.clone();
        }
        Ok(ws)
    }

    /// A client for the registry `host`: see [`Context::registry_config`].
    pub fn registry(&self, host: &str) -> Result<Registry> {
        Registry::configured(host, self.registry_config(host)?)
    }

    /// How to reach `host`: the credentials of this context's Docker config, the CAs of its
    /// certs.d (on top of the platform's store).
    pub fn registry_config(&self, host: &str) -> Result<Config> {
        let credentials = match &self.docker_config {
            Some(dir) => credentials_in(dir, host)?,
            None => credentials_for(host)?,
        };
        Ok(Config {
            credentials,
            certs_d: self.certs_d.clone(),
            ..Config::default()
        })
    }

    /// `<out>/<sub>`.
    pub fn out_dir(&self, sub: &str) -> PathBuf {
        self.out.join(sub)
    }

    /// Where `cargo xtask build` puts a service's binary: `<out>/bin/<arch>/<service>`.
    pub fn binary(&self, service: &str, platform: Platform) -> PathBuf {
        self.out_dir("bin").join(platform.arch()).join(service)
    }

    /// The OCI image layout of the image stage.
    pub fn oci_layout(&self) -> PathBuf {
        self.out_dir("oci")
    }

    /// The image stage's record of what it built (`target/lucid/images.json`).
    pub fn build_manifest(&self) -> PathBuf {
        self.out_dir("images.json")
    }

    /// `path` relative to the workspace root when it lies inside it (for messages and the
    /// manifests the workspace keeps), else as it is.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}
