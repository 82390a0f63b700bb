//! The smallest service on the runtime: echoes request bodies. The runtime's tests run it as a process.

use lucid_runtime::{App, Context, Env, Request, Response};

struct Demo {
    greeting: String,
}

impl App for Demo {
    type Config = String;
    const MAX_BODY_BYTES: u64 = 1024;

    fn config(env: &mut Env) -> String {
        env.upstream("demo-upstream", "an upstream probed by /ready");
        env.string("DEMO_GREETING", "hello", "text returned by GET /")
    }

    fn start(greeting: String, _ctx: &Context) -> Result<Self, String> {
        Ok(Demo { greeting })
    }

    fn handle(&self, req: &Request) -> Response {
        match req.route() {
            ("GET", p) if p.is_empty() => {
                Response::json(200, &serde_json::json!({ "greeting": self.greeting }))
            }
            ("POST", p) if p == ["echo"] => Response::bytes(200, req.body.clone()),
            ("GET", p) if p == ["panic"] => panic!("demo panic"),
            _ => Response::not_found(),
        }
    }
}

lucid_runtime::main!(Demo);
