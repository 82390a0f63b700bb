//! Every service of the catalog with its App constants and routes, for the catalog-wide tests.

#![allow(dead_code)] // each test file uses its own part

use lucid_runtime::routes::{Match, Routes};
use lucid_runtime::{App, Sends};
use std::collections::BTreeMap;

/// The App constants and routes of one service.
pub struct Facts {
    pub max_body: u64,
    pub sends: &'static [(&'static str, Sends)],
    /// Problems of the service's declared routes (see `routes.rs`).
    pub route_problems: fn() -> Vec<String>,
}

fn facts<A: App>() -> Facts {
    Facts {
        max_body: A::MAX_BODY_BYTES,
        sends: A::SENDS,
        route_problems: route_problems::<A>,
    }
}

/// Every service of the catalog, by crate name.
pub fn services() -> BTreeMap<&'static str, Facts> {
    BTreeMap::from([
        ("admin-ui", facts::<admin_ui::Service>()),
        ("api-gateway", facts::<api_gateway::Service>()),
        ("api-server", facts::<api_server::Service>()),
        ("authentication", facts::<authentication::Service>()),
        ("blockchain-api", facts::<blockchain_api::Service>()),
        (
            "blockchain-governance",
            facts::<blockchain_governance::Service>(),
        ),
        ("blockchain-ledger", facts::<blockchain_ledger::Service>()),
        (
            "blockchain-sessions-data",
            facts::<blockchain_sessions_data::Service>(),
        ),
        ("blockchain-vm", facts::<blockchain_vm::Service>()),
        ("contract-compiler", facts::<contract_compiler::Service>()),
        (
            "contract-deployment",
            facts::<contract_deployment::Service>(),
        ),
        (
            "deployment-orchestrator",
            facts::<deployment_orchestrator::Service>(),
        ),
        ("merkle-builder", facts::<merkle_builder::Service>()),
        (
            "on-system-chain-client",
            facts::<on_system_chain_client::Service>(),
        ),
        ("openapi-gateway", facts::<openapi_gateway::Service>()),
        ("openapi-server", facts::<openapi_server::Service>()),
        ("rdp-server-manager", facts::<rdp_server_manager::Service>()),
        ("server-tools", facts::<server_tools::Service>()),
        ("session-chunker", facts::<session_chunker::Service>()),
        ("session-encryptor", facts::<session_encryptor::Service>()),
        (
            "session-host-manager",
            facts::<session_host_manager::Service>(),
        ),
        (
            "session-orchestrator",
            facts::<session_orchestrator::Service>(),
        ),
        ("session-recorder", facts::<session_recorder::Service>()),
        ("tor-proxy", facts::<tor_proxy::Service>()),
        ("tron-node-client", facts::<tron_node_client::Service>()),
        ("tunnel-tools", facts::<tunnel_tools::Service>()),
        ("xrdp-integration", facts::<xrdp_integration::Service>()),
    ])
}

/// A concrete path for a route pattern: `{x}` → `x1`, `{*rest}` → `a/b`.
pub fn example_path(pattern: &str) -> String {
    let segments: Vec<String> = pattern
        .split('/')
        .skip(1)
        .map(|seg| match seg.strip_prefix('{') {
            Some(p) if p.starts_with('*') => "a/b".to_string(),
            Some(p) => format!("{}1", p.trim_end_matches('}')),
            None => seg.to_string(),
        })
        .collect();
    format!("/{}", segments.join("/"))
}

/// Every declared route answers its method, a wrong method on it is 405 naming the method it
/// has, and the same path with an empty segment is 404.
pub fn route_problems<A: App>() -> Vec<String> {
    let mut routes = Routes::<A>::default();
    A::routes(&mut routes);
    let mut problems: Vec<String> = routes.errors().to_vec();
    for (method, pattern) in routes.table() {
        let path = example_path(pattern);
        if method != "*" && !matches!(routes.find(method, &path), Match::Found(..)) {
            problems.push(format!("{method} {pattern}: {path} is not routed"));
        }
        match (method, routes.find("PATCH", &path)) {
            ("*", Match::Found(..)) => {}
            (_, Match::WrongMethod(allowed)) if allowed.contains(&method) => {}
            _ => problems.push(format!(
                "PATCH {path} (route {method} {pattern}) is not a 405 allowing {method}"
            )),
        }
        let doubled = format!("/{path}");
        if !matches!(routes.find(method, &doubled), Match::NotFound) {
            problems.push(format!("{method} {doubled}: an empty segment is routed"));
        }
    }
    problems
}
