//! One client connection: HTTP/1.1 by hyper, with the header deadline (which is also the idle
//! keep-alive timeout), the body deadline and the send deadline; `/health` and `/ready` answered
//! here, everything else handed whole to the workers.

use super::builtin::{self, Identity, ReadyCheck};
use super::deadline::SendDeadline;
use super::stats::{Event, Stats};
use super::workers::Queue;
use super::BaseConfig;
use crate::http::{Request, Response};
use crate::routes::method_not_allowed;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Largest request header (request line and fields); larger ones get 431.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// A client that reads nothing of its answer for this long is cut off.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection shares.
pub struct Shared {
    pub base: BaseConfig,
    pub identity: Identity,
    pub upstreams: Vec<(String, String)>,
    pub ready: ReadyCheck,
    pub queue: Queue,
    pub stats: Arc<Stats>,
}

/// Serves `stream` until the client goes, a deadline passes or the server stops.
pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _open = shared.stats.open();
    let _ = stream.set_nodelay(true);
    // Until the client sends its first byte the connection costs only its socket: hyper's
    // buffers are allocated once there is something to read.
    // (`readable()` may wake spuriously; a peek waits for a byte, or the end of the stream.)
    let mut first = [0u8; 1];
    match tokio::time::timeout(shared.base.header_timeout, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return,
        Err(_) => {
            shared.stats.count(Event::HeaderTimeout);
            return;
        }
    }
    let io = TokioIo::new(SendDeadline::new(stream, SEND_TIMEOUT));
    let header_timeout = shared.base.header_timeout;
    let stats = shared.stats.clone();
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(answer(&shared, req, peer).await) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        if e.is_timeout() {
            stats.count(Event::HeaderTimeout);
        } else if timed_out_sending(&e) {
            stats.count(Event::SendTimeout);
        }
    }
}

fn timed_out_sending(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::TimedOut;
        }
        source = s.source();
    }
    false
}

async fn answer(
    shared: &Shared,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let response = match path {
        "/health" | "/ready" if parts.method != hyper::Method::GET => {
            method_not_allowed(parts.method.as_str(), path, &["GET"])
        }
        "/health" => builtin::health(&shared.identity, &shared.stats),
        "/ready" => {
            builtin::ready(&shared.identity.service, &shared.upstreams, &shared.ready).await
        }
        _ => match read_body(shared, &parts, body).await {
            Ok(bytes) => shared.queue.answer(request(&parts, bytes, peer)).await,
            Err(refusal) => refusal,
        },
    };
    convert(response)
}

/// The body, within the size limit and the body deadline; otherwise the answer that refuses it
/// (which closes the connection: the rest of the body is never read).
async fn read_body(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: Incoming,
) -> Result<Bytes, Response> {
    let max = shared.base.max_body;
    let too_large = || {
        Response::error(413, format!("request body larger than {max} bytes"))
            .with_header("Connection", "close")
    };
    let announced = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let limited = Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX));
    match tokio::time::timeout(shared.base.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(Response::error(400, format!("cannot read body: {e}"))
            .with_header("Connection", "close")),
        Err(_) => {
            shared.stats.count(Event::BodyTimeout);
            Err(Response::error(
                408,
                format!(
                    "request body not received within {} ms (LUCID_BODY_TIMEOUT_MS)",
                    shared.base.body_timeout.as_millis()
                ),
            )
            .with_header("Connection", "close"))
        }
    }
}

fn request(parts: &hyper::http::request::Parts, body: Bytes, peer: SocketAddr) -> Request {
    let target = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let mut req = Request::new(parts.method.as_str(), target);
    req.headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    req.body = body.into();
    req.remote = Some(peer.to_string());
    req
}

fn convert(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() = hyper::StatusCode::from_u16(response.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    let content_type = ("Content-Type".to_string(), response.content_type);
    for (k, v) in std::iter::once(content_type).chain(response.headers) {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&v),
        ) {
            headers.append(name, value);
        }
    }
    out
}
