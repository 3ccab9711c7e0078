//! `<state.dir>/decisions.jsonl`: one JSON entry per line, appended and fsynced, never
//! rewritten. A crash in the middle of an append leaves a last line without its newline:
//! it is detected at the next open, cut off (it never was an entry) and logged. Any
//! other line that is not an entry is an error: the log is a record, and a damaged one is
//! not silently skipped. Without a `state` section the log lives in memory only.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Entry, Status};

/// The file's name in the state directory.
pub const FILE: &str = "decisions.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot use the decision log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the decision log {} is in use by another slipstream process; give each instance \
         its own state.dir",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error(
        "the decision log {} is damaged at line {line}: {message}; it is append-only, so \
         restore it from a backup, or move it away to start a new log",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

pub struct DecisionLog {
    file: Option<(PathBuf, File)>,
    entries: Vec<Entry>,
}

impl DecisionLog {
    /// A log that is not kept anywhere but in this process.
    pub fn in_memory() -> DecisionLog {
        DecisionLog {
            file: None,
            entries: Vec::new(),
        }
    }

    /// Opens (or creates) the log in `dir`, and reads every entry.
    pub fn open(dir: &Path) -> Result<DecisionLog, LogError> {
        let path = dir.join(FILE);
        let io = |source| LogError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        // One writer: a second process on the same directory would interleave its lines.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LogError::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let bytes = std::fs::read(&path).map_err(io)?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            tracing::warn!(
                "the last line of the decision log {} is incomplete ({} bytes, a crash while \
                 it was written): it is not an entry and is cut off",
                path.display(),
                bytes.len() - complete
            );
            file.set_len(complete as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let mut entries = Vec::new();
        for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let entry = serde_json::from_slice(line).map_err(|e| LogError::Corrupt {
                path: path.clone(),
                line: i + 1,
                message: e.to_string(),
            })?;
            entries.push(entry);
        }
        Ok(DecisionLog {
            file: Some((path, file)),
            entries,
        })
    }

    /// Where the log is kept, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// Appends `entries` in one write, durably (fsync) before they count as logged.
    pub fn append(&mut self, entries: Vec<Entry>) -> Result<(), LogError> {
        if entries.is_empty() {
            return Ok(());
        }
        if let Some((path, file)) = &mut self.file {
            let mut text = Vec::new();
            for entry in &entries {
                serde_json::to_writer(&mut text, entry).expect("an entry serializes");
                text.push(b'\n');
            }
            let io = |source| LogError::Io {
                path: path.clone(),
                source,
            };
            file.write_all(&text).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        self.entries.extend(entries);
        Ok(())
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The last applied definition of each SLO that exists (was added or modified last,
    /// not removed), by name.
    pub fn applied(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for e in self.entries.iter().filter(|e| e.status == Status::Applied) {
            match &e.new {
                Some(definition) => out.insert(e.slo.clone(), definition.clone()),
                None => out.remove(&e.slo),
            };
        }
        out
    }

    /// The newest entry of a change id.
    pub fn latest(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.id == id)
    }

    /// The changes waiting for approvals: the newest entry of each id, when pending.
    pub fn pending(&self) -> Vec<&Entry> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<&Entry> = self
            .entries
            .iter()
            .rev()
            .filter(|e| seen.insert(e.id.as_str()) && e.status == Status::Pending)
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::decisions::Change;

    fn entry(slo: &str, status: Status, new: Option<Value>) -> Entry {
        Entry {
            id: format!("id-{slo}"),
            time: "2026-11-21T12:00:00.000Z".into(),
            slo: slo.into(),
            change: Change::Added,
            old: None,
            new,
            fields: Vec::new(),
            reason: None,
            author: None,
            status,
            approvals: Vec::new(),
            payload: None,
        }
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "slipstream-decisions-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_survive_a_reopen_and_a_torn_last_line_is_cut_off() {
        let dir = dir("torn");
        let mut log = DecisionLog::open(&dir).unwrap();
        log.append(vec![
            entry("a", Status::Applied, Some(json!({ "objective": 99 }))),
            entry("b", Status::Applied, Some(json!({}))),
        ])
        .unwrap();
        log.append(vec![entry("b", Status::Applied, None)]).unwrap();
        drop(log);
        let path = dir.join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(br#"{"id":"x","time":"2026-11"#);
        std::fs::write(&path, &bytes).unwrap();

        let mut log = DecisionLog::open(&dir).unwrap();
        assert!(matches!(
            DecisionLog::open(&dir),
            Err(LogError::Locked { .. })
        ));
        assert_eq!(log.entries().len(), 3);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole as u64);
        assert_eq!(log.applied().keys().collect::<Vec<_>>(), ["a"]);
        log.append(vec![entry("c", Status::Pending, None)]).unwrap();
        drop(log);
        let log = DecisionLog::open(&dir).unwrap();
        assert_eq!(log.entries().len(), 4);
        assert_eq!(log.pending().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_line_inside_the_log_is_an_error_naming_it() {
        let dir = dir("damaged");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE), "{\"id\":1}\n").unwrap();
        let message = DecisionLog::open(&dir).err().unwrap().to_string();
        assert!(message.contains("line 1"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pending_is_the_newest_entry_of_each_change() {
        let mut log = DecisionLog::in_memory();
        let mut approved = entry("a", Status::Pending, None);
        log.append(vec![approved.clone(), entry("b", Status::Pending, None)])
            .unwrap();
        approved.status = Status::Approved;
        log.append(vec![approved]).unwrap();
        let pending: Vec<&str> = log.pending().iter().map(|e| e.slo.as_str()).collect();
        assert_eq!(pending, ["b"]);
        assert_eq!(log.latest("id-a").unwrap().status, Status::Approved);
    }
}
