//! The server side of one SOCKS5 connection: method negotiation, optional RFC 1929 login, the
//! CONNECT request, the allowlist, the outbound connection (direct or through the upstream SOCKS
//! endpoint), the reply, then the relay.

use crate::policy::Policy;
use crate::socks::{self, reply, ClientError, Credentials, Target};
use crate::tcp::{self, Stats};
use serde_json::json;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An upstream SOCKS5 endpoint (the Tor daemon's SocksPort, or another tor-proxy).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: Target,
    pub credentials: Option<Credentials>,
}

/// Everything a connection needs to be served.
#[derive(Debug, Clone)]
pub struct Socks {
    pub policy: Policy,
    /// Accepted RFC 1929 logins; empty means no authentication.
    pub users: Vec<Credentials>,
    pub upstream: Option<Upstream>,
    /// Bounds each read of the negotiation, so an idle client cannot hold a slot for long.
    pub handshake_timeout: Duration,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Why a connection ended before the relay: the reply code sent (if any) and a log reason.
#[derive(Debug)]
struct Refusal {
    code: Option<u8>,
    reason: String,
}

impl Refusal {
    fn silent(reason: impl Into<String>) -> Self {
        Refusal {
            code: None,
            reason: reason.into(),
        }
    }

    fn reply(code: u8, reason: impl Into<String>) -> Self {
        Refusal {
            code: Some(code),
            reason: reason.into(),
        }
    }
}

impl From<io::Error> for Refusal {
    fn from(e: io::Error) -> Self {
        Refusal::silent(format!("client: {e}"))
    }
}

impl Socks {
    /// Serves one client connection to its end.
    pub fn handle(&self, mut client: TcpStream, stats: &Arc<Stats>, stop: &Arc<AtomicBool>) {
        let _ = client.set_read_timeout(Some(self.handshake_timeout));
        let _ = client.set_write_timeout(Some(self.handshake_timeout));
        let result = self
            .negotiate(&mut client)
            .and_then(|target| self.open(&target));
        match result {
            Ok((outbound, bound)) => {
                if socks::write_reply(&mut client, reply::SUCCEEDED, Some(&bound)).is_ok() {
                    tcp::relay(client, outbound, self.idle_timeout, stats, stop);
                }
            }
            Err(refusal) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if let Some(code) = refusal.code {
                    let _ = socks::write_reply(&mut client, code, None);
                }
                // Destinations stay out of the logs: only the reason and the reply code.
                lucid_runtime::log::info(
                    "socks request refused",
                    json!({ "reason": refusal.reason, "reply": refusal.code }),
                );
            }
        }
    }

    /// Greeting, login and request; returns the allowed destination.
    fn negotiate(&self, client: &mut TcpStream) -> Result<Target, Refusal> {
        let version = socks::read_u8(client)?;
        if version != socks::VERSION {
            return Err(Refusal::silent(format!("not SOCKS5 (version {version})")));
        }
        let methods = socks::read_field(client)?;
        let wanted = if self.users.is_empty() {
            socks::METHOD_NONE
        } else {
            socks::METHOD_USER_PASS
        };
        if !methods.contains(&wanted) {
            client.write_all(&[socks::VERSION, socks::METHOD_UNACCEPTABLE])?;
            return Err(Refusal::silent("no acceptable authentication method"));
        }
        client.write_all(&[socks::VERSION, wanted])?;
        if wanted == socks::METHOD_USER_PASS {
            self.login(client)?;
        }

        let mut head = [0u8; 3];
        io::Read::read_exact(client, &mut head)?;
        if head[0] != socks::VERSION {
            return Err(Refusal::silent(format!("request version {}", head[0])));
        }
        let target = match socks::read_address(client) {
            Ok(t) => t,
            Err(socks::AddressError::UnknownType(t)) => {
                return Err(Refusal::reply(
                    reply::ADDRESS_TYPE_NOT_SUPPORTED,
                    format!("address type {t}"),
                ))
            }
            Err(socks::AddressError::Io(e)) => return Err(e.into()),
        };
        if head[1] != socks::CMD_CONNECT {
            return Err(Refusal::reply(
                reply::COMMAND_NOT_SUPPORTED,
                format!("command {} (only CONNECT)", head[1]),
            ));
        }
        self.policy
            .check(&target)
            .map_err(|_| Refusal::reply(reply::NOT_ALLOWED, "destination not allowed"))?;
        Ok(target)
    }

    /// RFC 1929 sub-negotiation.
    fn login(&self, client: &mut TcpStream) -> Result<(), Refusal> {
        let version = socks::read_u8(client)?;
        let user = socks::read_field(client)?;
        let password = socks::read_field(client)?;
        let ok = version == socks::AUTH_VERSION
            && self.users.iter().any(|c| c.matches(&user, &password));
        client.write_all(&[socks::AUTH_VERSION, if ok { 0 } else { 1 }])?;
        if ok {
            Ok(())
        } else {
            Err(Refusal::silent("authentication failed"))
        }
    }

    /// Connects to the destination, directly or through the upstream; returns the stream and the
    /// bound address to report.
    fn open(&self, target: &Target) -> Result<(TcpStream, Target), Refusal> {
        let Some(upstream) = &self.upstream else {
            let stream = target
                .connect(self.connect_timeout)
                .map_err(|e| Refusal::reply(code_for(&e), format!("connect: {:?}", e.kind())))?;
            let bound = stream
                .local_addr()
                .map(|a| Target::parse(&a.to_string()).ok())
                .ok()
                .flatten();
            return Ok((stream, bound.unwrap_or_else(|| target.clone())));
        };
        let mut stream = upstream.addr.connect(self.connect_timeout).map_err(|e| {
            Refusal::reply(reply::GENERAL_FAILURE, format!("upstream unreachable: {e}"))
        })?;
        // Tor may take a while to build a circuit: the connect timeout bounds the whole exchange.
        let _ = stream.set_read_timeout(Some(self.connect_timeout));
        let _ = stream.set_write_timeout(Some(self.connect_timeout));
        match socks::connect(&mut stream, target, upstream.credentials.as_ref()) {
            Ok(bound) => Ok((stream, bound)),
            // The upstream's verdict is the client's answer (Tor reports unreachable onions so).
            Err(ClientError::Refused(code)) => Err(Refusal::reply(
                code,
                format!("upstream replied {code:#04x}"),
            )),
            Err(e) => Err(Refusal::reply(
                reply::GENERAL_FAILURE,
                format!("upstream: {e}"),
            )),
        }
    }
}

/// The reply code that best describes a failed outbound connection.
fn code_for(e: &io::Error) -> u8 {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => reply::CONNECTION_REFUSED,
        io::ErrorKind::NetworkUnreachable => reply::NETWORK_UNREACHABLE,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NotFound | io::ErrorKind::TimedOut => {
            reply::HOST_UNREACHABLE
        }
        _ => reply::GENERAL_FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_map_to_rfc_reply_codes() {
        let e = |k| io::Error::new(k, "x");
        assert_eq!(code_for(&e(io::ErrorKind::ConnectionRefused)), 0x05);
        assert_eq!(code_for(&e(io::ErrorKind::TimedOut)), 0x04);
        assert_eq!(code_for(&e(io::ErrorKind::NotFound)), 0x04);
        assert_eq!(code_for(&e(io::ErrorKind::NetworkUnreachable)), 0x03);
        assert_eq!(code_for(&e(io::ErrorKind::PermissionDenied)), 0x01);
    }
}
