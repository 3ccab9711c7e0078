//! The local checkpoint of a changelog partition (`state.dir` with `scale_out`): a cache,
//! so that an instance given back a partition it held (a restart, a rebalance) reads only
//! the changelog's tail instead of all of it.
//!
//! A file holds what the compacted changelog partition holds up to an offset: the newest
//! record of every series, and that offset. It is only ever a cache: it names the record
//! just before that offset (the anchor), and the restore checks the anchor against the
//! changelog before it trusts the file; a file that does not check out (damaged, other
//! SLOs, a changelog recreated or truncated) is counted and the partition is read whole.
//!
//! Layout: `MAGIC`, then in [`crate::state::codec`] varints the version, topic,
//! partition, offset, anchor and the `(key, value)` records, then a CRC-32 of all of it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::state::codec::{CodecError, Reader, Writer};

const MAGIC: &[u8; 8] = b"SLSCACHE";
const VERSION: u64 = 1;
/// Most records a file may claim: more than any partition's series limit allows.
const MAX_RECORDS: usize = 1 << 26;

/// What a changelog partition held up to `next`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cached {
    /// The offset after the last record the file accounts for.
    pub next: i64,
    /// A hash of the key and value of the record at `next - 1` ([`anchor_of`]); `None`
    /// for a partition that held no record.
    pub anchor: Option<u64>,
    /// The newest `(key, value)` of every series.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a changelog cache of this version, or is damaged: {what}")]
    Damaged { path: PathBuf, what: String },
}

/// The cache files of one changelog topic in a directory.
pub struct LocalCache {
    dir: PathBuf,
    topic: String,
}

/// The anchor of a changelog record: FNV-1a over its key's length, key and value.
pub fn anchor_of(key: &[u8], value: &[u8]) -> u64 {
    let mut bytes = Vec::with_capacity(8 + key.len() + value.len());
    bytes.extend_from_slice(&(key.len() as u64).to_le_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(value);
    super::record::stable_hash(&bytes)
}

impl LocalCache {
    /// The cache of `topic`'s partitions in `dir`, created if missing.
    pub fn open(dir: &Path, topic: &str) -> Result<LocalCache, CacheError> {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(LocalCache {
            dir: dir.to_owned(),
            topic: topic.to_owned(),
        })
    }

    pub fn path(&self, partition: i32) -> PathBuf {
        // Topic names are [a-zA-Z0-9._-]: safe in a file name.
        self.dir
            .join(format!("changelog-{}-{partition}.bin", self.topic))
    }

    /// Writes `partition`'s file whole, then renames it over the old one: a crash leaves
    /// the old file or the new one, never a mix.
    pub fn write(&self, partition: i32, cached: &Cached) -> Result<u64, CacheError> {
        let path = self.path(partition);
        let mut w = Writer::default();
        w.buf.extend_from_slice(MAGIC);
        w.u64(VERSION);
        w.str(&self.topic);
        w.i64(i64::from(partition));
        w.i64(cached.next);
        w.u64(cached.anchor.map_or(0, |_| 1));
        w.u64(cached.anchor.unwrap_or(0));
        w.u64(cached.records.len() as u64);
        for (key, value) in &cached.records {
            w.bytes(key);
            w.bytes(value);
        }
        let crc = crc32fast::hash(&w.buf);
        w.buf.extend_from_slice(&crc.to_le_bytes());
        let tmp = self.dir.join(format!(
            ".changelog-{}-{partition}.{}.tmp",
            self.topic,
            std::process::id()
        ));
        let io = |source| CacheError::Io {
            path: path.clone(),
            source,
        };
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&w.buf).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(w.buf.len() as u64)
    }

    /// `partition`'s file: `None` when there is none.
    pub fn read(&self, partition: i32) -> Result<Option<Cached>, CacheError> {
        let path = self.path(partition);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        let damaged = |what: String| CacheError::Damaged {
            path: path.clone(),
            what,
        };
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(damaged("no header".into()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(damaged("checksum mismatch".into()));
        }
        let decoded = decode(&body[MAGIC.len()..]).map_err(|e| damaged(e.to_string()))?;
        let (topic, file_partition, cached) = decoded;
        if topic != self.topic || file_partition != i64::from(partition) {
            return Err(damaged(format!(
                "it is of {topic}[{file_partition}], not {}[{partition}]",
                self.topic
            )));
        }
        Ok(Some(cached))
    }
}

fn decode(body: &[u8]) -> Result<(String, i64, Cached), CodecError> {
    let mut r = Reader::new(body);
    if r.u64()? != VERSION {
        return Err(r.invalid("the cache version"));
    }
    let topic = r.str()?.to_owned();
    let partition = r.i64()?;
    let next = r.i64()?;
    let has_anchor = r.u64()? == 1;
    let anchor = r.u64()?;
    let n = r.len(MAX_RECORDS, "the number of records")?;
    let mut records = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        records.push((r.bytes()?.to_vec(), r.bytes()?.to_vec()));
    }
    if !r.is_empty() {
        return Err(r.invalid("the end of the records"));
    }
    let cached = Cached {
        next,
        anchor: has_anchor.then_some(anchor),
        records,
    };
    Ok((topic, partition, cached))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("slipstream-cache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let d = dir("rt");
        let cache = LocalCache::open(&d, "sli-changelog").unwrap();
        assert_eq!(cache.read(3).unwrap(), None);
        let cached = Cached {
            next: 42,
            anchor: Some(anchor_of(b"k2", b"v2")),
            records: vec![
                (b"k1".to_vec(), b"v1".to_vec()),
                (b"k2".to_vec(), vec![0; 300]),
            ],
        };
        cache.write(3, &cached).unwrap();
        assert_eq!(cache.read(3).unwrap(), Some(cached.clone()));
        // Another partition's file under this name is not this partition's.
        std::fs::copy(cache.path(3), cache.path(4)).unwrap();
        assert!(matches!(cache.read(4), Err(CacheError::Damaged { .. })));
        // A flipped byte fails the checksum; a cut file has no header or trailer.
        let mut bytes = std::fs::read(cache.path(3)).unwrap();
        bytes[20] ^= 1;
        std::fs::write(cache.path(3), &bytes).unwrap();
        let e = cache.read(3).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        std::fs::write(cache.path(3), &bytes[..5]).unwrap();
        assert!(cache.read(3).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn anchors_tell_records_apart() {
        assert_ne!(anchor_of(b"ab", b"c"), anchor_of(b"a", b"bc"));
        assert_eq!(anchor_of(b"a", b"b"), anchor_of(b"a", b"b"));
    }
}
