//! session-chunker: splits a finished recording into 8–16 MiB chunks, compresses each with Zstd,
//! hashes each plaintext chunk with SHA-256 and writes a chunk manifest to its volume.
//!
//! The recording is pulled from session-recorder one chunk-sized range at a time, so memory use is
//! bounded by the chunk size, not the recording's. Compression: Zstandard level 3, pure Rust
//! (ruzstd's frame encoder with zstd's level-3 match finder, see [`dfast`]).
//!
//! API (JSON unless noted; errors are `{"error": …}`):
//! - `POST /sessions/{id}/chunk` → 201 manifest (200 with the existing one if already chunked).
//!   409 if the recording is not finished, 404 if session-recorder does not know it, 502 if
//!   session-recorder cannot be reached.
//! - `GET /sessions/{id}/manifest` → manifest
//!   `{"session_id", "total_size", "chunk_size", "compression": "zstd", "hash": "sha256",
//!   "chunks": [{"index", "offset", "size", "compressed_size", "sha256"}]}`.
//! - `GET /sessions/{id}/chunks/{index}` → the compressed chunk (application/octet-stream).
//!
//! Config: `CHUNKER_DATA_DIR` (the `chunks` volume, required), `CHUNKER_CHUNK_SIZE` (bytes,
//! 8 MiB–16 MiB, default 8 MiB), `LUCID_URL_SESSION_RECORDER` (required).
//!
//! Out of scope: content-defined chunking, deduplication, deleting chunks.

pub mod chunk;
pub mod dfast;

use chunk::{ChunkInfo, Manifest};
use lucid_runtime::client::{upstream_refusal, Client};
use lucid_runtime::storage::{atomic_write, read_json, write_json};
use lucid_runtime::{App, Context, Env, Response, Routes, Sends};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

pub struct Config {
    data_dir: PathBuf,
    chunk_size: u64,
    recorder: String,
}

pub struct Service {
    config: Config,
    client: Client,
    // One chunking job at a time: bounds memory to one chunk and its compressed copy.
    job: Mutex<()>,
}

impl Service {
    fn dir(&self, id: &str) -> Result<PathBuf, Response> {
        lucid_runtime::ident::check("session id", id).map_err(|e| Response::error(400, e))?;
        Ok(self.config.data_dir.join(id))
    }

    fn manifest(&self, id: &str) -> Result<Option<Manifest>, Response> {
        read_json(&self.dir(id)?.join("manifest.json"), "manifest")
            .map_err(|e| Response::error(500, e))
    }

    fn upstream_error(&self, what: &str, e: String) -> Response {
        Response::error(502, format!("session-recorder ({what}): {e}"))
    }

    fn chunk(&self, id: &str) -> Result<Response, Response> {
        let _job = self.job.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.manifest(id)? {
            return Ok(Response::json(200, &existing));
        }
        let dir = self.dir(id)?;
        let base = format!("{}/sessions/{id}", self.config.recorder);
        let reply = self
            .client
            .get(&base)
            .map_err(|e| self.upstream_error("get", e))?;
        match reply.status {
            200 => {}
            404 => {
                return Err(Response::error(
                    404,
                    format!("session-recorder has no session {id:?}"),
                ))
            }
            _ => return Err(upstream_refusal("session-recorder", &reply)),
        }
        let session: serde_json::Value = reply.json().map_err(|e| self.upstream_error("get", e))?;
        if session["status"] != "finished" {
            return Err(Response::error(
                409,
                format!("recording {id:?} is not finished"),
            ));
        }
        let total = session["size"]
            .as_u64()
            .ok_or_else(|| self.upstream_error("get", "no size in session".into()))?;

        let mut chunks: Vec<ChunkInfo> = Vec::new();
        for (index, (offset, length)) in chunk::plan(total, self.config.chunk_size)
            .into_iter()
            .enumerate()
        {
            let url = format!("{base}/data?offset={offset}&length={length}");
            let reply = self
                .client
                .get(&url)
                .map_err(|e| self.upstream_error("read", e))?;
            if reply.status != 200 {
                return Err(upstream_refusal("session-recorder", &reply));
            }
            if reply.body.len() as u64 != length {
                return Err(self.upstream_error(
                    "read",
                    format!(
                        "HTTP {} with {} of {length} bytes at offset {offset}",
                        reply.status,
                        reply.body.len()
                    ),
                ));
            }
            let (info, compressed) = chunk::pack(index as u64, offset, &reply.body);
            let path = dir.join(format!("{index}.zst"));
            atomic_write(&path, &compressed)
                .map_err(|e| Response::error(500, format!("{}: {e}", path.display())))?;
            chunks.push(info);
        }
        // Written last: its presence means every chunk is on disk.
        let manifest = Manifest::new(id, total, self.config.chunk_size, chunks);
        write_json(&dir.join("manifest.json"), &manifest).map_err(|e| Response::error(500, e))?;
        lucid_runtime::log::info(
            "chunked",
            serde_json::json!({ "session_id": id, "bytes": total, "chunks": manifest.chunks.len() }),
        );
        Ok(Response::json(201, &manifest))
    }

    fn get_chunk(&self, id: &str, index: &str) -> Result<Response, Response> {
        let manifest = self
            .manifest(id)?
            .ok_or_else(|| Response::error(404, format!("session {id:?} is not chunked")))?;
        let index: u64 = index
            .parse()
            .map_err(|_| Response::error(400, format!("chunk index {index:?} is not a number")))?;
        if index >= manifest.chunks.len() as u64 {
            return Err(Response::error(
                404,
                format!("session {id:?} has no chunk {index}"),
            ));
        }
        let path = self.dir(id)?.join(format!("{index}.zst"));
        let bytes = std::fs::read(&path)
            .map_err(|e| Response::error(500, format!("{}: {e}", path.display())))?;
        Ok(Response::bytes(200, bytes))
    }
}

impl App for Service {
    type Config = Config;
    const SENDS: &'static [(&'static str, Sends)] = &[("session-recorder", Sends::NoBody)];

    fn config(env: &mut Env) -> Config {
        let data_dir = env.required("CHUNKER_DATA_DIR", "directory of the chunks volume");
        let chunk_size = env.parse_within(
            "CHUNKER_CHUNK_SIZE",
            chunk::DEFAULT_CHUNK_SIZE,
            chunk::MIN_CHUNK_SIZE..=chunk::MAX_CHUNK_SIZE,
            "plaintext bytes per chunk (8 MiB to 16 MiB: 8388608-16777216)",
        );
        let recorder = env.upstream("session-recorder", "session-recorder base URL");
        env.check(
            recorder.is_some(),
            "LUCID_URL_SESSION_RECORDER: required but not set",
        );
        Config {
            data_dir: data_dir.into(),
            chunk_size,
            recorder: recorder.unwrap_or_default(),
        }
    }

    fn start(config: Config, _ctx: &Context) -> Result<Self, String> {
        lucid_runtime::storage::create_data_dir("CHUNKER_DATA_DIR", &config.data_dir)?;
        Ok(Service {
            config,
            client: Client::new(Duration::from_secs(60)),
            job: Mutex::new(()),
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .post("/sessions/{id}/chunk", |s, req| s.chunk(req.param("id")))
            .get("/sessions/{id}/manifest", |s, req| {
                let id = req.param("id");
                s.manifest(id).and_then(|m| {
                    m.map(|m| Response::json(200, &m)).ok_or_else(|| {
                        Response::error(404, format!("session {id:?} is not chunked"))
                    })
                })
            })
            .get("/sessions/{id}/chunks/{index}", |s, req| {
                s.get_chunk(req.param("id"), req.param("index"))
            });
    }
}
