//! session-orchestrator: drives one recorded session through the pipeline over the services'
//! HTTP APIs — session-chunker (chunk) → session-encryptor (encrypt) → merkle-builder (tree) →
//! on-system-chain-client (anchor) — with the run's state persisted on its volume after every
//! step, and retries with exponential backoff on transient failures (unreachable service, 5xx,
//! 408, 429; see [`run`]). A 4xx other than those fails the run at once. Runs left unfinished by
//! a restart resume from their last completed step.
//!
//! API (JSON; errors are `{"error": …}`):
//! - `POST /sessions/{id}/run` → 202 run (started, resumed, or already running); 200 if already
//!   done. The recording must be finished in session-recorder (404 unknown, 409 not finished,
//!   502 recorder unreachable). A failed run is retried from its last completed step.
//! - `GET /sessions/{id}` → run `{"session_id", "stage": "queued"|"chunked"|"encrypted"|"tree_built"|"anchored",
//!   "status": "running"|"done"|"failed", "retries", "last_error", "chunk_count", "leaves",
//!   "merkle_root", "receipt", "created_at", "updated_at"}`.
//! - `GET /sessions` → `{"runs": [run…]}`.
//!
//! Config: `ORCHESTRATOR_DATA_DIR` (the `orchestrator` volume, required); `LUCID_URL_SESSION_RECORDER`,
//! `LUCID_URL_SESSION_CHUNKER`, `LUCID_URL_SESSION_ENCRYPTOR`, `LUCID_URL_MERKLE_BUILDER`,
//! `LUCID_URL_ON_SYSTEM_CHAIN_CLIENT` (required); `ORCHESTRATOR_MAX_ATTEMPTS` (per step, default 6),
//! `ORCHESTRATOR_BACKOFF_MS` (first retry delay, default 500, doubling up to 30 s),
//! `ORCHESTRATOR_STEP_TIMEOUT_SECS` (per call, default 300).
//!
//! Out of scope: recording (clients send it to session-recorder), scheduling many sessions in
//! parallel (one worker, sessions in arrival order), deleting sessions.

pub mod run;

use lucid_runtime::client::{fits, Client, Reply};
use lucid_runtime::ids::now_unix;
use lucid_runtime::storage::JsonFile;
use lucid_runtime::{log, App, Context, Env, Response, Routes, Sends};
use run::{classify, Backoff, Outcome, Run, Stage, Status};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Body limits of merkle-builder and on-system-chain-client (lucid-e2e's `limits` test holds them
/// to the real ones): a session whose leaves or anchor would exceed them fails at once, naming
/// the limit, instead of being refused there.
const MERKLE_BODY_LIMIT: u64 = 1 << 20;
const ANCHOR_BODY_LIMIT: u64 = 1 << 20;

/// `value` as a request body for `upstream`, or a failed step naming its limit.
fn sized(upstream: &str, what: &str, value: &Value, limit: u64) -> Result<Vec<u8>, StepError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StepError::Failed(e.to_string()))?;
    fits(upstream, what, bytes.len(), limit).map_err(|refused| {
        StepError::Failed(
            refused.json_body()["error"]
                .as_str()
                .unwrap_or("too large")
                .to_string(),
        )
    })?;
    Ok(bytes)
}

pub struct Urls {
    recorder: String,
    chunker: String,
    encryptor: String,
    merkle: String,
    chain_client: String,
}

pub struct Config {
    data_dir: PathBuf,
    urls: Urls,
    backoff: Backoff,
    timeout: Duration,
}

struct Inner {
    runs: JsonFile<BTreeMap<String, Run>>,
    urls: Urls,
    backoff: Backoff,
    client: Client,
    ctx: Context,
}

pub struct Service {
    inner: Arc<Inner>,
    queue: Mutex<Sender<String>>,
}

/// Why a step stopped.
enum StepError {
    /// Retrying cannot help, or the attempts ran out: the run fails.
    Failed(String),
    /// The process is stopping: leave the run as it is, to resume at the next start.
    ShuttingDown,
}

impl Inner {
    fn update(&self, id: &str, f: impl FnOnce(&mut Run)) {
        let result = self.runs.update(|m| {
            let run = m.get_mut(id).ok_or("run vanished")?;
            f(run);
            run.updated_at = now_unix();
            Ok(())
        });
        if let Err(e) = result {
            log::error(
                "cannot persist run",
                json!({ "session_id": id, "error": e }),
            );
        }
    }

    /// Calls a service until it answers one of `ok`, retrying transient failures with backoff.
    fn call(
        &self,
        id: &str,
        what: &str,
        ok: &[u16],
        send: impl Fn(&Client) -> Result<Reply, String>,
    ) -> Result<Value, StepError> {
        for attempt in 1..=self.backoff.max_attempts {
            let (status, message) = match send(&self.client) {
                Ok(reply) if ok.contains(&reply.status) => {
                    return reply
                        .json()
                        .map_err(|e| StepError::Failed(format!("{what}: {e}")));
                }
                Ok(reply) => (
                    Some(reply.status),
                    format!(
                        "{what}: HTTP {}: {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
                    ),
                ),
                Err(e) => (None, format!("{what}: {e}")),
            };
            if classify(status) == Outcome::Permanent || attempt == self.backoff.max_attempts {
                return Err(StepError::Failed(message));
            }
            log::warn(
                "retrying",
                json!({ "session_id": id, "step": what, "attempt": attempt, "error": message }),
            );
            self.update(id, |r| {
                r.retries += 1;
                r.last_error = Some(message.clone());
            });
            let mut left = self.backoff.delay(attempt);
            while !left.is_zero() {
                if self.ctx.shutting_down() {
                    return Err(StepError::ShuttingDown);
                }
                let nap = left.min(Duration::from_millis(100));
                std::thread::sleep(nap);
                left -= nap;
            }
        }
        Err(StepError::Failed(format!("{what}: no attempt made")))
    }

    /// Runs the steps left for session `id`, persisting after each.
    fn drive(&self, id: &str) {
        loop {
            if self.ctx.shutting_down() {
                return;
            }
            let Some(run) = self.runs.read(|m| m.get(id).cloned()) else {
                return;
            };
            if run.status != Status::Running {
                return;
            }
            match self.step(&run) {
                Ok(()) => {}
                Err(StepError::ShuttingDown) => return,
                Err(StepError::Failed(e)) => {
                    log::error(
                        "run failed",
                        json!({ "session_id": id, "stage": run.stage, "error": e }),
                    );
                    self.update(id, |r| {
                        r.status = Status::Failed;
                        r.last_error = Some(e);
                    });
                    return;
                }
            }
        }
    }

    fn step(&self, run: &Run) -> Result<(), StepError> {
        let id = run.session_id.as_str();
        let u = &self.urls;
        match run.stage {
            Stage::Queued => {
                let manifest = self.call(id, "session-chunker", &[200, 201], |c| {
                    c.post_bytes(
                        &format!("{}/sessions/{id}/chunk", u.chunker),
                        "application/json",
                        b"",
                    )
                })?;
                let count = manifest["chunks"].as_array().map_or(0, Vec::len) as u64;
                self.update(id, |r| {
                    r.chunk_count = Some(count);
                    r.stage = Stage::Chunked;
                });
            }
            Stage::Chunked => {
                let manifest = self.call(id, "session-encryptor", &[200, 201], |c| {
                    c.post_bytes(
                        &format!("{}/sessions/{id}/encrypt", u.encryptor),
                        "application/json",
                        b"",
                    )
                })?;
                let leaves: Vec<String> = manifest["chunks"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c["ciphertext_blake3"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if Some(leaves.len() as u64) != run.chunk_count {
                    return Err(StepError::Failed(format!(
                        "session-encryptor returned {} chunk hashes for {:?} chunks",
                        leaves.len(),
                        run.chunk_count
                    )));
                }
                self.update(id, |r| {
                    r.leaves = leaves;
                    r.stage = Stage::Encrypted;
                });
            }
            Stage::Encrypted => {
                let leaves = sized(
                    "merkle-builder",
                    "the tree's leaves",
                    &json!({ "leaves": run.leaves }),
                    MERKLE_BODY_LIMIT,
                )?;
                let tree = self.call(id, "merkle-builder", &[200, 201], |c| {
                    c.request(
                        "PUT",
                        &format!("{}/trees/{id}", u.merkle),
                        &[("content-type".into(), "application/json".into())],
                        &leaves,
                    )
                })?;
                let root = tree["root"].as_str().map(String::from);
                self.update(id, |r| {
                    r.merkle_root = root;
                    r.stage = Stage::TreeBuilt;
                });
            }
            Stage::TreeBuilt => {
                let anchor = sized(
                    "on-system-chain-client",
                    "the anchor",
                    &json!({
                        "session_id": id,
                        "merkle_root": run.merkle_root,
                        "chunk_count": run.chunk_count,
                        "chunk_hashes": run.leaves,
                    }),
                    ANCHOR_BODY_LIMIT,
                )?;
                let receipt = self.call(id, "on-system-chain-client", &[200, 201], |c| {
                    c.post_bytes(
                        &format!("{}/anchors", u.chain_client),
                        "application/json",
                        &anchor,
                    )
                })?;
                self.update(id, |r| {
                    r.receipt = Some(receipt);
                    r.stage = Stage::Anchored;
                    r.status = Status::Done;
                    r.last_error = None;
                });
                log::info("session anchored", json!({ "session_id": id }));
            }
            Stage::Anchored => self.update(id, |r| r.status = Status::Done),
        }
        Ok(())
    }
}

impl Service {
    fn start_run(&self, id: &str) -> Result<Response, Response> {
        lucid_runtime::ident::check("session id", id).map_err(|e| Response::error(400, e))?;
        let inner = &self.inner;
        let reply = inner
            .client
            .get(&format!("{}/sessions/{id}", inner.urls.recorder))
            .map_err(|e| Response::error(502, format!("session-recorder: {e}")))?;
        match reply.status {
            200 => {}
            404 => {
                return Err(Response::error(
                    404,
                    format!("session-recorder has no session {id:?}"),
                ))
            }
            s => return Err(Response::error(502, format!("session-recorder: HTTP {s}"))),
        }
        let session: Value = reply
            .json()
            .map_err(|e| Response::error(502, format!("session-recorder: {e}")))?;
        if session["status"] != "finished" {
            return Err(Response::error(
                409,
                format!("recording {id:?} is not finished"),
            ));
        }
        let run = inner
            .runs
            .update(|m| {
                let run = m
                    .entry(id.to_string())
                    .or_insert_with(|| Run::new(id, now_unix()));
                if run.status == Status::Failed {
                    run.status = Status::Running;
                    run.updated_at = now_unix();
                }
                Ok(run.clone())
            })
            .map_err(|e| Response::error(500, e))?;
        if run.status == Status::Done {
            return Ok(Response::json(200, &run));
        }
        let _ = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(id.to_string());
        Ok(Response::json(202, &run))
    }
}

impl App for Service {
    type Config = Config;
    const SENDS: &'static [(&'static str, Sends)] = &[
        ("session-recorder", Sends::NoBody),
        ("session-chunker", Sends::NoBody),
        ("session-encryptor", Sends::NoBody),
        ("merkle-builder", Sends::AtMost(MERKLE_BODY_LIMIT)),
        ("on-system-chain-client", Sends::AtMost(ANCHOR_BODY_LIMIT)),
    ];

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required(
            "ORCHESTRATOR_DATA_DIR",
            "directory of the orchestrator volume",
        );
        let mut url = |service: &str| {
            let u = env.upstream(service, &format!("{service} base URL"));
            env.check(
                u.is_some(),
                format!(
                    "{}: required but not set",
                    lucid_runtime::config::upstream_var(service)
                ),
            );
            u.unwrap_or_default()
        };
        let urls = Urls {
            recorder: url("session-recorder"),
            chunker: url("session-chunker"),
            encryptor: url("session-encryptor"),
            merkle: url("merkle-builder"),
            chain_client: url("on-system-chain-client"),
        };
        let max_attempts = env.parse_within(
            "ORCHESTRATOR_MAX_ATTEMPTS",
            6u32,
            1..,
            "attempts per step before a run fails",
        );
        let base = env.duration(
            "ORCHESTRATOR_BACKOFF_MS",
            500,
            1..=30_000,
            "delay before the first retry (doubles, at most 30 s)",
        );
        // Zero would time every call out at once: each run would fail its first step.
        let timeout = env.duration(
            "ORCHESTRATOR_STEP_TIMEOUT_SECS",
            300,
            1..=3600,
            "timeout of one call to a service",
        );
        Config {
            data_dir: data_dir.into(),
            urls,
            backoff: Backoff {
                max_attempts,
                base,
                cap: Duration::from_secs(30),
            },
            timeout,
        }
    }

    fn start(config: Config, ctx: &Context) -> Result<Self, String> {
        let inner = Arc::new(Inner {
            runs: JsonFile::open(config.data_dir.join("runs.json"))?,
            urls: config.urls,
            backoff: config.backoff,
            client: Client::new(config.timeout),
            ctx: ctx.clone(),
        });
        let (tx, rx) = channel::<String>();
        // Runs interrupted by the last stop resume first.
        for id in inner.runs.read(|m| {
            m.values()
                .filter(|r| r.status == Status::Running)
                .map(|r| r.session_id.clone())
                .collect::<Vec<_>>()
        }) {
            let _ = tx.send(id);
        }
        let worker = inner.clone();
        std::thread::spawn(move || loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(id) => worker.drive(&id),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if worker.ctx.shutting_down() {
                return;
            }
        });
        Ok(Service {
            inner,
            queue: Mutex::new(tx),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sessions/{id}/run", |s, req| s.start_run(req.param("id")))
            .get("/sessions", |s, _| {
                s.inner.runs.read(|m| {
                    Response::json(200, &json!({ "runs": m.values().collect::<Vec<_>>() }))
                })
            })
            .get("/sessions/{id}", |s, req| {
                let id = req.param("id");
                s.inner
                    .runs
                    .read(|m| m.get(id).map(|r| Response::json(200, r)))
                    .ok_or_else(|| Response::error(404, format!("no run for session {id:?}")))
            });
    }
}
