//! Recordings on the volume: `<dir>/<session>/data.bin` (the raw stream, append-only) and
//! `<dir>/<session>/meta.json` (status, metadata, final size and SHA-256).
//!
//! The data file's length is the recording's size: an append that fails half-way is cut back, so
//! a retried append (same `offset`) lands exactly once.

use lucid_runtime::ids::{now_unix, to_hex};
use lucid_runtime::storage::atomic_write;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Recording,
    Finished,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub session_id: String,
    pub status: Status,
    pub created_at: u64,
    #[serde(default)]
    pub finished_at: Option<u64>,
    /// Free-form metadata given at creation (host, user, resolution…).
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Set when finished: the size and SHA-256 of the whole recording.
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Why a store operation failed; maps onto an HTTP status.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    NotFound(String),
    Conflict(String),
    BadRequest(String),
    Io(String),
}

pub struct Store {
    dir: PathBuf,
    // One writer at a time: appends must see the current length they check `offset` against.
    lock: Mutex<()>,
}

fn io_err(path: &Path, e: io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    fn session_dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        lucid_runtime::ident::check("session id", id).map_err(StoreError::BadRequest)?;
        Ok(self.dir.join(id))
    }

    fn data_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.session_dir(id)?.join("data.bin"))
    }

    fn write_meta(&self, meta: &Meta) -> Result<(), StoreError> {
        let path = self.session_dir(&meta.session_id)?.join("meta.json");
        let bytes = serde_json::to_vec_pretty(meta).map_err(|e| StoreError::Io(e.to_string()))?;
        atomic_write(&path, &bytes).map_err(|e| io_err(&path, e))
    }

    /// The metadata, with `size` being the current length of the data.
    pub fn get(&self, id: &str) -> Result<Meta, StoreError> {
        let path = self.session_dir(id)?.join("meta.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(format!("no session {id:?}")))
            }
            Err(e) => return Err(io_err(&path, e)),
        };
        let mut meta: Meta = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Io(format!("{}: corrupt: {e}", path.display())))?;
        let data = self.data_path(id)?;
        meta.size = fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
        Ok(meta)
    }

    pub fn list(&self) -> Result<Vec<Meta>, StoreError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        let mut out: Vec<Meta> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|id| self.get(&id).ok())
            .collect();
        out.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        Ok(out)
    }

    pub fn create(&self, id: &str, metadata: serde_json::Value) -> Result<Meta, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.session_dir(id)?;
        if dir.join("meta.json").exists() {
            return Err(StoreError::Conflict(format!(
                "session {id:?} already exists"
            )));
        }
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let data = dir.join("data.bin");
        File::create(&data).map_err(|e| io_err(&data, e))?;
        let meta = Meta {
            session_id: id.into(),
            status: Status::Recording,
            created_at: now_unix(),
            finished_at: None,
            metadata,
            size: 0,
            sha256: None,
        };
        self.write_meta(&meta)?;
        Ok(meta)
    }

    /// Appends `bytes`; with `offset`, only if the recording is exactly that long (idempotent
    /// retries). Returns the new size once the bytes are on disk (fsync'd).
    pub fn append(&self, id: &str, offset: Option<u64>, bytes: &[u8]) -> Result<u64, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let meta = self.get(id)?;
        if meta.status != Status::Recording {
            return Err(StoreError::Conflict(format!("session {id:?} is finished")));
        }
        if let Some(offset) = offset {
            if offset != meta.size {
                return Err(StoreError::Conflict(format!(
                    "offset {offset} does not match the recording's size {}",
                    meta.size
                )));
            }
        }
        let path = self.data_path(id)?;
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let result = file.write_all(bytes).and_then(|_| file.sync_data());
        if let Err(e) = result {
            // Never leave half an append behind.
            let _ = file.set_len(meta.size);
            return Err(io_err(&path, e));
        }
        Ok(meta.size + bytes.len() as u64)
    }

    /// Closes the recording: no more appends; size and SHA-256 recorded. Finishing twice is a no-op.
    pub fn finish(&self, id: &str) -> Result<Meta, StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut meta = self.get(id)?;
        if meta.status == Status::Finished {
            return Ok(meta);
        }
        let path = self.data_path(id)?;
        let mut file = File::open(&path).map_err(|e| io_err(&path, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| io_err(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        meta.status = Status::Finished;
        meta.finished_at = Some(now_unix());
        meta.sha256 = Some(to_hex(&hasher.finalize()));
        self.write_meta(&meta)?;
        Ok(meta)
    }

    /// `length` bytes from `offset` (fewer at the end of the recording).
    pub fn read(&self, id: &str, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        let meta = self.get(id)?;
        if offset > meta.size {
            return Err(StoreError::BadRequest(format!(
                "offset {offset} is past the end ({} bytes)",
                meta.size
            )));
        }
        let path = self.data_path(id)?;
        let mut file = File::open(&path).map_err(|e| io_err(&path, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_err(&path, e))?;
        let mut out = Vec::new();
        file.take(length.min(meta.size - offset))
            .read_to_end(&mut out)
            .map_err(|e| io_err(&path, e))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(tag: &str) -> Store {
        Store::open(Path::new(&lucid_runtime::testing::temp_dir(&format!(
            "recorder-{tag}"
        ))))
        .unwrap()
    }

    #[test]
    fn appends_in_pieces_then_reads_ranges_back() {
        let s = store("pieces");
        s.create("s1", serde_json::json!({"host": "h1"})).unwrap();
        assert_eq!(s.append("s1", Some(0), b"hello ").unwrap(), 6);
        assert_eq!(s.append("s1", None, b"world").unwrap(), 11);
        assert_eq!(s.read("s1", 0, 100).unwrap(), b"hello world");
        assert_eq!(s.read("s1", 6, 3).unwrap(), b"wor");
        assert_eq!(s.read("s1", 11, 5).unwrap(), b"");
        assert!(matches!(
            s.read("s1", 12, 1),
            Err(StoreError::BadRequest(_))
        ));
        let meta = s.finish("s1").unwrap();
        assert_eq!(meta.size, 11);
        assert_eq!(
            meta.sha256.as_deref(),
            Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        );
        assert_eq!(s.get("s1").unwrap().metadata["host"], "h1");
    }

    #[test]
    fn retried_append_with_a_stale_offset_is_refused() {
        let s = store("offset");
        s.create("s1", serde_json::Value::Null).unwrap();
        s.append("s1", Some(0), b"abc").unwrap();
        let err = s.append("s1", Some(0), b"abc").unwrap_err();
        assert!(matches!(err, StoreError::Conflict(m) if m.contains("size 3")));
        assert_eq!(s.get("s1").unwrap().size, 3);
    }

    #[test]
    fn finished_recording_takes_no_more_data_and_duplicates_are_refused() {
        let s = store("finished");
        s.create("s1", serde_json::Value::Null).unwrap();
        s.finish("s1").unwrap();
        assert!(matches!(
            s.append("s1", None, b"x"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.create("s1", serde_json::Value::Null),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn unknown_and_unsafe_ids_are_errors() {
        let s = store("ids");
        assert!(matches!(s.get("nope"), Err(StoreError::NotFound(_))));
        assert!(matches!(s.get("../x"), Err(StoreError::BadRequest(_))));
    }
}
