//! Probing the services of a deployment (server-tools' status table, admin-ui's page): a TCP
//! connect, then `GET /health`, each bounded by a timeout, all services in parallel.

use crate::client::{self, Client};
use crate::config::Env;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Reads the probe timeout from `name` (milliseconds, default 2000).
pub fn timeout_var(env: &mut Env, name: &str) -> Duration {
    let ms = env.parse(
        name,
        2000u64,
        "timeout of each probe step (TCP connect, GET /health) in ms",
    );
    env.check(
        (1..=60_000).contains(&ms),
        format!("{name}={ms}: must be 1 to 60000"),
    );
    Duration::from_millis(ms)
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepts connections and `/health` answered 200.
    Up,
    /// Accepts connections, but `/health` failed or answered something else.
    Unhealthy,
    /// No TCP connection.
    Down,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Unhealthy => "unhealthy",
            State::Down => "down",
        }
    }
}

/// The result for one service.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub service: String,
    pub url: String,
    pub state: State,
    pub tcp: bool,
    /// Status of `GET /health`, when it answered.
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Probes one service at `url` (`http://host:port`).
pub fn probe(service: &str, url: &str, timeout: Duration) -> Probe {
    let started = Instant::now();
    let mut result = Probe {
        service: service.to_string(),
        url: url.to_string(),
        state: State::Down,
        tcp: false,
        http_status: None,
        latency_ms: 0,
        error: None,
    };
    match client::reachable(url, timeout) {
        Err(e) => result.error = Some(e),
        Ok(()) => {
            result.tcp = true;
            match Client::new(timeout).get(&format!("{url}/health")) {
                Ok(reply) => {
                    result.http_status = Some(reply.status);
                    if reply.status == 200 {
                        result.state = State::Up;
                    } else {
                        result.state = State::Unhealthy;
                        result.error = Some(format!("/health answered HTTP {}", reply.status));
                    }
                }
                Err(e) => {
                    result.state = State::Unhealthy;
                    result.error = Some(e);
                }
            }
        }
    }
    result.latency_ms = started.elapsed().as_millis() as u64;
    result
}

/// Probes every `(name, url)` in parallel; results in the order given. Takes about one
/// `timeout` (twice at worst: connect, then `/health`) however many services are down.
pub fn probe_all(services: &[(String, String)], timeout: Duration) -> Vec<Probe> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .map(|(name, url)| scope.spawn(move || probe(name, url, timeout)))
            .collect();
        handles
            .into_iter()
            .zip(services)
            .map(|(h, (name, url))| {
                h.join().unwrap_or_else(|_| Probe {
                    service: name.clone(),
                    url: url.clone(),
                    state: State::Down,
                    tcp: false,
                    http_status: None,
                    latency_ms: 0,
                    error: Some("probe panicked".into()),
                })
            })
            .collect()
    })
}

/// How many services are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub up: usize,
    pub unhealthy: usize,
    pub down: usize,
}

pub fn summarize(probes: &[Probe]) -> Summary {
    let count = |s: State| probes.iter().filter(|p| p.state == s).count();
    Summary {
        total: probes.len(),
        up: count(State::Up),
        unhealthy: count(State::Unhealthy),
        down: count(State::Down),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::http_stub;
    use std::net::TcpListener;

    #[test]
    fn classifies_up_unhealthy_and_down() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let services = vec![
            ("ok".to_string(), http_stub("200 OK")),
            ("sick".to_string(), http_stub("503 Service Unavailable")),
            ("gone".to_string(), format!("http://{closed}")),
        ];
        let probes = probe_all(&services, Duration::from_secs(2));
        let states: Vec<_> = probes
            .iter()
            .map(|p| (p.service.as_str(), p.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("ok", State::Up),
                ("sick", State::Unhealthy),
                ("gone", State::Down)
            ]
        );
        assert_eq!(probes[1].http_status, Some(503));
        assert!(probes[2].error.is_some());
        assert_eq!(
            summarize(&probes),
            Summary {
                total: 3,
                up: 1,
                unhealthy: 1,
                down: 1
            }
        );
    }

    #[test]
    fn a_silent_service_is_unhealthy_after_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let p = probe("silent", &url, Duration::from_millis(300));
        assert_eq!(p.state, State::Unhealthy);
        assert!(p.tcp);
        drop(listener);
    }
}
