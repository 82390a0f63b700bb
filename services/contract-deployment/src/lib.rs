//! contract-deployment: records deployments of contract artifacts to a target chain — id,
//! status, history.
//!
//! A deployment names an artifact (its id in contract-compiler) and a target chain. It starts
//! `pending`; it becomes `deployed` (with the contract address, optionally the transaction hash) or
//! `failed` (with the reason); a failed deployment may go back to `pending` for a retry; `deployed`
//! is final. Every change is appended to the deployment's history.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/deployments` | `{artifact_id, chain}` | 201 the deployment `{id, artifact_id, chain, status, address, tx_hash, error, created_at, updated_at, history: [{status, at, note?}]}`; 422 bad values |
//! | GET | `/deployments[?status=pending\|deployed\|failed]` | – | `{deployments: […]}`, oldest first |
//! | GET | `/deployments/{id}` | – | the deployment, or 404 |
//! | POST | `/deployments/{id}/status` | `{status, address?, tx_hash?, error?}` | the updated deployment; 409 forbidden transition; 422 missing address/reason |
//!
//! # Configuration
//! - `DEPLOYMENT_DATA_DIR` (required, the `deployments` volume): `deployments.json`, rewritten
//!   atomically on every change.
//!
//! # Out of scope
//! Sending the deployment transaction itself (that is the chain client's job; deployment-orchestrator
//! sequences the steps) and checking that the artifact exists in contract-compiler (the
//! orchestrator creates records only for artifacts it just stored).

pub mod records;

use lucid_runtime::ids::{now_unix, random_id};
use lucid_runtime::storage::{write_failed, JsonFile};
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use records::{NewDeployment, Records, Status, StatusUpdate};
use serde_json::json;
use std::path::PathBuf;

pub struct Service {
    store: JsonFile<Records>,
}

impl App for Service {
    type Config = PathBuf;

    const MAX_BODY_BYTES: u64 = 16 << 10;

    fn config(env: &mut Env) -> PathBuf {
        PathBuf::from(env.required("DEPLOYMENT_DATA_DIR", "directory of the deployments volume"))
    }

    fn start(dir: PathBuf, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            store: JsonFile::open(dir.join("deployments.json"))?,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/deployments", Self::create)
            .get("/deployments", Self::list)
            .get("/deployments/{id}", Self::get)
            .post("/deployments/{id}/status", Self::set_status);
    }
}

impl Service {
    fn create(&self, req: &Request) -> Result<Response, Response> {
        let new: NewDeployment = req.json()?;
        records::check_new(&new).map_err(Response::refused)?;
        let d = records::create(random_id(), new, now_unix());
        self.store
            .update(|r| {
                r.deployments.insert(d.id.clone(), d.clone());
                Ok(())
            })
            .map_err(write_failed)?;
        log::info(
            "deployment recorded",
            json!({ "id": d.id, "artifact_id": d.artifact_id, "chain": d.chain }),
        );
        Ok(Response::json(201, &d))
    }

    fn list(&self, req: &Request) -> Result<Response, Response> {
        let filter = match req.query_param("status") {
            None => None,
            Some(s) => Some(serde_json::from_value::<Status>(json!(s)).map_err(|_| {
                Response::error(
                    400,
                    format!("status {s:?}: expected pending, deployed or failed"),
                )
            })?),
        };
        let mut list = self.store.read(|r| {
            r.deployments
                .values()
                .filter(|d| filter.is_none_or(|f| d.status == f))
                .cloned()
                .collect::<Vec<_>>()
        });
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(Response::json(200, &json!({ "deployments": list })))
    }

    fn get(&self, req: &Request) -> Result<Response, Response> {
        let id = req.param("id");
        match self.store.read(|r| r.deployments.get(id).cloned()) {
            Some(d) => Ok(Response::json(200, &d)),
            None => Err(Response::error(404, format!("unknown deployment {id:?}"))),
        }
    }

    fn set_status(&self, req: &Request) -> Result<Response, Response> {
        let update: StatusUpdate = req.json()?;
        let id = req.param("id");
        let d = self
            .store
            .try_update(|r| {
                let d = r.deployments.get_mut(id).ok_or_else(|| {
                    records::Refused::NotFound(format!("unknown deployment {id:?}"))
                })?;
                records::transition(d, update, now_unix())?;
                Ok(d.clone())
            })
            .map_err(write_failed)?
            .map_err(Response::refused::<records::Refused>)?;
        log::info(
            "deployment status",
            json!({ "id": d.id, "status": d.status }),
        );
        Ok(Response::json(200, &d))
    }
}
