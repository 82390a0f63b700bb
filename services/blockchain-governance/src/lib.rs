//! blockchain-governance: proposals and one-node-one-vote tallies with quorum and timelock.
//!
//! A proposal is open for votes for the voting period; each node votes once (yes, no or abstain).
//! After the period it has passed when the votes cast reach the quorum and yes outnumbers no; a
//! passed proposal becomes executable when the timelock after the end of voting has elapsed, and
//! is executed once. The rules in force are copied into each proposal when it is created.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/proposals` | `{title, description?, proposer}` | 201 the proposal view; 422 bad values |
//! | GET | `/proposals` | – | `{proposals: [view…]}`, oldest first |
//! | GET | `/proposals/{id}` | – | the view, or 404 |
//! | POST | `/proposals/{id}/votes` | `{node_id, choice: yes\|no\|abstain}` | the view; 409 already voted or voting closed |
//! | POST | `/proposals/{id}/execute` | – | the view; 409 not passed, timelock running, or already executed |
//!
//! A view is the proposal (`id, title, description, proposer, created_at, rules {voting_period_secs,
//! timelock_secs, quorum}, votes {node: choice}, executed_at`) plus `state`
//! (`active|rejected|queued|executable|executed`), `tally {yes, no, abstain}`, `voting_ends_at` and
//! `executable_at`.
//!
//! # Configuration
//! - `GOVERNANCE_DATA_DIR` (required, the `governance` volume): `proposals.json`.
//! - `GOV_VOTING_PERIOD_SECS` (259200 = 3 days), `GOV_TIMELOCK_SECS` (86400), `GOV_QUORUM` (3).
//!
//! # Out of scope
//! Who a node is: `node_id` is taken as given (the gateway authenticates callers with tokens from
//! authentication); the node registry and what "execute" changes on the chain belong to their
//! services — execution here records that the proposal was carried out.

pub mod governance;

use governance::{Choice, Proposal, Rules};
use lucid_runtime::ids::{now_unix, random_id};
use lucid_runtime::storage::{write_failed, JsonFile};
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Config {
    data_dir: PathBuf,
    rules: Rules,
}

pub struct Service {
    rules: Rules,
    store: JsonFile<Proposals>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Proposals {
    pub proposals: BTreeMap<String, Proposal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProposal {
    title: String,
    #[serde(default)]
    description: String,
    proposer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    node_id: String,
    choice: Choice,
}

fn view(p: &Proposal, now: u64) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    v["state"] = json!(p.state(now));
    v["tally"] = json!(p.tally());
    v["voting_ends_at"] = json!(p.voting_ends_at());
    v["executable_at"] = json!(p.executable_at());
    v
}

impl App for Service {
    type Config = Config;

    const MAX_BODY_BYTES: u64 = 32 << 10;

    fn config(env: &mut Env) -> Config {
        let data_dir = PathBuf::from(
            env.required("GOVERNANCE_DATA_DIR", "directory of the governance volume"),
        );
        let rules = Rules {
            voting_period_secs: env.parse_within(
                "GOV_VOTING_PERIOD_SECS",
                259_200u64,
                1..,
                "voting period of new proposals (s)",
            ),
            timelock_secs: env.parse(
                "GOV_TIMELOCK_SECS",
                86_400u64,
                "delay between the end of voting and execution (s)",
            ),
            quorum: env.parse_within(
                "GOV_QUORUM",
                3u32,
                1..,
                "votes needed for a proposal to be decided",
            ),
        };
        Config { data_dir, rules }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            rules: config.rules,
            store: JsonFile::open(config.data_dir.join("proposals.json"))?,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/proposals", Self::create)
            .get("/proposals", |s, _| s.list())
            .get("/proposals/{id}", Self::get)
            .post("/proposals/{id}/votes", Self::vote)
            .post("/proposals/{id}/execute", Self::execute);
    }
}

impl Service {
    fn create(&self, req: &Request) -> Result<Response, Response> {
        let now = now_unix();
        let body: NewProposal = req.json()?;
        let p = Proposal::new(
            random_id(),
            &body.title,
            &body.description,
            &body.proposer,
            self.rules,
            now,
        )
        .map_err(Response::refused)?;
        self.store
            .update(|all| {
                all.proposals.insert(p.id.clone(), p.clone());
                Ok(())
            })
            .map_err(write_failed)?;
        log::info(
            "proposal created",
            json!({ "id": p.id, "proposer": p.proposer }),
        );
        Ok(Response::json(201, &view(&p, now)))
    }

    fn list(&self) -> Response {
        let now = now_unix();
        let mut list: Vec<Proposal> = self
            .store
            .read(|all| all.proposals.values().cloned().collect());
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let views: Vec<Value> = list.iter().map(|p| view(p, now)).collect();
        Response::json(200, &json!({ "proposals": views }))
    }

    fn get(&self, req: &Request) -> Result<Response, Response> {
        let id = req.param("id");
        match self.store.read(|all| all.proposals.get(id).cloned()) {
            Some(p) => Ok(Response::json(200, &view(&p, now_unix()))),
            None => Err(Response::error(404, format!("unknown proposal {id:?}"))),
        }
    }

    fn vote(&self, req: &Request) -> Result<Response, Response> {
        let now = now_unix();
        let body: VoteBody = req.json()?;
        let p = self.change(req.param("id"), |p| p.vote(&body.node_id, body.choice, now))?;
        log::info(
            "vote recorded",
            json!({ "proposal": p.id, "node_id": body.node_id }),
        );
        Ok(Response::json(200, &view(&p, now)))
    }

    fn execute(&self, req: &Request) -> Result<Response, Response> {
        let now = now_unix();
        let p = self.change(req.param("id"), |p| p.execute(now))?;
        log::info("proposal executed", json!({ "proposal": p.id }));
        Ok(Response::json(200, &view(&p, now)))
    }

    fn change(
        &self,
        id: &str,
        f: impl FnOnce(&mut Proposal) -> Result<(), governance::Refused>,
    ) -> Result<Proposal, Response> {
        self.store
            .try_update(|all| {
                let p = all.proposals.get_mut(id).ok_or_else(|| {
                    governance::Refused::NotFound(format!("unknown proposal {id:?}"))
                })?;
                f(p)?;
                Ok(p.clone())
            })
            .map_err(write_failed)?
            .map_err(Response::refused::<governance::Refused>)
    }
}
