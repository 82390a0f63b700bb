//! Checks across the compose files deployed together, on their merged model: host ports,
//! networks by their Docker identity and fixed IPs, `depends_on` targets, and the memory/CPU
//! sums against the device profile.

use crate::compose::model::{finding, Model, Network, Published, Service};
use crate::report::{Check, DeploymentReport, DeviceProfile, Finding};
use lucid_catalog::units::{cidr_contains, parse_cidr};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Checks the deployment of `files` (merged into `model`); `declarations` are every network
/// declaration of those files, the overridden ones included.
pub fn check(
    files: Vec<String>,
    model: &Model,
    declarations: &[Network],
    device: &DeviceProfile,
) -> DeploymentReport {
    let group = files.join(" + ");
    let (mut findings, host_ports) = host_ports(model);
    findings.extend(network_identity(declarations));
    findings.extend(fixed_ips(model, declarations));
    findings.extend(depends_on(model, &group));
    let sums = Sums::of(model);
    findings.extend(sums.against(model, device, &group));
    DeploymentReport {
        files,
        service_count: model.services.len(),
        memory_limit_bytes: sums.memory,
        memory_reservation_bytes: sums.memory_reservation,
        cpu_limit: sums.cpus,
        cpu_reservation: sums.cpu_reservation,
        host_ports,
        findings,
    }
}

/// One (address, port, protocol) per deployment; an unspecified address takes every address.
fn host_ports(model: &Model) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut seen: Vec<(&str, &Published)> = Vec::new();
    for s in &model.services {
        for p in &s.published {
            let clash = seen.iter().find(|(_, o)| {
                o.port == p.port
                    && o.protocol == p.protocol
                    && (o.host_ip.is_none() || p.host_ip.is_none() || o.host_ip == p.host_ip)
            });
            if let Some((other, o)) = clash {
                findings.push(finding(
                    Check::HostPorts,
                    &p.key,
                    &p.origin,
                    format!(
                        "host port {} is also published by {other} in {}",
                        p.label(),
                        o.origin.at.file
                    ),
                ));
            }
            seen.push((&s.name, p));
        }
    }
    let mut labels: Vec<String> = seen.iter().map(|(_, p)| p.label()).collect();
    labels.sort();
    (findings, labels)
}

/// One Docker network name, one configuration: declarations of one name (under any key, in
/// any file) must agree on driver, subnets and gateways; an external one must be created by
/// some file of the deployment, or is an assumption about the host.
fn network_identity(declarations: &[Network]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, n) in declarations.iter().enumerate() {
        let ipam = format!("networks.{}.ipam.config", n.key);
        for s in n.subnets.iter().filter(|s| parse_cidr(s).is_err()) {
            findings.push(finding(
                Check::Network,
                &ipam,
                &n.origin,
                format!("{s:?} is not an IPv4 subnet"),
            ));
        }
        if n.external {
            if !declarations.iter().any(|o| o.name == n.name && !o.external) {
                findings.push(Finding {
                    severity: crate::report::Severity::Warning,
                    ..finding(
                        Check::Network,
                        &format!("networks.{}", n.key),
                        &n.origin,
                        format!("network {} is external: assumed to exist on the host (no file of the deployment creates it)", n.name),
                    )
                });
            }
            continue;
        }
        let first = declarations[..i]
            .iter()
            .find(|o| o.name == n.name && !o.external);
        let Some(o) = first else { continue };
        let mut differs = Vec::new();
        if o.driver != n.driver {
            differs.push(format!("driver {} here and {}", n.driver, o.driver));
        }
        if o.subnets != n.subnets {
            differs.push(format!("subnet {:?} here and {:?}", n.subnets, o.subnets));
        }
        if o.gateways != n.gateways {
            differs.push(format!(
                "gateway {:?} here and {:?}",
                n.gateways, o.gateways
            ));
        }
        if !differs.is_empty() {
            let same_key = if o.key == n.key {
                String::new()
            } else {
                format!(" (Docker network {}, also declared as {})", n.name, o.key)
            };
            findings.push(finding(
                Check::Network,
                &ipam,
                &n.origin,
                format!(
                    "network {}{same_key} has {} in {}",
                    n.key,
                    differs.join(", "),
                    o.origin.at
                ),
            ));
        }
    }
    findings
}

/// Fixed IPs inside their network's subnet, and one service per address of a Docker network.
fn fixed_ips(model: &Model, declarations: &[Network]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut taken: BTreeMap<(String, Ipv4Addr), String> = BTreeMap::new();
    for s in &model.services {
        for net in &s.networks {
            let key = format!("services.{}.networks.{}", s.name, net.key);
            let declared = model.networks.iter().find(|n| n.key == net.key);
            if declared.is_none() && net.key != "default" {
                findings.push(finding(
                    Check::Network,
                    &key,
                    &net.origin,
                    format!(
                        "network {} is declared by no file of the deployment",
                        net.key
                    ),
                ));
            }
            let Some(ip) = &net.ipv4_address else {
                continue;
            };
            let key = format!("{key}.ipv4_address");
            let at = |m: String| finding(Check::Network, &key, &net.origin, m);
            let Ok(addr) = ip.parse::<Ipv4Addr>() else {
                findings.push(at(format!("{ip:?} is not an IPv4 address")));
                continue;
            };
            let identity = declared
                .map(|n| n.name.clone())
                .unwrap_or_else(|| net.key.clone());
            let subnets = declarations
                .iter()
                .find(|d| d.name == identity && !d.subnets.is_empty())
                .map(|d| d.subnets.clone());
            match subnets {
                None => findings.push(at(format!(
                    "fixed IP {ip} on network {}, which declares no subnet",
                    net.key
                ))),
                Some(nets) if !nets.iter().any(|n| cidr_contains(n, addr).unwrap_or(false)) => {
                    findings.push(at(format!(
                        "fixed IP {ip} is outside network {}'s subnet {nets:?}",
                        net.key
                    )))
                }
                Some(_) => {}
            }
            if let Some(other) = taken.insert((identity, addr), s.name.clone()) {
                findings.push(at(format!(
                    "fixed IP {ip} on {} is also given to {other}",
                    net.key
                )));
            }
        }
    }
    findings
}

/// `depends_on` targets must run in the deployment.
fn depends_on(model: &Model, group: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for s in &model.services {
        for dep in &s.depends_on {
            if model.service(&dep.service).is_some() {
                continue;
            }
            let why = if model.inactive.contains(&dep.service) {
                format!("depends on {}, whose profiles are not active", dep.service)
            } else {
                format!(
                    "depends on {}, which no file of the deployment ({group}) defines",
                    dep.service
                )
            };
            findings.push(finding(
                Check::DependsOn,
                &format!("services.{}.depends_on", s.name),
                &dep.origin,
                why,
            ));
        }
    }
    findings
}

/// Memory and CPU summed over the services of the deployment.
struct Sums {
    memory: u64,
    memory_reservation: u64,
    cpus: f64,
    cpu_reservation: f64,
}

impl Sums {
    fn of(model: &Model) -> Sums {
        let services = &model.services;
        // Every replica of a service reserves and may use its own share.
        let bytes = |f: fn(&Service) -> Option<u64>| -> u64 {
            services
                .iter()
                .filter_map(|s| f(s).map(|b| b * u64::from(s.replicas)))
                .sum()
        };
        let cpus = |f: fn(&Service) -> Option<f64>| -> f64 {
            services
                .iter()
                .filter_map(|s| f(s).map(|c| c * f64::from(s.replicas)))
                .sum()
        };
        Sums {
            memory: bytes(|s| s.memory_limit),
            memory_reservation: bytes(|s| s.memory_reservation),
            cpus: cpus(|s| s.cpus),
            cpu_reservation: cpus(|s| s.cpu_reservation),
        }
    }

    /// Services without a memory limit or with more CPUs than the device, and sums beyond it.
    fn against(&self, model: &Model, device: &DeviceProfile, group: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        for s in &model.services {
            let limits = format!("services.{}.deploy.resources.limits", s.name);
            if s.memory_limit.is_none() {
                findings.push(finding(
                    Check::Resources,
                    &format!("{limits}.memory"),
                    &s.origin,
                    "no memory limit: the deployment cannot be checked against the device",
                ));
            }
            if let Some(c) = s.cpus.filter(|c| *c > device.cpus) {
                findings.push(finding(
                    Check::Resources,
                    &format!("{limits}.cpus"),
                    &s.origin,
                    format!("{c} CPUs, the device has {}", device.cpus),
                ));
            }
        }
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let over = |what: String| Finding::error(Check::Resources, what).file(group.to_string());
        if self.memory > device.budget_memory_bytes {
            findings.push(over(format!(
                "memory limits sum to {:.2} GiB; {} leaves {:.2} GiB to containers",
                gib(self.memory),
                device.name,
                gib(device.budget_memory_bytes)
            )));
        }
        if self.memory_reservation > device.budget_memory_bytes {
            findings.push(over(format!(
                "memory reservations sum to {:.2} GiB; the budget is {:.2} GiB",
                gib(self.memory_reservation),
                gib(device.budget_memory_bytes)
            )));
        }
        if self.cpu_reservation > device.budget_cpus + 1e-9 {
            findings.push(over(format!(
                "CPU reservations sum to {:.2}; {} leaves {:.2} CPUs to containers",
                self.cpu_reservation, device.name, device.budget_cpus
            )));
        }
        findings
    }
}
