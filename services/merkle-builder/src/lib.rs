//! merkle-builder: BLAKE3 Merkle trees over the ciphertext hashes of a session's chunks — root,
//! inclusion proofs, proof verification. Tree rules (domain separation, odd node promoted) are
//! documented in [`tree`].
//!
//! API (JSON; hashes are 64 hex digits; errors are `{"error": …}`):
//! - `PUT /trees/{id}` `{"leaves": [hash…]}` → 201 `{"tree_id", "root", "leaf_count"}`; the same
//!   leaves again → 200; different leaves for an existing id → 409. Ids are 1–64 of `[A-Za-z0-9_-]`
//!   (the orchestrator uses the session id).
//! - `GET /trees/{id}` → `{"tree_id", "root", "leaf_count", "leaves"}`.
//! - `GET /trees/{id}/proofs/{index}` → `{"tree_id", "root", "index", "leaf_count", "leaf", "siblings": [hash…]}`.
//! - `POST /verify` `{"root", "leaf", "index", "leaf_count", "siblings"}` → 200 `{"valid": bool}`
//!   (400 for malformed hashes).
//!
//! Config: `MERKLE_DATA_DIR` (the `merkle` volume, required).
//!
//! Out of scope: hashing chunk contents (leaves arrive as hashes), sparse or append-only trees.

pub mod tree;

use lucid_runtime::storage::{atomic_write, read_json};
use lucid_runtime::{App, Context, Env, Request, Response, Routes};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use tree::{parse_hash, Hash};

/// A stored tree: its leaves are enough to answer every proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTree {
    pub tree_id: String,
    pub root: String,
    pub leaf_count: u64,
    pub leaves: Vec<String>,
}

/// An inclusion proof as served and as accepted by `POST /verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub root: String,
    pub leaf: String,
    pub index: u64,
    pub leaf_count: u64,
    pub siblings: Vec<String>,
}

impl Proof {
    /// Checks the proof; malformed hashes are an error naming the field.
    pub fn verify(&self) -> Result<bool, String> {
        let root = parse_hash("root", &self.root)?;
        let leaf = parse_hash("leaf", &self.leaf)?;
        let siblings = self
            .siblings
            .iter()
            .enumerate()
            .map(|(i, s)| parse_hash(&format!("siblings[{i}]"), s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tree::verify(
            &root,
            &leaf,
            self.index,
            self.leaf_count,
            &siblings,
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutTree {
    leaves: Vec<String>,
}

pub struct Config {
    data_dir: PathBuf,
}

pub struct Service {
    data_dir: PathBuf,
    write: Mutex<()>,
}

fn parse_leaves(leaves: &[String]) -> Result<Vec<Hash>, Response> {
    leaves
        .iter()
        .enumerate()
        .map(|(i, l)| parse_hash(&format!("leaves[{i}]"), l))
        .collect::<Result<_, _>>()
        .map_err(|e| Response::error(400, e))
}

impl Service {
    fn path(&self, id: &str) -> Result<PathBuf, Response> {
        lucid_runtime::ident::check("tree id", id).map_err(|e| Response::error(400, e))?;
        Ok(self.data_dir.join(format!("{id}.json")))
    }

    fn load(&self, id: &str) -> Result<StoredTree, Response> {
        read_json(&self.path(id)?, "tree")
            .map_err(|e| Response::error(500, e))?
            .ok_or_else(|| Response::error(404, format!("no tree {id:?}")))
    }

    fn put(&self, id: &str, req: &Request) -> Result<Response, Response> {
        let body: PutTree = req.json()?;
        let leaves = parse_leaves(&body.leaves)?;
        let root = tree::root(&leaves).map_err(|e| Response::error(400, e))?;
        let stored = StoredTree {
            tree_id: id.into(),
            root: tree::hex(&root),
            leaf_count: leaves.len() as u64,
            // Normalised (lowercase, no 0x) so that a repeated PUT compares equal.
            leaves: leaves.iter().map(tree::hex).collect(),
        };
        let summary = |t: &StoredTree| serde_json::json!({ "tree_id": t.tree_id, "root": t.root, "leaf_count": t.leaf_count });
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        match self.load(id) {
            Ok(existing) if existing.leaves == stored.leaves => {
                return Ok(Response::json(200, &summary(&existing)))
            }
            Ok(_) => {
                return Err(Response::error(
                    409,
                    format!("tree {id:?} exists with other leaves"),
                ))
            }
            Err(e) if e.status == 404 => {}
            Err(e) => return Err(e),
        }
        let path = self.path(id)?;
        let bytes = serde_json::to_vec(&stored).map_err(|e| Response::error(500, e.to_string()))?;
        atomic_write(&path, &bytes)
            .map_err(|e| Response::error(500, format!("{}: {e}", path.display())))?;
        Ok(Response::json(201, &summary(&stored)))
    }

    fn proof(&self, id: &str, index: &str) -> Result<Response, Response> {
        let index: u64 = index
            .parse()
            .map_err(|_| Response::error(400, format!("leaf index {index:?} is not a number")))?;
        let stored = self.load(id)?;
        let leaves = parse_leaves(&stored.leaves)?;
        let siblings = tree::prove(&leaves, index).map_err(|e| Response::error(404, e))?;
        let proof = Proof {
            root: stored.root.clone(),
            leaf: stored.leaves[index as usize].clone(),
            index,
            leaf_count: stored.leaf_count,
            siblings: siblings.iter().map(tree::hex).collect(),
        };
        let mut body =
            serde_json::to_value(&proof).map_err(|e| Response::error(500, e.to_string()))?;
        body["tree_id"] = id.into();
        Ok(Response::json(200, &body))
    }

    fn verify(&self, req: &Request) -> Result<Response, Response> {
        let proof: Proof = req.json()?;
        let valid = proof.verify().map_err(|e| Response::error(400, e))?;
        Ok(Response::json(200, &serde_json::json!({ "valid": valid })))
    }
}

impl App for Service {
    type Config = Config;

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required("MERKLE_DATA_DIR", "directory of the merkle volume");
        Config {
            data_dir: data_dir.into(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        lucid_runtime::storage::create_data_dir("MERKLE_DATA_DIR", &config.data_dir)?;
        Ok(Service {
            data_dir: config.data_dir,
            write: Mutex::new(()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .put("/trees/{id}", |s, req| s.put(req.param("id"), req))
            .get("/trees/{id}", |s, req| {
                s.load(req.param("id")).map(|t| Response::json(200, &t))
            })
            .get("/trees/{id}/proofs/{index}", |s, req| {
                s.proof(req.param("id"), req.param("index"))
            })
            .post("/verify", Self::verify);
    }
}
