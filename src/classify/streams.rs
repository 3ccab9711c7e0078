//! Stream keys, and the cache from a stream key to the series its events count in.
//!
//! A stream key encodes an event's service, route and labels: per field a length byte
//! (0 when absent, else the length plus one, or [`LONG`] and a u32 for the rare field of
//! 254 bytes or more), then the bytes. No two field lists share a key.
//!
//! The cache is read once per event, so it is laid out for the cache of the processor:
//! a stream's key and its series live in one 64-byte record, and the lookup that finds
//! the stream has, in the same line, what counting needs next. A stream whose key or
//! series do not fit (long routes, many labels, more than [`INLINE_TARGETS`] series)
//! keeps them on the heap, one more load away.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::{Fields, SeriesRef};
use crate::config::MAX_LABELS;
use crate::decode::Event;

/// The length byte of a field of [`LONG`] bytes or more: a u32 length follows.
const LONG: u8 = u8::MAX;
/// Key bytes a record holds itself.
const INLINE_KEY: usize = 42;
/// Series a record holds itself: an availability and a latency population, per route and
/// per service, the usual case.
const INLINE_TARGETS: usize = 2;
/// `key_len` of a record whose key and series are in [`StreamCache::spilled`].
const SPILLED: u8 = u8::MAX;

/// Writes stream keys and hashes them. A copy can run on another thread (decoding ahead
/// of the engine): it hashes as the classifier's table does.
#[derive(Clone)]
pub struct StreamKeys {
    pub(super) hasher: foldhash::fast::RandomState,
    pub(super) n_labels: usize,
}

impl StreamKeys {
    pub(super) fn new(n_labels: usize) -> StreamKeys {
        StreamKeys {
            hasher: foldhash::fast::RandomState::default(),
            n_labels,
        }
    }

    /// Appends the stream key of `event` to `out` and returns its hash.
    #[inline]
    pub fn write(&self, event: &Event, out: &mut Vec<u8>) -> u64 {
        let start = out.len();
        push_part(out, Some(event.service));
        push_part(out, event.route);
        for label in &event.labels[..self.n_labels] {
            push_part(out, *label);
        }
        self.hasher.hash_one(&out[start..])
    }
}

/// Appends one field to a stream key.
#[inline]
fn push_part(key: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => key.push(0),
        Some(s) if s.len() < usize::from(LONG - 1) => {
            key.push(s.len() as u8 + 1);
            key.extend_from_slice(s.as_bytes());
        }
        Some(s) => {
            key.push(LONG);
            key.extend_from_slice(&(s.len() as u32).to_le_bytes());
            key.extend_from_slice(s.as_bytes());
        }
    }
}

/// The fields back from a key written by [`push_part`] from valid strings.
pub(super) fn decode_key(key: &[u8], n_labels: usize) -> Fields<'_> {
    let mut rest = key;
    let mut next = || -> Option<&str> {
        let (&tag, tail) = rest.split_first()?;
        let (len, tail) = match tag {
            0 => {
                rest = tail;
                return None;
            }
            LONG => {
                let (len, tail) = tail.split_at(4);
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
                (len as usize, tail)
            }
            short => (usize::from(short - 1), tail),
        };
        let (text, tail) = tail.split_at(len);
        rest = tail;
        Some(std::str::from_utf8(text).expect("keys are written from strings"))
    };
    let service = next().unwrap_or_default();
    let route = next();
    let mut labels = [None; MAX_LABELS];
    for label in labels.iter_mut().take(n_labels) {
        *label = next();
    }
    Fields {
        service,
        route,
        labels,
    }
}

/// The key and series of a stream too large for its [`Record`].
struct Spilled {
    key: Box<[u8]>,
    targets: Box<[SeriesRef]>,
}

/// One stream, in one cache line: its series and its key, or where they are kept when
/// they do not fit.
#[repr(align(64))]
struct Record {
    targets: [SeriesRef; INLINE_TARGETS],
    /// With `key_len == SPILLED`, the index into [`StreamCache::spilled`].
    spill: u32,
    key_len: u8,
    n_targets: u8,
    key: [u8; INLINE_KEY],
}

/// Stream key → the series of its events, for the streams seen since the cache was last
/// emptied. Its size is bounded by the classifier, which empties it when full.
#[derive(Default)]
pub(super) struct StreamCache {
    /// Hash of a key → index into `records`.
    table: HashTable<u32>,
    records: Vec<Record>,
    spilled: Vec<Spilled>,
}

impl StreamCache {
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Forgets every stream, keeping the allocations.
    pub(super) fn clear(&mut self) {
        self.table.clear();
        self.records.clear();
        self.spilled.clear();
    }

    /// The stream of `key` (whose hash is `hash`), if cached.
    #[inline]
    pub(super) fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let StreamCache {
            table,
            records,
            spilled,
        } = self;
        let same = |&i: &u32| key_of(records, spilled, i) == key;
        table.find(hash, same).copied()
    }

    /// Caches a stream not cached yet; its index.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        targets: &[SeriesRef],
        keys: &StreamKeys,
    ) -> u32 {
        let mut record = Record {
            targets: [SeriesRef {
                population: 0,
                series: 0,
            }; INLINE_TARGETS],
            spill: 0,
            key_len: SPILLED,
            n_targets: 0,
            key: [0; INLINE_KEY],
        };
        if key.len() <= INLINE_KEY && targets.len() <= INLINE_TARGETS {
            record.key_len = key.len() as u8;
            record.key[..key.len()].copy_from_slice(key);
            record.n_targets = targets.len() as u8;
            record.targets[..targets.len()].copy_from_slice(targets);
        } else {
            record.spill = self.spilled.len() as u32;
            self.spilled.push(Spilled {
                key: key.into(),
                targets: targets.into(),
            });
        }
        let i = self.records.len() as u32;
        self.records.push(record);
        let StreamCache {
            table,
            records,
            spilled,
        } = self;
        // Records keep no hash: a rehash (when the table grows) hashes the keys again.
        let rehash = |&j: &u32| keys.hasher.hash_one(key_of(records, spilled, j));
        table.insert_unique(hash, i, rehash);
        i
    }

    /// The series of a cached stream's events.
    #[inline]
    pub(super) fn targets(&self, stream: u32) -> &[SeriesRef] {
        let record = &self.records[stream as usize];
        if record.key_len == SPILLED {
            &self.spilled[record.spill as usize].targets
        } else {
            &record.targets[..usize::from(record.n_targets)]
        }
    }
}

#[inline]
fn key_of<'c>(records: &'c [Record], spilled: &'c [Spilled], stream: u32) -> &'c [u8] {
    let record = &records[stream as usize];
    if record.key_len == SPILLED {
        &spilled[record.spill as usize].key
    } else {
        &record.key[..usize::from(record.key_len)]
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::event;
    use super::*;

    /// Keys read back as written, for absent, empty, short and long fields alike, and
    /// fields that differ only in where one ends and the next begins give other keys.
    #[test]
    fn keys_read_back_and_differ_where_fields_differ() {
        let keys = StreamKeys::new(1);
        let long = "r".repeat(300);
        let cases = [
            ("checkout", Some("POST /pay"), Some("eu-1")),
            ("checkout", None, Some("eu-1")),
            ("checkout", Some(""), None),
            ("a", Some("bc"), None),
            ("ab", Some("c"), None),
            ("x", Some(long.as_str()), Some(long.as_str())),
        ];
        let mut written = Vec::new();
        for (service, route, label) in cases {
            let mut key = Vec::new();
            keys.write(&event(service, route, label), &mut key);
            let fields = decode_key(&key, 1);
            assert_eq!(
                (fields.service, fields.route, fields.labels[0]),
                (service, route, label)
            );
            assert!(!written.contains(&key), "{key:?} written twice");
            written.push(key);
        }
    }

    /// Streams with inline and with spilled keys and series are found again, with their
    /// series, through rehashes as the table grows, and are gone once cleared.
    #[test]
    fn finds_inline_and_spilled_streams() {
        assert_eq!(size_of::<Record>(), 64);
        let keys = StreamKeys::new(0);
        let mut cache = StreamCache::default();
        let key = |i: usize| {
            let route = format!("GET /{}", "x".repeat(i % 50));
            let mut key = Vec::new();
            let hash = keys.write(&event(&format!("svc-{i}"), Some(&route), None), &mut key);
            (hash, key)
        };
        let targets = |i: usize| -> Vec<SeriesRef> {
            (0..i % 4)
                .map(|p| SeriesRef {
                    population: p as u32,
                    series: i as u32,
                })
                .collect()
        };
        for i in 0..1000 {
            let (hash, key) = key(i);
            assert_eq!(cache.find(hash, &key), None);
            assert_eq!(cache.insert(hash, &key, &targets(i), &keys), i as u32);
        }
        assert!(!cache.spilled.is_empty() && cache.spilled.len() < 1000);
        for i in 0..1000 {
            let (hash, key) = key(i);
            let stream = cache.find(hash, &key).expect("cached");
            assert_eq!(stream, i as u32);
            assert_eq!(cache.targets(stream), targets(i));
        }
        cache.clear();
        let (hash, key) = key(7);
        assert_eq!((cache.len(), cache.find(hash, &key)), (0, None));
    }
}
