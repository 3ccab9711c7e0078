//! The open panes of a latency ring: where every staged bucket is counted.
//!
//! A pane starts sparse: sorted `bucket << 20 | count` entries, as small as its few
//! buckets. Each bucket a stage drains is found by a binary search, and an insert shifts
//! the entries after it. A busy series' pane holds a hundred or more entries, and there
//! that search and shift, on a pane out of cache, were the largest cost of counting
//! (docs/performance.md). So once a pane has [`DENSE_AT`] entries within a span of at most
//! [`DENSE_SPAN_PER_ENTRY`] times as many buckets, it turns dense: one u32 count per
//! bucket of the span, indexed directly, widened when a bucket falls outside. Either form
//! holds the same counts, and everything read from it (encoding, sums, checkpoints) is
//! the same, bucket by bucket.
//!
//! Memory: dense costs 4 bytes per bucket of its span. When a pane turns dense that is at
//! most [`DENSE_SPAN_PER_ENTRY`] times the sparse entries it replaces; widened, it never
//! passes one count per bucket ([`BUCKETS`]), what a sparse pane of every bucket costs.
//! The panes are reused from one pane to the next, cleared, not freed.

use std::borrow::Cow;

use super::{BUCKETS, COUNT_BITS, COUNT_MAX};

/// Entries from which a sparse pane is worth indexing directly.
const DENSE_AT: usize = 32;
/// The widest span, in buckets per sparse entry, a pane turns dense over.
const DENSE_SPAN_PER_ENTRY: usize = 4;

#[derive(Default)]
pub struct OpenPane {
    /// Sparse: sorted entries, a bucket's count split at `COUNT_MAX`. Empty when dense.
    entries: Vec<u32>,
    /// Dense, when not empty: the count of bucket `base + i` at `i`.
    dense: Vec<u32>,
    base: u32,
}

impl OpenPane {
    /// A sparse pane of `entries` (sorted, as a checkpoint holds them).
    pub fn from_entries(entries: Vec<u32>) -> OpenPane {
        OpenPane {
            entries,
            ..OpenPane::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.dense.iter().all(|&n| n == 0)
    }

    /// Empties the pane, keeping its buffers (and its form) for the next one.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.dense.fill(0);
    }

    /// Counts `buckets`, in any order.
    pub fn add_each(&mut self, buckets: &[u16]) {
        for (i, &b) in buckets.iter().enumerate() {
            // Checked per bucket: a count past u32 turns the pane sparse midway.
            if self.dense.is_empty() {
                add_each(&mut self.entries, &buckets[i..]);
                self.densify();
                return;
            }
            self.add_dense(u32::from(b), 1);
        }
    }

    /// Counts `buckets`, sorted (a partial of scale-out): one merge when sparse.
    pub fn merge_sorted(&mut self, buckets: &[u16]) {
        let mut rest = buckets;
        while let Some(&first) = rest.first() {
            if self.dense.is_empty() {
                merge(&mut self.entries, rest);
                self.densify();
                return;
            }
            let run = rest.iter().take_while(|&&b| b == first).count();
            self.add_dense(u32::from(first), run as u32);
            rest = &rest[run..];
        }
    }

    /// Calls `f(bucket, count)` for every non-empty bucket, ascending, a bucket once.
    #[inline]
    pub fn for_each_bucket(&self, mut f: impl FnMut(u32, u64)) {
        if self.dense.is_empty() {
            for_each_entry_bucket(&self.entries, f);
        } else {
            for (i, &n) in self.dense.iter().enumerate() {
                if n > 0 {
                    f(self.base + i as u32, u64::from(n));
                }
            }
        }
    }

    /// The pane as sorted sparse entries, the form a checkpoint holds.
    pub fn entries(&self) -> Cow<'_, [u32]> {
        if self.dense.is_empty() {
            return Cow::Borrowed(&self.entries);
        }
        let mut out = Vec::new();
        self.for_each_bucket(|b, n| push_count(&mut out, b, n));
        Cow::Owned(out)
    }

    #[cfg(test)]
    pub(super) fn is_dense(&self) -> bool {
        !self.dense.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        (self.entries.capacity() + self.dense.capacity()) * size_of::<u32>()
    }

    /// Turns a sparse pane dense once it is busy and its span narrow enough.
    fn densify(&mut self) {
        let (Some(&first), Some(&last)) = (self.entries.first(), self.entries.last()) else {
            return;
        };
        let (lo, hi) = (first >> COUNT_BITS, last >> COUNT_BITS);
        let span = (hi - lo) as usize + 1;
        if self.entries.len() < DENSE_AT || span > DENSE_SPAN_PER_ENTRY * self.entries.len() {
            return;
        }
        let mut counts = vec![0u64; span];
        for &e in &self.entries {
            counts[((e >> COUNT_BITS) - lo) as usize] += u64::from(e & COUNT_MAX);
        }
        // A count past u32 (billions of events in one pane) stays sparse, where it is exact.
        let Ok(dense) = counts.into_iter().map(u32::try_from).collect() else {
            return;
        };
        self.dense = dense;
        self.base = lo;
        self.entries = Vec::new();
    }

    #[inline]
    fn add_dense(&mut self, bucket: u32, n: u32) {
        if bucket < self.base || bucket - self.base >= self.dense.len() as u32 {
            self.widen(bucket);
        }
        let cell = &mut self.dense[(bucket - self.base) as usize];
        match cell.checked_add(n) {
            Some(sum) => *cell = sum,
            None => {
                // Past u32 in one bucket: back to sparse entries, which split any count.
                let mut entries = self.entries().into_owned();
                push_count(&mut entries, bucket, u64::from(n));
                entries.sort_by_key(|e| e >> COUNT_BITS);
                self.entries = entries;
                self.dense = Vec::new();
            }
        }
    }

    /// Widens the dense span to take `bucket`, with a quarter of the span to spare on that
    /// side, so that a pane creeping outwards is not copied per bucket.
    fn widen(&mut self, bucket: u32) {
        let (lo, hi) = (self.base, self.base + self.dense.len() as u32);
        let spare = (hi - lo) / 4;
        let (new_lo, new_hi) = if bucket < lo {
            (bucket.saturating_sub(spare), hi)
        } else {
            (lo, (bucket + 1 + spare).min(BUCKETS as u32))
        };
        let mut dense = vec![0; (new_hi - new_lo) as usize];
        let at = (lo - new_lo) as usize;
        dense[at..at + self.dense.len()].copy_from_slice(&self.dense);
        self.dense = dense;
        self.base = new_lo;
    }
}

/// Calls `f(bucket, count)` for every bucket of sorted sparse entries, with the counts of
/// a bucket's entries added up.
#[inline]
fn for_each_entry_bucket(entries: &[u32], mut f: impl FnMut(u32, u64)) {
    let mut i = 0;
    while i < entries.len() {
        let bucket = entries[i] >> COUNT_BITS;
        let mut n = 0u64;
        while i < entries.len() && entries[i] >> COUNT_BITS == bucket {
            n += u64::from(entries[i] & COUNT_MAX);
            i += 1;
        }
        f(bucket, n);
    }
}

/// Appends `n` counts of `bucket` to sorted sparse entries, in entries of at most
/// `COUNT_MAX` each.
pub(super) fn push_count(entries: &mut Vec<u32>, bucket: u32, mut n: u64) {
    while n > 0 {
        let take = n.min(u64::from(COUNT_MAX)) as u32;
        entries.push((bucket << COUNT_BITS) | take);
        n -= u64::from(take);
    }
}

/// Adds sorted `buckets` to sorted sparse entries in one pass over them: existing entries
/// are incremented in place; new ones are collected, then placed by a single shift from
/// the back. A pane is scanned sequentially once per batch instead of searched per bucket.
pub(super) fn merge(entries: &mut Vec<u32>, buckets: &[u16]) {
    let mut inserts: [(usize, u32); 64] = [(0, 0); 64];
    let mut n_inserts = 0;
    let mut i = 0;
    let mut j = 0;
    while j < buckets.len() {
        let bucket = u32::from(buckets[j]);
        let mut count = 0;
        while j < buckets.len() && u32::from(buckets[j]) == bucket {
            count += 1;
            j += 1;
        }
        while i < entries.len() && entries[i] >> COUNT_BITS < bucket {
            i += 1;
        }
        // Fill this bucket's entries up to their limit, then add a new one for the rest.
        while count > 0 && i < entries.len() && entries[i] >> COUNT_BITS == bucket {
            let room = COUNT_MAX - (entries[i] & COUNT_MAX);
            let take = room.min(count);
            entries[i] += take;
            count -= take;
            if count > 0 {
                i += 1;
            }
        }
        if count > 0 {
            if n_inserts == inserts.len() {
                // More new buckets than one batch of the stage holds: flush and go on.
                place(entries, &inserts[..n_inserts]);
                n_inserts = 0;
                i = entries.partition_point(|&e| e >> COUNT_BITS <= bucket);
            }
            inserts[n_inserts] = (i, (bucket << COUNT_BITS) | count);
            n_inserts += 1;
        }
    }
    place(entries, &inserts[..n_inserts]);
}

/// Adds `buckets`, in any order, to sorted sparse entries, finding each by a binary
/// search: for the few buckets a stage drains at a time, less work than sorting them for
/// [`merge`], which walks the whole pane. Only the last entry of a bucket can have room
/// (merges and this fill them in order), so it is the one found.
pub(super) fn add_each(entries: &mut Vec<u32>, buckets: &[u16]) {
    for &b in buckets {
        let bucket = u32::from(b);
        let i = entries.partition_point(|&e| e >> COUNT_BITS <= bucket);
        match entries.get_mut(i.wrapping_sub(1)) {
            Some(e) if *e >> COUNT_BITS == bucket && *e & COUNT_MAX < COUNT_MAX => *e += 1,
            _ => entries.insert(i, (bucket << COUNT_BITS) | 1),
        }
    }
}

/// Inserts `(position, entry)` pairs, positions ascending and relative to the old vector.
fn place(entries: &mut Vec<u32>, inserts: &[(usize, u32)]) {
    if inserts.is_empty() {
        return;
    }
    let old = entries.len();
    entries.resize(old + inserts.len(), 0);
    let mut src = old;
    let mut dst = entries.len();
    for &(pos, entry) in inserts.iter().rev() {
        let run = src - pos;
        entries.copy_within(pos..src, dst - run);
        dst -= run;
        src = pos;
        dst -= 1;
        entries[dst] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Rng;

    /// Every bucket's count, as `for_each_bucket` reports it; checks each bucket comes
    /// once, ascending.
    fn counts(pane: &OpenPane) -> Vec<u64> {
        let mut out = vec![0; BUCKETS];
        let mut last = None;
        pane.for_each_bucket(|b, n| {
            assert!(last.is_none_or(|l| l < b), "bucket {b} after {last:?}");
            assert!(n > 0);
            last = Some(b);
            out[b as usize] = n;
        });
        out
    }

    /// Random batches, unsorted and sorted, over a narrow then a wider range: the pane
    /// turns dense, widens on both sides, and counts what counting one by one does; its
    /// entries read back as the same pane.
    #[test]
    fn dense_and_sparse_count_the_same() {
        let mut rng = Rng::new(3);
        let mut pane = OpenPane::default();
        let mut want = vec![0u64; BUCKETS];
        for round in 0..3000 {
            let (lo, width) = if round < 1000 { (600, 60) } else { (300, 900) };
            let mut batch: Vec<u16> = (0..1 + rng.below(36))
                .map(|_| (lo + rng.below(width)) as u16)
                .collect();
            batch.iter().for_each(|&b| want[usize::from(b)] += 1);
            if round % 4 == 0 {
                batch.sort_unstable();
                pane.merge_sorted(&batch);
            } else {
                pane.add_each(&batch);
            }
            if round == 100 {
                assert!(pane.is_dense(), "a busy, narrow pane is dense");
            }
        }
        assert_eq!(counts(&pane), want);
        assert!(pane.base <= 300 && pane.base as usize + pane.dense.len() >= 1200);
        let back = OpenPane::from_entries(pane.entries().into_owned());
        assert_eq!(counts(&back), want);
        pane.clear();
        assert!(pane.is_empty() && counts(&pane).iter().all(|&n| n == 0));
        pane.add_each(&[5, BUCKETS as u16 - 1]);
        assert_eq!((counts(&pane)[5], counts(&pane)[BUCKETS - 1]), (1, 1));
    }

    /// A pane whose buckets are few but far apart stays sparse: dense would cost more than
    /// [`DENSE_SPAN_PER_ENTRY`] times its entries.
    #[test]
    fn a_wide_sparse_pane_stays_sparse() {
        let mut pane = OpenPane::default();
        let buckets: Vec<u16> = (0..40).map(|i| i * 37).collect();
        pane.add_each(&buckets);
        assert!(!pane.is_dense());
        assert_eq!(pane.entries().len(), 40);
    }

    /// A dense count that would pass u32 goes back to sparse entries and stays exact.
    #[test]
    fn a_dense_count_past_u32_goes_back_to_sparse() {
        let mut pane = OpenPane::default();
        let buckets: Vec<u16> = (100..140).collect();
        pane.add_each(&buckets);
        assert!(!pane.dense.is_empty());
        pane.dense[(120 - pane.base) as usize] = u32::MAX;
        pane.add_each(&[120, 120, 7]);
        assert!(pane.dense.is_empty());
        let got = counts(&pane);
        assert_eq!(got[120], u64::from(u32::MAX) + 2);
        assert_eq!((got[7], got[100], got[139]), (1, 1, 1));
        assert_eq!(got.iter().sum::<u64>(), u64::from(u32::MAX) + 2 + 40);
    }
}
