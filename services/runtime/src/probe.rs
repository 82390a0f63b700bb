//! Probing the services of a deployment (server-tools' status table, admin-ui's page): a TCP
//! connect, then `GET /health`, each bounded by a timeout, all services in parallel.

use crate::client::{self, Client};
use crate::config::Env;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Reads the probe timeout from `name` (milliseconds, default 2000).
pub fn timeout_var(env: &mut Env, name: &str) -> Duration {
    env.duration(
        name,
        2000,
        1..=60_000,
        "timeout of each probe step (TCP connect, GET /health) in ms",
    )
}

/// What a probe found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepts connections and `/health` answered 200.
    Up,
    /// Accepts connections, but `/health` failed or answered something else.
    Unhealthy,
    /// No TCP connection.
    #[default]
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct Probe {
    pub service: String,
    pub url: String,
    pub state: State,
    pub tcp: bool,
    /// Status of `GET /health`, when it answered.
    pub http_status: Option<u16>,
    /// How long `/health` took to answer; none when it did not (a service that is down has no
    /// latency to show).
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the service's `/health` says about itself.
    #[serde(flatten)]
    pub identity: Identity,
}

/// Who answered a probe, from its `/health` (absent for services that did not answer, or whose
/// runtime predates these fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Unix seconds at which the process started serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
}

impl Identity {
    fn from_health(body: &serde_json::Value) -> Self {
        let text = |k: &str| body[k].as_str().map(str::to_string);
        Identity {
            version: text("version"),
            instance: text("instance"),
            image_digest: text("image_digest"),
            started_at: body["started_at"].as_u64(),
        }
    }
}

/// Probes one service at `url` (`http://host:port`).
pub fn probe(service: &str, url: &str, timeout: Duration) -> Probe {
    let mut result = Probe {
        service: service.to_string(),
        url: url.to_string(),
        ..Probe::default()
    };
    match client::reachable(url, timeout) {
        Err(e) => result.error = Some(e),
        Ok(()) => {
            result.tcp = true;
            let started = Instant::now();
            match Client::new(timeout).get(&format!("{url}/health")) {
                Ok(reply) => {
                    result.latency_ms = Some(started.elapsed().as_millis() as u64);
                    result.http_status = Some(reply.status);
                    result.identity = Identity::from_health(&reply.json_body());
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
                    error: Some("probe panicked".into()),
                    ..Probe::default()
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
        assert_eq!(probes[2].latency_ms, None, "a down service has no latency");
        assert!(probes[0].latency_ms.is_some());
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
    fn identity_comes_from_the_services_own_health() {
        let ctx = crate::context::Context::new("probed", "9.8.7");
        let mut env = crate::config::Env::from_vars([("LUCID_IMAGE_DIGEST", "sha256:abc")]);
        let mut base = crate::server::BaseConfig::read(&mut env, 1024);
        base.port = 0;
        base.bind = std::net::IpAddr::from([127, 0, 0, 1]);
        let server = crate::server::serve(Nothing, &base, Vec::new(), &ctx).unwrap();
        let p = probe("probed", &server.url(), Duration::from_secs(2));
        assert_eq!(p.state, State::Up);
        assert_eq!(p.identity.version.as_deref(), Some("9.8.7"));
        assert_eq!(p.identity.image_digest.as_deref(), Some("sha256:abc"));
        assert!(p.identity.instance.is_some() && p.identity.started_at.is_some());
        server.stop();
    }

    struct Nothing;
    impl crate::app::App for Nothing {
        type Config = ();
        fn config(_: &mut crate::config::Env) {}
        fn start(_: (), _: &crate::context::Context) -> Result<Self, String> {
            Ok(Nothing)
        }
        fn routes(_: &mut crate::routes::Routes<Self>) {}
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
