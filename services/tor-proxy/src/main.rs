//! tor-proxy: SOCKS5 proxy (RFC 1928 CONNECT, RFC 1929 auth) relaying to an upstream Tor SOCKS endpoint, with a destination allowlist.

use lucid_runtime::{App, Context, Env, Request, Response};

struct Service;

impl App for Service {
    type Config = ();

    fn config(_env: &mut Env) {}

    fn start(_config: (), _ctx: &Context) -> Result<Self, String> {
        Ok(Service)
    }

    fn handle(&self, _req: &Request) -> Response {
        Response::not_found()
    }
}

lucid_runtime::main!(Service);
