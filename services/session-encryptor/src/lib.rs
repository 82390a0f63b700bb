//! session-encryptor: encrypts every chunk of a session with XChaCha20-Poly1305 under a per-chunk
//! key (HKDF-SHA256 from a per-session key, itself derived from the master key), a random 24-byte
//! nonce, and the session id and chunk index as associated data (see [`crypto`]). Each sealed
//! chunk's BLAKE3 hash is the leaf merkle-builder receives.
//!
//! API (JSON unless noted; errors are `{"error": …}`):
//! - `POST /sessions/{id}/encrypt` → 201 encrypted manifest (200 with the existing one if done):
//!   pulls session-chunker's manifest and compressed chunks, stores the sealed chunks.
//!   404 if session-chunker has no such session, 502 if it cannot be reached.
//! - `GET /sessions/{id}/manifest` → `{"session_id", "cipher": "XChaCha20-Poly1305",
//!   "kdf": "HKDF-SHA256", "leaf_hash": "blake3", "chunks": [{"index", "size",
//!   "compressed_size", "plaintext_sha256", "ciphertext_blake3"}]}`.
//! - `GET /sessions/{id}/chunks/{index}` → the sealed chunk `nonce || ciphertext || tag`
//!   (application/octet-stream).
//! - `POST /sessions/{id}/chunks/{index}/decrypt`, body = a sealed chunk → 200 the compressed
//!   plaintext; 400 if authentication fails (modified byte, other session or index, other key).
//!
//! Config: `ENCRYPTOR_DATA_DIR` (the `encrypted` volume, required), `SESSION_MASTER_KEY` or
//! `SESSION_MASTER_KEY_FILE` (the `session-master-key` secret: 64 hex digits, required),
//! `LUCID_URL_SESSION_CHUNKER` (required).
//!
//! Out of scope: key rotation, key escrow, streaming (one chunk of at most 16 MiB is in memory).

pub mod crypto;

use crypto::MasterKey;
use lucid_runtime::client::{upstream_refusal, Client};
use lucid_runtime::storage::{atomic_write, read_json, write_json};
use lucid_runtime::{App, Context, Env, Response, Routes, Sends};
use serde::{Deserialize, Serialize};
use session_chunker::chunk::Manifest;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedChunk {
    pub index: u64,
    /// Length of the sealed chunk (nonce + ciphertext + tag).
    pub size: u64,
    pub compressed_size: u64,
    pub plaintext_sha256: String,
    pub ciphertext_blake3: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedManifest {
    pub session_id: String,
    pub cipher: String,
    pub kdf: String,
    pub leaf_hash: String,
    pub chunks: Vec<EncryptedChunk>,
}

pub struct Config {
    data_dir: PathBuf,
    master: Option<MasterKey>,
    chunker: String,
}

pub struct Service {
    data_dir: PathBuf,
    master: MasterKey,
    chunker: String,
    client: Client,
    job: Mutex<()>,
}

fn index_of(text: &str) -> Result<u64, Response> {
    text.parse()
        .map_err(|_| Response::error(400, format!("chunk index {text:?} is not a number")))
}

impl Service {
    fn dir(&self, id: &str) -> Result<PathBuf, Response> {
        lucid_runtime::ident::check("session id", id).map_err(|e| Response::error(400, e))?;
        Ok(self.data_dir.join(id))
    }

    fn manifest(&self, id: &str) -> Result<Option<EncryptedManifest>, Response> {
        read_json(&self.dir(id)?.join("manifest.json"), "manifest")
            .map_err(|e| Response::error(500, e))
    }

    fn fetch(&self, url: &str) -> Result<Vec<u8>, Response> {
        let reply = self
            .client
            .get(url)
            .map_err(|e| Response::error(502, format!("session-chunker: {e}")))?;
        match reply.status {
            200 => Ok(reply.body),
            404 => Err(Response::error(
                404,
                format!("session-chunker: {url}: not found"),
            )),
            _ => Err(upstream_refusal("session-chunker", &reply)),
        }
    }

    fn encrypt(&self, id: &str) -> Result<Response, Response> {
        let _job = self.job.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.manifest(id)? {
            return Ok(Response::json(200, &existing));
        }
        let dir = self.dir(id)?;
        let base = format!("{}/sessions/{id}", self.chunker);
        let plain: Manifest = serde_json::from_slice(&self.fetch(&format!("{base}/manifest"))?)
            .map_err(|e| Response::error(502, format!("session-chunker: bad manifest: {e}")))?;
        let key = self.master.session_key(id);
        let mut chunks = Vec::with_capacity(plain.chunks.len());
        for info in &plain.chunks {
            let compressed = self.fetch(&format!("{base}/chunks/{}", info.index))?;
            if compressed.len() as u64 != info.compressed_size {
                return Err(Response::error(
                    502,
                    format!(
                        "session-chunker: chunk {} has {} bytes, manifest says {}",
                        info.index,
                        compressed.len(),
                        info.compressed_size
                    ),
                ));
            }
            let nonce = lucid_runtime::ids::random_bytes::<{ crypto::NONCE_LEN }>();
            let sealed = crypto::seal(&key, id, info.index, compressed, nonce);
            let path = dir.join(format!("{}.bin", info.index));
            atomic_write(&path, &sealed)
                .map_err(|e| Response::error(500, format!("{}: {e}", path.display())))?;
            chunks.push(EncryptedChunk {
                index: info.index,
                size: sealed.len() as u64,
                compressed_size: info.compressed_size,
                plaintext_sha256: info.sha256.clone(),
                ciphertext_blake3: crypto::ciphertext_hash(&sealed),
            });
        }
        let manifest = EncryptedManifest {
            session_id: id.into(),
            cipher: "XChaCha20-Poly1305".into(),
            kdf: "HKDF-SHA256".into(),
            leaf_hash: "blake3".into(),
            chunks,
        };
        // Written last: its presence means every sealed chunk is on disk.
        write_json(&dir.join("manifest.json"), &manifest).map_err(|e| Response::error(500, e))?;
        lucid_runtime::log::info(
            "encrypted",
            serde_json::json!({ "session_id": id, "chunks": manifest.chunks.len() }),
        );
        Ok(Response::json(201, &manifest))
    }

    fn get_chunk(&self, id: &str, index: &str) -> Result<Response, Response> {
        let index = index_of(index)?;
        let manifest = self
            .manifest(id)?
            .ok_or_else(|| Response::error(404, format!("session {id:?} is not encrypted")))?;
        if index >= manifest.chunks.len() as u64 {
            return Err(Response::error(
                404,
                format!("session {id:?} has no chunk {index}"),
            ));
        }
        let path = self.dir(id)?.join(format!("{index}.bin"));
        let bytes = std::fs::read(&path)
            .map_err(|e| Response::error(500, format!("{}: {e}", path.display())))?;
        Ok(Response::bytes(200, bytes))
    }

    fn decrypt(&self, id: &str, index: &str, sealed: &[u8]) -> Result<Response, Response> {
        lucid_runtime::ident::check("session id", id).map_err(|e| Response::error(400, e))?;
        let index = index_of(index)?;
        crypto::open(&self.master.session_key(id), id, index, sealed)
            .map(|plain| Response::bytes(200, plain))
            .map_err(|e| Response::error(400, e.to_string()))
    }
}

impl App for Service {
    type Config = Config;
    /// A sealed chunk of 16 MiB of incompressible data, plus Zstd framing, nonce and tag.
    const MAX_BODY_BYTES: u64 = 17 << 20;
    const SENDS: &'static [(&'static str, Sends)] = &[("session-chunker", Sends::NoBody)];

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required("ENCRYPTOR_DATA_DIR", "directory of the encrypted volume");
        let master = match env.secret(
            "SESSION_MASTER_KEY",
            "the session master key (64 hex digits)",
        ) {
            None => {
                env.check(false, "SESSION_MASTER_KEY: required (set SESSION_MASTER_KEY_FILE to the session-master-key secret)");
                None
            }
            // The message never quotes the key itself.
            Some(text) => MasterKey::from_hex(&text)
                .map_err(|e| env.check(false, format!("SESSION_MASTER_KEY: {e}")))
                .ok(),
        };
        let chunker = env.upstream("session-chunker", "session-chunker base URL");
        env.check(
            chunker.is_some(),
            "LUCID_URL_SESSION_CHUNKER: required but not set",
        );
        Config {
            data_dir: data_dir.into(),
            master,
            chunker: chunker.unwrap_or_default(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        let master = config.master.ok_or("SESSION_MASTER_KEY missing")?;
        lucid_runtime::storage::create_data_dir("ENCRYPTOR_DATA_DIR", &config.data_dir)?;
        Ok(Service {
            data_dir: config.data_dir,
            master,
            chunker: config.chunker,
            client: Client::new(Duration::from_secs(60)),
            job: Mutex::new(()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sessions/{id}/encrypt", |s, req| {
                s.encrypt(req.param("id"))
            })
            .get("/sessions/{id}/manifest", |s, req| {
                let id = req.param("id");
                s.manifest(id).and_then(|m| {
                    m.map(|m| Response::json(200, &m)).ok_or_else(|| {
                        Response::error(404, format!("session {id:?} is not encrypted"))
                    })
                })
            })
            .get("/sessions/{id}/chunks/{index}", |s, req| {
                s.get_chunk(req.param("id"), req.param("index"))
            })
            .post("/sessions/{id}/chunks/{index}/decrypt", |s, req| {
                s.decrypt(req.param("id"), req.param("index"), &req.body)
            });
    }
}
