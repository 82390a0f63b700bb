//! The device budget: what the containers of one file may ask for together.
//!
//! Memory limits are summed (every container may grow to its limit at once; the original layer
//! files asked for 17.6 GiB on an 8 GB Pi), and so are CPU reservations (what is promised to each
//! container). CPU limits are caps, not promises: their sum may exceed the cores.

use crate::container::Container;
use anyhow::{anyhow, Result};
use lucid_catalog::{Device, Resources};

/// Sums of one file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub memory: u64,
    pub cpu_reservation: f64,
}

pub fn usage<'a>(resources: impl IntoIterator<Item = &'a Resources>) -> Usage {
    resources.into_iter().fold(
        Usage {
            memory: 0,
            cpu_reservation: 0.0,
        },
        |u, r| Usage {
            memory: u.memory + r.memory,
            cpu_reservation: u.cpu_reservation + r.cpu_reservation,
        },
    )
}

/// An error saying by how much `file` exceeds the device, or nothing.
pub fn check(file: &str, usage: Usage, device: &Device) -> Result<()> {
    let mut problems = Vec::new();
    let memory_budget = device.budget_memory();
    if usage.memory > memory_budget {
        problems.push(format!(
            "memory limits sum to {}, over the budget of {} by {}",
            mib(usage.memory),
            mib(memory_budget),
            mib(usage.memory - memory_budget)
        ));
    }
    let cpu_budget = device.budget_cpus();
    // Reservations are written with two decimals; compare at that precision.
    if round2(usage.cpu_reservation) > round2(cpu_budget) {
        problems.push(format!(
            "CPU reservations sum to {:.2}, over the budget of {:.2} by {:.2}",
            usage.cpu_reservation,
            cpu_budget,
            usage.cpu_reservation - cpu_budget
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "compose/{file} does not fit the device {:?} (budget = device − reserved: {} memory, {:.2} CPUs): {}; lower `memory`/`cpu_reservation` in the services' [package.metadata.lucid] or the device profile in [workspace.metadata.lucid.device]",
        device.name,
        mib(memory_budget),
        cpu_budget,
        problems.join("; ")
    ))
}

/// A cluster file (stack file, Kubernetes manifests) reserves `reservation × replicas` of every
/// container: the scheduler refuses to place what is not free. The whole stack must still fit
/// one device (a swarm or k3s cluster of one Pi); more nodes only add headroom. Limits are
/// caps there, not promises, and a node runs only its share of them.
pub fn check_cluster(file: &str, containers: &[Container], device: &Device) -> Result<()> {
    let memory: u64 = containers
        .iter()
        .map(|c| c.resources.memory_reservation * u64::from(c.replicas))
        .sum();
    let cpus: f64 = containers
        .iter()
        .map(|c| c.resources.cpu_reservation * f64::from(c.replicas))
        .sum();
    let mut problems = Vec::new();
    if memory > device.budget_memory() {
        problems.push(format!(
            "memory reservations × replicas sum to {}, over the budget of {}",
            mib(memory),
            mib(device.budget_memory())
        ));
    }
    if round2(cpus) > round2(device.budget_cpus()) {
        problems.push(format!(
            "CPU reservations × replicas sum to {cpus:.2}, over the budget of {:.2}",
            device.budget_cpus()
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "{file} does not fit one device {:?}, the smallest cluster: {}; lower `replicas` or `memory_reservation`/`cpu_reservation` in the services' [package.metadata.lucid]",
        device.name,
        problems.join("; ")
    ))
}

fn round2(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// `1536 MiB (1.50 GiB)`.
pub fn mib(bytes: u64) -> String {
    format!(
        "{} MiB ({:.2} GiB)",
        bytes >> 20,
        bytes as f64 / (1u64 << 30) as f64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi() -> Device {
        Device {
            name: "Raspberry Pi 5 (8 GB, 4 cores)".into(),
            memory: 8 << 30,
            cpus: 4.0,
            reserved_memory: 2 << 30,
            reserved_cpus: 1.0,
        }
    }

    fn res(memory_mib: u64, cpu_reservation: f64) -> Resources {
        Resources {
            memory: memory_mib << 20,
            memory_reservation: 16 << 20,
            cpus: 0.5,
            cpu_reservation,
        }
    }

    #[test]
    fn refuses_the_original_layer_files_and_says_by_how_much() {
        // The seed's layers: about 17.6 GiB of memory limits and 15.5 CPUs of reservations.
        let all: Vec<Resources> = (0..22).map(|_| res(820, 0.7)).collect();
        let e = check("docker-compose.yaml", usage(&all), &pi())
            .unwrap_err()
            .to_string();
        assert!(e.contains("compose/docker-compose.yaml"), "{e}");
        assert!(
            e.contains("memory limits sum to 18040 MiB") && e.contains("by 11896 MiB"),
            "{e}"
        );
        assert!(
            e.contains("CPU reservations sum to 15.40") && e.contains("by 12.40"),
            "{e}"
        );
    }

    #[test]
    fn accepts_exactly_the_budget() {
        let all = vec![res(6 * 1024, 3.0)];
        check("x.yaml", usage(&all), &pi()).unwrap();
        let over = vec![res(6 * 1024 + 1, 0.1)];
        let e = check("x.yaml", usage(&over), &pi())
            .unwrap_err()
            .to_string();
        assert!(e.contains("by 1 MiB"), "{e}");
    }
}
