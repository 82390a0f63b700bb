//! tunnel-tools forwarding to a local TCP echo server, directly and through a spawned tor-proxy.

use lucid_runtime::client::Client;
use lucid_runtime::testing::tcp_echo;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

fn status(url: &str) -> Value {
    Client::default()
        .get(&format!("{url}/status"))
        .unwrap()
        .json()
        .unwrap()
}

fn tunnel(vars: &[(&str, &str)]) -> (lucid_runtime::RunningServer, Value) {
    let mut all = vec![("LUCID_BIND", "127.0.0.1"), ("TUNNEL_LISTEN_PORT", "0")];
    all.extend_from_slice(vars);
    let server = lucid_runtime::spawn::<tunnel_tools::Service>(&all).unwrap();
    let st = status(&server.url());
    (server, st)
}

/// Sends a message through the tunnel, half-closes, and returns everything that comes back.
fn round_trip(listen: &str, msg: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(listen).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(msg).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    back
}

/// Counters are updated by the relay threads just after the bytes move: wait briefly for them.
fn wait_for(url: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let st = status(url);
        if check(&st) || Instant::now() > deadline {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn forwards_connections_to_the_target_and_counts_bytes() {
    let echo = tcp_echo("127.0.0.1:0").to_string();
    let (server, st) = tunnel(&[("TUNNEL_TARGET", &echo)]);
    let listen = st["listen"].as_str().unwrap().to_string();
    assert_eq!(round_trip(&listen, b"hello tunnel"), b"hello tunnel");
    assert_eq!(round_trip(&listen, b"again"), b"again");
    let st = wait_for(&server.url(), |s| s["connections"]["active"] == 0);
    assert_eq!(st["connections"]["total"], 2);
    assert_eq!(st["connections"]["bytes_up"], 17);
    assert_eq!(st["connections"]["bytes_down"], 17);
    assert_eq!(st["target"], echo.as_str());
    server.stop();
}

#[test]
fn forwards_through_tor_proxy_socks_with_credentials() {
    let echo = tcp_echo("127.0.0.1:0").to_string();
    let proxy = lucid_runtime::spawn::<tor_proxy::Service>(&[
        ("LUCID_BIND", "127.0.0.1"),
        ("TOR_PROXY_SOCKS_PORT", "0"),
        // No Tor here: the test proxy connects directly, as it must be told to.
        ("TOR_PROXY_ALLOW_DIRECT", "true"),
        ("TOR_PROXY_CREDENTIALS", "tunnel:pw"),
    ])
    .unwrap();
    let socks = status(&proxy.url())["socks"].as_str().unwrap().to_string();
    let (server, st) = tunnel(&[
        ("TUNNEL_TARGET", &echo),
        ("TUNNEL_SOCKS_PROXY", &socks),
        ("TUNNEL_SOCKS_CREDENTIALS", "tunnel:pw"),
        ("LUCID_URL_TOR_PROXY", &proxy.url()),
    ]);
    assert_eq!(st["socks_proxy"], socks.as_str());
    let listen = st["listen"].as_str().unwrap().to_string();
    assert_eq!(round_trip(&listen, b"via socks"), b"via socks");
    let proxied = wait_for(&proxy.url(), |s| s["connections"]["bytes_up"] == 9);
    assert_eq!(proxied["connections"]["total"], 1);
    assert_eq!(proxied["connections"]["bytes_up"], 9);
    assert_eq!(
        Client::default()
            .get(&format!("{}/ready", server.url()))
            .unwrap()
            .status,
        200
    );
    server.stop();
    proxy.stop();
}

#[test]
fn a_refusing_proxy_closes_the_client_and_counts_a_failure() {
    let echo = tcp_echo("127.0.0.1:0").to_string();
    let proxy = lucid_runtime::spawn::<tor_proxy::Service>(&[
        ("LUCID_BIND", "127.0.0.1"),
        ("TOR_PROXY_SOCKS_PORT", "0"),
        // No Tor here: the test proxy connects directly, as it must be told to.
        ("TOR_PROXY_ALLOW_DIRECT", "true"),
        ("TOR_PROXY_ONION_ONLY", "true"),
    ])
    .unwrap();
    let socks = status(&proxy.url())["socks"].as_str().unwrap().to_string();
    let (server, st) = tunnel(&[("TUNNEL_TARGET", &echo), ("TUNNEL_SOCKS_PROXY", &socks)]);
    let listen = st["listen"].as_str().unwrap().to_string();
    assert_eq!(round_trip(&listen, b"refused"), b"");
    let st = wait_for(&server.url(), |s| s["connections"]["failed"] == 1);
    assert_eq!(st["connections"]["failed"], 1);
    server.stop();
    proxy.stop();
}

#[test]
fn without_a_target_the_forwarder_is_closed_and_not_ready() {
    let (server, st) = tunnel(&[]);
    assert!(st["listen"].is_null());
    let ready = Client::default()
        .get(&format!("{}/ready", server.url()))
        .unwrap();
    assert_eq!(ready.status, 503);
    assert!(String::from_utf8_lossy(&ready.body).contains("TUNNEL_TARGET"));
    server.stop();
}

#[test]
fn malformed_addresses_are_configuration_errors() {
    let err = lucid_runtime::spawn::<tunnel_tools::Service>(&[
        ("TUNNEL_TARGET", "nohostport"),
        ("TUNNEL_SOCKS_PROXY", "proxy:notaport"),
    ])
    .err()
    .unwrap();
    assert!(
        err.contains("TUNNEL_TARGET") && err.contains("TUNNEL_SOCKS_PROXY"),
        "{err}"
    );
}
