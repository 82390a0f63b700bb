//! The smallest service on the runtime: echoes request bodies. The runtime's tests run it as a process.

use lucid_runtime::{App, Context, Env, Request, Response, Routes};
use std::time::Duration;

struct Demo {
    greeting: String,
    upstream: Option<String>,
    client: lucid_runtime::client::Client,
}

impl App for Demo {
    type Config = (String, Option<String>);
    const MAX_BODY_BYTES: u64 = 1024;

    fn config(env: &mut Env) -> Self::Config {
        let upstream = env.upstream("demo-upstream", "an upstream probed by /ready");
        let greeting = env.string("DEMO_GREETING", "hello", "text returned by GET /");
        (greeting, upstream)
    }

    fn start((greeting, upstream): Self::Config, ctx: &Context) -> Result<Self, String> {
        Ok(Demo {
            greeting,
            upstream,
            client: ctx.client.clone(),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/", |demo: &Demo, _| {
                Response::json(200, &serde_json::json!({ "greeting": demo.greeting }))
            })
            .post("/echo", |_, req: &Request| {
                Response::bytes(200, req.body.clone())
            })
            .get("/panic", |_, _| -> Response { panic!("demo panic") })
            .get("/sleep", |_, req: &Request| {
                let ms = req
                    .query_param("ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                std::thread::sleep(Duration::from_millis(ms));
                Response::json(200, &serde_json::json!({ "slept_ms": ms }))
            })
            .get("/upstream", |demo: &Demo, _| match &demo.upstream {
                Some(url) => match demo.client.get(&format!("{url}/")) {
                    Ok(reply) => Response::new(reply.status, "application/json", reply.body),
                    Err(e) => Response::error(504, e),
                },
                None => Response::error(404, "LUCID_URL_DEMO_UPSTREAM is not set"),
            });
    }
}

lucid_runtime::main!(Demo);
