//! The block log: `<dir>/chain.jsonl`, one block per line, and `<dir>/head.json`, the height and
//! hash of the last acknowledged block.
//!
//! - A block's hash is SHA-256 of `"lucid/block/v1\n{height}\n{prev_hash}\n{timestamp}\n"`
//!   followed by the exact bytes of its `data`; each block names its predecessor's hash
//!   (the first one names 64 zeros).
//! - Append: write the line, fsync the file, then replace `head.json` atomically; only then is
//!   the block acknowledged.
//! - Open: every line must parse, heights must count up from 0, every `prev_hash` must match and
//!   every hash must recompute — and the chain must reach the block `head.json` records, so a file
//!   cut at a line boundary is caught too. A block past the head (a crash after the fsync and
//!   before the head was written) is kept: it was written completely and verifies.

use lucid_runtime::ids::{now_unix, to_hex};
use lucid_runtime::storage::atomic_write;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Block {
    pub height: u64,
    pub prev_hash: String,
    pub timestamp: u64,
    pub data: Box<RawValue>,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub height: u64,
    pub hash: String,
}

pub fn block_hash(height: u64, prev_hash: &str, timestamp: u64, data: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "lucid/block/v1\n{height}\n{prev_hash}\n{timestamp}\n"
    ));
    h.update(data.as_bytes());
    to_hex(&h.finalize())
}

impl Block {
    pub fn computed_hash(&self) -> String {
        block_hash(
            self.height,
            &self.prev_hash,
            self.timestamp,
            self.data.get(),
        )
    }
}

/// Why an append was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The caller expected another predecessor (someone else appended first).
    PrevMismatch {
        expected: String,
        head: String,
    },
    Io(String),
}

pub struct Ledger {
    dir: PathBuf,
    file: File,
    blocks: Vec<Block>,
}

fn chain_path(dir: &Path) -> PathBuf {
    dir.join("chain.jsonl")
}

fn head_path(dir: &Path) -> PathBuf {
    dir.join("head.json")
}

/// Reads and verifies the chain file; the error names the file and the first bad line.
pub fn verify_file(path: &Path) -> Result<Vec<Block>, String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let at = |n: usize, what: String| format!("{}: line {}: {what}", path.display(), n + 1);
    let mut blocks: Vec<Block> = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    for n in 0.. {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| at(n, e.to_string()))?;
        if read == 0 {
            break;
        }
        let Some(text) = line.strip_suffix('\n') else {
            return Err(at(n, "truncated: the last block has no line end".into()));
        };
        let block: Block =
            serde_json::from_str(text).map_err(|e| at(n, format!("not a block: {e}")))?;
        let (want_height, want_prev) = match blocks.last() {
            None => (0, GENESIS_PREV),
            Some(prev) => (prev.height + 1, prev.hash.as_str()),
        };
        if block.height != want_height {
            return Err(at(
                n,
                format!("height {} where {want_height} was expected", block.height),
            ));
        }
        if block.prev_hash != want_prev {
            return Err(at(
                n,
                format!("block {} does not link to its predecessor", block.height),
            ));
        }
        if block.computed_hash() != block.hash {
            return Err(at(
                n,
                format!("block {}: hash does not match its contents", block.height),
            ));
        }
        blocks.push(block);
    }
    Ok(blocks)
}

fn read_head(dir: &Path) -> Result<Option<Head>, String> {
    let path = head_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: corrupt: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl Ledger {
    /// Opens and verifies the ledger in `dir`; a broken chain is an error, never repaired silently.
    pub fn open(dir: &Path) -> Result<Ledger, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = chain_path(dir);
        let blocks = verify_file(&path)?;
        if let Some(head) = read_head(dir)? {
            match blocks.get(head.height as usize) {
                Some(b) if b.hash == head.hash => {}
                Some(_) => {
                    return Err(format!(
                        "{}: block {} differs from the acknowledged head in {}",
                        path.display(),
                        head.height,
                        head_path(dir).display()
                    ))
                }
                None => {
                    return Err(format!(
                        "{}: truncated: {} blocks, but block {} was acknowledged ({})",
                        path.display(),
                        blocks.len(),
                        head.height,
                        head_path(dir).display()
                    ))
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let ledger = Ledger {
            dir: dir.to_path_buf(),
            file,
            blocks,
        };
        ledger.write_head().map_err(|e| match e {
            AppendError::Io(m) => m,
            other => format!("{other:?}"),
        })?;
        Ok(ledger)
    }

    fn write_head(&self) -> Result<(), AppendError> {
        let Some(last) = self.blocks.last() else {
            return Ok(());
        };
        let head = Head {
            height: last.height,
            hash: last.hash.clone(),
        };
        let path = head_path(&self.dir);
        let bytes = serde_json::to_vec(&head).map_err(|e| AppendError::Io(e.to_string()))?;
        atomic_write(&path, &bytes).map_err(|e| AppendError::Io(format!("{}: {e}", path.display())))
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn head(&self) -> Option<&Block> {
        self.blocks.last()
    }

    /// Appends a block holding `data`; with `expected_prev`, only if that is the current head's
    /// hash (compare-and-append for concurrent writers). Returns once it is durable.
    pub fn append(
        &mut self,
        data: &serde_json::Value,
        expected_prev: Option<&str>,
    ) -> Result<Block, AppendError> {
        let prev = self
            .blocks
            .last()
            .map_or(GENESIS_PREV, |b| b.hash.as_str())
            .to_string();
        if let Some(expected) = expected_prev {
            if expected != prev {
                return Err(AppendError::PrevMismatch {
                    expected: expected.into(),
                    head: prev,
                });
            }
        }
        let height = self.blocks.len() as u64;
        let timestamp = now_unix();
        // Compact JSON has no raw newline, so one block stays one line.
        let data = serde_json::to_string(data)
            .and_then(RawValue::from_string)
            .map_err(|e| AppendError::Io(e.to_string()))?;
        let block = Block {
            height,
            hash: block_hash(height, &prev, timestamp, data.get()),
            prev_hash: prev,
            timestamp,
            data,
        };
        let mut line = serde_json::to_vec(&block).map_err(|e| AppendError::Io(e.to_string()))?;
        line.push(b'\n');
        let path = chain_path(&self.dir);
        let len_before = self
            .file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| AppendError::Io(format!("{}: {e}", path.display())))?;
        if let Err(e) = self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
        {
            // Cut a partial line back off so that the file still verifies.
            let _ = self.file.set_len(len_before);
            return Err(AppendError::Io(format!("{}: {e}", path.display())));
        }
        self.blocks.push(block.clone());
        self.write_head()?;
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        PathBuf::from(lucid_runtime::testing::temp_dir(&format!("ledger-{tag}")))
    }

    fn three_blocks(d: &Path) {
        let mut l = Ledger::open(d).unwrap();
        for i in 0..3 {
            l.append(&(serde_json::json!({ "n": i, "text": "a\nb" })), None)
                .unwrap();
        }
    }

    #[test]
    fn appended_blocks_link_and_survive_a_reopen() {
        let d = dir("reopen");
        three_blocks(&d);
        let l = Ledger::open(&d).unwrap();
        assert_eq!(l.blocks().len(), 3);
        assert_eq!(l.blocks()[0].prev_hash, GENESIS_PREV);
        assert_eq!(l.blocks()[2].prev_hash, l.blocks()[1].hash);
        assert_eq!(l.blocks()[1].data.get(), r#"{"n":1,"text":"a\nb"}"#);
    }

    #[test]
    fn compare_and_append_refuses_a_stale_predecessor() {
        let d = dir("cas");
        let mut l = Ledger::open(&d).unwrap();
        let first = l
            .append(&(serde_json::json!(1)), Some(GENESIS_PREV))
            .unwrap();
        let err = l
            .append(&(serde_json::json!(2)), Some(GENESIS_PREV))
            .unwrap_err();
        assert!(matches!(err, AppendError::PrevMismatch { head, .. } if head == first.hash));
        assert!(l.append(&(serde_json::json!(2)), Some(&first.hash)).is_ok());
    }

    #[test]
    fn corrupted_block_is_detected_at_open() {
        let d = dir("corrupt");
        three_blocks(&d);
        let path = chain_path(&d);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen(r#""n":1"#, r#""n":7"#, 1)).unwrap();
        let err = Ledger::open(&d).err().unwrap();
        assert!(
            err.contains("line 2") && err.contains("hash does not match"),
            "{err}"
        );
    }

    #[test]
    fn relinked_block_is_detected_at_open() {
        let d = dir("relink");
        three_blocks(&d);
        let path = chain_path(&d);
        let lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        // Drop the middle block: block 2 no longer follows block 0.
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        let err = Ledger::open(&d).err().unwrap();
        assert!(err.contains("line 2") && err.contains("height 2"), "{err}");
    }

    #[test]
    fn file_truncated_mid_block_is_detected_at_open() {
        let d = dir("truncated-mid");
        three_blocks(&d);
        let path = chain_path(&d);
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let err = Ledger::open(&d).err().unwrap();
        assert!(err.contains("line 3") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn file_truncated_at_a_block_boundary_is_detected_at_open() {
        let d = dir("truncated-boundary");
        three_blocks(&d);
        let path = chain_path(&d);
        let text = std::fs::read_to_string(&path).unwrap();
        let keep: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, keep).unwrap();
        let err = Ledger::open(&d).err().unwrap();
        assert!(
            err.contains("truncated") && err.contains("block 2 was acknowledged"),
            "{err}"
        );
    }

    #[test]
    fn block_written_before_its_head_update_is_kept() {
        let d = dir("crash-window");
        three_blocks(&d);
        // As if the process died after the fsync of block 2 and before head.json named it.
        let l = Ledger::open(&d).unwrap();
        let b1 = &l.blocks()[1];
        let head = Head {
            height: 1,
            hash: b1.hash.clone(),
        };
        std::fs::write(head_path(&d), serde_json::to_vec(&head).unwrap()).unwrap();
        drop(l);
        let l = Ledger::open(&d).unwrap();
        assert_eq!(l.blocks().len(), 3);
        assert_eq!(read_head(&d).unwrap().unwrap().height, 2);
    }
}
