//! tor-proxy as a whole: its SOCKS port driven byte by byte (RFC 1928/1929) against a local TCP
//! echo server, its HTTP API, and chaining through a second tor-proxy acting as the upstream.

use lucid_runtime::client::Client;
use lucid_runtime::testing::tcp_echo;
use lucid_runtime::RunningServer;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

struct Proxy {
    server: RunningServer,
    socks: String,
}

fn proxy(vars: &[(&str, &str)]) -> Proxy {
    // Direct mode must be asked for; tests that chain an upstream set TOR_UPSTREAM_SOCKS too.
    let mut all = vec![
        ("LUCID_BIND", "127.0.0.1"),
        ("TOR_PROXY_SOCKS_PORT", "0"),
        ("TOR_PROXY_ALLOW_DIRECT", "true"),
    ];
    all.extend_from_slice(vars);
    let server = lucid_runtime::spawn::<tor_proxy::Service>(&all).unwrap();
    let status = Client::default()
        .get(&format!("{}/status", server.url()))
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    let socks = status["socks"].as_str().unwrap().to_string();
    Proxy { server, socks }
}

fn open(socks: &str) -> TcpStream {
    let s = TcpStream::connect(socks).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Sends `VER CMD RSV` + address bytes and returns the reply code, consuming the whole reply.
fn request(s: &mut TcpStream, cmd: u8, address: &[u8]) -> u8 {
    let mut msg = vec![5, cmd, 0];
    msg.extend_from_slice(address);
    s.write_all(&msg).unwrap();
    let head = read_n(s, 4);
    assert_eq!(head[0], 5, "reply version");
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => read_n(s, 1)[0] as usize + 2,
        t => panic!("reply address type {t}"),
    };
    read_n(s, rest);
    head[1]
}

fn ipv4(addr: std::net::SocketAddr) -> Vec<u8> {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        panic!("not IPv4")
    };
    let mut out = vec![1];
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

fn domain(name: &str, port: u16) -> Vec<u8> {
    let mut out = vec![3, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&port.to_be_bytes());
    out
}

fn no_auth(s: &mut TcpStream) {
    s.write_all(&[5, 1, 0]).unwrap();
    assert_eq!(read_n(s, 2), [5, 0]);
}

fn assert_echoes(s: &mut TcpStream) {
    s.write_all(b"hello through socks").unwrap();
    assert_eq!(read_n(s, 19), b"hello through socks");
}

#[test]
fn connect_by_ipv4_relays_to_the_destination() {
    let echo = tcp_echo("127.0.0.1:0");
    let p = proxy(&[]);
    let mut s = open(&p.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &ipv4(echo)), 0x00);
    assert_echoes(&mut s);
    drop(s);
    p.server.stop();
}

#[test]
fn connect_by_ipv6_and_by_domain_name() {
    let echo6 = tcp_echo("[::1]:0");
    let p = proxy(&[]);
    let mut s = open(&p.socks);
    no_auth(&mut s);
    let mut addr = vec![4];
    addr.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    addr.extend_from_slice(&echo6.port().to_be_bytes());
    assert_eq!(request(&mut s, 1, &addr), 0x00);
    assert_echoes(&mut s);

    let echo4 = tcp_echo("127.0.0.1:0");
    let mut s = open(&p.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &domain("localhost", echo4.port())), 0x00);
    assert_echoes(&mut s);
    p.server.stop();
}

#[test]
fn closed_port_is_connection_refused_and_bind_is_not_supported() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let p = proxy(&[]);
    let mut s = open(&p.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &ipv4(closed)), 0x05);

    let mut s = open(&p.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 2, &ipv4(closed)), 0x07);

    let mut s = open(&p.socks);
    no_auth(&mut s);
    assert_eq!(
        request(&mut s, 1, &domain("no-such-host.invalid", 80)),
        0x04
    );
    p.server.stop();
}

#[test]
fn login_is_required_checked_and_then_relays() {
    let echo = tcp_echo("127.0.0.1:0");
    let p = proxy(&[("TOR_PROXY_CREDENTIALS", "alice:correct horse\nbob:battery")]);

    // Offering only "no authentication" gets 0xFF.
    let mut s = open(&p.socks);
    s.write_all(&[5, 1, 0]).unwrap();
    assert_eq!(read_n(&mut s, 2), [5, 0xFF]);

    // Wrong password: status 1, then the connection is closed.
    let mut s = open(&p.socks);
    s.write_all(&[5, 2, 0, 2]).unwrap();
    assert_eq!(read_n(&mut s, 2), [5, 2]);
    s.write_all(&[1, 5, b'a', b'l', b'i', b'c', b'e', 3, b'b', b'a', b'd'])
        .unwrap();
    assert_eq!(read_n(&mut s, 2), [1, 1]);
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);

    // Right password: status 0, then CONNECT works.
    let mut s = open(&p.socks);
    s.write_all(&[5, 1, 2]).unwrap();
    assert_eq!(read_n(&mut s, 2), [5, 2]);
    let mut login = vec![1, 3];
    login.extend_from_slice(b"bob");
    login.push(7);
    login.extend_from_slice(b"battery");
    s.write_all(&login).unwrap();
    assert_eq!(read_n(&mut s, 2), [1, 0]);
    assert_eq!(request(&mut s, 1, &ipv4(echo)), 0x00);
    assert_echoes(&mut s);
    p.server.stop();
}

#[test]
fn destinations_outside_the_allowlist_get_reply_0x02() {
    let echo = tcp_echo("127.0.0.1:0");
    let p = proxy(&[("TOR_PROXY_ALLOW_PORTS", "1-1000")]);
    let mut s = open(&p.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &ipv4(echo)), 0x02);

    let onion = proxy(&[("TOR_PROXY_ONION_ONLY", "true")]);
    let mut s = open(&onion.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &domain("localhost", echo.port())), 0x02);
    let status = Client::default()
        .get(&format!("{}/status", onion.server.url()))
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(status["connections"]["failed"], 1);
    assert_eq!(status["policy"]["onion_only"], true);
    p.server.stop();
    onion.server.stop();
}

#[test]
fn chains_through_an_upstream_socks_proxy_with_credentials() {
    let echo = tcp_echo("127.0.0.1:0");
    let upstream = proxy(&[("TOR_PROXY_CREDENTIALS", "front:pw")]);
    let front = proxy(&[
        ("TOR_UPSTREAM_SOCKS", upstream.socks.as_str()),
        ("TOR_UPSTREAM_CREDENTIALS", "front:pw"),
    ]);
    let mut s = open(&front.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &domain("localhost", echo.port())), 0x00);
    assert_echoes(&mut s);
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();

    // The relay went through the upstream: it counted the connection and the bytes.
    let status = Client::default()
        .get(&format!("{}/status", upstream.server.url()))
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(status["connections"]["total"], 1);
    assert_eq!(status["connections"]["bytes_up"], 19);

    // The upstream's refusal code reaches the client unchanged.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = open(&front.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &ipv4(closed)), 0x05);
    front.server.stop();
    upstream.server.stop();
}

#[test]
fn chaining_with_wrong_upstream_credentials_is_a_general_failure() {
    let echo = tcp_echo("127.0.0.1:0");
    let upstream = proxy(&[("TOR_PROXY_CREDENTIALS", "front:pw")]);
    let front = proxy(&[
        ("TOR_UPSTREAM_SOCKS", upstream.socks.as_str()),
        ("TOR_UPSTREAM_CREDENTIALS", "front:wrong"),
    ]);
    let mut s = open(&front.socks);
    no_auth(&mut s);
    assert_eq!(request(&mut s, 1, &ipv4(echo)), 0x01);
    front.server.stop();
    upstream.server.stop();
}

#[test]
fn ready_requires_the_upstream_and_check_reports_the_policy() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let p = proxy(&[
        ("TOR_UPSTREAM_SOCKS", &closed.to_string()),
        ("TOR_PROXY_ONION_ONLY", "1"),
    ]);
    let c = Client::default();
    let ready = c.get(&format!("{}/ready", p.server.url())).unwrap();
    assert_eq!(ready.status, 503);
    assert!(String::from_utf8_lossy(&ready.body).contains("upstream SOCKS"));

    let check = |target: &str| {
        c.post_json(
            &format!("{}/check", p.server.url()),
            &serde_json::json!({ "target": target }),
        )
        .unwrap()
    };
    let onion = check("abcdef.onion:80")
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(onion["allowed"], true);
    let clear = check("example.org:80").json::<serde_json::Value>().unwrap();
    assert_eq!(clear["allowed"], false);
    assert_eq!(check("no-port").status, 400);
    let bad = c
        .post_bytes(
            &format!("{}/check", p.server.url()),
            "application/json",
            b"{",
        )
        .unwrap();
    assert_eq!(bad.status, 400);
    p.server.stop();
}

#[test]
fn bad_configuration_is_refused_with_the_variable_named() {
    let err = lucid_runtime::spawn::<tor_proxy::Service>(&[
        ("TOR_UPSTREAM_SOCKS", "no-port"),
        ("TOR_PROXY_ALLOW_PORTS", "9-1"),
        ("TOR_PROXY_CREDENTIALS", "nocolon"),
    ])
    .err()
    .unwrap();
    for name in [
        "TOR_UPSTREAM_SOCKS",
        "TOR_PROXY_ALLOW_",
        "TOR_PROXY_CREDENTIALS",
    ] {
        assert!(err.contains(name), "{err}");
    }
}

#[test]
fn tor_proxy_refuses_to_start_as_open_direct_relay() {
    let err = lucid_runtime::spawn::<tor_proxy::Service>(&[
        ("LUCID_BIND", "127.0.0.1"),
        ("TOR_PROXY_SOCKS_PORT", "0"),
    ])
    .err()
    .expect("no upstream and no TOR_PROXY_ALLOW_DIRECT: refused");
    for needle in [
        "TOR_UPSTREAM_SOCKS",
        "tor-upstream-socks",
        "TOR_PROXY_ALLOW_DIRECT=true",
    ] {
        assert!(err.contains(needle), "{needle} not named in: {err}");
    }
    // An explicit "no" is no permission either.
    assert!(lucid_runtime::spawn::<tor_proxy::Service>(&[
        ("LUCID_BIND", "127.0.0.1"),
        ("TOR_PROXY_SOCKS_PORT", "0"),
        ("TOR_PROXY_ALLOW_DIRECT", "false"),
    ])
    .is_err());
}

#[test]
fn the_upstream_endpoint_and_credentials_come_from_secret_files() {
    let upstream = proxy(&[("TOR_PROXY_CREDENTIALS", "front:pw")]);
    let dir = lucid_runtime::testing::temp_dir("lucid-tor-secrets");
    std::fs::create_dir_all(&dir).unwrap();
    let (endpoint, credentials) = (format!("{dir}/socks"), format!("{dir}/credentials"));
    std::fs::write(&endpoint, format!("{}\n", upstream.socks)).unwrap();
    std::fs::write(&credentials, "front:pw\n").unwrap();
    let server = lucid_runtime::spawn::<tor_proxy::Service>(&[
        ("LUCID_BIND", "127.0.0.1"),
        ("TOR_PROXY_SOCKS_PORT", "0"),
        ("TOR_UPSTREAM_SOCKS_FILE", &endpoint),
        ("TOR_UPSTREAM_CREDENTIALS_FILE", &credentials),
    ])
    .unwrap();
    let status = Client::default()
        .get(&format!("{}/status", server.url()))
        .unwrap()
        .json_body();
    assert_eq!(status["upstream"], upstream.socks.as_str());
    assert_eq!(
        Client::default()
            .get(&format!("{}/ready", server.url()))
            .unwrap()
            .status,
        200
    );
    server.stop();
    upstream.server.stop();
}
