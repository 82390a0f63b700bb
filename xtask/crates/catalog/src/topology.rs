//! The deployment topology: which compose files exist, what each one defines, and which files
//! are deployed together. Written once, here; the compose generator writes these files and the
//! validator checks them in these groups.
//!
//! `docker-compose.yaml` holds everything; `lucid-dev.yaml` layer 0 and MongoDB; one
//! `lucid-layer<N>-complete.yaml` per higher layer, deployed together with `lucid-dev.yaml`
//! (`docker-compose -f lucid-dev.yaml -f lucid-layer1-complete.yaml up`). A service is defined
//! in exactly one file of a deployment, so merged files never define anything twice.

use crate::{Service, Workspace};
use std::collections::BTreeSet;

/// Directory of the generated compose files, relative to the workspace root.
pub const COMPOSE_DIR: &str = "compose";

/// The Docker Swarm stack file under `compose/`: the whole stack for `docker stack deploy`.
pub const STACK_FILE: &str = "lucid-stack.yaml";
/// The Kubernetes manifests, relative to the workspace root.
pub const KUBERNETES_DIR: &str = "deploy/kubernetes";

pub const FULL: &str = "docker-compose.yaml";
pub const DEV: &str = "lucid-dev.yaml";

#[derive(Debug, Clone)]
pub struct Deployment {
    /// File name under `compose/`.
    pub file: String,
    pub title: String,
    /// Layers whose services this file defines.
    pub layers: BTreeSet<u8>,
    pub mongodb: bool,
    /// The other files this one is deployed with.
    pub deployed_with: Vec<String>,
    /// Layers running in the whole deployment (this file and `deployed_with`).
    pub deployed_layers: BTreeSet<u8>,
}

impl Deployment {
    /// Services defined in this file, by (layer, name).
    pub fn services<'w>(&self, ws: &'w Workspace) -> Vec<&'w Service> {
        in_layers(ws, &self.layers)
    }

    /// Lucid services running when this file is deployed as intended: what `LUCID_CATALOG` lists.
    pub fn deployed_services<'w>(&self, ws: &'w Workspace) -> Vec<&'w Service> {
        in_layers(ws, &self.deployed_layers)
    }

    /// The `-f` arguments that deploy this file as intended.
    pub fn files(&self) -> Vec<String> {
        let mut out = self.deployed_with.clone();
        out.push(self.file.clone());
        out
    }
}

fn in_layers<'w>(ws: &'w Workspace, layers: &BTreeSet<u8>) -> Vec<&'w Service> {
    ws.services
        .iter()
        .filter(|s| layers.contains(&s.layer))
        .collect()
}

pub fn layer_file(layer: u8) -> String {
    format!("lucid-layer{layer}-complete.yaml")
}

/// Every generated file, in the order they are written and reported.
pub fn all(ws: &Workspace) -> Vec<Deployment> {
    let layers: BTreeSet<u8> = ws.services.iter().map(|s| s.layer).collect();
    let core = BTreeSet::from([0u8]);
    let mut out = vec![
        Deployment {
            file: FULL.into(),
            title: "the whole stack: every Lucid service of every layer, and MongoDB".into(),
            layers: layers.clone(),
            mongodb: true,
            deployed_with: vec![],
            deployed_layers: layers.clone(),
        },
        Deployment {
            file: DEV.into(),
            title: "layer 0 (core support) and MongoDB: the base every layer file is deployed on"
                .into(),
            layers: core.clone(),
            mongodb: true,
            deployed_with: vec![],
            deployed_layers: core.clone(),
        },
    ];
    for &layer in layers.iter().filter(|l| **l != 0) {
        out.push(Deployment {
            file: layer_file(layer),
            title: format!("layer {layer} only; deploy it together with {DEV}"),
            layers: BTreeSet::from([layer]),
            mongodb: false,
            deployed_with: vec![DEV.into()],
            deployed_layers: BTreeSet::from([0, layer]),
        });
    }
    out
}

/// The groups of files (paths relative to the workspace root) that are deployed together, as
/// the validator checks them: the whole stack alone, and `lucid-dev.yaml` with each layer file
/// and with all of them at once.
pub fn deployed_together(ws: &Workspace) -> Vec<Vec<String>> {
    let path = |f: &str| format!("{COMPOSE_DIR}/{f}");
    let deployments = all(ws);
    let layer_files: Vec<&Deployment> = deployments
        .iter()
        .filter(|d| !d.deployed_with.is_empty())
        .collect();
    let mut groups = vec![vec![path(FULL)]];
    for d in &layer_files {
        groups.push(d.files().iter().map(|f| path(f)).collect());
    }
    if layer_files.len() > 1 {
        let mut every = vec![path(DEV)];
        every.extend(layer_files.iter().map(|d| path(&d.file)));
        groups.push(every);
    }
    groups
}

/// Every generated file, relative to the workspace root, in the order they are written.
pub fn generated_files(ws: &Workspace) -> Vec<String> {
    all(ws)
        .iter()
        .map(|d| format!("{COMPOSE_DIR}/{}", d.file))
        .collect()
}

/// Who opens connections to whom when `deployed` run together, as (caller, callee): every
/// upstream and dependency (`LUCID_URL_<NAME>`; MongoDB included), and every service with
/// `catalog = true` to every service of the deployment, itself included (`LUCID_CATALOG`).
pub fn connections<'w>(deployed: &[&'w Service]) -> BTreeSet<(&'w str, &'w str)> {
    let mut out = BTreeSet::new();
    for s in deployed {
        for callee in s.connects_to() {
            out.insert((s.name.as_str(), callee));
        }
        if s.catalog {
            out.extend(deployed.iter().map(|o| (s.name.as_str(), o.name.as_str())));
        }
    }
    out
}
