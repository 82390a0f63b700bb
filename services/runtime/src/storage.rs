//! Crash-safe writes: a file is either the old version or the new one, never half of each.

use crate::http::Response;
use crate::log;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Writes `bytes` to `path` through a temporary file in the same directory, fsync'd and renamed.
/// The temporary name is unique per call, so concurrent writers of one path never share it.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory is synced.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// True for a name [`atomic_write`] gives its temporary files: `.<name>.tmp-<pid>-<n>`.
fn is_temp_name(file_name: &str) -> bool {
    let Some((stem, tail)) = file_name
        .strip_prefix('.')
        .and_then(|rest| rest.rsplit_once(".tmp-"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    !stem.is_empty()
        && tail
            .split_once('-')
            .is_some_and(|(pid, n)| digits(pid) && digits(n))
}

/// Removes the temporary files that a process killed mid-write left in `dir` (and, with
/// `recursive`, its subdirectories): called when a store opens, before this process writes
/// anything there, so none of them can be a write in progress. Returns how many it removed;
/// each removal is logged.
pub fn remove_stale_temp_files(dir: &Path, recursive: bool) -> Result<usize, String> {
    let mut removed = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && recursive {
                dirs.push(path);
            } else if kind.is_file() && entry.file_name().to_str().is_some_and(is_temp_name) {
                fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                log::info(
                    "removed stale temporary file",
                    json!({ "path": path.display().to_string() }),
                );
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Reads the JSON document at `path`: `Ok(None)` when there is none, an error naming the path
/// when it cannot be read or does not parse as the `what` it should hold.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: corrupt {what}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `value` as pretty JSON to `path` with [`atomic_write`]; a failed write names the path.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    atomic_write(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Creates the data directory a service got from its required volume variable `var`
/// (e.g. `CHUNKER_DATA_DIR`) and removes the temporary files an interrupted write left anywhere
/// in it; the error names the variable and the path.
pub fn create_data_dir(var: &str, dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{var} {}: {e}", dir.display()))?;
    remove_stale_temp_files(dir, true)
        .map(drop)
        .map_err(|e| format!("{var}: {e}"))
}

/// The answer to a failed store write: logged (the operator must see a full or broken volume)
/// and returned to the client as a 500 with the error.
pub fn write_failed(error: String) -> Response {
    log::error("store write failed", json!({ "error": error }));
    Response::error(500, error)
}

/// A JSON document kept on a volume, rewritten atomically on every change.
/// Enough for the small record sets of Lucid's services (sessions, hosts, proposals…).
pub struct JsonFile<T> {
    path: PathBuf,
    value: Mutex<T>,
}

impl<T: Serialize + DeserializeOwned + Default> JsonFile<T> {
    /// Loads the file, or starts from `T::default()` when it does not exist yet.
    /// A file that exists but does not parse is an error: never silently start over.
    /// Temporary files an interrupted write left beside it are removed.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, String> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            remove_stale_temp_files(dir, false)?;
        }
        let value = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: corrupt JSON store: {e}", path.display()))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => T::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(JsonFile {
            path,
            value: Mutex::new(value),
        })
    }

    /// Reads under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.value.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes a copy, persists it, and only then makes it visible: a failed write changes nothing.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> Result<R, String>) -> Result<R, String>
    where
        T: Clone,
    {
        self.try_update(f)?
    }

    /// Like [`JsonFile::update`], for changes a domain rule may refuse: `Ok(Err(e))` is the
    /// closure's refusal (nothing written, nothing changed), `Err` a failed write.
    pub fn try_update<R, E>(
        &self,
        f: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<Result<R, E>, String>
    where
        T: Clone,
    {
        let mut guard = self.value.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        let out = match f(&mut next) {
            Ok(out) => out,
            Err(refused) => return Ok(Err(refused)),
        };
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| e.to_string())?;
        atomic_write(&self.path, &bytes).map_err(|e| format!("{}: {e}", self.path.display()))?;
        *guard = next;
        Ok(Ok(out))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tempdir(tag: &str) -> PathBuf {
        let d = PathBuf::from(crate::testing::temp_dir(&format!("lucid-storage-{tag}")));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn json_file_round_trip_and_failed_update_changes_nothing() {
        let dir = tempdir("rt");
        let store: JsonFile<BTreeMap<String, u32>> = JsonFile::open(dir.join("s.json")).unwrap();
        store.update(|m| Ok(m.insert("a".into(), 1))).unwrap();
        let err = store.update(|m| {
            m.insert("b".into(), 2);
            Err::<(), _>("refused".to_string())
        });
        assert!(err.is_err());
        let reopened: JsonFile<BTreeMap<String, u32>> = JsonFile::open(dir.join("s.json")).unwrap();
        assert_eq!(
            reopened.read(|m| m.clone()),
            BTreeMap::from([("a".to_string(), 1)])
        );
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn refused_try_update_changes_nothing_and_keeps_the_refusal() {
        let dir = tempdir("try");
        let store: JsonFile<BTreeMap<String, u32>> = JsonFile::open(dir.join("s.json")).unwrap();
        assert_eq!(
            store.try_update(|m| Ok::<_, u16>(m.insert("a".into(), 1))),
            Ok(Ok(None))
        );
        let refused = store.try_update(|m| {
            m.insert("b".into(), 2);
            Err::<(), u16>(409)
        });
        assert_eq!(refused, Ok(Err(409)));
        let reopened: JsonFile<BTreeMap<String, u32>> = JsonFile::open(dir.join("s.json")).unwrap();
        assert_eq!(reopened.read(|m| m.len()), 1);
        assert_eq!(store.read(|m| m.len()), 1);
    }

    #[test]
    fn data_dir_error_names_the_variable() {
        let dir = tempdir("blocked");
        fs::write(dir.join("file"), b"x").unwrap();
        let err = create_data_dir("X_DATA_DIR", &dir.join("file").join("sub")).unwrap_err();
        assert!(err.starts_with("X_DATA_DIR "), "{err}");
        create_data_dir("X_DATA_DIR", &dir.join("a/b")).unwrap();
        assert!(dir.join("a/b").is_dir());
    }

    #[test]
    fn json_document_round_trip_missing_and_corrupt() {
        let dir = tempdir("doc");
        let path = dir.join("manifest.json");
        assert_eq!(read_json::<Vec<u32>>(&path, "manifest"), Ok(None));
        write_json(&path, &vec![1u32, 2]).unwrap();
        assert_eq!(
            read_json::<Vec<u32>>(&path, "manifest"),
            Ok(Some(vec![1, 2]))
        );
        fs::write(&path, b"[1,").unwrap();
        let err = read_json::<Vec<u32>>(&path, "manifest").unwrap_err();
        assert!(err.contains("manifest.json: corrupt manifest"), "{err}");
    }

    #[test]
    fn failed_write_is_a_500_with_the_error() {
        let r = write_failed("disk full".into());
        assert_eq!(r.status, 500);
        assert_eq!(r.json_body()["error"], "disk full");
    }

    #[test]
    fn corrupt_store_is_refused() {
        let dir = tempdir("corrupt");
        fs::write(dir.join("s.json"), b"{\"a\": 1").unwrap();
        let err = JsonFile::<BTreeMap<String, u32>>::open(dir.join("s.json"))
            .err()
            .unwrap();
        assert!(err.contains("corrupt JSON store"), "{err}");
    }

    #[test]
    fn stale_temp_files_are_removed_when_a_store_opens() {
        let dir = tempdir("stale");
        fs::create_dir_all(dir.join("s1")).unwrap();
        // What kill -9 during atomic_write leaves, beside files that only look similar.
        for name in [
            ".s.json.tmp-7-0",
            ".s.json.tmp-4242-17",
            "s1/.0.zst.tmp-9-3",
        ] {
            fs::write(dir.join(name), b"half").unwrap();
        }
        for keep in ["s.json.tmp-7-0", ".s.json.tmp-x-1", ".tmp-1-2", "s1/0.zst"] {
            fs::write(dir.join(keep), b"keep").unwrap();
        }
        let store: JsonFile<BTreeMap<String, u32>> = JsonFile::open(dir.join("s.json")).unwrap();
        store.update(|m| Ok(m.insert("a".into(), 1))).unwrap();
        assert!(!dir.join(".s.json.tmp-7-0").exists());
        assert!(!dir.join(".s.json.tmp-4242-17").exists());
        // A store opens its own directory only; a data directory is swept whole.
        assert!(dir.join("s1/.0.zst.tmp-9-3").exists());
        create_data_dir("X_DATA_DIR", &dir).unwrap();
        assert!(!dir.join("s1/.0.zst.tmp-9-3").exists());
        for keep in [
            "s.json.tmp-7-0",
            ".s.json.tmp-x-1",
            ".tmp-1-2",
            "s1/0.zst",
            "s.json",
        ] {
            assert!(dir.join(keep).exists(), "{keep} was removed");
        }
    }

    #[test]
    fn concurrent_writers_of_one_path_all_succeed_and_leave_one_whole_version() {
        let dir = tempdir("concurrent");
        let path = dir.join("doc.json");
        let writers: Vec<_> = (0..8u8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    (0..25).try_for_each(|_| atomic_write(&path, &[b'0' + i; 4096]))
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap().expect("every concurrent write succeeds");
        }
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(
            bytes.iter().all(|b| *b == bytes[0]),
            "one writer's version, whole"
        );
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
