//! Checkpoint files: framing, atomic writes and the choice of the newest good file.
//!
//! ```text
//!  "SLIPCKPT" | version u32 | body … | body length u64 | CRC-32 of body u32 | "TPKCPILS"
//! ```
//!
//! A file is written under a temporary name, fsynced, renamed into place and the directory
//! fsynced: a crash at any moment leaves either the previous set of files or the new one.
//! A truncated or corrupted file fails its length or checksum check and is skipped, with
//! the reason, in favour of the one before it; the last [`KEEP`] files are kept for that.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::StateError;
use crate::config::Config;
use crate::engine::{Checkpoint, Engine, Restored, SourcePosition};
use crate::state::codec::CodecError;

const MAGIC: &[u8; 8] = b"SLIPCKPT";
const TRAILER_MAGIC: &[u8; 8] = b"TPKCPILS";
/// Bumped on any change of the body's encoding; format 1 is still read, newer ones are
/// refused by name.
const VERSION: u32 = crate::engine::CHECKPOINT_FORMAT;
const HEADER: usize = 12;
const TRAILER: usize = 20;
/// Checkpoints kept: the newest, and older ones to fall back on if it is damaged.
pub const KEEP: usize = 3;

/// Why a checkpoint file was not used.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    #[error("cannot read it: {0}")]
    Io(std::io::Error),
    #[error("it is truncated or not a checkpoint ({0})")]
    Truncated(&'static str),
    #[error("it was written by format version {0}; this build reads version {VERSION}")]
    Version(u32),
    #[error("its checksum does not match: the file is corrupt")]
    Checksum,
    #[error("its content is malformed: {0}")]
    Decode(CodecError),
}

/// Reasons as metric labels, indexed like [`LoadFailure::reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadReason {
    Io,
    Truncated,
    Version,
    Checksum,
    Decode,
}

impl LoadFailure {
    pub fn reason(&self) -> LoadReason {
        match self {
            LoadFailure::Io(_) => LoadReason::Io,
            LoadFailure::Truncated(_) => LoadReason::Truncated,
            LoadFailure::Version(_) => LoadReason::Version,
            LoadFailure::Checksum => LoadReason::Checksum,
            LoadFailure::Decode(_) => LoadReason::Decode,
        }
    }
}

impl LoadReason {
    pub const ALL: [LoadReason; 5] = [
        LoadReason::Io,
        LoadReason::Truncated,
        LoadReason::Version,
        LoadReason::Checksum,
        LoadReason::Decode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadReason::Io => "io",
            LoadReason::Truncated => "truncated",
            LoadReason::Version => "version",
            LoadReason::Checksum => "checksum",
            LoadReason::Decode => "decode",
        }
    }
}

/// Reads and checks one checkpoint file, and restores an engine from it.
pub fn load(path: &Path, config: &Config) -> Result<(Engine, Restored), LoadFailure> {
    let bytes = std::fs::read(path).map_err(LoadFailure::Io)?;
    let (body, version) = check(&bytes)?;
    Engine::restore_version(config, body, version).map_err(LoadFailure::Decode)
}

/// The body of a checkpoint file, once its framing and checksum hold.
fn check(bytes: &[u8]) -> Result<(&[u8], u32), LoadFailure> {
    if bytes.len() < HEADER + TRAILER || &bytes[..8] != MAGIC {
        return Err(LoadFailure::Truncated("no header"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !(1..=VERSION).contains(&version) {
        return Err(LoadFailure::Version(version));
    }
    let trailer = &bytes[bytes.len() - TRAILER..];
    if &trailer[12..] != TRAILER_MAGIC {
        return Err(LoadFailure::Truncated("no trailer"));
    }
    let len = u64::from_le_bytes(trailer[..8].try_into().expect("8 bytes"));
    let body = &bytes[HEADER..bytes.len() - TRAILER];
    if len != body.len() as u64 {
        return Err(LoadFailure::Truncated("length mismatch"));
    }
    let crc = u32::from_le_bytes(trailer[8..12].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return Err(LoadFailure::Checksum);
    }
    Ok((body, version))
}

/// A state directory, locked for this process.
pub struct StateStore {
    dir: PathBuf,
    /// Held (with its lock) for the life of the store.
    _lock: File,
    next_seq: u64,
    /// The positions of the newest checkpoint written or restored.
    last_positions: Vec<SourcePosition>,
}

impl StateStore {
    /// Creates `dir` if needed, locks it, and removes temporary files a crash left.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        let io = |source| StateError::Dir {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    dir: dir.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        for entry in std::fs::read_dir(dir).map_err(io)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let mut store = StateStore {
            dir: dir.to_owned(),
            _lock: lock,
            next_seq: 0,
            last_positions: Vec::new(),
        };
        store.next_seq = store.sequence().last().map_or(1, |(seq, _)| seq + 1);
        Ok(store)
    }

    /// Checkpoint files, oldest first.
    pub fn checkpoints(&self) -> Vec<PathBuf> {
        self.sequence().into_iter().map(|(_, p)| p).collect()
    }

    fn sequence(&self) -> Vec<(u64, PathBuf)> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let seq = name.strip_prefix("checkpoint-")?.strip_suffix(".slip")?;
                Some((seq.parse().ok()?, e.path()))
            })
            .collect();
        files.sort();
        files
    }

    pub fn last_positions(&self) -> &[SourcePosition] {
        &self.last_positions
    }

    /// Notes the positions of the checkpoint the engine was restored from.
    pub fn restored(&mut self, positions: Vec<SourcePosition>) {
        self.last_positions = positions;
    }

    /// Writes `checkpoint` durably as the newest file, then drops all but the newest
    /// [`KEEP`]. Returns its size in bytes.
    pub fn write(&mut self, checkpoint: &Checkpoint) -> Result<u64, StateError> {
        let name = format!("checkpoint-{:020}.slip", self.next_seq);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let failed = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        let size = write_file(&tmp, checkpoint).map_err(failed)?;
        std::fs::rename(&tmp, &path).map_err(failed)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
        self.next_seq += 1;
        self.last_positions = checkpoint.positions().to_vec();
        let files = self.checkpoints();
        for old in &files[..files.len().saturating_sub(KEEP)] {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!("cannot remove old checkpoint {}: {e}", old.display());
            }
        }
        Ok(size)
    }
}

fn write_file(tmp: &Path, checkpoint: &Checkpoint) -> std::io::Result<u64> {
    let file = File::create(tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC)?;
    out.write_all(&VERSION.to_le_bytes())?;
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    let mut result = Ok(());
    checkpoint.write(|piece| {
        if result.is_ok() {
            crc.update(piece);
            len += piece.len() as u64;
            result = out.write_all(piece);
        }
    });
    result?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&crc.finalize().to_le_bytes())?;
    out.write_all(TRAILER_MAGIC)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(len + (HEADER + TRAILER) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
slos:
  - { name: avail, service: checkout, group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
"#;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("slipstream-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn engine(config: &Config, events: usize) -> Engine {
        let mut engine = Engine::new(config);
        for i in 0..events {
            let line = format!(
                r#"{{"timestamp":{},"service":"checkout","route":"/r{}","status":200,"latency_ms":3}}"#,
                1_795_219_200_000 + i as i64 * 1000,
                i % 7
            );
            engine.ingest(line.as_bytes());
        }
        engine.advance("events", 0, events as i64);
        engine
    }

    fn write(store: &mut StateStore, engine: &mut Engine) -> PathBuf {
        engine.begin_checkpoint();
        let checkpoint = engine.finish_checkpoint().unwrap();
        store.write(&checkpoint).unwrap();
        store.checkpoints().pop().unwrap()
    }

    #[test]
    fn files_round_trip_and_damage_is_named() {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let dir = dir("frame");
        let mut store = StateStore::open(&dir).unwrap();
        let path = write(&mut store, &mut engine(&config, 50));
        let (restored, summary) = load(&path, &config).unwrap();
        assert_eq!(summary.series, 7);
        assert_eq!(restored.counts().read, 50);
        assert_eq!(restored.positions()[0].next_offset, 50);

        let good = std::fs::read(&path).unwrap();
        let reason = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            load(&path, &config).err().map(|e| e.reason())
        };
        assert_eq!(reason(&good[..good.len() - 1]), Some(LoadReason::Truncated));
        assert_eq!(reason(&good[..good.len() / 2]), Some(LoadReason::Truncated));
        assert_eq!(reason(b""), Some(LoadReason::Truncated));
        let mut flipped = good.clone();
        flipped[HEADER + 3] ^= 1;
        assert_eq!(reason(&flipped), Some(LoadReason::Checksum));
        let mut newer = good.clone();
        newer[8] = 9;
        assert_eq!(reason(&newer), Some(LoadReason::Version));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_directory_is_locked_and_keeps_the_newest_files() {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let dir = dir("lock");
        let mut store = StateStore::open(&dir).unwrap();
        assert!(matches!(
            StateStore::open(&dir),
            Err(StateError::Locked { .. })
        ));
        let mut engine = engine(&config, 5);
        for n in 0..5 {
            engine.advance("events", 0, 100 + n);
            write(&mut store, &mut engine);
        }
        assert_eq!(store.checkpoints().len(), KEEP);
        std::fs::write(
            dir.join(".checkpoint-00000000000000000009.slip.tmp"),
            b"partial",
        )
        .unwrap();
        drop(store);
        let store = StateStore::open(&dir).unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            KEEP + 1,
            "the LOCK file and the checkpoints"
        );
        assert_eq!(store.next_seq, 6);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
