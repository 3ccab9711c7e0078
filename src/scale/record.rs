//! The records of the repartition topic: one per series per stage-1 flush, keyed by the
//! series (its population's selection key and label values), holding the partial buckets
//! of that series' events in one source partition's offset range.
//!
//! Binary, in the varints of [`crate::state::codec`]; a record that does not decode is
//! counted (`rejected`), never applied. The partition of a key is a hash of its bytes
//! that every instance computes alike ([`partition_of`]), not the client's partitioner.

use crate::state::codec::{CodecError, Reader, Writer};

/// The version of [`Partial`]'s encoding; a record of another version is rejected.
pub const VERSION: u64 = 1;

/// Where the events of a record came from: a source partition and an offset range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// `[from, to)`: the offsets the flush covers (every event of the range that counts
    /// in this series is in the record).
    pub from: i64,
    pub to: i64,
}

/// The partial buckets of one series from one flush.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial<'a> {
    pub source: Source<'a>,
    /// A hash of the population's state key: counts are only added where SLOs and
    /// indicators agree.
    pub state_hash: u64,
    /// Counters per pane: the total, then one good count per SLO of the population.
    pub width: usize,
    pub newest_ms: i64,
    pub panes: Vec<Pane>,
}

/// The events of one second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pane {
    /// Epoch seconds.
    pub second: i64,
    pub counts: Vec<u32>,
    /// Latency buckets, sorted, one per event (empty without a latency layout).
    pub buckets: Vec<u16>,
}

/// The label values of a series, in its population's order.
pub type Labels = Box<[Box<str>]>;

/// A series as the repartition and changelog topics key it.
pub fn write_key(selection: &str, labels: &[Box<str>], out: &mut Vec<u8>) {
    let mut w = Writer {
        buf: std::mem::take(out),
    };
    w.str(selection);
    w.u64(labels.len() as u64);
    for l in labels {
        w.str(l);
    }
    *out = w.buf;
}

/// The selection key and label values of a key [`write_key`] wrote.
pub fn read_key(key: &[u8]) -> Result<(&str, Labels), CodecError> {
    let mut r = Reader::new(key);
    let selection = r.str()?;
    let n = r.len(64, "the number of labels")?;
    let labels = (0..n)
        .map(|_| r.str().map(Box::from))
        .collect::<Result<_, _>>()?;
    if !r.is_empty() {
        return Err(r.invalid("the end of the key"));
    }
    Ok((selection, labels))
}

/// FNV-1a, 64 bits: stable across builds and versions, unlike std's hasher.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The repartition (and changelog) partition of a series key.
pub fn partition_of(key: &[u8], partitions: i32) -> i32 {
    (stable_hash(key) % partitions.max(1) as u64) as i32
}

impl Partial<'_> {
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut w = Writer {
            buf: std::mem::take(out),
        };
        w.u64(VERSION);
        w.str(self.source.topic);
        w.i64(i64::from(self.source.partition));
        w.i64(self.source.from);
        w.i64(self.source.to);
        w.u64(self.state_hash);
        w.u64(self.width as u64);
        w.i64(self.newest_ms);
        w.u64(self.panes.len() as u64);
        for pane in &self.panes {
            w.i64(pane.second);
            for &c in &pane.counts {
                w.u64(u64::from(c));
            }
            // Runs of one bucket: (bucket, count).
            let runs = pane.buckets.chunk_by(|a, b| a == b);
            w.u64(runs.clone().count() as u64);
            for run in runs {
                w.u64(u64::from(run[0]));
                w.u64(run.len() as u64);
            }
        }
        *out = w.buf;
    }

    /// Reads a record [`Partial::write`] wrote; a count that does not fit, a width or
    /// bucket out of range, or bytes left over are errors.
    pub fn read(bytes: &[u8]) -> Result<Partial<'_>, CodecError> {
        let mut r = Reader::new(bytes);
        if r.u64()? != VERSION {
            return Err(r.invalid("the record version"));
        }
        let topic = r.str()?;
        let partition = i32::try_from(r.i64()?).map_err(|_| r.invalid("a partition"))?;
        let (from, to) = (r.i64()?, r.i64()?);
        let state_hash = r.u64()?;
        let width = r.len(33, "the number of counters")?;
        let newest_ms = r.i64()?;
        let n = r.len(1 << 20, "the number of panes")?;
        let mut panes = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let second = r.i64()?;
            let counts = (0..width)
                .map(|_| r.small("a count"))
                .collect::<Result<Vec<u32>, _>>()?;
            let runs = r.len(crate::window::latency::BUCKETS, "the number of buckets")?;
            let mut buckets = Vec::new();
            for _ in 0..runs {
                let bucket: u16 = r.small("a latency bucket")?;
                if usize::from(bucket) >= crate::window::latency::BUCKETS {
                    return Err(r.invalid("a latency bucket"));
                }
                let count = r.len(counts.first().map_or(0, |&c| c as usize), "a bucket count")?;
                buckets.extend(std::iter::repeat_n(bucket, count));
            }
            if !buckets.is_sorted() || buckets.len() > counts.first().map_or(0, |&c| c as usize) {
                return Err(r.invalid("the latency buckets of a pane"));
            }
            panes.push(Pane {
                second,
                counts,
                buckets,
            });
        }
        if !r.is_empty() {
            return Err(r.invalid("the end of the record"));
        }
        Ok(Partial {
            source: Source {
                topic,
                partition,
                from,
                to,
            },
            state_hash,
            width,
            newest_ms,
            panes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_keys_round_trip() {
        let partial = Partial {
            source: Source {
                topic: "events",
                partition: 7,
                from: 100,
                to: 250,
            },
            state_hash: 42,
            width: 3,
            newest_ms: 1_800_000_000_999,
            panes: vec![Pane {
                second: 1_800_000_000,
                counts: vec![4, 3, 2],
                buckets: vec![5, 5, 9, 700],
            }],
        };
        let mut bytes = Vec::new();
        partial.write(&mut bytes);
        assert_eq!(Partial::read(&bytes), Ok(partial));
        let mut key = Vec::new();
        write_key(
            "svc=checkout",
            &[Box::from("/pay"), Box::from("eu")],
            &mut key,
        );
        let (selection, labels) = read_key(&key).unwrap();
        assert_eq!(
            (selection, labels.len(), &*labels[1]),
            ("svc=checkout", 2, "eu")
        );
        assert_eq!(partition_of(&key, 12), partition_of(&key.clone(), 12));
        assert!((0..12).contains(&partition_of(&key, 12)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        Partial {
            source: Source {
                topic: "t",
                partition: 0,
                from: 0,
                to: 1,
            },
            state_hash: 1,
            width: 2,
            newest_ms: 0,
            panes: vec![Pane {
                second: 0,
                counts: vec![1, 1],
                buckets: vec![3],
            }],
        }
        .write(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(Partial::read(&bytes[..cut]).is_err());
        }
        assert!(Partial::read(b"\x02garbage").is_err());
        assert!(read_key(b"\xff\xff").is_err());
    }
}
