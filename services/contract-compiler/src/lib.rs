//! contract-compiler: contract artifact tool — ABI validation, Keccak-256 selectors and event
//! topics, and a content-addressed artifact store.
//!
//! A contract artifact is what a Solidity compiler produces: the contract name, its ABI JSON and
//! (optionally) its bytecode. This service validates the ABI against the Solidity ABI
//! specification (entry kinds, parameter types including tuples and arrays, identifiers),
//! computes canonical signatures, function and error selectors (first 4 bytes of Keccak-256) and
//! event topics (Keccak-256), and stores the artifact under the SHA-256 of its stored bytes.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | POST | `/abi/analyze` | `{abi}` | `{functions: [{signature, selector, state_mutability}], events: [{signature, topic, anonymous}], errors: [{signature, selector}], has_constructor, has_fallback, has_receive}`; 422 `{error, path}` |
//! | POST | `/signatures` | `{signature}` e.g. `"transfer(address,uint256)"` | `{signature, selector, topic}`; 422 `{error, path}` unless the signature is canonical: `name(type,…)` with an identifier name, ABI types in their canonical spelling (`uint256`, not `uint`; `uint7`, `bytes33` are no types), tuples as `(…)`, arrays `T[]`/`T[k]`, no spaces — the form `/abi/analyze` produces |
//! | POST | `/artifacts` | `{name, abi, bytecode?}` | 201 (200 if already stored) `{id, name, analysis}`; 422 invalid ABI, name or bytecode |
//! | GET | `/artifacts` | – | `{artifacts: [id…]}` |
//! | GET | `/artifacts/{id}` | – | the stored artifact `{name, abi, bytecode, analysis}`; 404 |
//!
//! Selectors and topics are `0x`-prefixed lowercase hex.
//!
//! # Configuration
//! - `ARTIFACTS_DATA_DIR` (required, the `artifacts` volume): one `<id>.json` per artifact.
//!
//! # Out of scope
//! Compiling Solidity source: `solc` is a C++ program outside a static distroless image, so
//! artifacts arrive already compiled (from a build machine or CI). Bytecode is checked to be hex,
//! not disassembled or verified against the ABI.

pub mod abi;
pub mod store;

use lucid_runtime::ids::from_hex;
use lucid_runtime::{log, App, Context, Env, Request, Response, Routes};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use store::ArtifactStore;

pub struct Service {
    store: ArtifactStore,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeBody {
    abi: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureBody {
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactBody {
    name: String,
    abi: Value,
    #[serde(default)]
    bytecode: Option<String>,
}

fn invalid_abi(e: abi::AbiError) -> Response {
    Response::json(422, &json!({ "error": e.to_string(), "path": e.path }))
}

fn io_error(e: std::io::Error) -> Response {
    log::error("artifact store failed", json!({ "error": e.to_string() }));
    Response::error(500, format!("artifact store: {e}"))
}

impl App for Service {
    type Config = PathBuf;

    /// ABIs plus bytecode (hex doubles it) of large contracts stay well below this.
    const MAX_BODY_BYTES: u64 = 2 << 20;

    fn config(env: &mut Env) -> PathBuf {
        PathBuf::from(env.required("ARTIFACTS_DATA_DIR", "directory of the artifacts volume"))
    }

    fn start(dir: PathBuf, _ctx: &Context) -> Result<Self, String> {
        Ok(Service {
            store: ArtifactStore::open(&dir)?,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/abi/analyze", |_, req| analyze(req))
            .post("/signatures", |_, req| signature(req))
            .post("/artifacts", Self::put_artifact)
            .get("/artifacts", |s, _| s.list())
            .get("/artifacts/{id}", Self::get_artifact);
    }
}

fn analyze(req: &Request) -> Result<Response, Response> {
    let body: AnalyzeBody = req.json()?;
    Ok(Response::json(
        200,
        &abi::analyze(&body.abi).map_err(invalid_abi)?,
    ))
}

/// Hashes only a canonical signature (the form `/abi/analyze` produces): anything else would get a
/// selector no contract has.
fn signature(req: &Request) -> Result<Response, Response> {
    let body: SignatureBody = req.json()?;
    let sig = abi::canonical_signature(&body.signature).map_err(invalid_abi)?;
    Ok(Response::json(
        200,
        &json!({ "signature": sig, "selector": abi::selector(sig), "topic": abi::topic(sig) }),
    ))
}

impl Service {
    fn list(&self) -> Result<Response, Response> {
        let ids = self.store.ids().map_err(io_error)?;
        Ok(Response::json(200, &json!({ "artifacts": ids })))
    }

    fn get_artifact(&self, req: &Request) -> Result<Response, Response> {
        let id = req.param("id");
        match self.store.get(id).map_err(io_error)? {
            Some(bytes) => Ok(Response::new(200, "application/json", bytes)),
            None => Err(Response::error(404, format!("unknown artifact {id:?}"))),
        }
    }

    fn put_artifact(&self, req: &Request) -> Result<Response, Response> {
        let body: ArtifactBody = req.json()?;
        let name_ok = body.name.len() <= 128
            && body
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && body
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(Response::json(
                422,
                &json!({ "error": format!("name {:?}: expected a contract identifier", body.name), "path": "name" }),
            ));
        }
        let bytecode = match &body.bytecode {
            None => None,
            Some(code) => match from_hex(code) {
                Ok(bytes) => Some(format!("0x{}", lucid_runtime::ids::to_hex(&bytes))),
                Err(e) => {
                    return Err(Response::json(
                        422,
                        &json!({ "error": format!("bytecode: {e}"), "path": "bytecode" }),
                    ))
                }
            },
        };
        let analysis = abi::analyze(&body.abi).map_err(invalid_abi)?;
        let artifact = json!({
            "name": body.name,
            "abi": body.abi,
            "bytecode": bytecode,
            "analysis": analysis,
        });
        let (id, new) = self.store.put(&artifact).map_err(io_error)?;
        if new {
            log::info("artifact stored", json!({ "id": id, "name": body.name }));
        }
        Ok(Response::json(
            if new { 201 } else { 200 },
            &json!({ "id": id, "name": body.name, "analysis": analysis }),
        ))
    }
}
