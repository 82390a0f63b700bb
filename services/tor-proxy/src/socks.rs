//! The SOCKS5 wire format (RFC 1928, RFC 1929) and a SOCKS5 client.
//!
//! The client is what tor-proxy uses to chain to an upstream SOCKS endpoint (the Tor daemon) and
//! what tunnel-tools uses to go through tor-proxy.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

pub const VERSION: u8 = 5;
pub const AUTH_VERSION: u8 = 1;
pub const METHOD_NONE: u8 = 0x00;
pub const METHOD_USER_PASS: u8 = 0x02;
pub const METHOD_UNACCEPTABLE: u8 = 0xFF;
pub const CMD_CONNECT: u8 = 0x01;
pub const ATYP_IPV4: u8 = 0x01;
pub const ATYP_DOMAIN: u8 = 0x03;
pub const ATYP_IPV6: u8 = 0x04;

/// Reply codes of RFC 1928 §6.
pub mod reply {
    pub const SUCCEEDED: u8 = 0x00;
    pub const GENERAL_FAILURE: u8 = 0x01;
    pub const NOT_ALLOWED: u8 = 0x02;
    pub const NETWORK_UNREACHABLE: u8 = 0x03;
    pub const HOST_UNREACHABLE: u8 = 0x04;
    pub const CONNECTION_REFUSED: u8 = 0x05;
    pub const TTL_EXPIRED: u8 = 0x06;
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x07;
    pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
}

/// The destination host of a request: an address, or a name resolved by whoever connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Domain(String),
}

/// A destination: host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

impl Target {
    /// `host:port`, `[v6]:port` or `1.2.3.4:port`.
    pub fn parse(text: &str) -> Result<Target, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Target {
                host: Host::Ip(addr.ip()),
                port: addr.port(),
            });
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?}: expected host:port"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{text:?}: bad port {port:?}"))?;
        if host.is_empty() || host.len() > 255 || host.contains(['/', '@', ' ']) {
            return Err(format!("{text:?}: bad host {host:?}"));
        }
        Ok(Target {
            host: Host::Domain(host.to_string()),
            port,
        })
    }

    /// The host as text, without brackets (what allowlist patterns match).
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Domain(d) => d.clone(),
        }
    }

    /// Resolves (names through the system resolver) and connects to the first address that answers.
    pub fn connect(&self, timeout: Duration) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = match &self.host {
            Host::Ip(ip) => vec![SocketAddr::new(*ip, self.port)],
            // NotFound marks a failed lookup, so that it is reported as "host unreachable".
            Host::Domain(d) => (d.as_str(), self.port)
                .to_socket_addrs()
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, format!("{d}: {e}")))?
                .collect(),
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{self}: no address"));
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `ATYP DST.ADDR DST.PORT` as in a request or reply.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(22);
        match &self.host {
            Host::Ip(IpAddr::V4(ip)) => {
                out.push(ATYP_IPV4);
                out.extend_from_slice(&ip.octets());
            }
            Host::Ip(IpAddr::V6(ip)) => {
                out.push(ATYP_IPV6);
                out.extend_from_slice(&ip.octets());
            }
            Host::Domain(d) => {
                out.push(ATYP_DOMAIN);
                // Domains longer than 255 bytes are refused by `parse` and `read_address`.
                out.push(d.len().min(255) as u8);
                out.extend_from_slice(&d.as_bytes()[..d.len().min(255)]);
            }
        }
        out.extend_from_slice(&self.port.to_be_bytes());
        out
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Host::Domain(d) => write!(f, "{d}:{}", self.port),
        }
    }
}

/// What went wrong while reading an address.
#[derive(Debug)]
pub enum AddressError {
    Io(io::Error),
    /// An ATYP this implementation does not know (reply 0x08).
    UnknownType(u8),
}

/// Reads `ATYP DST.ADDR DST.PORT`.
pub fn read_address(r: &mut impl Read) -> Result<Target, AddressError> {
    let atyp = read_u8(r).map_err(AddressError::Io)?;
    let host = match atyp {
        ATYP_IPV4 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(AddressError::Io)?;
            Host::Ip(IpAddr::V4(Ipv4Addr::from(b)))
        }
        ATYP_IPV6 => {
            let mut b = [0u8; 16];
            r.read_exact(&mut b).map_err(AddressError::Io)?;
            Host::Ip(IpAddr::V6(Ipv6Addr::from(b)))
        }
        ATYP_DOMAIN => {
            let len = read_u8(r).map_err(AddressError::Io)? as usize;
            let mut b = vec![0u8; len];
            r.read_exact(&mut b).map_err(AddressError::Io)?;
            let name = String::from_utf8(b).map_err(|_| {
                AddressError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "domain name is not UTF-8",
                ))
            })?;
            if name.is_empty() {
                return Err(AddressError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "empty domain name",
                )));
            }
            Host::Domain(name)
        }
        other => return Err(AddressError::UnknownType(other)),
    };
    let mut port = [0u8; 2];
    r.read_exact(&mut port).map_err(AddressError::Io)?;
    Ok(Target {
        host,
        port: u16::from_be_bytes(port),
    })
}

pub fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// Reads a length-prefixed field (RFC 1929 user name and password).
pub fn read_field(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = read_u8(r)? as usize;
    let mut b = vec![0u8; len];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// A reply `VER REP RSV ATYP BND.ADDR BND.PORT`.
pub fn write_reply(w: &mut impl Write, code: u8, bound: Option<&Target>) -> io::Result<()> {
    let unspecified = Target {
        host: Host::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        port: 0,
    };
    let mut out = vec![VERSION, code, 0];
    out.extend(bound.unwrap_or(&unspecified).encode());
    w.write_all(&out)?;
    w.flush()
}

/// RFC 1929 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({:?}, <redacted>)", self.user)
    }
}

impl Credentials {
    /// `user:password`; both 1–255 bytes (the RFC's length fields are one byte).
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let (user, password) = text
            .split_once(':')
            .ok_or("expected user:password (the value is not shown)")?;
        if user.is_empty() || user.len() > 255 || password.is_empty() || password.len() > 255 {
            return Err("user and password must each be 1 to 255 bytes".into());
        }
        Ok(Credentials {
            user: user.into(),
            password: password.into(),
        })
    }

    /// Compares without an early exit, so that response time does not reveal a common prefix.
    pub fn matches(&self, user: &[u8], password: &[u8]) -> bool {
        ct_eq(self.user.as_bytes(), user) & ct_eq(self.password.as_bytes(), password)
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Why a SOCKS5 CONNECT through a proxy failed.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The proxy accepted none of the offered methods.
    NoAcceptableMethod,
    /// The proxy refused the user name or password.
    AuthRejected,
    /// The proxy answered with a reply code other than success.
    Refused(u8),
    /// The proxy does not speak SOCKS5 correctly.
    Protocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::NoAcceptableMethod => write!(f, "proxy accepted no offered method"),
            ClientError::AuthRejected => write!(f, "proxy rejected the credentials"),
            ClientError::Refused(code) => write!(f, "proxy replied {code:#04x}"),
            ClientError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Performs the client side of a SOCKS5 CONNECT on an open stream to a proxy; on success the
/// stream is a tunnel to `target` and the proxy's bound address is returned.
pub fn connect(
    stream: &mut TcpStream,
    target: &Target,
    credentials: Option<&Credentials>,
) -> Result<Target, ClientError> {
    let greeting: &[u8] = match credentials {
        Some(_) => &[VERSION, 2, METHOD_NONE, METHOD_USER_PASS],
        None => &[VERSION, 1, METHOD_NONE],
    };
    stream.write_all(greeting)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice)?;
    if choice[0] != VERSION {
        return Err(ClientError::Protocol(format!("version {}", choice[0])));
    }
    match (choice[1], credentials) {
        (METHOD_NONE, _) => {}
        (METHOD_USER_PASS, Some(c)) => {
            let mut msg = vec![AUTH_VERSION, c.user.len() as u8];
            msg.extend_from_slice(c.user.as_bytes());
            msg.push(c.password.len() as u8);
            msg.extend_from_slice(c.password.as_bytes());
            stream.write_all(&msg)?;
            let mut status = [0u8; 2];
            stream.read_exact(&mut status)?;
            if status[1] != 0 {
                return Err(ClientError::AuthRejected);
            }
        }
        (METHOD_UNACCEPTABLE, _) => return Err(ClientError::NoAcceptableMethod),
        (other, _) => return Err(ClientError::Protocol(format!("unoffered method {other}"))),
    }
    let mut request = vec![VERSION, CMD_CONNECT, 0];
    request.extend(target.encode());
    stream.write_all(&request)?;
    let mut head = [0u8; 3];
    stream.read_exact(&mut head)?;
    if head[0] != VERSION {
        return Err(ClientError::Protocol(format!("reply version {}", head[0])));
    }
    if head[1] != reply::SUCCEEDED {
        return Err(ClientError::Refused(head[1]));
    }
    read_address(stream).map_err(|e| match e {
        AddressError::Io(e) => ClientError::Io(e),
        AddressError::UnknownType(t) => ClientError::Protocol(format!("reply address type {t}")),
    })
}

/// Reads an optional `host:port` SOCKS endpoint from `name`; a malformed value is a configuration
/// error naming the variable. Shared with tunnel-tools, which speaks to tor-proxy through it.
pub fn target_var(env: &mut lucid_runtime::Env, name: &str, doc: &str) -> Option<Target> {
    let text = env.optional(name, doc);
    parse_target(env, name, text)
}

/// Like [`target_var`], for an endpoint a deployment gives as a secret (`name` or `name_FILE`).
pub fn target_secret(env: &mut lucid_runtime::Env, name: &str, doc: &str) -> Option<Target> {
    let text = env.secret(name, doc);
    parse_target(env, name, text)
}

fn parse_target(env: &mut lucid_runtime::Env, name: &str, text: Option<String>) -> Option<Target> {
    Target::parse(&text?)
        .map_err(|e| env.check(false, format!("{name}: {e}")))
        .ok()
}

/// Reads optional `user:password` SOCKS credentials from the secret `name` (or `name_FILE`).
pub fn credentials_var(env: &mut lucid_runtime::Env, name: &str, doc: &str) -> Option<Credentials> {
    let text = env.secret(name, doc)?;
    Credentials::parse(&text)
        .map_err(|e| env.check(false, format!("{name}: {e}")))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_round_trip_through_the_wire_format() {
        for text in ["127.0.0.1:80", "[::1]:443", "example.onion:8333"] {
            let t = Target::parse(text).unwrap();
            assert_eq!(t.to_string(), text);
            let decoded = read_address(&mut &t.encode()[..]).unwrap();
            assert_eq!(decoded, t);
        }
    }

    #[test]
    fn rejects_target_without_port() {
        assert!(Target::parse("example.org").is_err());
        assert!(Target::parse("example.org:http").is_err());
        assert!(Target::parse(":80").is_err());
    }

    #[test]
    fn unknown_address_type_is_reported() {
        assert!(matches!(
            read_address(&mut &[0x09u8, 0, 0][..]),
            Err(AddressError::UnknownType(0x09))
        ));
    }

    #[test]
    fn credentials_compare_exactly() {
        let c = Credentials::parse("alice:s3cret:x").unwrap();
        assert_eq!(c.password, "s3cret:x");
        assert!(c.matches(b"alice", b"s3cret:x"));
        assert!(!c.matches(b"alice", b"s3cret"));
        assert!(!c.matches(b"alic", b"s3cret:x"));
        assert!(Credentials::parse("nopassword").is_err());
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
