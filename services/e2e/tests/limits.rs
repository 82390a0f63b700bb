//! Facts that agree along every call chain of the catalog: for each edge (a service and one of
//! the `upstreams` of its `[package.metadata.lucid]`), the largest body the service can send
//! there must not exceed what the upstream accepts. What a service sends is declared next to its
//! code (`App::SENDS`); a new edge without a declaration, or with a bound over the upstream's
//! `MAX_BODY_BYTES`, fails here, naming the edge.

mod common;

use common::{services, Facts};
use lucid_runtime::Sends;
use std::collections::BTreeMap;
use std::path::Path;

/// `(service, its upstreams)` for every service crate of the workspace, from the catalog.
fn catalog_edges() -> Vec<(String, Vec<String>)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .exec()
        .unwrap_or_else(|e| panic!("cargo metadata of {}: {e}", manifest.display()));
    let mut out = Vec::new();
    for package in metadata.workspace_packages() {
        let lucid = &package.metadata["lucid"];
        if lucid.is_null() || lucid["support"] == true || lucid["layer"].is_null() {
            continue;
        }
        let upstreams = lucid["upstreams"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.push((package.name.to_string(), upstreams));
    }
    out
}

/// Problems of the edges, each naming the edge and the numbers.
fn check(edges: &[(String, Vec<String>)], services: &BTreeMap<&str, Facts>) -> Vec<String> {
    let mut problems = Vec::new();
    for (service, upstreams) in edges {
        let Some(own) = services.get(service.as_str()) else {
            problems.push(format!(
                "{service} is in the catalog but not in this test's table of services"
            ));
            continue;
        };
        for upstream in upstreams {
            let Some(target) = services.get(upstream.as_str()) else {
                problems.push(format!("{service} -> {upstream}: unknown upstream"));
                continue;
            };
            let bound = match own.sends.iter().find(|(name, _)| name == upstream) {
                None => {
                    problems.push(format!(
                        "{service} -> {upstream}: {service}'s App::SENDS does not say what it sends there"
                    ));
                    continue;
                }
                Some((_, Sends::NoBody)) => 0,
                Some((_, Sends::ClientBody)) => own.max_body,
                Some((_, Sends::AtMost(n))) => *n,
            };
            if bound > target.max_body {
                problems.push(format!(
                    "{service} -> {upstream}: {service} may send {bound} bytes, {upstream} accepts {} (MAX_BODY_BYTES)",
                    target.max_body
                ));
            }
        }
        for (declared, _) in own.sends {
            if !upstreams.iter().any(|u| u == declared) {
                problems.push(format!(
                    "{service}: App::SENDS names {declared}, which is not among its catalog upstreams"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_catalog_edge_sends_no_more_than_its_upstream_accepts() {
    let edges = catalog_edges();
    assert!(
        edges.len() >= 27,
        "the catalog has {} services: {edges:?}",
        edges.len()
    );
    let services = services();
    let problems = check(&edges, &services);
    assert!(
        problems.is_empty(),
        "limits disagree along the call chain:\n{}",
        problems.join("\n")
    );
    let with_bodies = edges.iter().flat_map(|(_, u)| u).count();
    assert!(with_bodies >= 10, "only {with_bodies} edges were checked");
}

#[test]
fn a_mismatched_or_undeclared_edge_is_reported() {
    let services = services();
    // blockchain-api's 1 MiB anchors towards a service that takes 4 KiB, and an edge whose
    // sender declares nothing: both named.
    let edges = vec![
        (
            "blockchain-api".to_string(),
            vec!["blockchain-vm".to_string()],
        ),
        (
            "api-gateway".to_string(),
            vec!["rdp-server-manager".to_string()],
        ),
    ];
    let mut table = services;
    table.insert(
        "blockchain-vm",
        Facts {
            max_body: 4 << 10,
            sends: &[],
            route_problems: Vec::new,
        },
    );
    let problems = check(&edges, &table);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].contains("blockchain-api -> blockchain-vm: blockchain-api may send 1048576 bytes, blockchain-vm accepts 4096"));
    assert!(problems[1].contains("blockchain-api: App::SENDS names blockchain-ledger"));
    assert!(problems[2]
        .contains("api-gateway -> rdp-server-manager: api-gateway's App::SENDS does not say"));
    assert!(problems[3].contains("api-gateway: App::SENDS names api-server"));
}
