//! api-gateway: HTTP reverse proxy in front of api-server: request ids, per-client rate limiting, upstream timeouts.

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
