//! Content-addressed artifact store on the volume: each artifact is `<sha256 of its bytes>.json`,
//! written once through a temporary file and a rename, never modified afterwards.

use lucid_runtime::ids::to_hex;
use lucid_runtime::storage::{atomic_write, remove_stale_temp_files};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct ArtifactStore {
    dir: PathBuf,
    /// Two workers storing the same artifact would share one temporary file name.
    writing: Mutex<()>,
}

/// Artifact ids are 64 lowercase hex digits; anything else never reaches the filesystem.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ArtifactStore {
    /// Opens (creating) the store and removes what an interrupted write left in it.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        remove_stale_temp_files(dir, false)?;
        Ok(ArtifactStore {
            dir: dir.to_path_buf(),
            writing: Mutex::new(()),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Stores the artifact; returns its id and whether it was new.
    pub fn put(&self, artifact: &Value) -> io::Result<(String, bool)> {
        let bytes = serde_json::to_vec_pretty(artifact)?;
        let id = to_hex(&Sha256::digest(&bytes));
        let path = self.path(&id);
        let _guard = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if path.exists() {
            return Ok((id, false));
        }
        atomic_write(&path, &bytes)?;
        Ok((id, true))
    }

    pub fn get(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        if !valid_id(id) {
            return Ok(None);
        }
        match std::fs::read(self.path(id)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ids of every stored artifact, sorted.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_string)
            })
            .filter(|id| valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(tag: &str) -> (ArtifactStore, PathBuf) {
        let d = PathBuf::from(lucid_runtime::testing::temp_dir(&format!(
            "lucid-artifacts-{tag}"
        )));
        (ArtifactStore::open(&d).unwrap(), d)
    }

    #[test]
    fn temp_files_a_killed_write_left_are_removed_when_the_store_opens() {
        let (s, dir) = store("stale");
        let (id, _) = s.put(&json!({"name": "Token", "abi": []})).unwrap();
        let stale = dir.join(format!(".{id}.json.tmp-7-3"));
        std::fs::write(&stale, b"half an artifact").unwrap();
        drop(s);
        let reopened = ArtifactStore::open(&dir).unwrap();
        assert!(!stale.exists(), "{} survived the restart", stale.display());
        assert_eq!(reopened.ids().unwrap(), vec![id]);
    }

    #[test]
    fn same_artifact_same_id_stored_once() {
        let (s, dir) = store("dedup");
        let a = json!({"name": "Token", "abi": []});
        let (id1, new1) = s.put(&a).unwrap();
        let (id2, new2) = s.put(&a).unwrap();
        assert_eq!((id1.clone(), new1, new2), (id2, true, false));
        let bytes = s.get(&id1).unwrap().unwrap();
        assert_eq!(
            to_hex(&Sha256::digest(&bytes)),
            id1,
            "the id is the hash of the stored bytes"
        );
        assert_eq!(s.ids().unwrap(), vec![id1]);
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            1,
            "no temporary files left"
        );
    }

    #[test]
    fn ids_that_are_not_hashes_never_touch_the_filesystem() {
        let (s, _) = store("ids");
        assert_eq!(s.get("../../etc/passwd").unwrap(), None);
        assert_eq!(s.get(&"A".repeat(64)).unwrap(), None);
    }
}
