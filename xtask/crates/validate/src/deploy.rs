//! Checks across the compose files deployed together: host ports, networks and fixed IPs,
//! `depends_on` targets, and the memory/CPU sums against the device profile.

use crate::compose::ComposeDoc;
use crate::report::{Check, DeploymentReport, DeviceProfile, Finding};
use lucid_catalog::units::{cidr_contains, parse_cidr};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

pub fn check(docs: &[&ComposeDoc], device: &DeviceProfile) -> DeploymentReport {
    let mut findings = Vec::new();
    let files: Vec<String> = docs.iter().map(|d| d.path.clone()).collect();

    // A later file overrides a service of the same name (compose merges them): the last wins.
    let mut services: BTreeMap<&str, (&ComposeDoc, &crate::compose::Service)> = BTreeMap::new();
    for d in docs {
        for s in &d.services {
            services.insert(&s.name, (d, s));
        }
    }

    // Host ports: one (address, port, protocol) per deployment; an unspecified address takes every address.
    let mut seen: Vec<(&ComposeDoc, &str, &crate::compose::Published)> = Vec::new();
    for (doc, s) in services.values() {
        for p in &s.published {
            if let Some((odoc, oname, _)) = seen.iter().find(|(_, _, o)| {
                o.port == p.port
                    && o.protocol == p.protocol
                    && (o.host_ip.is_none() || p.host_ip.is_none() || o.host_ip == p.host_ip)
            }) {
                findings.push(doc.at(
                    Check::HostPorts,
                    &p.key,
                    format!(
                        "host port {} is also published by {oname} in {}",
                        p.label(),
                        odoc.path
                    ),
                ));
            }
            seen.push((doc, &s.name, p));
        }
    }
    let mut host_ports: Vec<String> = seen.iter().map(|(_, _, p)| p.label()).collect();
    host_ports.sort();

    // Networks: one subnet set per name across the files.
    let mut subnets: BTreeMap<&str, (&ComposeDoc, &Vec<String>)> = BTreeMap::new();
    let mut declared: BTreeSet<&str> = BTreeSet::new();
    for d in docs {
        for (name, net) in &d.networks {
            declared.insert(name);
            if net.subnets.is_empty() {
                continue;
            }
            for s in &net.subnets {
                if parse_cidr(s).is_err() {
                    findings.push(d.at(
                        Check::Network,
                        &format!("networks.{name}.ipam.config"),
                        format!("{s:?} is not an IPv4 subnet"),
                    ));
                }
            }
            match subnets.get(name.as_str()) {
                Some((other, theirs)) if *theirs != &net.subnets => findings.push(d.at(
                    Check::Network,
                    &format!("networks.{name}.ipam.config"),
                    format!(
                        "network {name} has subnet {:?} here and {:?} in {}",
                        net.subnets, theirs, other.path
                    ),
                )),
                Some(_) => {}
                None => {
                    subnets.insert(name, (d, &net.subnets));
                }
            }
        }
    }
    let mut ips: BTreeMap<(String, Ipv4Addr), String> = BTreeMap::new();
    for (doc, s) in services.values() {
        for (net, ip) in &s.networks {
            let key = format!("services.{}.networks.{net}", s.name);
            if !declared.contains(net.as_str()) && net != "default" {
                findings.push(doc.at(
                    Check::Network,
                    &key,
                    format!("network {net} is declared by no file of the deployment"),
                ));
            }
            let Some(ip) = ip else { continue };
            let key = format!("{key}.ipv4_address");
            let Ok(addr) = ip.parse::<Ipv4Addr>() else {
                findings.push(doc.at(
                    Check::Network,
                    &key,
                    format!("{ip:?} is not an IPv4 address"),
                ));
                continue;
            };
            match subnets.get(net.as_str()) {
                None => findings.push(doc.at(
                    Check::Network,
                    &key,
                    format!("fixed IP {ip} on network {net}, which declares no subnet"),
                )),
                Some((_, nets)) => {
                    if !nets.iter().any(|n| cidr_contains(n, addr).unwrap_or(false)) {
                        findings.push(doc.at(
                            Check::Network,
                            &key,
                            format!("fixed IP {ip} is outside network {net}'s subnet {nets:?}"),
                        ));
                    }
                }
            }
            if let Some(other) = ips.insert((net.clone(), addr), s.name.clone()) {
                findings.push(doc.at(
                    Check::Network,
                    &key,
                    format!("fixed IP {ip} on {net} is also given to {other}"),
                ));
            }
        }
    }

    // depends_on targets must be defined by some file of the deployment.
    for (doc, s) in services.values() {
        for dep in &s.depends_on {
            if !services.contains_key(dep.as_str()) {
                findings.push(doc.at(
                    Check::DependsOn,
                    &format!("services.{}.depends_on", s.name),
                    format!(
                        "depends on {dep}, which no file of the deployment ({}) defines",
                        files.join(" + ")
                    ),
                ));
            }
        }
    }

    // Resources against the device.
    let mut memory = 0u64;
    let mut memory_res = 0u64;
    let mut cpus = 0.0;
    let mut cpu_res = 0.0;
    for (doc, s) in services.values() {
        match s.memory_limit {
            Some(m) => memory += m,
            None => findings.push(doc.at(
                Check::Resources,
                &format!("services.{}.deploy.resources.limits.memory", s.name),
                "no memory limit: the deployment cannot be checked against the device",
            )),
        }
        memory_res += s.memory_reservation.unwrap_or(0);
        cpu_res += s.cpu_reservation.unwrap_or(0.0);
        if let Some(c) = s.cpus {
            cpus += c;
            if c > device.cpus {
                findings.push(doc.at(
                    Check::Resources,
                    &format!("services.{}.deploy.resources.limits.cpus", s.name),
                    format!("{c} CPUs, the device has {}", device.cpus),
                ));
            }
        }
    }
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let group = files.join(" + ");
    let over = |what: String| Finding::error(Check::Resources, what).file(group.clone());
    if memory > device.budget_memory_bytes {
        findings.push(over(format!(
            "memory limits sum to {:.2} GiB; {} leaves {:.2} GiB to containers",
            gib(memory),
            device.name,
            gib(device.budget_memory_bytes)
        )));
    }
    if memory_res > device.budget_memory_bytes {
        findings.push(over(format!(
            "memory reservations sum to {:.2} GiB; the budget is {:.2} GiB",
            gib(memory_res),
            gib(device.budget_memory_bytes)
        )));
    }
    if cpu_res > device.budget_cpus + 1e-9 {
        findings.push(over(format!(
            "CPU reservations sum to {cpu_res:.2}; {} leaves {:.2} CPUs to containers",
            device.name, device.budget_cpus
        )));
    }
    DeploymentReport {
        files,
        service_count: services.len(),
        memory_limit_bytes: memory,
        memory_reservation_bytes: memory_res,
        cpu_limit: cpus,
        cpu_reservation: cpu_res,
        host_ports,
        findings,
    }
}
