//! One compose file of the topology (`docker-compose.yaml`, `lucid-dev.yaml`, the layer files).

use crate::container::{self, Container};
use crate::model::{ComposeDoc, SecretDef};
use crate::notice::{self, Comment};
use crate::{budget, mongodb, network, schema, service, ComposeFile, Source};
use anyhow::{anyhow, bail, Context, Result};
use lucid_catalog::topology::Deployment;
use lucid_catalog::{Workspace, MONGODB};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn generate(
    ws: &Workspace,
    d: &Deployment,
    all: &[Deployment],
    images: &BTreeMap<String, String>,
    source: &Source,
    addresses: &network::Addresses,
) -> Result<ComposeFile> {
    let deployed = d.deployed_services(ws);
    let mut containers = Vec::new();
    if d.mongodb {
        containers.push(mongodb::container(ws)?);
    }
    for s in d.services(ws) {
        containers.push(container::lucid(ws, s, images[&s.name].clone(), &deployed)?);
    }
    let usage = budget::usage(containers.iter().map(|c| &c.resources));
    budget::check(&d.file, usage, &ws.settings.device)?;
    check_dependencies(ws, d, all)?;

    let doc = ComposeDoc {
        services: containers
            .iter()
            .map(|c| (c.name.clone(), service::definition(ws, c, addresses)))
            .collect(),
        networks: BTreeMap::from([(
            ws.settings.network.name.clone(),
            network::definition(ws, addresses),
        )]),
        secrets: secret_files(&containers),
    };
    let yaml = serde_norway::to_string(&doc)
        .with_context(|| format!("compose/{}: cannot serialise", d.file))?;
    let text = format!(
        "{}{}",
        header(ws, d, &containers, source),
        notice::spaced(&yaml, "services:")
    );
    schema::validate(&format!("compose/{}", d.file), &text)
        .map_err(|problems| anyhow!("{}", problems.join("\n")))?;
    Ok(ComposeFile {
        deployment: d.clone(),
        text,
        containers: doc.services.len(),
        usage,
    })
}

/// Every secret any of `containers` reads, each from its file under the secrets directory.
pub(crate) fn secret_files(containers: &[Container]) -> BTreeMap<String, SecretDef> {
    let names: BTreeSet<&String> = containers.iter().flat_map(|c| &c.secrets).collect();
    names
        .into_iter()
        .map(|name| {
            let file = service::secret_file(name);
            (name.clone(), SecretDef { file })
        })
        .collect()
}

/// Every `depends_on` must name a service defined by a file of the same deployment.
fn check_dependencies(ws: &Workspace, d: &Deployment, all: &[Deployment]) -> Result<()> {
    let mut defined: BTreeSet<&str> = d
        .deployed_services(ws)
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let with_mongodb = d.mongodb
        || all
            .iter()
            .any(|o| o.mongodb && d.deployed_with.contains(&o.file));
    if with_mongodb {
        defined.insert(MONGODB);
    }
    let mut problems = Vec::new();
    for s in d.services(ws) {
        for dep in &s.depends_on {
            if !defined.contains(dep.as_str()) {
                problems.push(format!(
                    "{}: {}: package.metadata.lucid.depends_on: {dep:?} is not defined in compose/{} or the files it is deployed with ({:?})",
                    s.manifest_path.display(),
                    s.name,
                    d.file,
                    d.deployed_with
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

fn header(ws: &Workspace, d: &Deployment, containers: &[Container], source: &Source) -> String {
    let mut h = Comment::generated();
    h.line(&format!("compose/{}: {}.", d.file, d.title));
    let files: Vec<String> = d.files().iter().map(|f| format!("-f {f}")).collect();
    h.line(&format!("Deploy: docker-compose {} up -d", files.join(" ")));
    h.line(&format!("Images: {source}."));
    h.line("");
    h.data_dirs(ws, containers);
    let secrets = secret_files(containers);
    if !secrets.is_empty() {
        let names: Vec<&str> = secrets.keys().map(String::as_str).collect();
        h.line(&format!(
            "Secrets: one file each in {}/ (relative to this file): {}.",
            service::SECRETS_DIR,
            names.join(", ")
        ));
        h.line(
            "They are bind-mounted at /run/secrets/<name> and must be readable by the containers'",
        );
        h.line("users (65532, MongoDB 999): e.g. mode 0444 files in a root-owned 0700 directory.");
        h.line("");
    }
    h.text()
}
