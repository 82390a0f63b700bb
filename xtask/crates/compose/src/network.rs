//! Fixed addresses on the one declared network.
//!
//! Addresses are allocated once for the whole catalog (not per file), so that a service has the
//! same address in `docker-compose.yaml` and in the layer file that also defines it. Order: the
//! gateway takes the first host address, then MongoDB, then the services by (layer, name).

use crate::model::{Ipam, IpamConfig, NetworkDef};
use anyhow::{bail, Context, Result};
use lucid_catalog::{units, Workspace, MONGODB};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The network's gateway and every container's address.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub gateway: Ipv4Addr,
    pub by_service: BTreeMap<String, Ipv4Addr>,
}

pub fn allocate(ws: &Workspace) -> Result<Addresses> {
    let subnet = &ws.settings.network.subnet;
    let (net, prefix) =
        units::parse_cidr(subnet).context("workspace.metadata.lucid.network.subnet")?;
    let host_bits = 32 - u32::from(prefix);
    let size: u64 = 1u64 << host_bits;
    let base = u32::from(net)
        & if prefix == 0 {
            0
        } else {
            u32::MAX << host_bits
        };
    if base != u32::from(net) {
        bail!(
            "workspace.metadata.lucid.network.subnet: {subnet} has host bits set (the network address is {})",
            Ipv4Addr::from(base)
        );
    }
    let names = std::iter::once(MONGODB).chain(ws.services.iter().map(|s| s.name.as_str()));
    // Gateway, MongoDB, services; the network and broadcast addresses are not usable.
    let needed = 1 + 1 + ws.services.len() as u64;
    if needed + 2 > size {
        bail!(
            "workspace.metadata.lucid.network.subnet: {subnet} has {} usable addresses, the stack needs {needed} (gateway, mongodb, {} services)",
            size.saturating_sub(2),
            ws.services.len()
        );
    }
    let by_service = names
        .enumerate()
        .map(|(i, name)| (name.to_string(), Ipv4Addr::from(base + 2 + i as u32)))
        .collect();
    Ok(Addresses {
        gateway: Ipv4Addr::from(base + 1),
        by_service,
    })
}

/// The network definition every file carries (identical in each, so that files merge cleanly).
pub fn definition(ws: &Workspace, addresses: &Addresses) -> NetworkDef {
    NetworkDef {
        driver: "bridge".into(),
        ipam: Ipam {
            driver: "default".into(),
            config: vec![IpamConfig {
                subnet: ws.settings.network.subnet.clone(),
                gateway: addresses.gateway.to_string(),
            }],
        },
    }
}
