//! The local `file://` backend: `<dir>/<stack>.json` snapshots written atomically (temp file,
//! fsync, rename, fsync of the directory), an append-only `<stack>.journal` during apply,
//! previous snapshots under `<dir>/.history/<stack>/<serial>.json`, and a lock file per stack
//! under `<dir>/.locks/` that names its holder.
//!
//! Checkpoint cost: an operation appends one short journal line (O(1)), instead of rewriting
//! the whole stack (O(n) per step, O(n²) per apply). The journal survives a killed process as
//! soon as `write` returns; set `TERRACE_JOURNAL_FSYNC=1` to also fsync every entry against
//! power loss. The snapshot at the end of a stack is fsynced.

use super::backend::{Backend, LockInfo, StateError};
use super::{JournalEntry, StackState};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many previous snapshots are kept per stack.
pub const HISTORY_KEEP: usize = 20;

#[derive(Debug, Serialize, Deserialize)]
struct JournalHeader {
    base_serial: u64,
    lineage: String,
}

/// State in a local directory.
pub struct FileBackend {
    dir: PathBuf,
    fsync_journal: bool,
    journals: Mutex<HashMap<String, File>>,
}

impl FileBackend {
    /// State under `dir`.
    pub fn new(dir: PathBuf) -> FileBackend {
        let fsync_journal = std::env::var("TERRACE_JOURNAL_FSYNC").is_ok_and(|v| v == "1");
        FileBackend {
            dir,
            fsync_journal,
            journals: Mutex::new(HashMap::new()),
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn snapshot_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
    }

    fn journal_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.journal"))
    }

    fn lock_path(&self, stack: &str) -> PathBuf {
        self.dir.join(".locks").join(format!("{stack}.lock"))
    }

    fn history_dir(&self, stack: &str) -> PathBuf {
        self.dir.join(".history").join(stack)
    }

    fn read_snapshot(&self, stack: &str) -> Result<Option<StackState>, StateError> {
        let path = self.snapshot_path(stack);
        read_json(&path)
    }

    /// Replays the journal over `snapshot`. A journal for an older snapshot (a crash between
    /// saving the snapshot and removing the journal) is ignored; a torn last line is ignored.
    fn replay(
        &self,
        stack: &str,
        snapshot: Option<StackState>,
    ) -> Result<Option<StackState>, StateError> {
        let path = self.journal_path(stack);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(snapshot),
            Err(e) => return Err(StateError::io(&path, e)),
        };
        let mut lines = BufReader::new(file).lines();
        let header: JournalHeader = match lines.next() {
            Some(Ok(line)) => match serde_json::from_str(&line) {
                Ok(header) => header,
                Err(_) => return Ok(snapshot),
            },
            _ => return Ok(snapshot),
        };
        let snapshot_serial = snapshot.as_ref().map(|s| s.serial).unwrap_or(0);
        if header.base_serial != snapshot_serial {
            return Ok(snapshot);
        }
        let lines: Vec<String> = lines
            .collect::<Result<_, _>>()
            .map_err(|e| StateError::io(&path, e))?;
        let entries = lines.iter().map(|line| line.as_bytes());
        let state = StackState::replayed(stack, snapshot, &header.lineage, entries);
        Ok(Some(state))
    }

    /// Opens the journal for appending after the snapshot of `base_serial`. A journal left by
    /// a crash after an older snapshot was saved (or with a torn header) is stale: it is
    /// started afresh, so that new entries are never hidden behind an old header.
    fn open_journal(&self, stack: &str, base_serial: u64) -> Result<File, StateError> {
        let path = self.journal_path(stack);
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| StateError::io(dir, e))?;
        let current = File::open(&path).ok().and_then(|f| {
            let mut first = String::new();
            BufReader::new(f).read_line(&mut first).ok()?;
            serde_json::from_str::<JournalHeader>(&first).ok()
        });
        let usable = current.is_some_and(|h| h.base_serial == base_serial);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StateError::io(&path, e))?;
        if !usable {
            file.set_len(0).map_err(|e| StateError::io(&path, e))?;
            let lineage = self
                .read_snapshot(stack)?
                .map(|s| s.lineage)
                .unwrap_or_default();
            let mut bytes = serde_json::to_vec(&JournalHeader {
                base_serial,
                lineage,
            })
            .expect("header serializes");
            bytes.push(b'\n');
            file.write_all(&bytes)
                .map_err(|e| StateError::io(&path, e))?;
        }
        Ok(file)
    }

    fn keep_previous(&self, stack: &str, previous: &StackState) -> Result<(), StateError> {
        let dir = self.history_dir(stack);
        fs::create_dir_all(&dir).map_err(|e| StateError::io(&dir, e))?;
        let from = self.snapshot_path(stack);
        let to = dir.join(format!("{}.json", previous.serial));
        fs::copy(&from, &to).map_err(|e| StateError::io(&to, e))?;
        let mut serials = history_serials(&dir)?;
        while serials.len() > HISTORY_KEEP {
            let oldest = serials.remove(0);
            let _ = fs::remove_file(dir.join(format!("{oldest}.json")));
        }
        Ok(())
    }
}

/// A JSON file, `None` if it does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::io(path, e)),
    }
}

fn history_serials(dir: &Path) -> Result<Vec<u64>, StateError> {
    let mut serials: Vec<u64> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.path().file_stem()?.to_str()?.parse().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StateError::io(dir, e)),
    };
    serials.sort_unstable();
    Ok(serials)
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// of the directory. A crash leaves either the old or the new file, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| StateError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| StateError::io(path, e))
}

#[async_trait]
impl Backend for FileBackend {
    async fn load(&self, stack: &str) -> Result<Option<StackState>, StateError> {
        let snapshot = self.read_snapshot(stack)?;
        let snapshot_serial = snapshot.as_ref().map(|s| s.serial);
        Ok(self.replay(stack, snapshot)?.map(|mut state| {
            state.snapshot_serial = snapshot_serial;
            state
        }))
    }

    async fn append(
        &self,
        stack: &str,
        base_serial: u64,
        entry: &JournalEntry,
    ) -> Result<(), StateError> {
        let path = self.journal_path(stack);
        let mut line = serde_json::to_vec(entry).expect("journal entries serialize");
        line.push(b'\n');
        let mut journals = self.journals.lock().expect("journal lock");
        if !journals.contains_key(stack) {
            let file = self.open_journal(stack, base_serial)?;
            journals.insert(stack.to_string(), file);
        }
        let file = journals.get_mut(stack).expect("just inserted");
        file.write_all(&line)
            .map_err(|e| StateError::io(&path, e))?;
        if self.fsync_journal {
            file.sync_data().map_err(|e| StateError::io(&path, e))?;
        }
        Ok(())
    }

    async fn save(&self, state: &StackState, expected: Option<u64>) -> Result<(), StateError> {
        let current = self.read_snapshot(&state.stack)?;
        let found = current.as_ref().map(|s| s.serial);
        if found != expected {
            return Err(StateError::SerialConflict {
                stack: state.stack.clone(),
                expected,
                found,
            });
        }
        if let Some(current) = &current {
            if current.lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    stack: state.stack.clone(),
                    expected: state.lineage.clone(),
                    found: current.lineage.clone(),
                });
            }
            self.keep_previous(&state.stack, current)?;
        }
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        write_atomic(&self.snapshot_path(&state.stack), &bytes)?;
        self.journals
            .lock()
            .expect("journal lock")
            .remove(&state.stack);
        let journal = self.journal_path(&state.stack);
        match fs::remove_file(&journal) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::io(&journal, e)),
        }
    }

    async fn lock(&self, stack: &str, info: &LockInfo) -> Result<(), StateError> {
        let path = self.lock_path(stack);
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| StateError::io(dir, e))?;
        // Write the holder to a private file, then hard-link it into place: the link either
        // fails (someone holds the lock) or publishes a complete lock file atomically.
        let tmp = dir.join(format!(".{}.{}", info.id, std::process::id()));
        let bytes = serde_json::to_vec_pretty(info).expect("lock info serializes");
        fs::write(&tmp, bytes).map_err(|e| StateError::io(&tmp, e))?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = self
                    .lock_info(stack)
                    .await?
                    .unwrap_or_else(LockInfo::unknown);
                Err(StateError::Locked {
                    stack: stack.to_string(),
                    holder: Box::new(holder),
                })
            }
            Err(e) => Err(StateError::io(&path, e)),
        }
    }

    async fn unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        match self.lock_info(stack).await? {
            Some(info) if info.id == lock_id => {
                let path = self.lock_path(stack);
                fs::remove_file(&path).map_err(|e| StateError::io(&path, e))
            }
            _ => Ok(()),
        }
    }

    async fn force_unlock(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        let info = self.lock_info(stack).await?;
        let path = self.lock_path(stack);
        match fs::remove_file(&path) {
            Ok(()) => Ok(info),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::io(&path, e)),
        }
    }

    async fn lock_info(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path(stack);
        read_json(&path)
    }

    async fn list(&self) -> Result<Vec<String>, StateError> {
        let mut stacks = Vec::new();
        collect_stacks(&self.dir, &self.dir, &mut stacks)?;
        stacks.sort();
        stacks.dedup();
        Ok(stacks)
    }

    async fn history(&self, stack: &str) -> Result<Vec<u64>, StateError> {
        history_serials(&self.history_dir(stack))
    }

    async fn retire(&self, stack: &str, expected: Option<u64>) -> Result<bool, StateError> {
        let Some(current) = self.read_snapshot(stack)? else {
            return Ok(false);
        };
        if Some(current.serial) != expected {
            return Err(StateError::SerialConflict {
                stack: stack.to_string(),
                expected,
                found: Some(current.serial),
            });
        }
        self.keep_previous(stack, &current)?;
        self.journals.lock().expect("journal lock").remove(stack);
        for path in [self.journal_path(stack), self.snapshot_path(stack)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StateError::io(&path, e)),
            }
        }
        Ok(true)
    }
}

fn collect_stacks(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), StateError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StateError::io(dir, e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_stacks(root, &path, out)?;
        } else if let Some(stem) = name
            .strip_suffix(".json")
            .or_else(|| name.strip_suffix(".journal"))
        {
            let rel = path
                .parent()
                .unwrap_or(root)
                .strip_prefix(root)
                .unwrap_or(Path::new(""));
            let stack = rel.join(stem).to_string_lossy().replace('\\', "/");
            out.push(stack);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{OperationKind, PendingOperation, ResourceState};

    fn backend() -> (tempfile::TempDir, FileBackend) {
        let dir = tempfile::tempdir().unwrap();
        let backend = FileBackend::new(dir.path().join("state"));
        (dir, backend)
    }

    fn resource(id: &str) -> ResourceState {
        ResourceState::new("test:Network", id)
    }

    #[tokio::test]
    async fn save_is_compare_and_swap_and_keeps_history() {
        let (_dir, backend) = backend();
        let mut state = StackState::new("networks/eu/a");
        state.serial = 1;
        backend.save(&state, None).await.unwrap();
        let err = backend.save(&state, None).await.unwrap_err();
        assert!(
            matches!(err, StateError::SerialConflict { found: Some(1), .. }),
            "{err}"
        );
        state.serial = 2;
        backend.save(&state, Some(1)).await.unwrap();
        assert_eq!(
            backend.load("networks/eu/a").await.unwrap().unwrap().serial,
            2
        );
        assert_eq!(backend.history("networks/eu/a").await.unwrap(), vec![1]);
        assert_eq!(
            backend.list().await.unwrap(),
            vec!["networks/eu/a".to_string()]
        );
    }

    #[tokio::test]
    async fn journal_replays_over_snapshot_and_counts_as_a_new_serial() {
        let (_dir, backend) = backend();
        let mut state = StackState::new("s");
        state.serial = 3;
        backend.save(&state, None).await.unwrap();
        let op = PendingOperation {
            id: "op".into(),
            resource: "a".into(),
            kind: OperationKind::Create,
            type_name: "test:Network".into(),
            region: None,
            idempotency_key: "k".into(),
            target_id: None,
            started_at: chrono::Utc::now(),
            inputs: None,
        };
        backend
            .append(
                "s",
                3,
                &JournalEntry::Begin {
                    operation: op.clone(),
                },
            )
            .await
            .unwrap();
        let loaded = backend.load("s").await.unwrap().unwrap();
        assert_eq!(loaded.serial, 4);
        assert_eq!(loaded.pending, vec![op]);
        let done = JournalEntry::Done {
            operation: "op".into(),
            resource: "a".into(),
            state: Some(Box::new(resource("i-1"))),
        };
        backend.append("s", 3, &done).await.unwrap();
        // A torn last line (a write killed midway) is ignored.
        let path = backend.journal_path("s");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"entry\":\"begin\",\"operat").unwrap();
        let loaded = backend.load("s").await.unwrap().unwrap();
        assert!(loaded.pending.is_empty());
        assert_eq!(loaded.resources["a"].id, "i-1");
        let mut next = loaded.clone();
        backend.save(&next, Some(3)).await.unwrap();
        assert!(!path.exists(), "saving a snapshot clears the journal");
        next.serial += 1;
        assert_eq!(backend.load("s").await.unwrap().unwrap().serial, 4);
    }

    #[tokio::test]
    async fn a_stale_journal_never_hides_new_entries() {
        let (_dir, backend) = backend();
        let mut state = StackState::new("s");
        state.serial = 4;
        backend.save(&state, None).await.unwrap();
        // A crash between saving snapshot 4 and removing the journal of snapshot 2.
        fs::write(
            backend.journal_path("s"),
            "{\"base_serial\":2,\"lineage\":\"x\"}\n",
        )
        .unwrap();
        assert_eq!(
            backend.load("s").await.unwrap().unwrap().serial,
            4,
            "the stale journal is ignored"
        );
        let done = JournalEntry::Done {
            operation: "op".into(),
            resource: "a".into(),
            state: Some(Box::new(resource("i-9"))),
        };
        backend.append("s", 4, &done).await.unwrap();
        let loaded = backend.load("s").await.unwrap().unwrap();
        assert_eq!(loaded.serial, 5);
        assert_eq!(loaded.resources["a"].id, "i-9", "the new entry is replayed");
    }

    #[tokio::test]
    async fn lock_names_its_holder_and_only_the_holder_unlocks() {
        let (_dir, backend) = backend();
        let first = LockInfo::for_operation("apply");
        backend.lock("s", &first).await.unwrap();
        let second = LockInfo::for_operation("plan");
        match backend.lock("s", &second).await.unwrap_err() {
            StateError::Locked { holder, .. } => assert_eq!(holder.id, first.id),
            other => panic!("unexpected {other}"),
        }
        backend.unlock("s", &second.id).await.unwrap();
        assert_eq!(backend.lock_info("s").await.unwrap().unwrap().id, first.id);
        backend.unlock("s", &first.id).await.unwrap();
        backend.lock("s", &second).await.unwrap();
        assert_eq!(
            backend.force_unlock("s").await.unwrap().unwrap().id,
            second.id
        );
        assert!(backend.lock_info("s").await.unwrap().is_none());
    }
}
