//! deployment-orchestrator: sequences compile → deploy steps over contract-compiler and
//! contract-deployment.
//!
//! A run takes one contract artifact through:
//! 1. **compile**: the artifact goes to contract-compiler (`POST /artifacts`), which validates the
//!    ABI, computes selectors and topics and stores it; the run keeps the artifact id;
//! 2. **record_deployment**: contract-deployment records a `pending` deployment of that artifact to
//!    the target chain (`POST /deployments`); the run now awaits the chain's result;
//! 3. **report_result**: the deployer reports the outcome (`deployed` with the address, or `failed`
//!    with the reason) and the run advances the deployment record
//!    (`POST /deployments/{id}/status`).
//!
//! A step that fails ends the run: its status becomes `failed` with the step and the upstream's own
//! error message, and no later step runs.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/runs` | `{artifact: {name, abi, bytecode?}, chain}` | 201 the run (`awaiting_result`); on a failed step `{error, step, run}` with 422 (upstream refused the input) or 502 (upstream failed or unreachable) |
//! | GET | `/runs` | – | `{runs: […]}` |
//! | GET | `/runs/{id}` | – | the run `{id, contract, chain, status, artifact_id, deployment_id, error, steps: [{step, ok, detail, at}], created_at}`; 404 |
//! | POST | `/runs/{id}/result` | `{status: deployed\|failed, address?, tx_hash?, error?}` | the run (`deployed`/`failed`); 409 when the run is not awaiting a result; 422/502 as above |
//!
//! # Configuration
//! - `LUCID_URL_CONTRACT_COMPILER`, `LUCID_URL_CONTRACT_DEPLOYMENT` (required; written by the
//!   compose generator from `upstreams`).
//!
//! # Out of scope
//! Sending the deployment transaction to a chain (the deployer reports its result); run state is
//! kept in memory (no volume), so runs awaiting a result are lost on restart while their
//! deployment records stay in contract-deployment; no automatic retries.

pub mod runs;

use lucid_runtime::client::{fits, Client, Reply};
use lucid_runtime::ids::{now_unix, random_id};
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes, Sends};
use runs::{Run, RunStatus, Runs, Step};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;

pub struct Config {
    compiler: Option<String>,
    deployment: Option<String>,
}

pub struct Service {
    compiler: String,
    deployment: String,
    client: Client,
    runs: Mutex<Runs>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRun {
    artifact: Artifact,
    chain: String,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Artifact {
    name: String,
    abi: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytecode: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Outcome {
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tx_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A step's failure: the upstream's message, and the status the caller gets (422 when the
/// upstream refused the input, 502 when it failed or could not be reached).
struct StepError {
    status: u16,
    message: String,
}

/// contract-deployment's body limit (lucid-e2e's `limits` test holds it to the real one).
const DEPLOYMENT_BODY_LIMIT: u64 = 16 << 10;

/// Calls one upstream and returns its JSON reply.
fn call(service: &str, result: Result<Reply, String>) -> Result<Value, StepError> {
    let reply = result.map_err(|e| StepError {
        status: 502,
        message: format!("{service} unreachable: {e}"),
    })?;
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.ok() {
        return Ok(body);
    }
    let upstream_error = body["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).into_owned()
        });
    Err(StepError {
        status: if (400..500).contains(&reply.status) {
            422
        } else {
            502
        },
        message: format!("{service} answered HTTP {}: {upstream_error}", reply.status),
    })
}

impl App for Service {
    type Config = Config;

    const MAX_BODY_BYTES: u64 = 2 << 20;
    const SENDS: &'static [(&'static str, Sends)] = &[
        // The run's artifact, as the client sent it (contract-compiler takes 2 MiB as well).
        ("contract-compiler", Sends::ClientBody),
        ("contract-deployment", Sends::AtMost(DEPLOYMENT_BODY_LIMIT)),
    ];

    fn config(env: &mut Env) -> Config {
        let compiler = env.upstream("contract-compiler", "contract-compiler's base URL");
        let deployment = env.upstream("contract-deployment", "contract-deployment's base URL");
        env.check(
            compiler.is_some(),
            "LUCID_URL_CONTRACT_COMPILER: an http://host:port URL is required",
        );
        env.check(
            deployment.is_some(),
            "LUCID_URL_CONTRACT_DEPLOYMENT: an http://host:port URL is required",
        );
        Config {
            compiler,
            deployment,
        }
    }

    fn start(config: Config, ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            compiler: config
                .compiler
                .ok_or("LUCID_URL_CONTRACT_COMPILER missing")?,
            deployment: config
                .deployment
                .ok_or("LUCID_URL_CONTRACT_DEPLOYMENT missing")?,
            client: ctx.client.clone(),
            runs: Mutex::new(Runs::default()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/runs", Self::start_run)
            .get("/runs", |s, _| {
                Response::json(200, &json!({ "runs": s.runs().all() }))
            })
            .get("/runs/{id}", |s, req| {
                let id = req.param("id");
                match s.runs().get(id) {
                    Some(run) => Ok(Response::json(200, run)),
                    None => Err(Response::error(404, format!("unknown run {id:?}"))),
                }
            })
            .post("/runs/{id}/result", |s, req| {
                s.report_result(req.param("id"), req)
            });
    }
}

impl Service {
    fn runs(&self) -> std::sync::MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The reply for a finished or failed run; a failure carries the step and the run.
    fn answer(
        &self,
        run: Run,
        ok_status: u16,
        failure: Option<(Step, StepError)>,
    ) -> Result<Response, Response> {
        self.runs().insert(run.clone());
        match failure {
            None => Ok(Response::json(ok_status, &run)),
            Some((step, e)) => {
                log::warn(
                    "run step failed",
                    json!({ "run": run.id, "step": step, "error": e.message }),
                );
                Err(Response::json(
                    e.status,
                    &json!({ "error": e.message, "step": step, "run": run }),
                ))
            }
        }
    }

    fn start_run(&self, req: &Request) -> Result<Response, Response> {
        let body: NewRun = req.json()?;
        // The deployment record must fit contract-deployment's limit: refused before compiling.
        let record = json!({ "artifact_id": "0".repeat(64), "chain": body.chain });
        fits(
            "contract-deployment",
            "the deployment record",
            record.to_string().len(),
            DEPLOYMENT_BODY_LIMIT,
        )?;
        let now = now_unix();
        let mut run = Run::new(random_id(), &body.artifact.name, &body.chain, now);

        let compiled = call(
            "contract-compiler",
            self.client
                .post_json(&format!("{}/artifacts", self.compiler), &body.artifact),
        );
        let artifact_id = match compiled {
            Ok(reply) => match reply["id"].as_str() {
                Some(id) => {
                    run.artifact_id = Some(id.to_string());
                    run.succeeded(
                        Step::Compile,
                        json!({ "artifact_id": id, "analysis": reply["analysis"] }),
                        now_unix(),
                    );
                    id.to_string()
                }
                None => {
                    let e = StepError {
                        status: 502,
                        message: "contract-compiler reply has no artifact id".into(),
                    };
                    run.failed(Step::Compile, e.message.clone(), now_unix());
                    return self.answer(run, 201, Some((Step::Compile, e)));
                }
            },
            Err(e) => {
                run.failed(Step::Compile, e.message.clone(), now_unix());
                return self.answer(run, 201, Some((Step::Compile, e)));
            }
        };

        let recorded = call(
            "contract-deployment",
            self.client.post_json(
                &format!("{}/deployments", self.deployment),
                &json!({ "artifact_id": artifact_id, "chain": body.chain }),
            ),
        );
        match recorded.map(|d| d["id"].as_str().map(str::to_string)) {
            Ok(Some(id)) => {
                run.succeeded(
                    Step::RecordDeployment,
                    json!({ "deployment_id": id }),
                    now_unix(),
                );
                run.deployment_id = Some(id);
                log::info(
                    "run awaiting result",
                    json!({ "run": run.id, "artifact_id": artifact_id }),
                );
                self.answer(run, 201, None)
            }
            Ok(None) => {
                let e = StepError {
                    status: 502,
                    message: "contract-deployment reply has no deployment id".into(),
                };
                run.failed(Step::RecordDeployment, e.message.clone(), now_unix());
                self.answer(run, 201, Some((Step::RecordDeployment, e)))
            }
            Err(e) => {
                run.failed(Step::RecordDeployment, e.message.clone(), now_unix());
                self.answer(run, 201, Some((Step::RecordDeployment, e)))
            }
        }
    }

    fn report_result(&self, id: &str, req: &Request) -> Result<Response, Response> {
        let outcome: Outcome = req.json()?;
        let mut run = self
            .runs()
            .get(id)
            .cloned()
            .ok_or_else(|| Response::error(404, format!("unknown run {id:?}")))?;
        if run.status != RunStatus::AwaitingResult {
            return Err(Response::error(
                409,
                format!("run {id} is not awaiting a result"),
            ));
        }
        let new_status = match outcome.status.as_str() {
            "deployed" => RunStatus::Deployed,
            "failed" => RunStatus::Failed,
            other => {
                return Err(Response::error(
                    422,
                    format!("status {other:?}: expected deployed or failed"),
                ))
            }
        };
        let deployment_id = run.deployment_id.clone().unwrap_or_default();
        let update =
            serde_json::to_vec(&outcome).map_err(|e| Response::error(500, e.to_string()))?;
        fits(
            "contract-deployment",
            "the status update",
            update.len(),
            DEPLOYMENT_BODY_LIMIT,
        )?;
        let advanced = call(
            "contract-deployment",
            self.client.post_bytes(
                &format!("{}/deployments/{deployment_id}/status", self.deployment),
                "application/json",
                &update,
            ),
        );
        match advanced {
            Ok(record) => {
                run.succeeded(
                    Step::ReportResult,
                    json!({ "deployment": record }),
                    now_unix(),
                );
                run.status = new_status;
                run.error = outcome.error;
                log::info(
                    "run finished",
                    json!({ "run": run.id, "status": run.status }),
                );
                self.answer(run, 200, None)
            }
            // A refused report (e.g. missing address) leaves the run awaiting a correct one.
            Err(e) if e.status == 422 => Err(Response::error(422, e.message)),
            Err(e) => {
                run.failed(Step::ReportResult, e.message.clone(), now_unix());
                self.answer(run, 200, Some((Step::ReportResult, e)))
            }
        }
    }
}
